// The lab services run as real processes on loopback here; the namespace lab runs the same entries.
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { Agent, get } from 'node:http';
import { connect, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGTERM');
});

/** GET through a given agent, so the test controls connection reuse. */
async function getJson(
  url: string,
  agent: Agent,
): Promise<{ json: Record<string, unknown>; connection?: string }> {
  return new Promise((resolve, reject) => {
    get(url, { agent }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () =>
        resolve({ json: JSON.parse(body) as Record<string, unknown>, connection: res.headers.connection }),
      );
    }).once('error', reject);
  });
}

function entry(name: string): string {
  return fileURLToPath(new URL(`../../src/lab-services/${name}.ts`, import.meta.url));
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

/** Starts a service and resolves once it prints its listening line. */
async function start(name: string, args: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', entry(name), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${name} did not start: ${out}`)), 15_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('listening')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited ${code}: ${out}`));
    });
  });
  return child;
}

async function runToExit(name: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', entry(name), ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, stderr };
}

describe('lab services', () => {
  it('http-server reports the backend name and both ends of the connection, with keep-alive', async () => {
    const port = await freePort();
    await start('http-server', ['--port', String(port), '--name', 'b7']);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const a = await getJson(`http://127.0.0.1:${port}/anything`, agent);
    expect(a.json).toMatchObject({
      backend: 'b7',
      localAddress: '127.0.0.1',
      localPort: port,
      remoteAddress: '127.0.0.1',
    });
    expect(a.connection).toBe('keep-alive');
    const b = await getJson(`http://127.0.0.1:${port}/`, agent);
    // Same client port on the second request: the server kept the connection open.
    expect(b.json.remotePort).toBe(a.json.remotePort);
    agent.destroy();

    const bytes = await fetch(`http://127.0.0.1:${port}/bytes?n=3000000`);
    expect((await bytes.arrayBuffer()).byteLength).toBe(3_000_000);
    expect((await fetch(`http://127.0.0.1:${port}/bytes?n=-1`)).status).toBe(400);
    expect((await fetch(`http://127.0.0.1:${port}/bytes?n=1e3`)).status).toBe(400);
  });

  it('tcp-echo echoes bytes on one connection', async () => {
    const port = await freePort();
    await start('tcp-echo', ['--port', String(port)]);
    const sock = connect(port, '127.0.0.1');
    const msg = Buffer.alloc(64, 7);
    for (let i = 0; i < 3; i++) {
      sock.write(msg);
      const got = await new Promise<Buffer>((resolve) => {
        let acc = Buffer.alloc(0);
        const onData = (d: Buffer): void => {
          acc = Buffer.concat([acc, d]);
          if (acc.length >= 64) {
            sock.off('data', onData);
            resolve(acc);
          }
        };
        sock.on('data', onData);
      });
      expect(got.equals(msg)).toBe(true);
    }
    sock.destroy();
  });

  it('udp-echo prefixes the backend name and replies from the address it was sent to', async () => {
    const port = await freePort();
    await start('udp-echo', ['--port', String(port), '--name', 'b2']);
    const s = createSocket('udp4');
    const reply = await new Promise<{ msg: string; from: string }>((resolve) => {
      s.once('message', (m, r) => resolve({ msg: m.toString(), from: r.address }));
      s.send('hello', port, '127.0.0.1');
    });
    s.close();
    expect(reply).toEqual({ msg: 'b2|hello', from: '127.0.0.1' });
  });

  it('rejects bad arguments with a clear error and exit code 2', async () => {
    expect(await runToExit('tcp-echo', ['--port', '70000'])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--port/),
    });
    expect(await runToExit('udp-echo', [])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--port/),
    });
    expect(await runToExit('http-server', ['--port', '1234', '--name', 'a b'])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--name/),
    });
  });
});

// The benchmark's traffic generator against real lab services on loopback (the benchmark runs the same
// code inside the client namespaces).
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const children: ChildProcess[] = [];
const src = (p: string): string => fileURLToPath(new URL(`../../src/${p}`, import.meta.url));
let echoPort = 0;
let httpPort = 0;

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

async function startService(name: string, port: number): Promise<void> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', src(`lab-services/${name}.ts`), '--port', String(port)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('listening')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`${name} exited ${code}`)));
  });
}

async function gen(
  args: string[],
): Promise<{ code: number | null; out: Record<string, unknown> | null; err: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', src('bench/client.ts'), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, out: out.trim() === '' ? null : (JSON.parse(out) as Record<string, unknown>), err };
}

beforeAll(async () => {
  echoPort = await freePort();
  httpPort = await freePort();
  await Promise.all([startService('tcp-echo', echoPort), startService('http-server', httpPort)]);
});
afterAll(() => {
  for (const c of children) c.kill('SIGTERM');
});

describe('bench traffic generator', () => {
  it('rr measures the requested number of round trips', async () => {
    const r = await gen([
      'rr',
      '--host',
      '127.0.0.1',
      '--port',
      String(echoPort),
      '--count',
      '300',
      '--warmup',
      '10',
      '--settle-ms',
      '0',
    ]);
    expect(r.code).toBe(0);
    expect(r.out!.samples).toBe(300);
    expect(r.out!.p50Us as number).toBeGreaterThan(0);
    expect(r.out!.p99Us as number).toBeGreaterThanOrEqual(r.out!.p50Us as number);
  });

  it('short opens one connection per request and counts them', async () => {
    const r = await gen([
      'short',
      '--host',
      '127.0.0.1',
      '--port',
      String(httpPort),
      '--count',
      '50',
      '--concurrency',
      '3',
    ]);
    expect(r).toMatchObject({ code: 0, out: { ok: 50, failed: 0 } });
  });

  it('mixed runs bulk, keep-alive and short requests until its deadline', async () => {
    const t0 = Date.now();
    const r = await gen([
      'mixed',
      '--host',
      '127.0.0.1',
      '--port',
      String(httpPort),
      '--seconds',
      '1',
      '--bulk-bytes',
      '1000000',
    ]);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(r.code).toBe(0);
    expect(r.out!.errors).toEqual([]);
    expect(r.out!.requests as number).toBeGreaterThan(10);
    expect(r.out!.bulkBytes).toBe((r.out!.bulkTransfers as number) * 1_000_000);
  });

  it('flood opens connections for a fixed time', async () => {
    const r = await gen([
      'flood',
      '--host',
      '127.0.0.1',
      '--port',
      String(echoPort),
      '--seconds',
      '1',
      '--concurrency',
      '4',
    ]);
    expect(r.code).toBe(0);
    expect(r.out!.opened as number).toBeGreaterThan(10);
    expect(r.out!.seconds as number).toBeGreaterThanOrEqual(1);
  });

  it('fails with a message when the target refuses, and on bad arguments', async () => {
    const closed = await freePort();
    const r = await gen(['rr', '--host', '127.0.0.1', '--port', String(closed)]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/ECONNREFUSED/);
    const bad = await gen(['nope', '--host', '127.0.0.1', '--port', '1']);
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/mode must be one of/);
  });
});

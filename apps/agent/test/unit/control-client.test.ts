/**
 * The control client against a scripted API on a real unix socket (the lab's transport), with a fake
 * agent: ACK/NACK, telemetry, reconnect, revocation. The real API and kernel are in
 * test/kernel/control-e2e.test.ts.
 */
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DesiredState } from '../../src/config/desired-state.js';
import type { TelemetryReport } from '../../src/agent/telemetry.js';
import { Backoff } from '../../src/control/backoff.js';
import { ControlClient, type ControlledAgent } from '../../src/control/client.js';
import { enroll } from '../../src/control/enroll.js';
import { parseApiUrl } from '../../src/control/http.js';
import { readControlState, writeControlState, type ControlState } from '../../src/control/state-file.js';

interface Call {
  path: string;
  auth: string | undefined;
  body: unknown;
}

let dir: string;
let server: http.Server;
let calls: Call[];
let streamHandler: (res: http.ServerResponse, n: number) => void;
let streams: number;

const CRED = 'sls_a_test';

function state(sock: string): ControlState {
  return { apiUrl: `unix:${sock}`, agentId: 'a1', tenantId: 't1', role: 'host', credential: CRED };
}

function fakeAgent(failOn: number | null): ControlledAgent & { applied: number[] } {
  const applied: number[] = [];
  return {
    applied,
    applyState(s: DesiredState): Promise<void> {
      if (s.revision === failOn) return Promise.reject(new Error(`bad revision ${s.revision}`));
      applied.push(s.revision);
      return Promise.resolve();
    },
    telemetry(): TelemetryReport {
      if (applied.length === 0) throw new Error('no desired state applied yet');
      return { appliedRevision: applied.at(-1) } as unknown as TelemetryReport;
    },
  };
}

function desired(rev: number): string {
  // Split one event over several writes and data lines, like a proxy might.
  return `event: desired\ndata: {"revision": ${rev},\ndata: "state": {"revision": ${rev}}}\n\n`;
}

async function waitFor(what: string, fn: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sls-ctl-'));
  calls = [];
  streams = 0;
  streamHandler = (res) => res.write(desired(1));
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      calls.push({
        path: req.url ?? '',
        auth: req.headers.authorization,
        body: body ? JSON.parse(body) : null,
      });
      if (req.url === '/v1/agent/stream') {
        if (req.headers.authorization !== `Bearer ${CRED}`) return res.writeHead(401).end();
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        streamHandler(res, ++streams);
        return;
      }
      if (req.url === '/v1/agent/enroll') {
        const b = JSON.parse(body) as { joinToken: string };
        if (b.joinToken !== 'sls_j_good') {
          return res
            .writeHead(401, { 'content-type': 'application/problem+json' })
            .end('{"title":"bad join token"}');
        }
        return res
          .writeHead(201)
          .end(JSON.stringify({ agentId: 'a9', tenantId: 't9', role: 'mux', credential: 'sls_a_new' }));
      }
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(join(dir, 'api.sock'), r));
});

afterEach(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe('ControlClient', () => {
  it('applies pushed states in order, ACKs good ones, NACKs a bad one with its error, posts telemetry', async () => {
    streamHandler = (res) => {
      const text = desired(1) + desired(2) + ': comment\n\n' + desired(3);
      for (let i = 0; i < text.length; i += 7) res.write(text.slice(i, i + 7));
    };
    const agent = fakeAgent(2);
    const c = new ControlClient({
      state: state(join(dir, 'api.sock')),
      agent,
      telemetryIntervalMs: 50,
      log: () => {},
    });
    const run = c.run();
    await waitFor('acks', () => calls.filter((x) => x.path === '/v1/agent/ack').length === 3);
    // Telemetry runs on its own timer, so an early report may still carry revision 1; wait for one
    // sent after revision 3 was applied.
    const telemetry = () => calls.filter((x) => x.path === '/v1/agent/telemetry').map((x) => x.body);
    await waitFor('telemetry', () =>
      telemetry().some((b) => {
        const r = b as { appliedRevision?: number; previousAccepted?: boolean };
        return r.appliedRevision === 3 && r.previousAccepted === true;
      }),
    );
    c.stop();
    expect(await run).toBe('stopped');
    expect(agent.applied).toEqual([1, 3]);
    expect(calls.filter((x) => x.path === '/v1/agent/ack').map((x) => x.body)).toEqual([
      { revision: 1, applied: true },
      { revision: 2, applied: false, error: 'bad revision 2' },
      { revision: 3, applied: true },
    ]);
    expect(calls.every((x) => x.auth === `Bearer ${CRED}`)).toBe(true);
    // Reports only ever carry an applied revision, never the NACKed one, and never go backwards.
    const revisions = telemetry().map((b) => (b as { appliedRevision?: number }).appliedRevision);
    expect(revisions.every((r) => r === 1 || r === 3)).toBe(true);
    expect(revisions).toEqual([...revisions].sort((a, b) => a! - b!));
    // The first report says no earlier one was accepted; every later one (the server answers 204) says so.
    expect(telemetry()[0]).toMatchObject({ previousAccepted: false });
    expect(telemetry().at(-1)).toEqual({ appliedRevision: 3, previousAccepted: true });
    expect(c.lastAckedRevision).toBe(3);
  });

  it('reconnects with backoff after the API closes the stream, then stops on a revoked event', async () => {
    streamHandler = (res, n) => {
      res.write(desired(n));
      if (n < 3) res.end();
      else res.write('event: revoked\ndata: {}\n\n');
    };
    const agent = fakeAgent(null);
    const c = new ControlClient({
      state: state(join(dir, 'api.sock')),
      agent,
      backoff: new Backoff(10, 40),
      log: () => {},
    });
    expect(await c.run()).toBe('revoked');
    expect(streams).toBe(3);
    expect(agent.applied).toEqual([1, 2, 3]);
    expect(c.stats.connects).toBe(3);
  });

  it('treats a 401 on the stream as revocation, and keeps retrying while the API is unreachable', async () => {
    const revoked = new ControlClient({
      state: { ...state(join(dir, 'api.sock')), credential: 'sls_a_revoked' },
      agent: fakeAgent(null),
      log: () => {},
    });
    expect(await revoked.run()).toBe('revoked');

    const logs: string[] = [];
    const gone = new ControlClient({
      state: state(join(dir, 'missing.sock')),
      agent: fakeAgent(null),
      backoff: new Backoff(10, 20),
      log: (m) => logs.push(m),
    });
    const run = gone.run();
    await waitFor(
      'three failed connects',
      () => logs.filter((l) => l.includes('connect failed')).length >= 3,
    );
    gone.stop();
    expect(await run).toBe('stopped');
  });

  it('drops telemetry while the API does not answer instead of queueing it', async () => {
    const agent = fakeAgent(null);
    await agent.applyState({ revision: 1 } as DesiredState);
    const c = new ControlClient({
      state: state(join(dir, 'missing.sock')),
      agent,
      telemetryIntervalMs: 20,
      backoff: new Backoff(1000, 1000),
      log: () => {},
    });
    const run = c.run();
    await waitFor('drops', () => c.stats.telemetryDropped >= 3);
    c.stop();
    await run;
    expect(c.stats.telemetrySent).toBe(0);
  });
});

describe('enroll and the state file', () => {
  it('enrolls over a unix socket and writes the state file with mode 0600', async () => {
    const sock = join(dir, 'api.sock');
    const st = await enroll(`unix:${sock}`, 'sls_j_good', {
      name: 'c1',
      underlay: '198.18.0.11',
      version: '1',
      hostname: 'h',
    });
    expect(st).toEqual({
      apiUrl: `unix:${sock}`,
      agentId: 'a9',
      tenantId: 't9',
      role: 'mux',
      credential: 'sls_a_new',
    });
    expect(calls[0]!.body).toEqual({
      joinToken: 'sls_j_good',
      name: 'c1',
      underlay: '198.18.0.11',
      version: '1',
      hostname: 'h',
    });
    const file = join(dir, 'agent.json');
    writeControlState(file, st);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readControlState(file)).toEqual(st);
    await expect(
      enroll(`unix:${sock}`, 'sls_j_bad', {
        name: 'c1',
        underlay: '198.18.0.11',
        version: '1',
        hostname: 'h',
      }),
    ).rejects.toThrow(/enroll refused: 401 bad join token/);
    await expect(
      enroll(`unix:${sock}`, 'sls_j_good', { name: 'c1', underlay: 'nope', version: '1', hostname: 'h' }),
    ).rejects.toThrow(/not IPv4/);
  });

  it('rejects a malformed state file and leaves an existing one untouched', () => {
    const file = join(dir, 'agent.json');
    const good = state('/run/x.sock');
    writeControlState(file, good);
    expect(() => writeControlState(file, { ...good, credential: 'sls_j_x' })).toThrow(
      /not an agent credential/,
    );
    expect(readControlState(file)).toEqual(good);
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ ...good, extra: 1 }));
    expect(() => readControlState(join(dir, 'bad.json'))).toThrow(/unknown field extra/);
    writeFileSync(join(dir, 'bad.json'), '{');
    expect(() => readControlState(join(dir, 'bad.json'))).toThrow(/not JSON/);
    expect(() => readControlState(join(dir, 'none.json'))).toThrow(/cannot read state file/);
    expect(readFileSync(file, 'utf8')).toContain('sls_a_test');
  });

  it('parses API URL forms', () => {
    expect(parseApiUrl('unix:/run/a.sock')).toEqual({
      protocol: 'http:',
      socketPath: '/run/a.sock',
      base: '',
    });
    expect(parseApiUrl('http+unix://%2Frun%2Fa.sock/api')).toEqual({
      protocol: 'http:',
      socketPath: '/run/a.sock',
      base: '/api',
    });
    expect(parseApiUrl('http://127.0.0.1:3001/')).toEqual({
      protocol: 'http:',
      host: '127.0.0.1',
      port: 3001,
      base: '',
    });
    expect(parseApiUrl('https://api.example')).toMatchObject({ protocol: 'https:', port: 443 });
    expect(() => parseApiUrl('ftp://x')).toThrow(/scheme/);
    expect(() => parseApiUrl('unix:rel.sock')).toThrow(/absolute/);
    expect(() => parseApiUrl('nonsense')).toThrow(/bad API URL/);
  });
});

describe('lab control mode', () => {
  it('refuses bad control settings before building anything', async () => {
    const { labUp } = await import('../../src/lab/lab.js');
    const tokens = { joinTokenHost: 'sls_j_a', joinTokenMux: 'sls_j_b' };
    await expect(labUp('zzbad', { apiUrl: 'unix:/run/x.sock', ...tokens })).rejects.toThrow(/plain http/);
    await expect(labUp('zzbad', { apiUrl: 'https://api.example', ...tokens })).rejects.toThrow(/plain http/);
    await expect(
      labUp('zzbad', { apiUrl: 'http://127.0.0.1:3001', joinTokenHost: 'x', joinTokenMux: 'sls_j_b' }),
    ).rejects.toThrow(/sls_j_/);
  });
});

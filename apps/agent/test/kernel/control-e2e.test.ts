/**
 * The lab joined to the real API (PostgreSQL, Redis, `apps/api/dist/main.js`), everything configured through
 * the API only: enroll with join tokens, convergence per agent, bypassed HTTP traffic and its stats, a weight
 * change reaching every agent, and the data plane outliving an API crash. Needs root and built
 * `apps/api`, `packages/devstack` (the root `npm test` builds every workspace first).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  freePort,
  startPostgres,
  startRedis,
  type StartedPostgres,
  type StartedRedis,
} from '@slipstream/devstack';
import type { TelemetryReport } from '../../src/agent/telemetry.js';
import {
  HOSTS,
  agentPid,
  apiSocket,
  controlStateFile,
  labDir,
  labDown,
  labUpWithControl,
  startAgent,
} from '../../src/lab/lab.js';
import { client, echoFlow, isRoot, newPrefix, nsRun, sleep, waitUntil } from './helpers.js';

const ROOT = resolve(import.meta.dirname, '..', '..', '..', '..');
const API_DIST = join(ROOT, 'apps', 'api', 'dist');

interface AgentRow {
  id: string;
  name: string;
  role: string;
  connected: boolean;
  appliedRevision: number | null;
  desiredRevision: number | null;
  lastError: string | null;
}

let dataDir = '';
let pg: StartedPostgres | null = null;
let redis: StartedRedis | null = null;
let api: ChildProcess | null = null;
let apiPort = 0;
let apiEnv: NodeJS.ProcessEnv = {};
let prefix = '';
let token = '';
const ids = { webVip: '', echoVip: '', webPool: '', b1: '' };

process.on('exit', () => {
  // Safety net for a crashed run; afterAll does the orderly cleanup.
  api?.kill('SIGKILL');
  if (prefix) labDown(prefix);
});

async function call<T>(method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> {
  const res = await fetch(`http://127.0.0.1:${apiPort}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: (text ? JSON.parse(text) : null) as T };
}

async function ok<T>(method: string, path: string, body?: unknown): Promise<T> {
  const r = await call<T>(method, path, body);
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json;
}

async function startApi(): Promise<void> {
  api = spawn(process.execPath, [join(API_DIST, 'main.js')], {
    env: apiEnv,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const end = Date.now() + 20_000;
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${apiPort}/v1/health`)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > end || api.exitCode !== null) throw new Error('the API did not come up');
    await sleep(100);
  }
}

async function killApi(): Promise<void> {
  const p = api;
  if (!p || p.exitCode !== null) return;
  const gone = new Promise((r) => p.once('exit', r));
  p.kill('SIGKILL');
  await gone;
}

async function revision(): Promise<number> {
  return (await ok<{ configRevision: number }>('GET', '/v1/me')).configRevision;
}

async function agents(): Promise<AgentRow[]> {
  return (await ok<{ items: AgentRow[] }>('GET', '/v1/agents?limit=200')).items.filter((a) =>
    a.name.startsWith(`${prefix}-`),
  );
}

/** Waits until every lab agent is connected and has ACKed `rev`; returns how long it took. */
async function converged(rev: number, timeoutMs: number): Promise<number> {
  const start = Date.now();
  let last: AgentRow[] = [];
  while (Date.now() - start < timeoutMs) {
    last = await agents();
    if (last.length === HOSTS.length && last.every((a) => a.connected && a.appliedRevision === rev)) {
      return Date.now() - start;
    }
    await sleep(100);
  }
  throw new Error(`agents did not converge on revision ${rev}: ${JSON.stringify(last)}`);
}

function telemetry(host: string): TelemetryReport {
  return JSON.parse(
    nsRun(prefix, host, ['curl', '-s', '-m', '3', 'http://127.0.0.1:9464/telemetry']),
  ) as TelemetryReport;
}

describe.skipIf(!isRoot)('lab agents controlled by the real API', () => {
  beforeAll(async () => {
    mkdirSync(join(ROOT, '.data'), { recursive: true });
    dataDir = join(ROOT, '.data', `agent-e2e-${randomBytes(4).toString('hex')}`);
    mkdirSync(dataDir);
    // PostgreSQL runs as its own user and must traverse this folder.
    chmodSync(dataDir, 0o755);
    const [pgPort, redisPort] = [await freePort(), await freePort()];
    apiPort = await freePort();
    pg = await startPostgres({ dataDir: join(dataDir, 'pg'), port: pgPort });
    redis = await startRedis({ port: redisPort });
    apiEnv = {
      PATH: process.env.PATH,
      NODE_ENV: 'development',
      PORT: String(apiPort),
      HOST: '127.0.0.1',
      DATABASE_URL: pg.url,
      REDIS_URL: redis.url,
      SLIPSTREAM_MASTER_KEY: randomBytes(32).toString('base64'),
      LOG_LEVEL: 'warn',
      NEXT_TELEMETRY_DISABLED: '1',
      TURBO_TELEMETRY_DISABLED: '1',
      CHECKPOINT_DISABLE: '1',
    };
    execFileSync(process.execPath, [join(API_DIST, 'db', 'migrate.js')], { env: apiEnv, stdio: 'pipe' });
    await startApi();
  });

  afterAll(async () => {
    if (prefix) labDown(prefix);
    await killApi();
    await redis?.stop();
    await pg?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('configures, converges, bypasses, reports, survives an API crash and reconverges', async () => {
    const session = await ok<{ token: string }>('POST', '/v1/auth/signup', {
      email: `e2e-${randomBytes(3).toString('hex')}@example.com`,
      password: 'correct horse battery',
      tenantName: 'agent e2e',
    });
    token = session.token;
    const backends = HOSTS.filter((h) => h.kind === 'backend');
    const bypass = { enabled: true, sourceCidrs: ['198.18.0.0/24'] };
    const web = await ok<{ id: string }>('POST', '/v1/pools', { name: 'web' });
    const echo = await ok<{ id: string }>('POST', '/v1/pools', { name: 'echo' });
    ids.webPool = web.id;
    for (const b of backends) {
      const row = await ok<{ id: string }>('POST', `/v1/pools/${web.id}/backends`, {
        address: b.underlay,
        port: 80,
      });
      if (b.name === 'b1') ids.b1 = row.id;
      await ok('POST', `/v1/pools/${echo.id}/backends`, { address: b.underlay, port: 7 });
    }
    ids.webVip = (
      await ok<{ id: string }>('POST', '/v1/vips', {
        name: 'web',
        address: '198.19.0.10',
        protocol: 'tcp',
        port: 80,
        poolId: web.id,
        bypass,
      })
    ).id;
    ids.echoVip = (
      await ok<{ id: string }>('POST', '/v1/vips', {
        name: 'echo',
        address: '198.19.0.10',
        protocol: 'tcp',
        port: 7,
        poolId: echo.id,
        bypass,
      })
    ).id;
    const hostToken = await ok<{ secret: string }>('POST', '/v1/join-tokens', {
      name: 'lab-hosts',
      role: 'host',
      maxUses: 5,
    });
    const muxToken = await ok<{ secret: string }>('POST', '/v1/join-tokens', {
      name: 'lab-muxes',
      role: 'mux',
      maxUses: 2,
    });

    prefix = newPrefix();
    const upStart = Date.now();
    await labUpWithControl(prefix, {
      apiUrl: `http://127.0.0.1:${apiPort}`,
      joinTokenHost: hostToken.secret,
      joinTokenMux: muxToken.secret,
    });
    const rev1 = await revision();
    const convergeMs = await converged(rev1, 20_000);
    console.log(
      `lab up in control mode ${Date.now() - upStart} ms, converged on revision ${rev1} +${convergeMs} ms`,
    );
    const rows = await agents();
    expect(rows.filter((a) => a.role === 'mux')).toHaveLength(2);
    expect(rows.every((a) => a.lastError === null && a.desiredRevision === rev1)).toBe(true);

    // HTTP through the VIP: a long download is bypassed (its packets go straight to the backend).
    const dl = await client<{ bytes: number; bad: number; complete: boolean; remoteAddress: string }>(
      prefix,
      'c1',
      'bytes',
      '198.19.0.10',
      '80',
      String(20 * 1024 * 1024),
    );
    expect(dl).toMatchObject({
      bytes: 20 * 1024 * 1024,
      bad: 0,
      complete: true,
      remoteAddress: '198.19.0.10',
    });
    for (let i = 0; i < 5; i++) {
      const r = await client<{ status: number; body: { localAddress: string } }>(
        prefix,
        'c2',
        'http',
        '198.19.0.10',
        '80',
      );
      expect(r.status).toBe(200);
    }
    const t = telemetry('c1').vips.find((v) => v.vipId === ids.webVip)!;
    expect(t.flowsBypassed).toBeGreaterThan(0);
    expect(t.packetsDirect).toBeGreaterThan(t.packetsMux);

    // The same counters, as shipped by the agents every second, in the API's stats.
    let points: { newFlows: number; bypassedFlows: number; bypassRatio: number | null }[] = [];
    const statsEnd = Date.now() + 15_000;
    for (;;) {
      points = (await ok<{ points: typeof points }>('GET', `/v1/vips/${ids.webVip}/stats?windowS=60`)).points;
      const flows = points.reduce((s, p) => s + p.newFlows, 0);
      if (flows > 0 && points.some((p) => (p.bypassRatio ?? 0) > 0)) break;
      if (Date.now() > statsEnd)
        throw new Error(
          `stats never showed bypassed flows: ${JSON.stringify(points.filter((p) => p.newFlows || p.bypassedFlows))}`,
        );
      await sleep(500);
    }
    const bestRatio = Math.max(...points.map((p) => p.bypassRatio ?? 0));
    console.log(
      `stats: ${points.reduce((s, p) => s + p.newFlows, 0)} new flows, ${points.reduce((s, p) => s + p.bypassedFlows, 0)} bypassed, best bypass ratio ${bestRatio}`,
    );
    expect(bestRatio).toBeGreaterThan(0);

    // A weight change reaches every agent.
    const patchAt = Date.now();
    await ok('PATCH', `/v1/pools/${ids.webPool}/backends/${ids.b1}`, { weight: 50 });
    const rev2 = await revision();
    expect(rev2).toBeGreaterThan(rev1);
    await converged(rev2, 5000);
    const patchMs = Date.now() - patchAt;
    console.log(`weight change: every agent ACKed revision ${rev2} within ${patchMs} ms`);

    // The API dies mid-flow: forwarding goes on on the last state.
    const flow = echoFlow(prefix, 'c2', '198.19.0.10', 7, 40_007, 12_000);
    await waitUntil('echo flow connected', () => flow.state.connected && flow.state.latest.echoed > 0);
    const agentPids = HOSTS.map((h) => agentPid(prefix, h.name));
    await killApi();
    const before = flow.state.latest.echoed;
    await sleep(3000);
    expect(flow.state.latest.error).toBeNull();
    expect(flow.state.latest.echoed).toBeGreaterThan(before);
    const during = flow.state.latest.echoed;
    expect(HOSTS.map((h) => agentPid(prefix, h.name))).toEqual(agentPids);

    // Back up. `connected` and the applied revision may still be the pre-crash values (presence lives in
    // Redis for 45 s), so the proof of reconnection is a change made now reaching every agent's stream.
    const restartAt = Date.now();
    await startApi();
    await ok('PATCH', `/v1/pools/${ids.webPool}/backends/${ids.b1}`, { weight: 100 });
    const rev3 = await revision();
    expect(rev3).toBeGreaterThan(rev2);
    await converged(rev3, 40_000);
    console.log(
      `API restarted; every agent reconnected and ACKed revision ${rev3} ${Date.now() - restartAt} ms after the restart`,
    );
    const done = await flow.done;
    expect(done.error).toBeNull();
    expect(done.echoed).toBe(done.sent);
    expect(done.echoed).toBeGreaterThan(during);

    // Revoking an agent stops its process with a clear log line; its kernel state keeps forwarding.
    const c2 = (await agents()).find((a) => a.name === `${prefix}-c2`)!;
    const c2Pid = agentPid(prefix, 'c2');
    expect(c2Pid).not.toBeNull();
    await ok('POST', `/v1/agents/${c2.id}/revoke`);
    await waitUntil('the revoked agent exits', () => agentPid(prefix, 'c2') === null, 10_000);
    const log = readFileSync(join(labDir(prefix), 'agent-c2.log'), 'utf8');
    expect(log).toMatch(/REVOKED by the control plane; the kernel keeps revision \d+/);
    const after = await client<{ status: number }>(prefix, 'c2', 'http', '198.19.0.10', '80');
    expect(after.status).toBe(200);

    // Re-install: the CLI enrolls from inside the namespace through the lab's socket, and the agent is back.
    const again = await ok<{ secret: string }>('POST', '/v1/join-tokens', { name: 'c2-again', role: 'host' });
    const out = nsRun(prefix, 'c2', [
      process.execPath,
      join(import.meta.dirname, '..', '..', 'dist', 'main.js'),
      'enroll',
      '--api',
      `unix:${apiSocket(prefix)}`,
      '--token',
      again.secret,
      '--name',
      `${prefix}-c2`,
      '--underlay',
      '198.18.0.12',
      '--state-file',
      controlStateFile(prefix, 'c2'),
    ]);
    expect(out).toMatch(/enrolled as agent \S+ \(role host\)/);
    expect(statSync(controlStateFile(prefix, 'c2')).mode & 0o777).toBe(0o600);
    startAgent(prefix, 'c2', 'control');
    await converged(await revision(), 15_000);
  }, 90_000);
});

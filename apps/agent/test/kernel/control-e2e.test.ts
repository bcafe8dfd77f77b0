/**
 * The lab joined to the real API (PostgreSQL, Redis, `apps/api/dist/main.js`), everything configured through
 * the API only: enroll with join tokens, convergence per agent, bypassed HTTP traffic and its stats, a weight
 * change reaching every agent, and the data plane outliving an API crash. Needs root and built
 * `apps/api`, `packages/devstack` (the root `npm test` builds every workspace first).
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
import { ApiHarness } from './api-harness.js';
import { client, echoFlow, isRoot, newPrefix, nsRun, sleep, waitUntil } from './helpers.js';

const api = new ApiHarness();
const ids = { webVip: '', echoVip: '', webPool: '', b1: '' };

process.on('exit', () => {
  // Safety net for a crashed run; afterAll does the orderly cleanup (the harness kills the API).
  if (api.prefix) labDown(api.prefix);
});

describe.skipIf(!isRoot)('lab agents controlled by the real API', () => {
  beforeAll(async () => {
    await api.start();
  });

  afterAll(async () => {
    if (api.prefix) labDown(api.prefix);
    await api.stop();
  });

  it('configures, converges, bypasses, reports, survives an API crash and reconverges', async () => {
    await api.signup('agent e2e');
    const backends = HOSTS.filter((h) => h.kind === 'backend');
    const bypass = { enabled: true, sourceCidrs: ['198.18.0.0/24'] };
    const web = await api.ok<{ id: string }>('POST', '/v1/pools', { name: 'web' });
    const echo = await api.ok<{ id: string }>('POST', '/v1/pools', { name: 'echo' });
    ids.webPool = web.id;
    for (const b of backends) {
      const row = await api.ok<{ id: string }>('POST', `/v1/pools/${web.id}/backends`, {
        address: b.underlay,
        port: 80,
      });
      if (b.name === 'b1') ids.b1 = row.id;
      await api.ok('POST', `/v1/pools/${echo.id}/backends`, { address: b.underlay, port: 7 });
    }
    ids.webVip = (
      await api.ok<{ id: string }>('POST', '/v1/vips', {
        name: 'web',
        address: '198.19.0.10',
        protocol: 'tcp',
        port: 80,
        poolId: web.id,
        bypass,
      })
    ).id;
    ids.echoVip = (
      await api.ok<{ id: string }>('POST', '/v1/vips', {
        name: 'echo',
        address: '198.19.0.10',
        protocol: 'tcp',
        port: 7,
        poolId: echo.id,
        bypass,
      })
    ).id;
    const tokens = await api.labJoinTokens();

    api.prefix = newPrefix();
    const prefix = api.prefix;
    const upStart = Date.now();
    await labUpWithControl(prefix, {
      apiUrl: api.url,
      ...tokens,
    });
    const rev1 = await api.revision();
    const convergeMs = await api.converged(rev1, 20_000);
    console.log(
      `lab up in control mode ${Date.now() - upStart} ms, converged on revision ${rev1} +${convergeMs} ms`,
    );
    const rows = await api.agents();
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
    const t = api.telemetry('c1').vips.find((v) => v.vipId === ids.webVip)!;
    expect(t.flowsBypassed).toBeGreaterThan(0);
    expect(t.packetsDirect).toBeGreaterThan(t.packetsMux);

    // The same counters, as shipped by the agents every second, in the API's stats.
    let points: { newFlows: number; bypassedFlows: number; bypassRatio: number | null }[] = [];
    const statsEnd = Date.now() + 15_000;
    for (;;) {
      points = (await api.ok<{ points: typeof points }>('GET', `/v1/vips/${ids.webVip}/stats?windowS=60`))
        .points;
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
    await api.ok('PATCH', `/v1/pools/${ids.webPool}/backends/${ids.b1}`, { weight: 50 });
    const rev2 = await api.revision();
    expect(rev2).toBeGreaterThan(rev1);
    await api.converged(rev2, 5000);
    const patchMs = Date.now() - patchAt;
    console.log(`weight change: every agent ACKed revision ${rev2} within ${patchMs} ms`);

    // The API dies mid-flow: forwarding goes on on the last state.
    const flow = echoFlow(prefix, 'c2', '198.19.0.10', 7, 40_007, 12_000);
    await waitUntil('echo flow connected', () => flow.state.connected && flow.state.latest.echoed > 0);
    const agentPids = HOSTS.map((h) => agentPid(prefix, h.name));
    await api.killApi();
    const before = flow.state.latest.echoed;
    await sleep(3000);
    expect(flow.state.latest.error).toBeNull();
    expect(flow.state.latest.echoed).toBeGreaterThan(before);
    const during = flow.state.latest.echoed;
    expect(HOSTS.map((h) => agentPid(prefix, h.name))).toEqual(agentPids);

    // Back up. `connected` and the applied revision may still be the pre-crash values (presence lives in
    // Redis for 45 s), so the proof of reconnection is a change made now reaching every agent's stream.
    const restartAt = Date.now();
    await api.startApi();
    await api.ok('PATCH', `/v1/pools/${ids.webPool}/backends/${ids.b1}`, { weight: 100 });
    const rev3 = await api.revision();
    expect(rev3).toBeGreaterThan(rev2);
    await api.converged(rev3, 40_000);
    console.log(
      `API restarted; every agent reconnected and ACKed revision ${rev3} ${Date.now() - restartAt} ms after the restart`,
    );
    const done = await flow.done;
    expect(done.error).toBeNull();
    expect(done.echoed).toBe(done.sent);
    expect(done.echoed).toBeGreaterThan(during);

    // Revoking an agent stops its process with a clear log line; its kernel state keeps forwarding.
    const c2 = (await api.agents()).find((a) => a.name === `${prefix}-c2`)!;
    const c2Pid = agentPid(prefix, 'c2');
    expect(c2Pid).not.toBeNull();
    await api.ok('POST', `/v1/agents/${c2.id}/revoke`);
    await waitUntil('the revoked agent exits', () => agentPid(prefix, 'c2') === null, 10_000);
    const log = readFileSync(join(labDir(prefix), 'agent-c2.log'), 'utf8');
    expect(log).toMatch(/REVOKED by the control plane; the kernel keeps revision \d+/);
    const after = await client<{ status: number }>(prefix, 'c2', 'http', '198.19.0.10', '80');
    expect(after.status).toBe(200);

    // Re-install: the CLI enrolls from inside the namespace through the lab's socket, and the agent is back.
    const again = await api.ok<{ secret: string }>('POST', '/v1/join-tokens', {
      name: 'c2-again',
      role: 'host',
    });
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
    await api.converged(await api.revision(), 15_000);
  }, 90_000);
});

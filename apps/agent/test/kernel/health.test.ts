/**
 * Backend health in a real lab: the muxes probe the backends per the VIP's probe settings, drop a dead
 * one from their Maglev tables within interval x unhealthyThreshold (plus slack), take it back once it
 * answers again; hosts drop bypass entries to a backend the control plane marks unhealthy and refuse
 * redirects naming it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProbeSpec } from '../../src/config/desired-state.js';
import { HOSTS } from '../../src/lab/lab.js';
import { maglevBackends, startHttpServer, stopHttpServer } from './backend-service.js';
import {
  client,
  echoFlow,
  isRoot,
  metric,
  nftElements,
  nsRun,
  readHostConfig,
  sleep,
  startLab,
  stopLab,
  updateConfig,
  waitUntil,
} from './helpers.js';

const ALL = HOSTS.map((h) => h.name);
const MUXES = ['m1', 'm2'];
const B2 = '198.18.0.32';
const PROBE: ProbeSpec = {
  protocol: 'http',
  path: '/health',
  intervalMs: 300,
  timeoutMs: 200,
  healthyThreshold: 2,
  unhealthyThreshold: 3,
};
/** Scheduling, the first probe's phase and one ruleset apply on a loaded 2-core machine. */
const SLACK_MS = 1500;

type Http = { status?: number; body?: { backend: string }; error?: string };

describe.skipIf(!isRoot)('backend health', () => {
  let prefix = '';
  beforeAll(async () => {
    prefix = await startLab();
    await updateConfig(prefix, ALL, (s) => {
      for (const v of s.vips) if (v.name === 'web' || v.name === 'web-mux') v.probe = PROBE;
    });
  });
  afterAll(() => stopLab(prefix));

  const up = (mux: string, vip: string, backend: string): number =>
    metric(prefix, mux, 'slipstream_backend_up', { vip, backend });
  const tables = (vip: string): string[][] =>
    MUXES.map((m) => maglevBackends(prefix, m, readHostConfig(prefix, m), vip));

  async function spread(host: string, vip: string, n: number): Promise<Map<string, number>> {
    const seen = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const r = await client<Http>(prefix, host, 'http', vip, '80');
      expect(r.error).toBeUndefined();
      expect(r.status).toBe(200);
      const b = r.body!.backend;
      seen.set(b, (seen.get(b) ?? 0) + 1);
    }
    return seen;
  }

  it('muxes probe every backend of a probed VIP and report it up', async () => {
    await waitUntil('probes up', () =>
      MUXES.every((m) =>
        ['198.18.0.31', B2, '198.18.0.33'].every((b) => up(m, 'web-mux', b) === 1 && up(m, 'web', b) === 1),
      ),
    );
    // VIPs without probe settings are not probed.
    expect(metric(prefix, 'm1', 'slipstream_backend_up', { vip: 'echo' })).toBe(0);
    expect(tables('web-mux')).toEqual([
      ['198.18.0.31', B2, '198.18.0.33'],
      ['198.18.0.31', B2, '198.18.0.33'],
    ]);
  });

  it('a dead backend leaves both muxes’ tables within interval x threshold; new flows avoid it', async () => {
    const t0 = Date.now();
    stopHttpServer(prefix, 'b2');
    await waitUntil(
      'b2 out of both tables',
      () => tables('web-mux').every((t) => !t.includes(B2)) && tables('web').every((t) => !t.includes(B2)),
      PROBE.intervalMs * PROBE.unhealthyThreshold + SLACK_MS,
    );
    const tookMs = Date.now() - t0;
    console.log(`backend down -> out of both Maglev tables: ${tookMs} ms`);
    for (const m of MUXES) {
      expect(up(m, 'web-mux', B2)).toBe(0);
      expect(up(m, 'web-mux', '198.18.0.31')).toBe(1);
    }
    expect(tables('web-mux')[0]).toEqual(['198.18.0.31', '198.18.0.33']);
    // Identical on both muxes, and VIPs without probes keep the backend (its other services live on).
    const [a, b] = MUXES.map((m) =>
      nsRun(prefix, m, ['nft', 'list', 'table', 'ip', 'slipstream']).replace(/packets \d+ bytes \d+/g, ''),
    );
    expect(a).toBe(b);
    expect(tables('echo')[0]).toContain(B2);
    const tel = JSON.parse(
      nsRun(prefix, 'm1', ['curl', '-s', '-m', '2', 'http://127.0.0.1:9464/telemetry']),
    ) as { backendHealth: { vipId: string; address: string; healthy: boolean; reason?: string }[] };
    expect(tel.backendHealth.find((h) => h.vipId === 'vip-web-mux' && h.address === B2)).toMatchObject({
      healthy: false,
      reason: 'ECONNREFUSED',
    });
    // Every new connection through either VIP lands on a live backend: none is refused or reset.
    const viaMux = await spread('c1', '198.19.0.20', 15);
    const bypassed = await spread('c2', '198.19.0.10', 15);
    expect(viaMux.has('b2')).toBe(false);
    expect(bypassed.has('b2')).toBe(false);
    expect(viaMux.size).toBe(2);
  });

  it('a backend that answers again comes back into both tables and gets new flows', async () => {
    startHttpServer(prefix, 'b2');
    await waitUntil(
      'b2 back in both tables',
      () => tables('web-mux').every((t) => t.includes(B2)),
      PROBE.intervalMs * PROBE.healthyThreshold + SLACK_MS + 2000, // + the service's start-up
    );
    for (const m of MUXES) expect(up(m, 'web-mux', B2)).toBe(1);
    expect(tables('web-mux')).toEqual([
      ['198.18.0.31', B2, '198.18.0.33'],
      ['198.18.0.31', B2, '198.18.0.33'],
    ]);
    const seen = await spread('c1', '198.19.0.20', 24);
    expect(seen.get('b2') ?? 0).toBeGreaterThan(0);
  });

  it('hosts refuse redirects naming a backend the control plane marks unhealthy', async () => {
    const rejected = (): number =>
      metric(prefix, 'c1', 'slipstream_redirects_received_total', {
        result: 'rejected',
        reason: 'backend_unhealthy',
      });
    const before = rejected();
    // The clients learn first; b2's own agent has not converged yet, so it still sends redirects.
    await updateConfig(prefix, ['c1', 'c2'], (s) => {
      for (const v of s.vips) v.backends.forEach((b) => b.address === B2 && (b.healthy = false));
    });
    // New flows the mux sends to b2 still work, through the mux; b2's redirects for them are refused.
    const seen = await spread('c1', '198.19.0.10', 24);
    expect(seen.get('b2') ?? 0).toBeGreaterThan(0);
    await waitUntil('refusals counted', () => rejected() > before, 3000);
    expect(nftElements(prefix, 'c1', 'fo')).not.toContain(B2);
    await updateConfig(prefix, ['c1', 'c2'], (s) => {
      for (const v of s.vips) v.backends.forEach((b) => delete b.healthy);
    });
  });

  it('hosts drop bypass entries to a backend marked unhealthy at once; the flow goes on via the mux', async () => {
    // A long bypassed flow that landed on b2 (the mux picks by hash: try client ports until one does).
    let flow: ReturnType<typeof echoFlow> | null = null;
    let port = 0;
    for (let p = 42001; p < 42031 && !flow; p++) {
      const f = echoFlow(prefix, 'c1', '198.19.0.10', 7, p, 12_000);
      await waitUntil('bypass', () => nftElements(prefix, 'c1', 'fo').includes(String(p)));
      const line = nftElements(prefix, 'c1', 'fo')
        .split(/,|\{|\}/)
        .find((l) => l.includes(`. ${p} .`));
      if (line?.includes(B2)) {
        flow = f;
        port = p;
      } else f.kill();
    }
    expect(flow, 'no flow landed on b2 in 30 tries').not.toBeNull();
    const hosts = ALL.filter((h) => !MUXES.includes(h));
    await updateConfig(prefix, hosts, (s) => {
      for (const v of s.vips) v.backends.forEach((b) => b.address === B2 && (b.healthy = false));
    });
    await waitUntil(
      'entries to b2 gone',
      () =>
        !nftElements(prefix, 'c1', 'fo').includes(`. ${port} .`) &&
        !nftElements(prefix, 'b2', 'bo').includes(`. ${port}`),
      1000,
    );
    const echoed = flow!.state.latest.echoed;
    await sleep(500);
    expect(flow!.state.latest.echoed).toBeGreaterThan(echoed);
    const end = await flow!.done;
    expect(end.error).toBeNull();
    expect(end.echoed).toBe(end.sent);
    expect(nftElements(prefix, 'c1', 'fo')).not.toContain(B2);
  });
});

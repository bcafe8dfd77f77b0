/**
 * Backend health end to end, through the real API: the muxes probe per the pool's probe settings and
 * report; a hung backend turns `unhealthy` in the API, the tenant's revision bumps, every agent ACKs it and
 * the hosts' bypass entries to that backend are gone while its connections are still open; it comes back
 * the same way. Needs root and built
 * `apps/api`, `packages/devstack`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOSTS, labDown, labUpWithControl } from '../../src/lab/lab.js';
import { ApiHarness } from './api-harness.js';
import { pauseHttpServer } from './backend-service.js';
import { client, holdFlow, isRoot, metric, newPrefix, nftElements, sleep, waitUntil } from './helpers.js';

const B2 = '198.18.0.32';

interface BackendRow {
  id: string;
  address: string;
  health: 'healthy' | 'unhealthy' | 'unknown';
}

describe.skipIf(!isRoot)('backend health through the real API', () => {
  const api = new ApiHarness();
  process.on('exit', () => {
    if (api.prefix) labDown(api.prefix);
  });
  beforeAll(() => api.start());
  afterAll(async () => {
    if (api.prefix) labDown(api.prefix);
    await api.stop();
  });

  async function healthOf(poolId: string): Promise<Record<string, string>> {
    const rows = (await api.ok<{ items: BackendRow[] }>('GET', `/v1/pools/${poolId}/backends`)).items;
    return Object.fromEntries(rows.map((r) => [r.address, r.health]));
  }

  async function waitHealth(poolId: string, want: Record<string, string>, timeoutMs: number) {
    const end = Date.now() + timeoutMs;
    let last: Record<string, string> = {};
    while (Date.now() < end) {
      last = await healthOf(poolId);
      if (Object.entries(want).every(([a, h]) => last[a] === h)) return;
      await sleep(200);
    }
    throw new Error(`backend health never became ${JSON.stringify(want)}: ${JSON.stringify(last)}`);
  }

  const hostsBypassTo = (address: string): string[] =>
    ['c1', 'c2'].filter((h) => nftElements(api.prefix, h, 'fo').includes(address));

  it('a hung backend turns unhealthy, every agent ACKs the new revision, hosts drop their entries to it', async () => {
    await api.signup('health e2e');
    const pool = await api.ok<{ id: string }>('POST', '/v1/pools', {
      name: 'web',
      healthProbe: {
        protocol: 'http',
        path: '/health',
        intervalMs: 300,
        timeoutMs: 200,
        healthyThreshold: 2,
        unhealthyThreshold: 2,
      },
    });
    const backends = HOSTS.filter((h) => h.kind === 'backend');
    for (const b of backends)
      await api.ok('POST', `/v1/pools/${pool.id}/backends`, { address: b.underlay, port: 80 });
    await api.ok('POST', '/v1/vips', {
      name: 'web',
      address: '198.19.0.10',
      protocol: 'tcp',
      port: 80,
      poolId: pool.id,
      bypass: { enabled: true, sourceCidrs: ['198.18.0.0/24'] },
    });
    const tokens = await api.labJoinTokens();
    api.prefix = newPrefix();
    await labUpWithControl(api.prefix, {
      apiUrl: api.url,
      ...tokens,
    });
    const all = Object.fromEntries(backends.map((b) => [b.underlay, 'healthy']));
    // The first verdicts turn every backend from unknown to healthy (recorded without a revision).
    await waitHealth(pool.id, all, 20_000);
    await api.converged(await api.revision(), 20_000);
    const muxReport = api.telemetry('m1').backendHealth;
    expect(muxReport.filter((r) => r.healthy)).toHaveLength(3);

    // Open, bypassed connections from both clients (a closed one loses its entries at once), until each
    // client holds an entry to b2.
    const holds: ReturnType<typeof holdFlow>[] = [];
    const ended = (): number =>
      ['c1', 'c2'].reduce((n, h) => n + metric(api.prefix, h, 'slipstream_flows_ended_total'), 0);
    try {
      for (let i = 0; i < 40 && hostsBypassTo(B2).length < 2; i++) {
        const h = holdFlow(api.prefix, i % 2 ? 'c1' : 'c2', '198.19.0.10', 80);
        holds.push(h);
        const port = String(await h.localPort);
        await waitUntil(
          'bypass',
          () => nftElements(api.prefix, i % 2 ? 'c1' : 'c2', 'fo').includes(port),
          3000,
        );
      }
      expect(hostsBypassTo(B2)).toEqual(['c1', 'c2']);
      const endedBefore = ended();

      const before = await api.revision();
      const t0 = Date.now();
      // Hung, not dead: its connections stay open, so only the health verdict can take their entries.
      pauseHttpServer(api.prefix, 'b2', true);
      await waitHealth(pool.id, { [B2]: 'unhealthy' }, 15_000);
      const unhealthyMs = Date.now() - t0;
      const rev = await api.revision();
      expect(rev).toBeGreaterThan(before);
      const ackMs = await api.converged(rev, 10_000);
      console.log(
        `backend down -> unhealthy in the API after ${unhealthyMs} ms; revision ${rev} ACKed by every agent +${ackMs} ms`,
      );
      expect(await healthOf(pool.id)).toEqual({ ...all, [B2]: 'unhealthy' });
      expect(hostsBypassTo(B2)).toEqual([]);
      expect(ended()).toBe(endedBefore);
      // New flows work and never go to b2.
      for (let i = 0; i < 10; i++) {
        const r = await client<{ status: number; body: { backend: string } }>(
          api.prefix,
          'c1',
          'http',
          '198.19.0.10',
          '80',
        );
        expect(r.status).toBe(200);
        expect(r.body.backend).not.toBe('b2');
      }
      expect(hostsBypassTo(B2)).toEqual([]);

      // Back up: healthy again, a new revision, every agent ACKs it.
      pauseHttpServer(api.prefix, 'b2', false);
      await waitHealth(pool.id, all, 15_000);
      const back = await api.revision();
      expect(back).toBeGreaterThan(rev);
      await api.converged(back, 10_000);
    } finally {
      for (const h of holds) h.kill();
    }
  }, 120_000);
});

// GET /v1/vips/{id}/stats and GET /v1/stats against real rows with fixed data.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TelemetryReport } from '../src/dto/telemetry.dto.js';
import { TELEMETRY_INGEST, type TelemetryIngest } from '../src/services/telemetry.port.js';
import { type TestApi, expectProblem, fingerprint, signup, sql, startApi } from './helpers.js';

const BUCKETS = [1, 5, 10];

function report(
  at: Date,
  bootId: string,
  vips: Partial<TelemetryReport['vips'][number]>[],
  counts = [0, 0, 0, 0],
): TelemetryReport {
  return {
    bootId,
    at: at.toISOString(),
    appliedRevision: 0,
    vips: vips.map((v) => ({
      vipId: '',
      packetsMux: 0,
      packetsDirect: 0,
      bytesMux: 0,
      bytesDirect: 0,
      flowsNew: 0,
      flowsBypassed: 0,
      bypassEntries: 0,
      redirectsSent: 0,
      muxPackets: 0,
      ...v,
    })),
    redirectsReceived: { accepted: 0, rejected: { stale: 2 } },
    timeToBypass: { bucketsMs: BUCKETS, counts, sumMs: 0, count: counts.reduce((a, b) => a + b, 0) },
    backendHealth: [],
  };
}

describe('stats', () => {
  let api: TestApi;
  let a: { token: string; tenantId: string };
  let b: { token: string };
  let vipId: string;
  let otherVip: string;
  let t0: Date;

  beforeAll(async () => {
    api = await startApi();
    a = await signup(api, 'stats-a');
    b = await signup(api, 'stats-b');
    const pool = await api.call('POST', '/v1/pools', { token: a.token, body: { name: 'p' } });
    const mk = async (name: string, addr: string) =>
      (
        await api.call('POST', '/v1/vips', {
          token: a.token,
          body: { name, address: addr, protocol: 'tcp', port: 80, poolId: pool.body.id },
        })
      ).body.id as string;
    vipId = await mk('web', '10.9.0.1');
    otherVip = await mk('api', '10.9.0.2');
    const [agent] = await sql<{ id: string }>(
      api.databaseUrl,
      `INSERT INTO "Agent" ("tenantId", name, role) VALUES ($1, 'h1', 'host') RETURNING id`,
      [a.tenantId],
    );
    const ingest = api.app.get<TelemetryIngest>(TELEMETRY_INGEST);
    // Aligned on 10 s, 30 s ago: two seconds of traffic in one 10 s bucket.
    t0 = new Date(Math.floor(Date.now() / 10_000) * 10_000 - 30_000);
    const boot = randomUUID();
    // Second 0: 20 mux + 60 direct packets, 4 new flows; 10 time-to-bypass samples in (0,1] and 10 in (1,5].
    await ingest.ingest(
      a.tenantId,
      agent!.id,
      report(
        t0,
        boot,
        [
          {
            vipId,
            packetsMux: 20,
            packetsDirect: 60,
            flowsNew: 4,
            flowsBypassed: 3,
            bypassEntries: 3,
            bytesMux: 2000,
            bytesDirect: 6000,
          },
        ],
        [10, 10, 0, 0],
      ),
    );
    // Second 1 (cumulative): +0 mux, +20 direct, +1 flow; gauge 5.
    await ingest.ingest(
      a.tenantId,
      agent!.id,
      report(
        new Date(t0.getTime() + 1000),
        boot,
        [
          {
            vipId,
            packetsMux: 20,
            packetsDirect: 80,
            flowsNew: 5,
            flowsBypassed: 4,
            bypassEntries: 5,
            bytesMux: 2000,
            bytesDirect: 8000,
          },
        ],
        [10, 10, 0, 0],
      ),
    );
    // The other VIP gets mux-only traffic in the same seconds (it must not leak into the first VIP's series).
    const boot2 = randomUUID();
    const [agent2] = await sql<{ id: string }>(
      api.databaseUrl,
      `INSERT INTO "Agent" ("tenantId", name, role) VALUES ($1, 'h2', 'host') RETURNING id`,
      [a.tenantId],
    );
    await ingest.ingest(
      a.tenantId,
      agent2!.id,
      report(t0, boot2, [{ vipId: otherVip, packetsMux: 100, flowsNew: 10 }]),
    );
  });
  afterAll(() => api.close());

  const range = (stepS: number, spanS = 60) =>
    `from=${new Date(t0.getTime() - 20_000).toISOString()}&to=${new Date(t0.getTime() - 20_000 + spanS * 1000).toISOString()}&step=${stepS}s`;

  it('sums a bucket and derives ratio and percentiles from the merged histogram', async () => {
    const r = await api.call('GET', `/v1/vips/${vipId}/stats?${range(10)}`, { token: a.token });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ vipId, stepS: 10, intervalS: 10, source: 'second' });
    expect(r.body.points).toHaveLength(6);
    const p = r.body.points.find(
      (x: { at: string }) => x.at === new Date(t0.getTime() + 10_000).toISOString(),
    );
    expect(p).toEqual({
      at: new Date(t0.getTime() + 10_000).toISOString(),
      newFlows: 5,
      activeFlows: 4, // mean of 3 and 5
      bypassedFlows: 4,
      packetsMux: 20,
      packetsDirect: 80,
      bytesMux: 2000,
      bytesDirect: 8000,
      newFlowsPerS: 0.5,
      muxPacketsPerS: 2,
      directPacketsPerS: 8,
      bypassRatio: 0.8,
      timeToBypassP50Ms: 1,
      timeToBypassP99Ms: 4.92,
      redirectsRejected: { stale: 2 },
    });
    // Buckets without data are present with zeros and null ratio.
    const empty = r.body.points.find((x: { newFlows: number }) => x.newFlows === 0);
    expect(empty).toMatchObject({
      packetsMux: 0,
      bypassRatio: null,
      timeToBypassP50Ms: null,
      redirectsRejected: {},
    });
  });

  it('per-second steps show each second', async () => {
    const r = await api.call('GET', `/v1/vips/${vipId}/stats?${range(1, 30)}`, { token: a.token });
    const busy = r.body.points.filter((x: { packetsDirect: number }) => x.packetsDirect > 0);
    expect(
      busy.map((x: { packetsDirect: number; bypassRatio: number }) => [x.packetsDirect, x.bypassRatio]),
    ).toEqual([
      [60, 0.75],
      [20, 1],
    ]);
  });

  it("tenant stats add every VIP's traffic and list each VIP's current figures", async () => {
    const r = await api.call('GET', `/v1/stats?${range(10)}`, { token: a.token });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.status).toBe(200);
    const p = r.body.points.find((x: { packetsMux: number }) => x.packetsMux > 0);
    expect(p).toMatchObject({
      packetsMux: 120,
      packetsDirect: 80,
      newFlows: 15,
      bypassRatio: 0.4,
      redirectsRejected: { stale: 4 },
    });
    expect(r.body.vips.map((v: { vipId: string }) => v.vipId).sort()).toEqual([vipId, otherVip].sort());
  });

  it("answers the console's windowS shape", async () => {
    const r = await api.call('GET', `/v1/vips/${vipId}/stats?windowS=300`, { token: a.token });
    expect(r.status).toBe(200);
    expect(r.body.intervalS).toBe(1);
    expect(r.body.points).toHaveLength(300);
    const total = r.body.points.reduce(
      (s: number, x: { directPacketsPerS: number }) => s + x.directPacketsPerS,
      0,
    );
    expect(total).toBe(80);
    for (const k of [
      'at',
      'newFlowsPerS',
      'muxPacketsPerS',
      'directPacketsPerS',
      'bypassRatio',
      'timeToBypassP50Ms',
      'timeToBypassP99Ms',
    ])
      expect(r.body.points[0]).toHaveProperty(k);
    const tenant = await api.call('GET', '/v1/stats?windowS=300', { token: a.token });
    expect(tenant.status).toBe(200);
    expect(tenant.body.vips).toHaveLength(2);
  });

  it("gives tenant B a 404 for tenant A's VIP and an empty tenant series", async () => {
    const before = await fingerprint(api.databaseUrl);
    expectProblem(
      await api.call('GET', `/v1/vips/${vipId}/stats?${range(10)}`, { token: b.token }),
      404,
      'not-found',
    );
    expectProblem(
      await api.call('GET', `/v1/vips/${randomUUID()}/stats`, { token: a.token }),
      404,
      'not-found',
    );
    const mine = await api.call('GET', `/v1/stats?${range(10)}`, { token: b.token });
    expect(mine.body.vips).toEqual([]);
    expect(mine.body.points.every((x: { packetsMux: number }) => x.packetsMux === 0)).toBe(true);
    expect(await fingerprint(api.databaseUrl)).toEqual(before);
  });

  it.each([
    ['step=0', 'query.step'],
    ['step=2h', 'query.step'],
    ['step=abc', 'query.step'],
    ['windowS=5', 'query.windowS'],
    ['windowS=60&from=2026-11-26T00:00:00Z', 'query.windowS'],
    ['from=2026-11-26T15:00:00Z&to=2026-11-26T14:00:00Z', 'query.from'],
    ['from=yesterday', 'query.from'],
    [`from=${new Date(Date.now() - 2 * 3600_000).toISOString()}&step=10s`, 'query.step'],
    [`from=${new Date(Date.now() - 50 * 60_000).toISOString()}&step=1s`, 'query.step'],
    ['bogus=1', 'query'],
  ])('rejects %s with 400', async (qs, path) => {
    const r = await api.call('GET', `/v1/vips/${vipId}/stats?${qs}`, { token: a.token });
    expectProblem(r, 400, 'validation');
    expect(r.body.errors.map((e: { path: string }) => e.path)).toContain(path);
  });
});

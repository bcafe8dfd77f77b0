// Telemetry against the real PostgreSQL and Redis: storage, aggregation, rollups, backend health, the
// live stream and /metrics. Reports enter through the TelemetryIngest port (the agent-control side's
// POST /v1/agent/telemetry calls exactly this after authenticating the agent).
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { TelemetryReport } from '../src/dto/telemetry.dto.js';
import { HealthService } from '../src/services/health.service.js';
import { RollupScheduler, RollupService } from '../src/services/rollup.service.js';
import { TELEMETRY_INGEST, type TelemetryIngest } from '../src/services/telemetry.port.js';
import { type TestApi, signup, sql, startApi } from './helpers.js';

const BUCKETS = [0.5, 1, 2, 5, 10, 20, 50, 100, 250, 1000];

interface VipCounters {
  vipId: string;
  packetsMux?: number;
  packetsDirect?: number;
  bytesMux?: number;
  bytesDirect?: number;
  flowsNew?: number;
  flowsBypassed?: number;
  bypassEntries?: number;
  redirectsSent?: number;
}

function report(
  bootId: string,
  at: Date,
  vips: VipCounters[],
  extra: Partial<Pick<TelemetryReport, 'backendHealth' | 'redirectsReceived'>> & { counts?: number[] } = {},
): TelemetryReport {
  const counts = extra.counts ?? new Array<number>(BUCKETS.length + 1).fill(0);
  return {
    bootId,
    at: at.toISOString(),
    appliedRevision: 0,
    vips: vips.map((v) => ({
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
    redirectsReceived: extra.redirectsReceived ?? { accepted: 0, rejected: {} },
    timeToBypass: { bucketsMs: BUCKETS, counts, sumMs: 0, count: counts.reduce((a, b) => a + b, 0) },
    backendHealth: extra.backendHealth ?? [],
  };
}

async function agent(api: TestApi, tenantId: string, role: 'host' | 'mux'): Promise<string> {
  const [row] = await sql<{ id: string }>(
    api.databaseUrl,
    `INSERT INTO "Agent" ("tenantId", name, role) VALUES ($1, $2, $3) RETURNING id`,
    [tenantId, `${role}-${randomUUID().slice(0, 8)}`, role],
  );
  return row!.id;
}

let n = 0;
async function setupTenant(api: TestApi, label: string) {
  const t = await signup(api, label);
  const i = ++n;
  const pool = await api.call('POST', '/v1/pools', { token: t.token, body: { name: `p${i}` } });
  const backend = await api.call('POST', `/v1/pools/${pool.body.id}/backends`, {
    token: t.token,
    body: { address: `198.18.${i}.21`, port: 80 },
  });
  const vip = await api.call('POST', '/v1/vips', {
    token: t.token,
    body: { name: `v${i}`, address: `10.0.${i}.1`, protocol: 'tcp', port: 80, poolId: pool.body.id },
  });
  return {
    ...t,
    poolId: pool.body.id as string,
    backendId: backend.body.id as string,
    vipId: vip.body.id as string,
  };
}

/** A second safely in the past (so the live clock never files a report elsewhere) and aligned. */
const pastSecond = (agoS: number) => new Date((Math.floor(Date.now() / 1000) - agoS) * 1000);

describe('telemetry storage and rollups', () => {
  let api: TestApi;
  let ingest: TelemetryIngest;
  beforeAll(async () => {
    api = await startApi();
    ingest = api.app.get<TelemetryIngest>(TELEMETRY_INGEST);
  });
  afterAll(() => api.close());

  it('stores deltas per second and adds two agents of the same second into one row', async () => {
    const t = await setupTenant(api, 'agg');
    const [a1, a2] = [await agent(api, t.tenantId, 'host'), await agent(api, t.tenantId, 'host')];
    const [b1, b2] = [randomUUID(), randomUUID()];
    const s0 = pastSecond(20);
    const s1 = new Date(s0.getTime() + 1000);
    await ingest.ingest(
      t.tenantId,
      a1,
      report(b1, s0, [{ vipId: t.vipId, packetsMux: 10, flowsNew: 2, bypassEntries: 1 }]),
    );
    await ingest.ingest(
      t.tenantId,
      a1,
      report(b1, s1, [{ vipId: t.vipId, packetsMux: 15, packetsDirect: 40, flowsNew: 3, bypassEntries: 2 }]),
    );
    await ingest.ingest(
      t.tenantId,
      a2,
      report(b2, s1, [{ vipId: t.vipId, packetsMux: 5, packetsDirect: 60, flowsNew: 1, bypassEntries: 3 }]),
    );
    const rows = await sql<{
      second: Date;
      packetsMux: string;
      packetsDirect: string;
      flowsNew: string;
      bypassEntries: string;
    }>(
      api.databaseUrl,
      `SELECT "second", "packetsMux", "packetsDirect", "flowsNew", "bypassEntries" FROM "TelemetrySecond"
       WHERE "vipId" = $1 ORDER BY "second"`,
      [t.vipId],
    );
    expect(
      rows.map((r) => [r.second.getTime(), r.packetsMux, r.packetsDirect, r.flowsNew, r.bypassEntries]),
    ).toEqual([
      [s0.getTime(), '10', '0', '2', '1'],
      // agent 1 added 5 mux, 40 direct, 1 flow; agent 2 (first report) 5, 60, 1; gauges 2 + 3.
      [s1.getTime(), '10', '100', '2', '5'],
    ]);
  });

  it("drops rows for a VIP id that is not the reporting tenant's", async () => {
    const a = await setupTenant(api, 'owner-a');
    const b = await setupTenant(api, 'intruder-b');
    const agentB = await agent(api, b.tenantId, 'host');
    await ingest.ingest(
      b.tenantId,
      agentB,
      report(randomUUID(), pastSecond(5), [{ vipId: a.vipId, packetsMux: 999 }]),
    );
    const rows = await sql(api.databaseUrl, `SELECT 1 FROM "TelemetrySecond" WHERE "vipId" = $1`, [a.vipId]);
    expect(rows).toEqual([]);
  });

  it('rolls seconds up into minutes, the same rows when run twice, and prunes by retention', async () => {
    const t = await setupTenant(api, 'rollup');
    const a = await agent(api, t.tenantId, 'host');
    const boot = randomUUID();
    // Three reports of the last minute (reports more than 60 s off the API's clock are filed under now).
    const secs = [50, 35, 20].map((ago) => pastSecond(ago));
    const cum = [4, 10, 16];
    for (let i = 0; i < 3; i++) {
      await ingest.ingest(
        t.tenantId,
        a,
        report(boot, secs[i]!, [
          { vipId: t.vipId, packetsDirect: cum[i]!, flowsNew: cum[i]!, bypassEntries: (i + 1) * 2 },
        ]),
      );
    }
    // Expected minute rows: deltas 4, 6, 6 and gauges 2, 4, 6 grouped by the minute each second falls in.
    const expected = new Map<number, { sum: number; gauges: number[] }>();
    [4, 6, 6].forEach((d, i) => {
      const m = Math.floor(secs[i]!.getTime() / 60_000) * 60_000;
      const e = expected.get(m) ?? { sum: 0, gauges: [] };
      e.sum += d;
      e.gauges.push((i + 1) * 2);
      expected.set(m, e);
    });
    const rollups = api.app.get(RollupService);
    const read = () =>
      sql<{ minute: Date; packetsDirect: string; flowsNew: string; bypassEntries: string }>(
        api.databaseUrl,
        `SELECT "minute", "packetsDirect", "flowsNew", "bypassEntries" FROM "TelemetryMinute" WHERE "vipId" = $1 ORDER BY "minute"`,
        [t.vipId],
      );
    await rollups.rollup(3);
    const once = await read();
    expect(
      once
        .map((r) => [r.minute.getTime(), r.packetsDirect, r.flowsNew, r.bypassEntries])
        .sort((x, y) => Number(x[0]) - Number(y[0])),
    ).toEqual(
      [...expected].map(([m, e]) => [
        m,
        String(e.sum),
        String(e.sum),
        // The minute's gauge is the mean over its seconds.
        String(Math.round(e.gauges.reduce((x, y) => x + y, 0) / e.gauges.length)),
      ]),
    );
    expect([...expected.values()].reduce((x, e) => x + e.sum, 0)).toBe(16);
    await rollups.rollup(3);
    await rollups.run('rollup-hour');
    expect(await read()).toEqual(once);

    // Retention: rows older than an hour (seconds) and 30 days (minutes) go.
    await sql(
      api.databaseUrl,
      `INSERT INTO "TelemetrySecond" ("tenantId", "vipId", "second", "packetsMux") VALUES
         ($1, $2, now() - interval '61 minutes', 1)`,
      [t.tenantId, t.vipId],
    );
    await sql(
      api.databaseUrl,
      `INSERT INTO "TelemetryMinute" ("tenantId", "vipId", "minute", "packetsMux") VALUES
         ($1, $2, date_trunc('minute', now() - interval '31 days'), 1)`,
      [t.tenantId, t.vipId],
    );
    const pruned = await rollups.prune();
    expect(pruned.seconds).toBeGreaterThanOrEqual(1);
    expect(pruned.minutes).toBeGreaterThanOrEqual(1);
    const left = await sql<{ n: string }>(
      api.databaseUrl,
      `SELECT count(*) AS n FROM "TelemetrySecond" WHERE "vipId" = $1 AND "second" < now() - interval '1 hour'`,
      [t.vipId],
    );
    expect(left[0]!.n).toBe('0');
  });

  it('schedules the repeatable rollup jobs in BullMQ', async () => {
    // Scheduled in the background at start-up, so wait for it.
    await vi.waitFor(
      async () => {
        const keys = await api.app.get(RollupScheduler).schedulers();
        expect(keys.sort()).toEqual(['rollup-hour', 'rollup-recent']);
      },
      { timeout: 5000, interval: 100 },
    );
  });

  it('runs no rollup worker in a process started with WORKER=0', async () => {
    const other = await startApi({ WORKER: '0' }, api.databaseUrl);
    try {
      expect(other.app.get(RollupScheduler, { strict: false })).toBeNull();
      expect((await other.call('GET', '/v1/health')).status).toBe(200);
    } finally {
      await other.app.close();
    }
  });

  it('measures the ingest rate (reports/s)', async () => {
    const t = await setupTenant(api, 'rate');
    const agents = await Promise.all(Array.from({ length: 20 }, () => agent(api, t.tenantId, 'host')));
    const boots = agents.map(() => randomUUID());
    const N = 1000;
    const start = performance.now();
    let done = 0;
    // 20 agents in parallel, each sending its reports in order, as real agents do.
    await Promise.all(
      agents.map(async (id, k) => {
        for (let i = 0; i < N / agents.length; i++) {
          await ingest.ingest(
            t.tenantId,
            id,
            report(boots[k]!, pastSecond(30 - (i % 30)), [
              { vipId: t.vipId, packetsMux: i * 10, packetsDirect: i * 90, flowsNew: i },
            ]),
          );
          done++;
        }
      }),
    );
    const rate = done / ((performance.now() - start) / 1000);
    console.log(
      `telemetry ingest: ${done} reports in ${((performance.now() - start) / 1000).toFixed(2)} s = ${rate.toFixed(0)} reports/s`,
    );
    expect(done).toBe(N);
    const [sum] = await sql<{ flows: string }>(
      api.databaseUrl,
      `SELECT sum("flowsNew") AS flows FROM "TelemetrySecond" WHERE "vipId" = $1`,
      [t.vipId],
    );
    // Each agent's last cumulative flowsNew is 49: nothing lost, nothing counted twice.
    expect(Number(sum!.flows)).toBe(agents.length * (N / agents.length - 1));
  });
});

describe('backend health', () => {
  let api: TestApi;
  let ingest: TelemetryIngest;
  beforeAll(async () => {
    api = await startApi();
    ingest = api.app.get<TelemetryIngest>(TELEMETRY_INGEST);
  });
  afterAll(() => api.close());

  it('derives health from the muxes, bumps the revision only into or out of unhealthy, shows it on the backend', async () => {
    const t = await setupTenant(api, 'health');
    const muxes = [
      await agent(api, t.tenantId, 'mux'),
      await agent(api, t.tenantId, 'mux'),
      await agent(api, t.tenantId, 'mux'),
    ];
    const boots = muxes.map(() => randomUUID());
    const hb = (healthy: boolean) => [
      {
        vipId: t.vipId,
        address: `198.18.${n}.21`,
        port: 80,
        healthy,
        reason: healthy ? 'ok' : 'connect refused',
      },
    ];
    const backend = () =>
      api.call('GET', `/v1/pools/${t.poolId}/backends/${t.backendId}`, { token: t.token });
    const revision = async () =>
      (
        await sql<{ r: string }>(
          api.databaseUrl,
          `SELECT "configRevision"::text AS r FROM "Tenant" WHERE id = $1`,
          [t.tenantId],
        )
      )[0]!.r;

    expect((await backend()).body).toMatchObject({ health: 'unknown', healthCheckedAt: null });
    const rev0 = await revision();
    const addr = (await backend()).body.address as string;
    const verdicts = (healthy: boolean) => hb(healthy).map((h) => ({ ...h, address: addr }));

    await ingest.ingest(
      t.tenantId,
      muxes[0]!,
      report(boots[0]!, pastSecond(0), [], { backendHealth: verdicts(true) }),
    );
    // unknown -> healthy changes nothing an agent is told (only unhealthy backends are marked): no revision.
    expect((await backend()).body.health).toBe('healthy');
    const rev1 = await revision();
    expect(rev1).toBe(rev0);

    // One of three muxes says unhealthy: no majority, nothing changes.
    await ingest.ingest(
      t.tenantId,
      muxes[1]!,
      report(boots[1]!, pastSecond(0), [], { backendHealth: verdicts(true) }),
    );
    await ingest.ingest(
      t.tenantId,
      muxes[2]!,
      report(boots[2]!, pastSecond(0), [], { backendHealth: verdicts(false) }),
    );
    expect((await backend()).body.health).toBe('healthy');
    expect(await revision()).toBe(rev1);

    // A second one agrees: 2 of 3 is a majority.
    await ingest.ingest(
      t.tenantId,
      muxes[1]!,
      report(boots[1]!, pastSecond(0), [], { backendHealth: verdicts(false) }),
    );
    const b = (await backend()).body;
    expect(b.health).toBe('unhealthy');
    expect(Date.parse(b.healthCheckedAt)).toBeGreaterThan(Date.now() - 10_000);
    expect(BigInt(await revision())).toBe(BigInt(rev1) + 1n);
    const list = await api.call('GET', `/v1/pools/${t.poolId}/backends`, { token: t.token });
    expect(list.body.items[0]).toMatchObject({ id: t.backendId, health: 'unhealthy' });

    const audit = await sql<{ actorType: string; action: string; after: { health: string } }>(
      api.databaseUrl,
      `SELECT "actorType", action, after FROM "AuditLog" WHERE "tenantId" = $1 AND action = 'backend.health' ORDER BY id`,
      [t.tenantId],
    );
    expect(audit.map((a) => [a.actorType, a.after.health])).toEqual([['system', 'unhealthy']]);

    // Verdicts older than 10 s stop counting: the sweep turns the backend unknown, which puts it back in
    // every table (one more revision, audited).
    const rev2 = await revision();
    await sql(
      api.databaseUrl,
      `UPDATE "BackendHealthReport" SET "reportedAt" = now() - interval '11 seconds' WHERE "backendId" = $1`,
      [t.backendId],
    );
    expect(await api.app.get(HealthService).sweep()).toBe(1);
    expect((await backend()).body.health).toBe('unknown');
    expect(BigInt(await revision())).toBe(BigInt(rev2) + 1n);
    expect(await api.app.get(HealthService).sweep()).toBe(0);
  });
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON
type Json = any;
interface Sse {
  event: string;
  data: Json;
}

describe('live stream and metrics', () => {
  let api: TestApi;
  let base: string;
  beforeAll(async () => {
    api = await startApi({ METRICS_TOKEN: 'metrics-token-0123456789' });
    await api.app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(api.app.getHttpServer().address() as AddressInfo).port}`;
  });
  afterAll(() => api.close());

  /** Reads SSE events until `until` says stop or `ms` pass. */
  function readEvents(path: string, token: string, until: (events: Sse[]) => boolean, ms: number) {
    return new Promise<{
      status: number;
      type: string;
      events: Sse[];
      elapsedMs: number;
    }>((resolve, reject) => {
      const started = Date.now();
      const events: Sse[] = [];
      const req = http.get(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } }, (res) => {
        let buf = '';
        const finish = () => {
          clearTimeout(timer);
          req.destroy();
          resolve({
            status: res.statusCode ?? 0,
            type: String(res.headers['content-type']),
            events,
            elapsedMs: Date.now() - started,
          });
        };
        const timer = setTimeout(finish, ms);
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          let i: number;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
            const data = /^data: (.*)$/m.exec(block)?.[1];
            events.push({ event, data: data ? JSON.parse(data) : null });
          }
          if (until(events)) finish();
        });
        res.on('end', finish);
      });
      req.on('error', reject);
    });
  }

  it('streams stats and revision events within 2 s, and a new revision when config changes', async () => {
    const t = await setupTenant(api, 'stream');
    const a = await agent(api, t.tenantId, 'host');
    const ingest = api.app.get<TelemetryIngest>(TELEMETRY_INGEST);
    await ingest.ingest(
      t.tenantId,
      a,
      report(randomUUID(), pastSecond(2), [
        { vipId: t.vipId, packetsMux: 10, packetsDirect: 30, flowsNew: 4 },
      ]),
    );
    const first = await readEvents('/v1/stream', t.token, (e) => e.some((x) => x.event === 'stats'), 2000);
    expect(first.status).toBe(200);
    expect(first.type).toContain('text/event-stream');
    expect(first.elapsedMs).toBeLessThan(2000);
    const stats = first.events.find((e) => e.event === 'stats')!.data;
    const rev = first.events.find((e) => e.event === 'revision')!.data;
    expect(rev.revision).toMatch(/^\d+$/);
    expect(stats.vips).toEqual([
      {
        vipId: t.vipId,
        current: expect.objectContaining({
          packetsMux: 10,
          packetsDirect: 30,
          newFlows: 4,
          bypassRatio: 0.75,
        }),
      },
    ]);

    // A config change made through another API process while the stream is open arrives as a revision
    // event within 2 s (the stream reads PostgreSQL, not this process's memory).
    const other = await startApi({}, api.databaseUrl);
    const changed = readEvents(
      '/v1/stream',
      t.token,
      (e) => e.filter((x) => x.event === 'revision').length >= 2,
      4000,
    );
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    const patched = await other.call('PATCH', `/v1/vips/${t.vipId}`, {
      token: t.token,
      body: { idleTimeoutS: 61 },
    });
    expect(patched.status).toBe(200);
    const got = await changed;
    await other.app.close();
    const revs = got.events.filter((e) => e.event === 'revision').map((e) => BigInt(e.data.revision));
    expect(revs).toHaveLength(2);
    expect(revs[1]).toBe(revs[0]! + 1n);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('refuses the stream without a token', async () => {
    const r = await api.call('GET', '/v1/stream');
    expect(r.status).toBe(401);
  });

  it('exposes Prometheus series behind METRICS_TOKEN', async () => {
    const t = await setupTenant(api, 'metrics');
    const a = await agent(api, t.tenantId, 'host');
    await api.app
      .get<TelemetryIngest>(TELEMETRY_INGEST)
      .ingest(t.tenantId, a, report(randomUUID(), pastSecond(1), [{ vipId: t.vipId, packetsMux: 1 }]));
    await api.call('GET', '/v1/pools', { token: t.token });
    expect((await api.call('GET', '/metrics')).status).toBe(401);
    expect((await api.call('GET', '/metrics', { token: 'wrong-token-0123456789' })).status).toBe(401);
    const r = await api.call('GET', '/metrics', { token: 'metrics-token-0123456789' });
    expect(r.status).toBe(200);
    expect(String(r.headers['content-type'])).toContain('text/plain');
    const text = r.body as string;
    expect(text).toMatch(
      /^slipstream_http_requests_total\{method="GET",route="\/v1\/pools",status="200"\} [1-9]/m,
    );
    expect(text).toMatch(
      /^slipstream_http_request_duration_seconds_bucket\{.*route="\/v1\/pools".*\} [1-9]/m,
    );
    expect(text).toMatch(/^slipstream_telemetry_reports_ingested_total [1-9]/m);
    expect(text).toMatch(/^slipstream_queue_jobs\{queue="telemetry-rollup",state="\w+"\} \d+/m);
    expect(text).toMatch(/^slipstream_queue_jobs\{queue="config-changed",state="waiting"\} \d+/m);
    expect(text).toMatch(/^slipstream_agent_streams_open 0$/m);
    expect(text).toContain('slipstream_api_process_cpu_seconds_total');
  });
});

describe('through the agent protocol', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startApi();
  });
  afterAll(() => api.close());

  async function enrolled(token: string, role: 'host' | 'mux', name: string) {
    const jt = await api.call('POST', '/v1/join-tokens', { token, body: { name: `jt-${name}`, role } });
    expect(jt.status, JSON.stringify(jt.body)).toBe(201);
    const e = await api.call('POST', '/v1/agent/enroll', {
      body: {
        joinToken: jt.body.secret,
        name,
        underlay: `198.18.9.${++n}`,
        version: '0.1.0',
        hostname: name,
      },
    });
    expect(e.status, JSON.stringify(e.body)).toBe(201);
    return e.body.credential as string;
  }

  it('POST /v1/agent/telemetry lands in stats and backend health; measures the HTTP ingest rate', async () => {
    const t = await setupTenant(api, 'e2e');
    const host = await enrolled(t.token, 'host', 'host-e2e');
    const mux = await enrolled(t.token, 'mux', 'mux-e2e');
    const addr = (await api.call('GET', `/v1/pools/${t.poolId}/backends/${t.backendId}`, { token: t.token }))
      .body.address as string;
    const boot = randomUUID();
    const s0 = pastSecond(3);
    for (const [i, cum] of [
      [0, 10],
      [1, 30],
    ] as const) {
      const r = await api.call('POST', '/v1/agent/telemetry', {
        token: host,
        body: report(boot, new Date(s0.getTime() + i * 1000), [
          { vipId: t.vipId, packetsMux: cum, packetsDirect: 3 * cum, flowsNew: cum / 10 },
        ]),
      });
      expect(r.status, JSON.stringify(r.body)).toBe(204);
    }
    const m = await api.call('POST', '/v1/agent/telemetry', {
      token: mux,
      body: report(randomUUID(), pastSecond(0), [], {
        backendHealth: [{ vipId: t.vipId, address: addr, port: 80, healthy: false, reason: 'refused' }],
      }),
    });
    expect(m.status, JSON.stringify(m.body)).toBe(204);
    const stats = await api.call('GET', `/v1/vips/${t.vipId}/stats?windowS=60`, { token: t.token });
    const busy = stats.body.points.filter((p: { packetsMux: number }) => p.packetsMux > 0);
    expect(
      busy.map((p: { packetsMux: number; bypassRatio: number }) => [p.packetsMux, p.bypassRatio]),
    ).toEqual([
      [10, 0.75],
      [20, 0.75],
    ]);
    const backend = await api.call('GET', `/v1/pools/${t.poolId}/backends/${t.backendId}`, {
      token: t.token,
    });
    expect(backend.body.health).toBe('unhealthy');

    // The HTTP path: auth, validation and storage, 10 host agents posting 50 reports each in parallel.
    const creds = await Promise.all(
      Array.from({ length: 10 }, (_, i) => enrolled(t.token, 'host', `bench-${i}`)),
    );
    const start = performance.now();
    await Promise.all(
      creds.map(async (c) => {
        const b = randomUUID();
        for (let i = 0; i < 50; i++) {
          const r = await api.call('POST', '/v1/agent/telemetry', {
            token: c,
            body: report(b, pastSecond(40 - (i % 40)), [
              { vipId: t.vipId, packetsMux: i, packetsDirect: 9 * i },
            ]),
          });
          if (r.status !== 204) throw new Error(`${r.status} ${JSON.stringify(r.body)}`);
        }
      }),
    );
    const s = (performance.now() - start) / 1000;
    console.log(
      `POST /v1/agent/telemetry: 500 reports in ${s.toFixed(2)} s = ${(500 / s).toFixed(0)} reports/s`,
    );
  });
});

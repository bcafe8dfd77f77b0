// Telemetry rows, rollups and backend health. Raw SQL on purpose: ingest is one multi-row upsert that adds
// into existing rows (Prisma's upsert is one row per statement), and stats group by computed buckets.
import type { Tx } from '../db/prisma.js';

/** The agent-level row of a tenant (time-to-bypass and rejected redirects of every agent). */
export const TENANT_ROW = '00000000-0000-0000-0000-000000000000';

export interface SecondDelta {
  vipId: string;
  packetsMux: number;
  packetsDirect: number;
  bytesMux: number;
  bytesDirect: number;
  flowsNew: number;
  flowsBypassed: number;
  redirectsSent: number;
  redirectsRejected: Record<string, number>;
  ttbBuckets: Record<string, number>;
  ttbSumMs: number;
  ttbCount: number;
  /** Added to the second's gauge; negative when the agent already reported a higher value this second. */
  bypassEntries: number;
}

export const COUNTERS = [
  'packetsMux',
  'packetsDirect',
  'bytesMux',
  'bytesDirect',
  'flowsNew',
  'flowsBypassed',
  'redirectsSent',
] as const;

/** One bucket of a stats series, summed over the bucket's rows (bypassEntries averaged). */
export interface StatsRow {
  bucket: Date;
  packetsMux: number;
  packetsDirect: number;
  bytesMux: number;
  bytesDirect: number;
  flowsNew: number;
  flowsBypassed: number;
  redirectsSent: number;
  redirectsRejected: Record<string, number>;
  ttbBuckets: Record<string, number>;
  bypassEntries: number;
}

export type StatsSource = 'second' | 'minute';

export interface HealthReportRow {
  backendId: string;
  agentId: string;
  healthy: boolean;
  reason: string | null;
}

export interface BackendHealthState {
  backendId: string;
  health: string;
  checkedAt: Date;
}

type RawStats = Omit<StatsRow, 'bucket' | (typeof COUNTERS)[number] | 'bypassEntries'> & {
  bucket: Date;
  bypassEntries: string | number;
} & Record<(typeof COUNTERS)[number], string | number>;

/** PostgreSQL returns sums of bigints as text: one conversion for every stats query. */
function toStatsRow(r: RawStats): StatsRow {
  const counters = Object.fromEntries(COUNTERS.map((k) => [k, Number(r[k])])) as Record<
    (typeof COUNTERS)[number],
    number
  >;
  return {
    bucket: r.bucket,
    ...counters,
    redirectsRejected: r.redirectsRejected,
    ttbBuckets: r.ttbBuckets,
    bypassEntries: Number(r.bypassEntries),
  };
}

export class TelemetryRepository {
  constructor(private readonly db: Tx) {}

  /**
   * Adds the deltas into the rows of `second`, creating them as needed: one statement per report. Rows for
   * VIPs that are not the tenant's are dropped by the join, so an agent cannot write into another tenant.
   */
  async addSecond(tenantId: string, second: Date, rows: SecondDelta[]): Promise<number> {
    if (rows.length === 0) return 0;
    const col = <K extends keyof SecondDelta>(k: K) => rows.map((r) => r[k]);
    const big = (k: (typeof COUNTERS)[number] | 'ttbCount' | 'bypassEntries') =>
      rows.map((r) => String(Math.trunc(r[k])));
    return this.db.$executeRawUnsafe(
      `INSERT INTO "TelemetrySecond" AS t ("tenantId", "vipId", "second", "packetsMux", "packetsDirect",
         "bytesMux", "bytesDirect", "flowsNew", "flowsBypassed", "redirectsSent", "redirectsRejected",
         "ttbBuckets", "ttbSumMs", "ttbCount", "bypassEntries")
       SELECT $1::uuid, u.vip, $2::timestamptz, u.pm, u.pd, u.bm, u.bd, u.fn, u.fb, u.rs, u.rr, u.tb, u.ts, u.tc, u.be
       FROM unnest($3::uuid[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[],
                   $10::bigint[], $11::jsonb[], $12::jsonb[], $13::float8[], $14::bigint[], $15::bigint[])
            AS u(vip, pm, pd, bm, bd, fn, fb, rs, rr, tb, ts, tc, be)
       WHERE u.vip = '${TENANT_ROW}'::uuid
          OR EXISTS (SELECT 1 FROM "Vip" v WHERE v.id = u.vip AND v."tenantId" = $1::uuid)
       ON CONFLICT ("tenantId", "vipId", "second") DO UPDATE SET
         "packetsMux" = t."packetsMux" + EXCLUDED."packetsMux",
         "packetsDirect" = t."packetsDirect" + EXCLUDED."packetsDirect",
         "bytesMux" = t."bytesMux" + EXCLUDED."bytesMux",
         "bytesDirect" = t."bytesDirect" + EXCLUDED."bytesDirect",
         "flowsNew" = t."flowsNew" + EXCLUDED."flowsNew",
         "flowsBypassed" = t."flowsBypassed" + EXCLUDED."flowsBypassed",
         "redirectsSent" = t."redirectsSent" + EXCLUDED."redirectsSent",
         "redirectsRejected" = slipstream_jsonb_add(t."redirectsRejected", EXCLUDED."redirectsRejected"),
         "ttbBuckets" = slipstream_jsonb_add(t."ttbBuckets", EXCLUDED."ttbBuckets"),
         "ttbSumMs" = t."ttbSumMs" + EXCLUDED."ttbSumMs",
         "ttbCount" = t."ttbCount" + EXCLUDED."ttbCount",
         "bypassEntries" = t."bypassEntries" + EXCLUDED."bypassEntries"`,
      tenantId,
      second,
      col('vipId'),
      big('packetsMux'),
      big('packetsDirect'),
      big('bytesMux'),
      big('bytesDirect'),
      big('flowsNew'),
      big('flowsBypassed'),
      big('redirectsSent'),
      rows.map((r) => JSON.stringify(r.redirectsRejected)),
      rows.map((r) => JSON.stringify(r.ttbBuckets)),
      col('ttbSumMs'),
      big('ttbCount'),
      big('bypassEntries'),
    );
  }

  /**
   * Recomputes the minute rows of [from, to) from the second rows, replacing what was there: running it
   * twice gives the same rows. Spans every tenant (a system job).
   */
  async rollupMinutes(from: Date, to: Date): Promise<number> {
    return this.db.$executeRawUnsafe(
      `INSERT INTO "TelemetryMinute" AS m ("tenantId", "vipId", "minute", "packetsMux", "packetsDirect",
         "bytesMux", "bytesDirect", "flowsNew", "flowsBypassed", "redirectsSent", "redirectsRejected",
         "ttbBuckets", "ttbSumMs", "ttbCount", "bypassEntries")
       SELECT "tenantId", "vipId", date_trunc('minute', "second"), sum("packetsMux"), sum("packetsDirect"),
         sum("bytesMux"), sum("bytesDirect"), sum("flowsNew"), sum("flowsBypassed"), sum("redirectsSent"),
         slipstream_jsonb_sum("redirectsRejected"), slipstream_jsonb_sum("ttbBuckets"), sum("ttbSumMs"),
         sum("ttbCount"), round(avg("bypassEntries"))
       FROM "TelemetrySecond"
       WHERE "second" >= date_trunc('minute', $1::timestamptz) AND "second" < date_trunc('minute', $2::timestamptz)
       GROUP BY 1, 2, 3
       ON CONFLICT ("tenantId", "vipId", "minute") DO UPDATE SET
         "packetsMux" = EXCLUDED."packetsMux", "packetsDirect" = EXCLUDED."packetsDirect",
         "bytesMux" = EXCLUDED."bytesMux", "bytesDirect" = EXCLUDED."bytesDirect",
         "flowsNew" = EXCLUDED."flowsNew", "flowsBypassed" = EXCLUDED."flowsBypassed",
         "redirectsSent" = EXCLUDED."redirectsSent", "redirectsRejected" = EXCLUDED."redirectsRejected",
         "ttbBuckets" = EXCLUDED."ttbBuckets", "ttbSumMs" = EXCLUDED."ttbSumMs",
         "ttbCount" = EXCLUDED."ttbCount", "bypassEntries" = EXCLUDED."bypassEntries"`,
      from,
      to,
    );
  }

  /** Retention: second rows before `secondsBefore`, minute rows before `minutesBefore`. */
  async prune(secondsBefore: Date, minutesBefore: Date): Promise<{ seconds: number; minutes: number }> {
    const seconds = await this.db.$executeRawUnsafe(
      `DELETE FROM "TelemetrySecond" WHERE "second" < $1::timestamptz`,
      secondsBefore,
    );
    const minutes = await this.db.$executeRawUnsafe(
      `DELETE FROM "TelemetryMinute" WHERE "minute" < $1::timestamptz`,
      minutesBefore,
    );
    return { seconds, minutes };
  }

  /**
   * Buckets of `stepS` seconds over [from, to) for one VIP, or for the whole tenant (vipId null: VIP rows
   * for the traffic counters, the tenant row for time-to-bypass and rejections, so nothing counts twice).
   * The gauge is the mean over the source rows of the bucket, per VIP, summed over VIPs.
   */
  async series(
    tenantId: string,
    vipId: string | null,
    source: StatsSource,
    from: Date,
    to: Date,
    stepS: number,
  ): Promise<StatsRow[]> {
    const table = source === 'second' ? '"TelemetrySecond"' : '"TelemetryMinute"';
    const time = source === 'second' ? '"second"' : '"minute"';
    const bucket = `to_timestamp(floor(extract(epoch FROM ${time}) / $5) * $5)`;
    // For the tenant, only the tenant row carries histogram and rejections (VIP rows hold attributed copies).
    const agentLevel = (c: string) =>
      vipId === null ? `CASE WHEN "vipId" = '${TENANT_ROW}'::uuid THEN ${c} ELSE '{}'::jsonb END` : c;
    const rows = await this.db.$queryRawUnsafe<RawStats[]>(
      `WITH per_vip AS (
         SELECT ${bucket} AS bucket, "vipId",
           sum("packetsMux") AS "packetsMux", sum("packetsDirect") AS "packetsDirect",
           sum("bytesMux") AS "bytesMux", sum("bytesDirect") AS "bytesDirect",
           sum("flowsNew") AS "flowsNew", sum("flowsBypassed") AS "flowsBypassed",
           sum("redirectsSent") AS "redirectsSent",
           slipstream_jsonb_sum(${agentLevel('"redirectsRejected"')}) AS "redirectsRejected",
           slipstream_jsonb_sum(${agentLevel('"ttbBuckets"')}) AS "ttbBuckets",
           avg("bypassEntries") AS "bypassEntries"
         FROM ${table}
         WHERE "tenantId" = $1::uuid AND ${time} >= $2::timestamptz AND ${time} < $3::timestamptz
           AND ($4::uuid IS NULL OR "vipId" = $4::uuid)
         GROUP BY 1, 2
       )
       SELECT bucket, sum("packetsMux")::text AS "packetsMux", sum("packetsDirect")::text AS "packetsDirect",
         sum("bytesMux")::text AS "bytesMux", sum("bytesDirect")::text AS "bytesDirect",
         sum("flowsNew")::text AS "flowsNew", sum("flowsBypassed")::text AS "flowsBypassed",
         sum("redirectsSent")::text AS "redirectsSent",
         slipstream_jsonb_sum("redirectsRejected") AS "redirectsRejected",
         slipstream_jsonb_sum("ttbBuckets") AS "ttbBuckets",
         round(sum("bypassEntries"))::text AS "bypassEntries"
       FROM per_vip GROUP BY bucket ORDER BY bucket`,
      tenantId,
      from,
      to,
      vipId,
      stepS,
    );
    return rows.map(toStatsRow);
  }

  /** Per VIP of the tenant, summed over [from, to): what the live stream and the tenant overview show. */
  async perVip(tenantId: string, from: Date, to: Date): Promise<(StatsRow & { vipId: string })[]> {
    const rows = await this.db.$queryRawUnsafe<(RawStats & { vipId: string })[]>(
      `SELECT "vipId", $3::timestamptz AS bucket,
         sum("packetsMux")::text AS "packetsMux", sum("packetsDirect")::text AS "packetsDirect",
         sum("bytesMux")::text AS "bytesMux", sum("bytesDirect")::text AS "bytesDirect",
         sum("flowsNew")::text AS "flowsNew", sum("flowsBypassed")::text AS "flowsBypassed",
         sum("redirectsSent")::text AS "redirectsSent",
         slipstream_jsonb_sum("redirectsRejected") AS "redirectsRejected",
         slipstream_jsonb_sum("ttbBuckets") AS "ttbBuckets",
         round(avg("bypassEntries"))::text AS "bypassEntries"
       FROM "TelemetrySecond"
       WHERE "tenantId" = $1::uuid AND "second" >= $2::timestamptz AND "second" < $3::timestamptz
         AND "vipId" <> '${TENANT_ROW}'::uuid
       GROUP BY "vipId"`,
      tenantId,
      from,
      to,
    );
    return rows.map((r) => ({ vipId: r.vipId, ...toStatsRow(r) }));
  }

  async vipIds(tenantId: string): Promise<string[]> {
    const rows = await this.db.vip.findMany({
      where: { tenantId },
      select: { id: true },
      orderBy: { name: 'asc' },
    });
    return rows.map((r) => r.id);
  }

  /** The tenant's config revision (the live stream announces changes of it). */
  async revision(tenantId: string): Promise<bigint | null> {
    const t = await this.db.tenant.findUnique({ where: { id: tenantId }, select: { configRevision: true } });
    return t?.configRevision ?? null;
  }

  // ---- backend health ----

  /** The backends a VIP's pool has at (address, port), keyed "vipId address:port". */
  async backendsFor(
    tenantId: string,
    keys: { vipId: string; address: string; port: number }[],
  ): Promise<Map<string, string>> {
    if (keys.length === 0) return new Map();
    const rows = await this.db.$queryRawUnsafe<
      { vipId: string; address: string; port: number; id: string }[]
    >(
      `SELECT k.vip AS "vipId", b.address, b.port, b.id
       FROM unnest($2::uuid[], $3::text[], $4::int[]) AS k(vip, address, port)
       JOIN "Vip" v ON v.id = k.vip AND v."tenantId" = $1::uuid
       JOIN "Backend" b ON b."poolId" = v."poolId" AND b."tenantId" = $1::uuid
                        AND b.address = k.address AND b.port = k.port`,
      tenantId,
      keys.map((k) => k.vipId),
      keys.map((k) => k.address),
      keys.map((k) => k.port),
    );
    return new Map(rows.map((r) => [`${r.vipId} ${r.address}:${r.port}`, r.id]));
  }

  /** Stores each mux's latest verdict; returns the backends whose verdict from that mux changed. */
  async upsertHealthReports(tenantId: string, at: Date, rows: HealthReportRow[]): Promise<string[]> {
    if (rows.length === 0) return [];
    const changed = await this.db.$queryRawUnsafe<{ backendId: string }[]>(
      `WITH input AS (
         SELECT * FROM unnest($3::uuid[], $4::uuid[], $5::bool[], $6::text[]) AS u(b, a, h, r)
       ), prev AS (
         SELECT p."backendId", p."agentId", p.healthy FROM "BackendHealthReport" p
         JOIN input ON p."backendId" = input.b AND p."agentId" = input.a
       ), up AS (
         INSERT INTO "BackendHealthReport" ("backendId", "agentId", "tenantId", healthy, reason, "reportedAt")
         SELECT b, a, $1::uuid, h, r, $2::timestamptz FROM input
         ON CONFLICT ("backendId", "agentId") DO UPDATE SET healthy = EXCLUDED.healthy,
           reason = EXCLUDED.reason, "reportedAt" = EXCLUDED."reportedAt"
         RETURNING "backendId", "agentId", healthy
       )
       SELECT DISTINCT up."backendId" FROM up
       LEFT JOIN prev ON prev."backendId" = up."backendId" AND prev."agentId" = up."agentId"
       WHERE prev.healthy IS DISTINCT FROM up.healthy`,
      tenantId,
      at,
      rows.map((r) => r.backendId),
      rows.map((r) => r.agentId),
      rows.map((r) => r.healthy),
      rows.map((r) => r.reason),
    );
    return changed.map((c) => c.backendId);
  }

  /** Unhealthy and total verdicts per backend reported since `since`. */
  async healthVotes(
    tenantId: string,
    backendIds: string[],
    since: Date,
  ): Promise<Map<string, { unhealthy: number; total: number }>> {
    const rows = await this.db.$queryRawUnsafe<{ backendId: string; unhealthy: number; total: number }[]>(
      `SELECT "backendId", count(*) FILTER (WHERE NOT healthy)::int AS unhealthy, count(*)::int AS total
       FROM "BackendHealthReport"
       WHERE "tenantId" = $1::uuid AND "backendId" = ANY($2::uuid[]) AND "reportedAt" >= $3::timestamptz
       GROUP BY "backendId"`,
      tenantId,
      backendIds,
      since,
    );
    return new Map(rows.map((r) => [r.backendId, { unhealthy: r.unhealthy, total: r.total }]));
  }

  async healthStates(tenantId: string, backendIds: string[]): Promise<Map<string, BackendHealthState>> {
    if (backendIds.length === 0) return new Map();
    const rows = await this.db.backendHealth.findMany({
      where: { tenantId, backendId: { in: backendIds } },
      select: { backendId: true, health: true, checkedAt: true },
    });
    return new Map(rows.map((r) => [r.backendId, r]));
  }

  async setHealth(tenantId: string, backendId: string, health: string, at: Date, changed: boolean) {
    await this.db.backendHealth.upsert({
      where: { backendId },
      create: { backendId, tenantId, health, checkedAt: at, changedAt: at },
      update: { health, checkedAt: at, ...(changed ? { changedAt: at } : {}) },
    });
  }

  /** Records that a backend's health was derived again, unchanged. */
  async touchHealth(tenantId: string, backendId: string, at: Date) {
    await this.db.backendHealth.updateMany({ where: { tenantId, backendId }, data: { checkedAt: at } });
  }

  /** Serialises health decisions about one backend across API processes until the transaction ends. */
  async lockBackend(backendId: string): Promise<void> {
    await this.db.$executeRawUnsafe(`SELECT pg_advisory_xact_lock(hashtext($1))`, backendId);
  }

  /** Backends (of every tenant) with a derived state or a report: what the periodic sweep re-derives. */
  async healthTracked(): Promise<{ tenantId: string; backendId: string }[]> {
    return this.db.$queryRawUnsafe(
      `SELECT "tenantId", "backendId" FROM "BackendHealth" WHERE health <> 'unknown'
       UNION SELECT "tenantId", "backendId" FROM "BackendHealthReport"`,
    );
  }
}

// Turns agents' cumulative counters into per-second deltas and stores them (one SQL statement per report);
// mux reports also carry backend health, handed to the health service.
import { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { TelemetryReport } from '../dto/telemetry.dto.js';
import { COUNTERS, type SecondDelta, TENANT_ROW } from '../repositories/telemetry.repository.js';
import type { Database } from '../repositories/index.js';
import type { Clock } from './change-runner.js';
import type { HealthService } from './health.service.js';
import type { StatsMetrics } from './stats-metrics.js';
import type { TelemetryIngest } from './telemetry.port.js';

type Counter = (typeof COUNTERS)[number];

/** What the API keeps of an agent's last report: enough to take the next report's deltas. */
export interface Snapshot {
  bootId: string;
  /** Epoch second the last report was stored under. */
  second: number;
  vips: Record<string, Record<Counter, number>>;
  /** bypassEntries already added to `second`'s gauge, per VIP. */
  gauge: Record<string, number>;
  rejected: Record<string, number>;
  ttb: { bucketsMs: number[]; counts: number[]; sumMs: number; count: number };
}

/** Histogram bucket keys: the upper bound in ms, "+Inf" for the last. */
export function bucketKeys(bucketsMs: number[]): string[] {
  return [...bucketsMs.map((b) => String(b)), '+Inf'];
}

/** A counter that went backwards within one boot was reset: everything it shows now is new. */
const delta = (cur: number, prev: number | undefined) =>
  prev === undefined || cur < prev ? cur : cur - prev;

const nonZero = (r: Record<string, number>) => Object.values(r).some((v) => v !== 0);

/**
 * Deltas of `report` against `prev` (the same agent's previous snapshot). A different bootId starts from
 * zero. No snapshot of this boot while the agent says an earlier report of it was accepted (Redis lost its
 * data, or came back with an older copy): this report is only a baseline (`baseline: true`: gauge rows
 * only), so counts since boot are never added twice; what happened since the lost snapshot is not counted. Agent-level figures (time-to-bypass, rejected redirects) go to the tenant row, and also to a
 * VIP's row when that VIP is the only one with traffic in this report, the one case where they can be
 * attributed exactly. Pure: unit-tested without servers.
 */
export function computeDeltas(
  prev: Snapshot | null,
  report: TelemetryReport,
  second: number,
): { rows: SecondDelta[]; next: Snapshot; baseline: boolean } {
  const same = prev !== null && prev.bootId === report.bootId ? prev : null;
  // No snapshot of this boot (none at all, or one of an older boot restored with Redis's data).
  const baseline = same === null && report.previousAccepted === true;
  const sameSecond = prev !== null && prev.second === second;
  const rows: SecondDelta[] = [];
  const next: Snapshot = {
    bootId: report.bootId,
    second,
    vips: {},
    gauge: {},
    rejected: { ...report.redirectsReceived.rejected },
    ttb: {
      bucketsMs: report.timeToBypass.bucketsMs,
      counts: report.timeToBypass.counts,
      sumMs: report.timeToBypass.sumMs,
      count: report.timeToBypass.count,
    },
  };
  const active: SecondDelta[] = [];
  for (const v of report.vips) {
    const before = same?.vips[v.vipId];
    const d = {} as Record<Counter, number>;
    for (const c of COUNTERS) d[c] = delta(v[c], before?.[c]);
    next.vips[v.vipId] = Object.fromEntries(COUNTERS.map((c) => [c, v[c]])) as Record<Counter, number>;
    // Latest value per agent: a second report in the same second replaces the first one's contribution.
    const already = sameSecond ? (prev.gauge[v.vipId] ?? 0) : 0;
    next.gauge[v.vipId] = v.bypassEntries;
    const row: SecondDelta = {
      vipId: v.vipId,
      ...d,
      redirectsRejected: {},
      ttbBuckets: {},
      ttbSumMs: 0,
      ttbCount: 0,
      bypassEntries: v.bypassEntries - already,
    };
    const moved = COUNTERS.some((c) => d[c] !== 0);
    if (moved) active.push(row);
    if (moved || row.bypassEntries !== 0) rows.push(row);
  }
  // A VIP that disappeared from the report within the same second takes its gauge share back.
  if (sameSecond) {
    for (const [vipId, g] of Object.entries(prev.gauge)) {
      if (!(vipId in next.gauge) && g !== 0) rows.push({ ...emptyRow(vipId), bypassEntries: -g });
    }
  }

  const rejected: Record<string, number> = {};
  for (const [reason, n] of Object.entries(report.redirectsReceived.rejected)) {
    const d = delta(n, same?.rejected[reason]);
    if (d !== 0) rejected[reason] = d;
  }
  const h = report.timeToBypass;
  const keys = bucketKeys(h.bucketsMs);
  const sameBuckets =
    same !== null &&
    same.ttb.bucketsMs.length === h.bucketsMs.length &&
    same.ttb.bucketsMs.every((b, i) => b === h.bucketsMs[i]);
  const p = sameBuckets ? same.ttb : null;
  // The histogram resets as a whole: if its total went backwards, every bucket counts from zero.
  const reset = p === null || h.count < p.count;
  const ttbBuckets: Record<string, number> = {};
  // Every bucket is stored, zeros included: the quantile needs each bucket's lower edge, which is the
  // bound of the bucket below it, even when that one was empty.
  h.counts.forEach((n, i) => {
    ttbBuckets[keys[i]!] = reset ? n : delta(n, p.counts[i]);
  });
  const ttbCount = reset ? h.count : h.count - p.count;
  const ttbSumMs = reset ? h.sumMs : Math.max(0, h.sumMs - p.sumMs);

  if (nonZero(rejected) || ttbCount !== 0) {
    rows.push({ ...emptyRow(TENANT_ROW), redirectsRejected: rejected, ttbBuckets, ttbSumMs, ttbCount });
    const only = active.length === 1 ? active[0] : undefined;
    if (only) Object.assign(only, { redirectsRejected: rejected, ttbBuckets, ttbSumMs, ttbCount });
  }
  if (!baseline) return { rows, next, baseline };
  // A baseline adds no counts, but the gauge is a level, not a count: it stays (next.gauge records it).
  const gauges = rows
    .filter((r) => r.vipId !== TENANT_ROW && r.bypassEntries !== 0)
    .map((r) => ({ ...emptyRow(r.vipId), bypassEntries: r.bypassEntries }));
  return { rows: gauges, next, baseline };
}

function emptyRow(vipId: string): SecondDelta {
  return {
    vipId,
    packetsMux: 0,
    packetsDirect: 0,
    bytesMux: 0,
    bytesDirect: 0,
    flowsNew: 0,
    flowsBypassed: 0,
    redirectsSent: 0,
    redirectsRejected: {},
    ttbBuckets: {},
    ttbSumMs: 0,
    ttbCount: 0,
    bypassEntries: 0,
  };
}

/** Reports whose `at` is further than this from the API's clock are filed under the API's time. */
const MAX_SKEW_MS = 60_000;
/**
 * Snapshots outlive a silent agent for a day; after that its next report is a baseline (computeDeltas) and
 * what it counted while silent is not stored.
 */
const SNAPSHOT_TTL_S = 24 * 3600;

export class TelemetryService implements TelemetryIngest {
  private readonly log = new Logger('Telemetry');

  constructor(
    private readonly db: Database,
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly health: HealthService,
    private readonly metrics: StatsMetrics,
    private readonly clock: Clock,
  ) {}

  /** The second a report is filed under: the agent's own timestamp unless its clock is far off. */
  secondOf(report: TelemetryReport): number {
    const now = this.clock.now().getTime();
    const at = Date.parse(report.at);
    return Math.floor((Math.abs(at - now) <= MAX_SKEW_MS ? at : now) / 1000);
  }

  async ingest(tenantId: string, agentId: string, report: TelemetryReport): Promise<void> {
    const second = this.secondOf(report);
    const key = `${this.prefix}:telemetry:last:${agentId}`;
    const old = await this.redis.get(key);
    const { rows, next, baseline } = computeDeltas(
      old ? (JSON.parse(old) as Snapshot) : null,
      report,
      second,
    );
    if (baseline) {
      this.metrics.telemetryBaselines.inc();
      this.log.warn(`no previous report of agent ${agentId} in Redis: this one is a baseline, not counted`);
    }
    await this.db.repos.telemetry.addSecond(tenantId, new Date(second * 1000), rows);
    // Stored only once the rows are in: if the insert failed, the next report carries these counts too.
    await this.redis.set(key, JSON.stringify(next), 'EX', SNAPSHOT_TTL_S);
    this.metrics.reportsIngested.inc();
    if (report.backendHealth.length > 0) {
      try {
        await this.health.record(tenantId, agentId, report.backendHealth);
      } catch (err) {
        this.log.warn(`backend health of agent ${agentId} not recorded: ${String(err)}`);
      }
    }
  }
}

// Stats series and live figures from the telemetry rows; the maths (ratio, percentiles) is pure and
// unit-tested with fixed data.
import { AppError, ErrorCode } from '../common/errors.js';
import type { Principal } from '../common/principal.js';
import type { StatPoint, StatsQuery, TenantStats, VipStats } from '../dto/stats.dto.js';
import type { Database } from '../repositories/index.js';
import type { StatsRow, StatsSource } from '../repositories/telemetry.repository.js';
import type { Clock } from './change-runner.js';

/** Per-second rows are kept this long; older ranges read the per-minute rollups. */
export const SECOND_RETENTION_S = 3600;
export const MINUTE_RETENTION_S = 30 * 24 * 3600;
export const MAX_POINTS = 1000;
/** The automatic step keeps a series at this many points or fewer. */
const AUTO_POINTS = 300;
const AUTO_STEPS = [1, 5, 10, 15, 30, 60, 300, 600, 900, 1800, 3600];
/** What "current" means for the live figures: the last few complete seconds, so one late report does not blink. */
export const CURRENT_WINDOW_S = 5;

/**
 * The q-quantile (0..1) of a histogram given as {"<upper bound>": count, "+Inf": count}, interpolated
 * linearly inside the bucket that holds it (the first bucket starts at 0); in the +Inf bucket it answers
 * the highest finite bound, since nothing better is known. Null when the histogram is empty.
 */
export function quantile(buckets: Record<string, number>, q: number): number | null {
  const entries = Object.entries(buckets)
    .map(([k, n]) => [k === '+Inf' ? Number.POSITIVE_INFINITY : Number(k), n] as const)
    .filter(([b, n]) => !Number.isNaN(b) && n > 0)
    .sort((a, b) => a[0] - b[0]);
  const total = entries.reduce((s, [, n]) => s + n, 0);
  if (total === 0) return null;
  const rank = q * total;
  const finite = Object.keys(buckets)
    .filter((k) => k !== '+Inf')
    .map(Number)
    .filter((b) => !Number.isNaN(b));
  let cum = 0;
  for (const [upper, n] of entries) {
    if (cum + n >= rank) {
      if (upper === Number.POSITIVE_INFINITY) return finite.length ? Math.max(...finite) : null;
      const lower = Math.max(0, ...finite.filter((b) => b < upper));
      return lower + ((upper - lower) * (rank - cum)) / n;
    }
    cum += n;
  }
  return null;
}

export function bypassRatio(packetsDirect: number, packetsMux: number): number | null {
  const total = packetsDirect + packetsMux;
  return total === 0 ? null : packetsDirect / total;
}

const round = (v: number | null, digits = 3) =>
  v === null ? null : Math.round(v * 10 ** digits) / 10 ** digits;

/** A bucket's totals as a point, with rates over `stepS` seconds. */
export function toPoint(row: StatsRow | undefined, end: Date, stepS: number): StatPoint {
  const r = row ?? {
    packetsMux: 0,
    packetsDirect: 0,
    bytesMux: 0,
    bytesDirect: 0,
    flowsNew: 0,
    flowsBypassed: 0,
    redirectsSent: 0,
    redirectsRejected: {},
    ttbBuckets: {},
    bypassEntries: 0,
  };
  return {
    at: end.toISOString(),
    newFlows: r.flowsNew,
    activeFlows: r.bypassEntries,
    bypassedFlows: r.flowsBypassed,
    packetsMux: r.packetsMux,
    packetsDirect: r.packetsDirect,
    bytesMux: r.bytesMux,
    bytesDirect: r.bytesDirect,
    newFlowsPerS: round(r.flowsNew / stepS) ?? 0,
    muxPacketsPerS: round(r.packetsMux / stepS) ?? 0,
    directPacketsPerS: round(r.packetsDirect / stepS) ?? 0,
    bypassRatio: round(bypassRatio(r.packetsDirect, r.packetsMux), 4),
    timeToBypassP50Ms: round(quantile(r.ttbBuckets, 0.5)),
    timeToBypassP99Ms: round(quantile(r.ttbBuckets, 0.99)),
    redirectsRejected: Object.fromEntries(Object.entries(r.redirectsRejected).filter(([, n]) => n !== 0)),
  };
}

export interface Range {
  from: Date;
  to: Date;
  stepS: number;
  source: StatsSource;
}

const invalid = (path: string, message: string) =>
  new AppError(ErrorCode.Validation, `${path}: ${message}`, [{ path: `query.${path}`, message }]);

/** Resolves the query into an aligned range, a step and the table to read; bad combinations are 400. */
export function resolveRange(q: StatsQuery, now: Date): Range {
  if (q.windowS !== undefined && (q.from !== undefined || q.to !== undefined)) {
    throw invalid('windowS', 'give either windowS or from/to, not both');
  }
  const toMs = q.to !== undefined ? Date.parse(q.to) : now.getTime();
  const fromMs =
    q.windowS !== undefined
      ? toMs - q.windowS * 1000
      : q.from !== undefined
        ? Date.parse(q.from)
        : toMs - 300_000;
  if (fromMs >= toMs) throw invalid('from', 'must be before to');
  if (fromMs < now.getTime() - MINUTE_RETENTION_S * 1000) {
    throw invalid('from', 'stats are kept for 30 days');
  }
  const spanS = (toMs - fromMs) / 1000;
  const source: StatsSource = fromMs >= now.getTime() - SECOND_RETENTION_S * 1000 ? 'second' : 'minute';
  let stepS = q.step;
  if (stepS === undefined) {
    stepS = AUTO_STEPS.find((s) => spanS / s <= AUTO_POINTS && (source === 'second' || s % 60 === 0)) ?? 3600;
  } else if (source === 'minute' && stepS % 60 !== 0) {
    throw invalid('step', 'ranges older than 1 hour have per-minute data only: use a multiple of 60 s');
  }
  // Buckets are aligned on multiples of the step, so consecutive polls return the same buckets.
  const from = Math.floor(fromMs / 1000 / stepS) * stepS;
  const to = Math.floor(toMs / 1000 / stepS) * stepS;
  const points = (to - from) / stepS;
  if (points > MAX_POINTS) {
    throw invalid('step', `${points} points; at most ${MAX_POINTS} per series: use a larger step`);
  }
  return { from: new Date(from * 1000), to: new Date(Math.max(to, from + stepS) * 1000), stepS, source };
}

export class StatsService {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
  ) {}

  private async series(tenantId: string, vipId: string | null, q: StatsQuery) {
    const range = resolveRange(q, this.clock.now());
    const rows = await this.db.repos.telemetry.series(
      tenantId,
      vipId,
      range.source,
      range.from,
      range.to,
      range.stepS,
    );
    const byStart = new Map(rows.map((r) => [r.bucket.getTime(), r]));
    const points: StatPoint[] = [];
    // Every bucket is present (zeros where no agent reported), so a chart's x axis is regular.
    for (let t = range.from.getTime(); t < range.to.getTime(); t += range.stepS * 1000) {
      points.push(toPoint(byStart.get(t), new Date(t + range.stepS * 1000), range.stepS));
    }
    return {
      from: range.from.toISOString(),
      to: range.to.toISOString(),
      stepS: range.stepS,
      intervalS: range.stepS,
      source: range.source,
      points,
    };
  }

  async vip(p: Principal, vipId: string, q: StatsQuery): Promise<VipStats> {
    if (!(await this.db.repos.vips.find(p.tenantId, vipId))) throw AppError.notFound('VIP');
    return { vipId, ...(await this.series(p.tenantId, vipId, q)) };
  }

  async tenant(p: Principal, q: StatsQuery): Promise<TenantStats> {
    const series = await this.series(p.tenantId, null, q);
    return { ...series, vips: await this.current(p.tenantId) };
  }

  /** Each VIP of the tenant over the last complete CURRENT_WINDOW_S seconds. */
  async current(tenantId: string): Promise<{ vipId: string; current: StatPoint | null }[]> {
    const end = Math.floor(this.clock.now().getTime() / 1000) * 1000;
    const from = new Date(end - CURRENT_WINDOW_S * 1000);
    const [ids, rows] = await Promise.all([
      this.db.repos.telemetry.vipIds(tenantId),
      this.db.repos.telemetry.perVip(tenantId, from, new Date(end)),
    ]);
    const byVip = new Map(rows.map((r) => [r.vipId, r]));
    return ids.map((vipId) => {
      const r = byVip.get(vipId);
      return { vipId, current: r ? toPoint(r, new Date(end), CURRENT_WINDOW_S) : null };
    });
  }
}

// Stats of a VIP or a whole tenant. One point shape serves both the explicit range query
// (from/to/step: totals per bucket) and the console's live window (windowS: the same plus per-second rates).
import { z } from 'zod';
import { Timestamp, Uuid, response } from './common.js';

/** "30" (seconds), "10s", "5m", "1h". */
const Step = z
  .string()
  .regex(/^\d{1,5}[smh]?$/, 'a number of seconds, or a number followed by s, m or h (e.g. 10s, 1m, 1h)')
  .transform((s) => {
    const n = Number.parseInt(s, 10);
    const unit = s.endsWith('h') ? 3600 : s.endsWith('m') ? 60 : 1;
    return n * unit;
  })
  .pipe(z.int().min(1, 'step must be at least 1s').max(3600, 'step must be at most 1h'));

export const StatsQuery = z
  .object({
    /** Start of the range (ISO 8601); default: `to` minus 5 minutes. */
    from: Timestamp.optional(),
    /** End of the range (ISO 8601); default: now. */
    to: Timestamp.optional(),
    /** Bucket size: 1s..1h; default: the smallest that keeps the series at 300 points or fewer. */
    step: Step.optional(),
    /** Shorthand for from = now - windowS, to = now (the console's live charts). */
    windowS: z.coerce
      .number()
      .int()
      .min(10)
      .max(30 * 24 * 3600)
      .optional(),
  })
  .strict();
export type StatsQuery = z.infer<typeof StatsQuery>;

export const StatPoint = response(
  'StatPoint',
  z.object({
    /** End of the bucket. */
    at: Timestamp,
    newFlows: z.int(),
    /** Bypass entries installed on the agents (mean over the bucket): flows currently bypassing. */
    activeFlows: z.int(),
    bypassedFlows: z.int(),
    packetsMux: z.int(),
    packetsDirect: z.int(),
    bytesMux: z.int(),
    bytesDirect: z.int(),
    newFlowsPerS: z.number(),
    muxPacketsPerS: z.number(),
    directPacketsPerS: z.number(),
    /** packetsDirect / (packetsDirect + packetsMux); null when no packet. */
    bypassRatio: z.number().nullable(),
    /** From the merged time-to-bypass buckets, interpolated within a bucket; null when no flow was bypassed. */
    timeToBypassP50Ms: z.number().nullable(),
    timeToBypassP99Ms: z.number().nullable(),
    /** Redirects the receiving hosts refused, by reason. */
    redirectsRejected: z.record(z.string(), z.int()),
  }),
);
export type StatPoint = z.infer<typeof StatPoint>;

const SeriesFields = {
  from: Timestamp,
  to: Timestamp,
  /** Bucket size in seconds (also `intervalS`, the name the console reads). */
  stepS: z.int(),
  intervalS: z.int(),
  /** second: per-second rows (last hour); minute: per-minute rollups (30 days). */
  source: z.enum(['second', 'minute']),
  points: z.array(StatPoint),
};

export const VipStats = response('VipStats', z.object({ vipId: Uuid, ...SeriesFields }));
export type VipStats = z.infer<typeof VipStats>;

export const TenantStats = response(
  'TenantStats',
  z.object({
    ...SeriesFields,
    /** Every VIP of the tenant with its figures over the last 5 s (null when no agent reported it). */
    vips: z.array(z.object({ vipId: Uuid, current: StatPoint.nullable() })),
  }),
);
export type TenantStats = z.infer<typeof TenantStats>;

export const StreamQuery = z
  .object({
    /** Close the stream after this many events (for scripts and tests); default: never. */
    maxEvents: z.coerce.number().int().min(1).max(100_000).optional(),
  })
  .strict();
export type StreamQuery = z.infer<typeof StreamQuery>;

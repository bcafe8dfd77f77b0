// The agent's TelemetryReport (docs/agent-protocol.md). Strict: an agent that sends a field the API does
// not know about is running a newer protocol and must learn so at once rather than lose data silently.
import { z } from 'zod';
import { Ipv4, Port, Timestamp, Uuid, request } from './common.js';

/** Cumulative counters are non-negative safe integers (they are summed as JS numbers). */
const Counter = z.int().min(0).max(Number.MAX_SAFE_INTEGER);

export const TelemetryVip = z
  .object({
    vipId: Uuid,
    packetsMux: Counter,
    packetsDirect: Counter,
    bytesMux: Counter,
    bytesDirect: Counter,
    flowsNew: Counter,
    flowsBypassed: Counter,
    bypassEntries: Counter,
    redirectsSent: Counter,
    muxPackets: Counter,
  })
  .strict();
export type TelemetryVip = z.infer<typeof TelemetryVip>;

/** Rejection reasons are the agent's own labels (e.g. bad_signature, stale): keys are free but bounded. */
const ReasonKey = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9_]+$/, 'lower-case letters, digits and underscore');

export const TimeToBypass = z
  .object({
    bucketsMs: z.array(z.number().positive().finite()).min(1).max(64),
    counts: z.array(Counter).min(2).max(65),
    sumMs: z.number().min(0).finite(),
    count: Counter,
  })
  .strict()
  .superRefine((h, ctx) => {
    if (h.counts.length !== h.bucketsMs.length + 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['counts'],
        message: 'must have one more entry than bucketsMs (the +Inf bucket)',
      });
    }
    for (let i = 1; i < h.bucketsMs.length; i++) {
      if ((h.bucketsMs[i] ?? 0) <= (h.bucketsMs[i - 1] ?? 0)) {
        ctx.addIssue({
          code: 'custom',
          path: ['bucketsMs', i],
          message: 'bucket bounds must be strictly increasing',
        });
        break;
      }
    }
    if (h.counts.reduce((a, b) => a + b, 0) !== h.count) {
      ctx.addIssue({ code: 'custom', path: ['count'], message: 'must equal the sum of counts' });
    }
  });

export const BackendHealthReport = z
  .object({
    vipId: Uuid,
    address: Ipv4,
    port: Port,
    healthy: z.boolean(),
    reason: z.string().max(500).optional(),
  })
  .strict();

export const TelemetryReport = request(
  'TelemetryReport',
  z
    .object({
      bootId: Uuid,
      at: Timestamp,
      appliedRevision: z.int().min(0),
      vips: z.array(TelemetryVip).max(10_000),
      redirectsReceived: z
        .object({
          accepted: Counter,
          rejected: z.record(ReasonKey, Counter).refine((r) => Object.keys(r).length <= 64, {
            message: 'at most 64 reasons',
          }),
        })
        .strict(),
      timeToBypass: TimeToBypass,
      backendHealth: z.array(BackendHealthReport).max(10_000).default([]),
      // The API already accepted a report of this bootId (see computeDeltas).
      previousAccepted: z.boolean().optional(),
    })
    .strict(),
);
export type TelemetryReport = z.infer<typeof TelemetryReport>;

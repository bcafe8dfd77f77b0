import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/common/errors.js';
import { bypassRatio, quantile, resolveRange, toPoint } from '../../src/services/stats.service.js';
import { deriveHealth } from '../../src/services/health.service.js';

const NOW = new Date('2026-11-26T15:00:00.000Z');

describe('stats maths', () => {
  it('bypass ratio is direct over all packets, null without packets', () => {
    expect(bypassRatio(90, 10)).toBe(0.9);
    expect(bypassRatio(0, 10)).toBe(0);
    expect(bypassRatio(0, 0)).toBeNull();
  });

  it('interpolates quantiles inside the bucket that holds them', () => {
    // 10 in (0,1], 10 in (1,5]: the median is the top of the first bucket, p75 halfway through the second.
    const h = { '1': 10, '5': 10, '10': 0, '+Inf': 0 };
    expect(quantile(h, 0.5)).toBe(1);
    expect(quantile(h, 0.75)).toBe(3);
    expect(quantile(h, 0.25)).toBe(0.5);
  });

  it('answers the highest finite bound for the +Inf bucket and null for an empty histogram', () => {
    expect(quantile({ '1': 1, '5': 0, '+Inf': 99 }, 0.99)).toBe(5);
    expect(quantile({ '1': 0, '+Inf': 0 }, 0.5)).toBeNull();
    expect(quantile({}, 0.5)).toBeNull();
  });

  it('merges buckets given in any key order', () => {
    expect(quantile({ '+Inf': 0, '10': 4, '5': 0, '1': 0 }, 0.5)).toBe(7.5);
    // All flows in (2, 5]: the lower edge is 2 even though the buckets below are empty.
    expect(quantile({ '0.5': 0, '1': 0, '2': 0, '5': 10, '+Inf': 0 }, 0.5)).toBe(3.5);
  });

  it('turns a bucket into totals and rates', () => {
    const p = toPoint(
      {
        bucket: NOW,
        packetsMux: 20,
        packetsDirect: 80,
        bytesMux: 2000,
        bytesDirect: 8000,
        flowsNew: 10,
        flowsBypassed: 8,
        redirectsSent: 8,
        redirectsRejected: { stale: 2, bad_signature: 0 },
        ttbBuckets: { '1': 4, '5': 4, '+Inf': 0 },
        bypassEntries: 6,
      },
      new Date(NOW.getTime() + 10_000),
      10,
    );
    expect(p).toEqual({
      at: '2026-11-26T15:00:10.000Z',
      newFlows: 10,
      activeFlows: 6,
      bypassedFlows: 8,
      packetsMux: 20,
      packetsDirect: 80,
      bytesMux: 2000,
      bytesDirect: 8000,
      newFlowsPerS: 1,
      muxPacketsPerS: 2,
      directPacketsPerS: 8,
      bypassRatio: 0.8,
      timeToBypassP50Ms: 1,
      timeToBypassP99Ms: 4.92,
      redirectsRejected: { stale: 2 },
    });
  });
});

describe('resolveRange', () => {
  const bad = (q: Parameters<typeof resolveRange>[0]) => {
    try {
      resolveRange(q, NOW);
    } catch (err) {
      expect(err).toBeInstanceOf(AppError);
      return (err as AppError).status;
    }
    throw new Error('accepted');
  };

  it('serves a window from per-second rows with an automatic step', () => {
    const r = resolveRange({ windowS: 300 }, NOW);
    expect(r).toMatchObject({ stepS: 1, source: 'second' });
    expect(r.to.getTime() - r.from.getTime()).toBe(300_000);
  });

  it('reads per-minute rollups for ranges older than an hour', () => {
    const r = resolveRange({ from: '2026-11-25T15:00:00Z', to: '2026-11-26T15:00:00Z' }, NOW);
    expect(r.source).toBe('minute');
    expect(r.stepS % 60).toBe(0);
    expect((r.to.getTime() - r.from.getTime()) / 1000 / r.stepS).toBeLessThanOrEqual(300);
  });

  it('refuses contradictory, reversed, too old, too fine and too long ranges with 400', () => {
    expect(bad({ windowS: 60, from: '2026-11-26T14:59:00Z' })).toBe(400);
    expect(bad({ from: '2026-11-26T15:00:00Z', to: '2026-11-26T14:00:00Z' })).toBe(400);
    expect(bad({ from: '2026-09-01T00:00:00Z' })).toBe(400);
    expect(bad({ from: '2026-11-26T12:00:00Z', step: 10 })).toBe(400);
    expect(bad({ from: '2026-11-26T14:00:01Z', step: 1 })).toBe(400);
  });
});

describe('deriveHealth', () => {
  it('is unhealthy only for a strict majority, unknown without verdicts', () => {
    expect(deriveHealth(undefined)).toBe('unknown');
    expect(deriveHealth({ unhealthy: 0, total: 0 })).toBe('unknown');
    expect(deriveHealth({ unhealthy: 1, total: 2 })).toBe('healthy');
    expect(deriveHealth({ unhealthy: 2, total: 3 })).toBe('unhealthy');
    expect(deriveHealth({ unhealthy: 0, total: 3 })).toBe('healthy');
  });
});

import { describe, expect, it } from 'vitest';
import { RtoEstimator, retrySchedule } from '../../src/core/rto.js';

describe('RtoEstimator', () => {
  it('starts at the minimum and backs off by doubling', () => {
    const r = new RtoEstimator(150, 2000);
    expect(r.rtoMs).toBe(150);
    expect(r.delays(3)).toEqual([150, 300, 600]);
  });

  it('stays at the minimum while acks are fast', () => {
    const r = new RtoEstimator(150, 2000);
    for (let i = 0; i < 50; i++) r.sample(1 + (i % 3));
    expect(r.rtoMs).toBe(150);
  });

  it('follows slow acks (srtt + 4 rttvar, RFC 6298) and comes back down when they are fast again', () => {
    const r = new RtoEstimator(150, 2000);
    r.sample(100);
    // First sample: srtt 100, rttvar 50 -> 300.
    expect(r.rtoMs).toBe(300);
    for (let i = 0; i < 30; i++) r.sample(400);
    expect(r.rtoMs).toBeGreaterThan(400);
    expect(r.rtoMs).toBeLessThan(500);
    for (let i = 0; i < 60; i++) r.sample(2);
    expect(r.rtoMs).toBe(150);
  });

  it('is capped, and so are the backed-off delays', () => {
    const r = new RtoEstimator(150, 2000);
    for (let i = 0; i < 10; i++) r.sample(60_000);
    expect(r.rtoMs).toBe(2000);
    expect(r.delays(3)).toEqual([2000, 4000, 4000]);
  });

  it('ignores samples that are not durations', () => {
    const r = new RtoEstimator(150, 2000);
    r.sample(Number.NaN);
    r.sample(-5);
    expect(r.rtoMs).toBe(150);
  });
});

describe('retrySchedule', () => {
  it('tries after each backed-off delay and gives up a second after the last', () => {
    expect(retrySchedule([150, 300, 600], 100_000)).toEqual({
      triesAtMs: [150, 450, 1050],
      giveUpAtMs: 2050,
    });
  });

  it('keeps every try and the give-up inside the window what the redirect refers to still holds', () => {
    // Idle timeout 5 s: half of it + 5 s grace - 1 s margin = 6.5 s.
    expect(retrySchedule([2000, 4000, 4000], 6500)).toEqual({ triesAtMs: [2000, 6000], giveUpAtMs: 6500 });
    expect(retrySchedule([2000, 4000, 4000], 2500)).toEqual({ triesAtMs: [2000], giveUpAtMs: 2500 });
    expect(retrySchedule([2000, 4000, 4000], 1500)).toEqual({ triesAtMs: [], giveUpAtMs: 1000 });
    // A window already over (a very late first send): no tries, give up at once.
    expect(retrySchedule([150, 300], -50)).toEqual({ triesAtMs: [], giveUpAtMs: 0 });
  });
});

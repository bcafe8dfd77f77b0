import { describe, expect, it } from 'vitest';
import { RtoEstimator } from '../../src/core/rto.js';

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

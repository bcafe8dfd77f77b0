import { describe, expect, it } from 'vitest';
import { BucketHistogram, KernelCounterTracker, TTB_BUCKETS_MS } from '../../src/agent/telemetry.js';

const raw = (o: Record<string, [number, number]>) =>
  new Map(Object.entries(o).map(([k, [packets, bytes]]) => [k, { packets, bytes }]));

describe('BucketHistogram', () => {
  it('counts each observation in exactly one bucket, +Inf last', () => {
    const h = new BucketHistogram();
    for (const ms of [0.2, 0.5, 0.6, 3, 1000, 1000.1, 90_000]) h.observe(ms);
    const s = h.snapshot();
    expect(s.bucketsMs).toEqual(TTB_BUCKETS_MS);
    expect(s.counts).toEqual([2, 1, 0, 1, 0, 0, 0, 0, 0, 1, 2]);
    expect(s.count).toBe(7);
    expect(s.sumMs).toBeCloseTo(0.2 + 0.5 + 0.6 + 3 + 1000 + 1000.1 + 90_000);
  });

  it('ignores values that are not durations', () => {
    const h = new BucketHistogram([1, 2]);
    h.observe(-1);
    h.observe(Number.NaN);
    expect(h.snapshot()).toEqual({ bucketsMs: [1, 2], counts: [0, 0, 0], sumMs: 0, count: 0 });
  });

  it('hands out copies', () => {
    const h = new BucketHistogram([1]);
    h.snapshot().counts[0] = 99;
    expect(h.snapshot().counts).toEqual([0, 0]);
  });
});

describe('KernelCounterTracker', () => {
  it('reports only what was counted after the baseline', () => {
    const t = new KernelCounterTracker();
    t.baseline(raw({ m_a: [100, 10_000] }));
    t.update(raw({ m_a: [130, 13_000], d_a: [5, 500] }));
    expect(t.get('m_a')).toEqual({ packets: 30, bytes: 3000 });
    // A counter created after the start counts from zero.
    expect(t.get('d_a')).toEqual({ packets: 5, bytes: 500 });
    expect(t.get('x_none')).toEqual({ packets: 0, bytes: 0 });
  });

  it('keeps counting across a counter that went backwards (deleted and re-created)', () => {
    const t = new KernelCounterTracker();
    t.update(raw({ m_a: [50, 5000] }));
    t.update(raw({ m_a: [7, 700] }));
    t.update(raw({ m_a: [10, 1000] }));
    expect(t.get('m_a')).toEqual({ packets: 60, bytes: 6000 });
  });

  it('counts a re-created counter from zero after it disappeared from a reading', () => {
    const t = new KernelCounterTracker();
    t.update(raw({ m_a: [50, 5000] }));
    t.update(raw({}));
    t.update(raw({ m_a: [80, 8000] }));
    expect(t.get('m_a')).toEqual({ packets: 130, bytes: 13_000 });
  });
});

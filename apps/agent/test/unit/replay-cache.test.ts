import { describe, expect, it } from 'vitest';
import { ReplayCache } from '../../src/core/replay-cache.js';

describe('ReplayCache', () => {
  it('accepts a nonce once and rejects it while it is within its window', () => {
    const c = new ReplayCache({ windowMs: 5000, maxEntries: 100 });
    expect(c.checkAndAdd('n1', 1000, 1000)).toBe(true);
    expect(c.checkAndAdd('n1', 1000, 1001)).toBe(false);
    expect(c.checkAndAdd('n1', 1000, 6000)).toBe(false);
    expect(c.checkAndAdd('n2', 1000, 1002)).toBe(true);
    expect(c.size).toBe(2);
  });

  it('evicts entries once their timestamp has left the window', () => {
    const c = new ReplayCache({ windowMs: 5000, maxEntries: 100 });
    c.checkAndAdd('old', 0, 0);
    c.checkAndAdd('newer', 3000, 3000);
    expect(c.size).toBe(2);
    c.checkAndAdd('probe', 5001, 5001);
    expect(c.size).toBe(2); // 'old' (expiry 5000) gone, 'newer' and 'probe' stay
    // After eviction, the timestamp window rejects a replay of 'old' anyway; the cache refuses it too.
    expect(c.checkAndAdd('old', 0, 5001)).toBe(false);
  });

  it('evicts by timestamp, not by insertion order', () => {
    const c = new ReplayCache({ windowMs: 1000, maxEntries: 100 });
    c.checkAndAdd('late-ts', 2000, 1500); // timestamp from the future, expires at 3000
    c.checkAndAdd('early-ts', 1000, 1500); // expires at 2000
    c.checkAndAdd('x', 2100, 2100);
    expect(c.checkAndAdd('late-ts', 2000, 2100)).toBe(false);
    expect(c.size).toBe(2);
  });

  it('stays bounded and fails closed when full of live entries', () => {
    const c = new ReplayCache({ windowMs: 10_000, maxEntries: 3 });
    expect(c.checkAndAdd('a', 0, 0)).toBe(true);
    expect(c.checkAndAdd('b', 0, 0)).toBe(true);
    expect(c.checkAndAdd('c', 0, 0)).toBe(true);
    expect(c.checkAndAdd('d', 0, 0)).toBe(false);
    expect(c.size).toBe(3);
    expect(c.checkAndAdd('d', 10_001, 10_001)).toBe(true);
    expect(c.size).toBe(1);
  });

  it('keeps memory bounded under a long stream of unique nonces', () => {
    const c = new ReplayCache({ windowMs: 100, maxEntries: 1_000_000 });
    for (let t = 0; t < 100_000; t++) expect(c.checkAndAdd(`n${t}`, t, t)).toBe(true);
    expect(c.size).toBeLessThanOrEqual(101);
  });

  it('rejects bad options', () => {
    expect(() => new ReplayCache({ windowMs: 0, maxEntries: 1 })).toThrow(RangeError);
    expect(() => new ReplayCache({ windowMs: 10, maxEntries: 0 })).toThrow(RangeError);
    expect(() => new ReplayCache({ windowMs: Number.NaN, maxEntries: 1 })).toThrow(RangeError);
  });
});

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isPrime, maglevShares, maglevSize, maglevTable, type MaglevBackend } from '../../src/core/maglev.js';

function backends(n: number, weight = 1): MaglevBackend[] {
  return Array.from({ length: n }, (_, i) => ({ key: `10.0.${i >> 8}.${i & 255}:80`, weight }));
}

/** Slot -> backend key, so tables over differently ordered inputs can be compared. */
function keyed(bs: readonly MaglevBackend[], t: Int32Array): (string | null)[] {
  return Array.from(t, (i) => (i < 0 ? null : bs[i]!.key));
}

describe('maglevSize', () => {
  it('is the smallest prime above 100 x count, at least 251', () => {
    expect(maglevSize(0)).toBe(251);
    expect(maglevSize(1)).toBe(251);
    expect(maglevSize(2)).toBe(251);
    expect(maglevSize(3)).toBe(307);
    expect(maglevSize(10)).toBe(1009);
    expect(maglevSize(655)).toBe(65519);
    for (const n of [3, 7, 50, 123]) {
      const m = maglevSize(n);
      expect(isPrime(m)).toBe(true);
      expect(m).toBeGreaterThan(100 * n);
      for (let k = 100 * n + 1; k < m; k++) expect(isPrime(k)).toBe(false);
    }
  });

  it('rejects bad counts', () => {
    expect(() => maglevSize(-1)).toThrow(RangeError);
    expect(() => maglevSize(1.5)).toThrow(RangeError);
  });
});

describe('maglevTable', () => {
  it('fills every slot and gives equal-weight backends shares within 1%', () => {
    for (const n of [3, 10, 37]) {
      const bs = backends(n);
      const size = maglevSize(n);
      const t = maglevTable(bs, size);
      expect(t.every((v) => v >= 0 && v < n)).toBe(true);
      for (const c of maglevShares(t, n)) expect(Math.abs(c / size - 1 / n)).toBeLessThan(0.01);
    }
  });

  it('honours weights 1:2:3', () => {
    const bs = [
      { key: 'a', weight: 1 },
      { key: 'b', weight: 2 },
      { key: 'c', weight: 3 },
    ];
    const size = maglevSize(3);
    const shares = maglevShares(maglevTable(bs, size), 3).map((c) => c / size);
    expect(Math.abs(shares[0]! - 1 / 6)).toBeLessThan(0.01);
    expect(Math.abs(shares[1]! - 2 / 6)).toBeLessThan(0.01);
    expect(Math.abs(shares[2]! - 3 / 6)).toBeLessThan(0.01);
  });

  it('keeps weighted shares within 1% for many backends with mixed weights', () => {
    const bs = backends(20).map((b, i) => ({ ...b, weight: (i % 4) + 1 }));
    const total = bs.reduce((s, b) => s + b.weight, 0);
    const size = maglevSize(20);
    const counts = maglevShares(maglevTable(bs, size), 20);
    bs.forEach((b, i) => expect(Math.abs(counts[i]! / size - b.weight / total)).toBeLessThan(0.01));
  });

  it('never picks a weight-0 backend, and gives -1 everywhere when nobody has weight', () => {
    const bs = [
      { key: 'a', weight: 1 },
      { key: 'drained', weight: 0 },
      { key: 'c', weight: 5 },
    ];
    const t = maglevTable(bs, 251);
    expect(t.includes(1)).toBe(false);
    expect(t.every((v) => v === 0 || v === 2)).toBe(true);
    expect(maglevTable([{ key: 'x', weight: 0 }], 251).every((v) => v === -1)).toBe(true);
    expect(maglevTable([], 251).every((v) => v === -1)).toBe(true);
  });

  // Maglev trades some disruption for balance; at size ~100 x N the extra movement grows with N (measured
  // here: 0.1/N at N=5, 0.7/N at N=30, 2.0/N at N=100 beyond the removed backend's own slots).
  it.each([
    [5, 1.3],
    [10, 1.3],
    [30, 1.3],
    [100, 2.5],
  ])('moves about 1/N of the slots when one of N=%i backends is removed (bound %f/N)', (n, bound) => {
    {
      const bs = backends(n);
      const size = maglevSize(n);
      const before = keyed(bs, maglevTable(bs, size));
      for (const removed of [0, Math.floor(n / 2), n - 1]) {
        const rest = bs.filter((_, i) => i !== removed);
        const after = keyed(rest, maglevTable(rest, size));
        let moved = 0;
        for (let s = 0; s < size; s++) {
          if (before[s] !== bs[removed]!.key && before[s] !== after[s]) moved++;
        }
        // The removed backend's own slots must move; the rest should mostly stay put.
        expect(moved / size).toBeLessThan(bound / n);
        expect(after.includes(bs[removed]!.key)).toBe(false);
      }
    }
  });

  it('is identical for identical config regardless of input order', () => {
    const bs = backends(12).map((b, i) => ({ ...b, weight: (i % 3) + 1 }));
    const size = maglevSize(12);
    const reference = keyed(bs, maglevTable(bs, size));
    const reversed = [...bs].reverse();
    expect(keyed(reversed, maglevTable(reversed, size))).toEqual(reference);
    const shuffled = [...bs].sort(
      (a, b) =>
        ((a.key.length * 7 + a.weight) % 5) - ((b.key.length * 7 + b.weight) % 5) || (a.key > b.key ? -1 : 1),
    );
    expect(keyed(shuffled, maglevTable(shuffled, size))).toEqual(reference);
  });

  it('matches a golden table, so any change to hashing or population is noticed', () => {
    const t = maglevTable(
      [
        { key: '198.18.0.21:80', weight: 1 },
        { key: '198.18.0.22:80', weight: 2 },
        { key: '198.18.0.23:80', weight: 1 },
      ],
      251,
    );
    expect(Array.from(t.subarray(0, 24)).join('')).toMatchInlineSnapshot(`"021202111100111012121201"`);
    expect(createHash('sha256').update(Buffer.from(t.buffer)).digest('hex')).toMatchInlineSnapshot(
      `"817cc8ae40256a714642f2b3f0efb298d209d1b9f707411b4d1a97f3f0503488"`,
    );
  });

  it('rejects bad input with a clear error', () => {
    expect(() => maglevTable(backends(2), 250)).toThrow(/prime/);
    expect(() =>
      maglevTable(
        [
          { key: 'a', weight: 1 },
          { key: 'a', weight: 2 },
        ],
        251,
      ),
    ).toThrow(/duplicate/);
    expect(() => maglevTable([{ key: 'a', weight: -1 }], 251)).toThrow(/weight/);
    expect(() => maglevTable([{ key: 'a', weight: 0.5 }], 251)).toThrow(/weight/);
    expect(() => maglevTable([{ key: '', weight: 1 }], 251)).toThrow(/key/);
  });
});

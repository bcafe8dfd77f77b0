/**
 * Weighted Maglev hashing (Eisenbud et al., NSDI 2016, section 3.4).
 *
 * Every mux builds the table from the same config, so the result must depend only on the set of
 * (key, weight) pairs: backends are sorted by key before population and the permutation comes from
 * SHA-256 of the key (not from a process-seeded hash), which gives identical tables on every machine.
 *
 * Weights: the population loop gives each backend its turn with a probability proportional to its weight
 * using integer credit counters (each round a backend earns `weight` credits and takes a slot whenever it
 * holds at least `maxWeight`; the heaviest backend takes a slot every round). This is the Cilium-style
 * weighted Maglev; integers instead of floats keep it bit-for-bit reproducible. Weight 0 gets no slot,
 * which is how draining works (no new flows; existing flows are kept by the flow table, not by Maglev).
 */
import { createHash } from 'node:crypto';

export interface MaglevBackend {
  key: string;
  weight: number;
}

/** Largest accepted weight: keeps credit arithmetic far from 2^53 and tables meaningful. */
export const MAGLEV_MAX_WEIGHT = 1_000_000;
/** Upper bound on table size; 65537 is the paper's production size, this leaves room above it. */
export const MAGLEV_MAX_SIZE = 1_048_573;

export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

/** Smallest prime strictly greater than 100 x backendCount, and at least 251. */
export function maglevSize(backendCount: number): number {
  if (!Number.isInteger(backendCount) || backendCount < 0) {
    throw new RangeError(`backendCount must be a non-negative integer, got ${backendCount}`);
  }
  let n = Math.max(100 * backendCount + 1, 251);
  while (!isPrime(n)) n++;
  if (n > MAGLEV_MAX_SIZE) throw new RangeError(`too many backends for a Maglev table: ${backendCount}`);
  return n;
}

/** 48 bits of SHA-256(seed || key): exact in a JS number, and the two seeds give independent hashes. */
function hash48(seed: string, key: string): number {
  return createHash('sha256').update(seed).update('\0').update(key, 'utf8').digest().readUIntBE(0, 6);
}

/**
 * Lookup table: slot -> index into `backends` (the caller's array, whatever its order); -1 in every slot
 * when no backend has weight > 0. Throws RangeError on a non-prime size, duplicate keys or bad weights.
 */
export function maglevTable(backends: readonly MaglevBackend[], size: number): Int32Array {
  if (!isPrime(size) || size > MAGLEV_MAX_SIZE) {
    throw new RangeError(`Maglev table size must be a prime <= ${MAGLEV_MAX_SIZE}, got ${size}`);
  }
  const seen = new Set<string>();
  for (const b of backends) {
    if (typeof b.key !== 'string' || b.key.length === 0)
      throw new RangeError('backend key must be non-empty');
    if (seen.has(b.key)) throw new RangeError(`duplicate backend key: ${b.key}`);
    seen.add(b.key);
    if (!Number.isInteger(b.weight) || b.weight < 0 || b.weight > MAGLEV_MAX_WEIGHT) {
      throw new RangeError(`backend ${b.key}: weight must be an integer in 0..${MAGLEV_MAX_WEIGHT}`);
    }
  }

  const table = new Int32Array(size).fill(-1);
  // Active backends in key order; `orig` maps back to the caller's index.
  const active = backends
    .map((b, orig) => ({ key: b.key, weight: b.weight, orig }))
    .filter((b) => b.weight > 0)
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const n = active.length;
  if (n === 0) return table;

  const pos = new Float64Array(n);
  const skip = new Float64Array(n);
  const credit = new Float64Array(n);
  let maxWeight = 0;
  for (let i = 0; i < n; i++) {
    const b = active[i]!;
    pos[i] = hash48('slipstream-maglev-offset', b.key) % size;
    skip[i] = (hash48('slipstream-maglev-skip', b.key) % (size - 1)) + 1;
    if (b.weight > maxWeight) maxWeight = b.weight;
  }

  let filled = 0;
  // Each round at least the heaviest backend fills one slot, so this ends after at most `size` rounds.
  for (;;) {
    for (let i = 0; i < n; i++) {
      credit[i]! += active[i]!.weight;
      if (credit[i]! < maxWeight) continue;
      credit[i]! -= maxWeight;
      // Walk this backend's permutation to its next free slot (size is prime, so it visits every slot).
      let c = pos[i]!;
      while (table[c] !== -1) c = (c + skip[i]!) % size;
      table[c] = active[i]!.orig;
      pos[i] = (c + skip[i]!) % size;
      if (++filled === size) return table;
    }
  }
}

/** Slots held by each backend index; handy for metrics and tests. */
export function maglevShares(table: Int32Array, backendCount: number): number[] {
  const counts = new Array<number>(backendCount).fill(0);
  for (const v of table) if (v >= 0) counts[v]!++;
  return counts;
}

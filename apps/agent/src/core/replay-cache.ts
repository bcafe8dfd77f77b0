/**
 * Nonce replay cache for redirect messages.
 *
 * A nonce needs remembering only while its message could still pass the timestamp window, i.e. until
 * `timestampMs + windowMs`; after that the window check rejects a replay on its own. Entries therefore
 * expire at that instant (a min-heap on expiry finds them in O(log n)), which bounds memory by the
 * accepted message rate x window. `maxEntries` caps it hard: when the cache is full of live entries it
 * refuses new nonces (fail closed) instead of forgetting live ones, since forgetting would let a captured
 * message be replayed. A refused redirect only means the flow stays on the mux, which is always safe.
 */

interface HeapItem {
  expiry: number;
  nonce: string;
}

export class ReplayCache {
  private readonly windowMs: number;
  private readonly maxEntries: number;
  private readonly expiries = new Map<string, number>();
  private readonly heap: HeapItem[] = [];

  constructor(opts: { windowMs: number; maxEntries: number }) {
    if (!Number.isFinite(opts.windowMs) || opts.windowMs <= 0) {
      throw new RangeError(`windowMs must be a positive number, got ${opts.windowMs}`);
    }
    if (!Number.isInteger(opts.maxEntries) || opts.maxEntries <= 0) {
      throw new RangeError(`maxEntries must be a positive integer, got ${opts.maxEntries}`);
    }
    this.windowMs = opts.windowMs;
    this.maxEntries = opts.maxEntries;
  }

  /**
   * Records the nonce and returns true when it is new. Returns false when it was seen within its
   * lifetime, when its timestamp is already outside the window (nothing to remember it against), or when
   * the cache is full of live entries.
   */
  checkAndAdd(nonce: string, timestampMs: number, nowMs: number): boolean {
    this.evict(nowMs);
    const expiry = timestampMs + this.windowMs;
    if (!Number.isFinite(expiry) || expiry < nowMs) return false;
    if (this.expiries.has(nonce)) return false;
    if (this.expiries.size >= this.maxEntries) return false;
    this.expiries.set(nonce, expiry);
    this.push({ expiry, nonce });
    return true;
  }

  get size(): number {
    return this.expiries.size;
  }

  private evict(nowMs: number): void {
    while (this.heap.length > 0 && this.heap[0]!.expiry < nowMs) {
      const top = this.pop();
      this.expiries.delete(top.nonce);
    }
  }

  private push(item: HeapItem): void {
    const h = this.heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]!.expiry <= h[i]!.expiry) break;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
  }

  private pop(): HeapItem {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && h[l]!.expiry < h[m]!.expiry) m = l;
        if (r < h.length && h[r]!.expiry < h[m]!.expiry) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
    return top;
  }
}

/**
 * The agent's telemetry report (docs/agent-protocol.md, `TelemetryReport`): cumulative counters since
 * this process started, so the API can store deltas between consecutive reports of the same `bootId`.
 */

import { TTB_BUCKETS_MS } from '@slipstream/agent-protocol';

export { TTB_BUCKETS_MS };

export interface TelemetryVip {
  vipId: string;
  packetsMux: number;
  packetsDirect: number;
  bytesMux: number;
  bytesDirect: number;
  flowsNew: number;
  flowsBypassed: number;
  bypassEntries: number;
  redirectsSent: number;
  muxPackets: number;
}

export interface TimeToBypassReport {
  bucketsMs: number[];
  /** Per bucket, not cumulative; one more entry than `bucketsMs` (the +Inf bucket). */
  counts: number[];
  sumMs: number;
  count: number;
}

export interface BackendHealth {
  vipId: string;
  address: string;
  port: number;
  healthy: boolean;
  reason?: string;
}

export interface TelemetryReport {
  bootId: string;
  at: string;
  appliedRevision: number;
  vips: TelemetryVip[];
  redirectsReceived: { accepted: number; rejected: Record<string, number> };
  timeToBypass: TimeToBypassReport;
  backendHealth: BackendHealth[];
  /**
   * Set by the control client: whether the API already accepted a report of this `bootId`. With no stored
   * previous report, the API then takes this one as a baseline instead of counting since boot twice.
   */
  previousAccepted?: boolean;
}

/** Histogram with per-bucket (non-cumulative) counts, the protocol's shape. */
export class BucketHistogram {
  private readonly counts: number[];
  private sum = 0;
  private n = 0;

  constructor(readonly bucketsMs: readonly number[] = TTB_BUCKETS_MS) {
    this.counts = new Array<number>(bucketsMs.length + 1).fill(0);
  }

  observe(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    let i = this.bucketsMs.findIndex((b) => ms <= b);
    if (i < 0) i = this.bucketsMs.length;
    this.counts[i]!++;
    this.sum += ms;
    this.n++;
  }

  snapshot(): TimeToBypassReport {
    return { bucketsMs: [...this.bucketsMs], counts: [...this.counts], sumMs: this.sum, count: this.n };
  }
}

export interface RawCounter {
  packets: number;
  bytes: number;
}

/**
 * Turns kernel counter readings into counts since this process started. Kernel counters outlive the
 * agent (a restart keeps the ruleset), so the values found before the first apply are a baseline; a
 * counter that disappears or goes backwards was deleted and re-created (its VIP left and came back),
 * and counting goes on from zero without losing what was already counted.
 */
export class KernelCounterTracker {
  private readonly last = new Map<string, RawCounter>();
  private readonly total = new Map<string, RawCounter>();

  /** Readings taken before this process changed anything: not ours to report. */
  baseline(raw: Map<string, RawCounter>): void {
    for (const [name, v] of raw) this.last.set(name, { ...v });
  }

  update(raw: Map<string, RawCounter>): void {
    for (const name of [...this.last.keys()])
      if (!raw.has(name)) this.last.set(name, { packets: 0, bytes: 0 });
    for (const [name, v] of raw) {
      const prev = this.last.get(name) ?? { packets: 0, bytes: 0 };
      const reset = v.packets < prev.packets || v.bytes < prev.bytes;
      const t = this.total.get(name) ?? { packets: 0, bytes: 0 };
      t.packets += reset ? v.packets : v.packets - prev.packets;
      t.bytes += reset ? v.bytes : v.bytes - prev.bytes;
      this.total.set(name, t);
      this.last.set(name, { ...v });
    }
  }

  get(name: string): RawCounter {
    return this.total.get(name) ?? { packets: 0, bytes: 0 };
  }
}

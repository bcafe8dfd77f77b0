/**
 * Retransmission timeout for redirects, estimated from their ack times the way TCP does (RFC 6298):
 * smoothed round trip + 4 x its mean deviation, within [minMs, maxMs]. Each attempt of a redirect carries
 * its own nonce, so an ack names the attempt it answers and every sample is unambiguous (no Karn rule).
 *
 * A fixed 150 ms first retry is right on an idle host but, in a burst of new flows, a client that is
 * still working through its queue gets every redirect two or three times, which lengthens the queue it is
 * behind on (measured: 128 % retries in a 5 s connect flood). Following the measured ack time keeps
 * retries for loss.
 */
export class RtoEstimator {
  private srtt: number | null = null;
  private rttvar = 0;

  constructor(
    readonly minMs = 150,
    readonly maxMs = 2000,
  ) {}

  /** One ack time, in ms, of an attempt that was answered. */
  sample(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    if (this.srtt === null) {
      this.srtt = ms;
      this.rttvar = ms / 2;
      return;
    }
    this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - ms);
    this.srtt = 0.875 * this.srtt + 0.125 * ms;
  }

  /** The wait before the first retry; later retries back off from it. */
  get rtoMs(): number {
    if (this.srtt === null) return this.minMs;
    return Math.min(this.maxMs, Math.max(this.minMs, this.srtt + 4 * this.rttvar));
  }

  /** Waits between the attempts: rto, then doubling, `retries` of them. */
  delays(retries: number): number[] {
    const rto = this.rtoMs;
    return Array.from({ length: retries }, (_, i) => Math.min(this.maxMs * 2, rto * 2 ** i));
  }
}

/**
 * When to retry and when to give up, from the first send: the backed-off `delays` that fit before
 * `windowMs` (the time what a redirect refers to still holds), and a give-up one second after the last try,
 * but never past the window.
 */
export function retrySchedule(
  delays: number[],
  windowMs: number,
): { triesAtMs: number[]; giveUpAtMs: number } {
  const triesAtMs: number[] = [];
  let at = 0;
  for (const d of delays) {
    if (at + d >= windowMs) break;
    at += d;
    triesAtMs.push(at);
  }
  return { triesAtMs, giveUpAtMs: Math.max(0, Math.min(at + 1000, windowMs)) };
}

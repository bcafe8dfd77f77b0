/**
 * Reconnect delays: exponential from `minMs` to `maxMs` with "full jitter" over the upper half, so a
 * fleet of agents that lost the API at the same moment does not come back in lock step.
 */
export class Backoff {
  private attempt = 0;
  constructor(
    private readonly minMs = 1000,
    private readonly maxMs = 30_000,
    private readonly random: () => number = Math.random,
  ) {
    if (!(minMs > 0) || !(maxMs >= minMs)) throw new Error(`bad backoff range ${minMs}..${maxMs}`);
  }

  /** The delay before the next attempt, in [minMs, maxMs]. */
  next(): number {
    const ceiling = Math.min(this.maxMs, this.minMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    const ms = ceiling / 2 + this.random() * (ceiling / 2);
    return Math.round(Math.min(this.maxMs, Math.max(this.minMs, ms)));
  }

  reset(): void {
    this.attempt = 0;
  }
}

import type { Redis } from 'ioredis';

/**
 * Fixed-window counter in Redis: every API process increments the same key, so the limit holds for
 * the deployment as a whole, not per process.
 */
export class RateLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly limit: number,
    private readonly windowS = 60,
  ) {}

  /** Returns the seconds to wait when over the limit, or 0 when the request may proceed. */
  async hit(bucket: string, nowMs = Date.now(), limit = this.limit): Promise<number> {
    const window = Math.floor(nowMs / 1000 / this.windowS);
    const key = `${this.prefix}:rl:${bucket}:${window}`;
    const [[, count]] = (await this.redis
      .multi()
      .incr(key)
      .expire(key, this.windowS + 1)
      .exec()) as [[Error | null, number]];
    if (count <= limit) return 0;
    return Math.max(1, (window + 1) * this.windowS - Math.floor(nowMs / 1000));
  }
}

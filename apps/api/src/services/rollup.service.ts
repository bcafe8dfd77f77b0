// Rollups and retention as BullMQ repeatable jobs: every 10 s the recent minutes are recomputed from the
// per-second rows (and backend health re-derived), every minute the whole last hour is recomputed and old
// rows are deleted. Any API process may run a job; a rollup replaces minute rows, so running it twice, or
// on two processes at once, gives the same rows.
import { Logger } from '@nestjs/common';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { Database } from '../repositories/index.js';
import type { Clock } from './change-runner.js';
import type { HealthService } from './health.service.js';
import { CONFIG_QUEUE } from './publisher.js';
import { MINUTE_RETENTION_S, SECOND_RETENTION_S } from './stats.service.js';
import type { StatsMetrics } from './stats-metrics.js';

export const ROLLUP_QUEUE = 'telemetry-rollup';
export enum RollupJob {
  Recent = 'rollup-recent',
  Hour = 'rollup-hour',
}

export class RollupService {
  constructor(
    private readonly db: Database,
    private readonly health: HealthService,
    private readonly clock: Clock,
  ) {}

  /** Recomputes the minute rows of the last `minutes` minutes, including the current (partial) one. */
  async rollup(minutes: number): Promise<number> {
    const now = this.clock.now().getTime();
    const to = Math.floor(now / 60_000) * 60_000 + 60_000;
    return this.db.repos.telemetry.rollupMinutes(new Date(to - minutes * 60_000), new Date(to));
  }

  async prune(): Promise<{ seconds: number; minutes: number }> {
    const now = this.clock.now().getTime();
    return this.db.repos.telemetry.prune(
      new Date(now - SECOND_RETENTION_S * 1000),
      new Date(now - MINUTE_RETENTION_S * 1000),
    );
  }

  async run(job: string): Promise<void> {
    if (job === RollupJob.Recent) {
      await this.rollup(3);
      await this.health.sweep();
    } else if (job === RollupJob.Hour) {
      // Rolled up before pruning, so no second row is deleted before its minute was written.
      await this.rollup(SECOND_RETENTION_S / 60);
      await this.prune();
    } else {
      throw new Error(`no handler for job ${job}`);
    }
  }
}

/** The queue, its two schedulers and a worker in this process. */
export class RollupScheduler {
  private readonly log = new Logger('Rollup');
  private readonly connection: Redis;
  private readonly queue: Queue;
  private readonly configQueue: Queue;
  private worker: Worker | null = null;
  private closed = false;

  constructor(
    redisUrl: string,
    private readonly prefix: string,
    private readonly rollups: RollupService,
    metrics: StatsMetrics,
  ) {
    // BullMQ's worker blocks on Redis and needs maxRetriesPerRequest null: a connection of its own.
    this.connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
    this.connection.on('error', () => {});
    const opts = { connection: this.connection, prefix: `${prefix}:bull` };
    this.queue = new Queue(ROLLUP_QUEUE, opts);
    this.configQueue = new Queue(CONFIG_QUEUE, opts);
    this.queue.on('error', () => {});
    this.configQueue.on('error', () => {});
    for (const q of [this.queue, this.configQueue]) {
      metrics.addQueue({
        name: q.name,
        counts: () => q.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed'),
      });
    }
  }

  /** Runs in the background: an API whose Redis is down still starts (and says so in /v1/health). */
  start(): void {
    this.begin().catch((err: unknown) => {
      if (!this.closed) this.log.warn(`rollup jobs not scheduled: ${String(err)}`);
    });
  }

  private async begin(): Promise<void> {
    const keep = { removeOnComplete: 100, removeOnFail: 100 };
    await this.queue.upsertJobScheduler(
      RollupJob.Recent,
      { every: 10_000 },
      { name: RollupJob.Recent, opts: keep },
    );
    await this.queue.upsertJobScheduler(
      RollupJob.Hour,
      { every: 60_000 },
      { name: RollupJob.Hour, opts: keep },
    );
    if (this.closed) return;
    this.worker = new Worker(ROLLUP_QUEUE, (job) => this.rollups.run(job.name), {
      connection: this.connection,
      prefix: `${this.prefix}:bull`,
      concurrency: 1,
    });
    this.worker.on('error', () => {});
    this.worker.on('failed', (job, err) => this.log.warn(`${job?.name ?? 'job'} failed: ${err.message}`));
  }

  async schedulers(): Promise<string[]> {
    return (await this.queue.getJobSchedulers()).map((s) => s.key);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.worker?.close().catch(() => {});
    await this.queue.close().catch(() => {});
    await this.configQueue.close().catch(() => {});
    this.connection.disconnect();
  }
}

import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';

export interface ConfigChanged {
  tenantId: string;
  revision: bigint;
}

/**
 * Told after every committed change. The config-push issue consumes these to compile and push each
 * affected agent's desired state; delivery is best effort because agents also resync periodically.
 */
export interface ConfigChangedPublisher {
  publish(event: ConfigChanged): Promise<void>;
  close(): Promise<void>;
}

export const CONFIG_PUBLISHER = Symbol('CONFIG_PUBLISHER');
export const CONFIG_QUEUE = 'config-changed';

export class NoopPublisher implements ConfigChangedPublisher {
  async publish(): Promise<void> {}
  async close(): Promise<void> {}
}

/** One job per (tenant, revision); the job id makes a retried publish a no-op. */
export class BullMqPublisher implements ConfigChangedPublisher {
  private readonly queue: Queue;

  constructor(connection: Redis, prefix: string) {
    this.queue = new Queue(CONFIG_QUEUE, {
      connection,
      prefix: `${prefix}:bull`,
      // A failed compile (database blip) is retried; agents also resync through the periodic sweep.
      defaultJobOptions: {
        removeOnComplete: 1000,
        removeOnFail: 1000,
        attempts: 5,
        backoff: { type: 'exponential', delay: 1000 },
      },
    });
    // Connection errors already surface through publish() and /v1/health; without a listener BullMQ
    // prints each reconnect attempt.
    this.queue.on('error', () => {});
  }

  async publish(e: ConfigChanged): Promise<void> {
    const revision = e.revision.toString();
    await this.queue.add(
      'tenant-config',
      { tenantId: e.tenantId, revision },
      { jobId: `${e.tenantId}-${revision}` },
    );
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}

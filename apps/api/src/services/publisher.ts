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

/** How long an API write waits for its config-changed job to be enqueued after it committed. */
export const PUBLISH_TIMEOUT_MS = 1000;
/** ioredis connection states in which a command would only wait for a reconnect. */
const DOWN = new Set(['reconnecting', 'close', 'end']);

/** One job per (tenant, revision); the job id makes a retried publish a no-op. */
export class BullMqPublisher implements ConfigChangedPublisher {
  private readonly queue: Queue;

  constructor(
    private readonly connection: Redis,
    prefix: string,
  ) {
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

  /**
   * Called after the change committed, so it must not hold the API answer hostage to a Redis outage:
   * it gives up at once while the connection is down and after PUBLISH_TIMEOUT_MS otherwise. A job that
   * was not enqueued is not lost: the worker's sweep compiles every tenant whose agents lag its revision.
   */
  async publish(e: ConfigChanged): Promise<void> {
    if (DOWN.has(this.connection.status)) {
      throw new Error(`Redis connection is ${this.connection.status}; the sweep will catch up`);
    }
    const revision = e.revision.toString();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, fail) => {
      timer = setTimeout(
        () =>
          fail(new Error(`no answer from Redis within ${PUBLISH_TIMEOUT_MS} ms; the sweep will catch up`)),
        PUBLISH_TIMEOUT_MS,
      );
    });
    const add = this.queue.add(
      'tenant-config',
      { tenantId: e.tenantId, revision },
      { jobId: `${e.tenantId}-${revision}` },
    );
    // If the add lands later (Redis came back), the job runs then; a rejected late add is nobody's error.
    add.catch(() => {});
    try {
      await Promise.race([add, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}

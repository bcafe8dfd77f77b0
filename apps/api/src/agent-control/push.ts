// The moving parts of config push: a Redis channel per agent (any process can signal, the one holding
// the stream delivers), the per-process table of open streams, and the BullMQ workers.
import { Logger } from '@nestjs/common';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { ServerResponse } from 'node:http';
import { CONFIG_QUEUE } from '../services/publisher.js';
import type { AgentControlService, AgentPrincipal, AgentSignal } from '../services/agent-control.service.js';

export const SWEEP_QUEUE = 'agent-sweep';
export const PING_MS = 15_000;

export class RedisAgentSignal implements AgentSignal {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  channel(agentId: string): string {
    return `${this.prefix}:agent:${agentId}`;
  }

  async desired(agentId: string): Promise<void> {
    await this.redis.publish(this.channel(agentId), 'desired');
  }

  async resend(agentId: string): Promise<void> {
    await this.redis.publish(this.channel(agentId), 'resend');
  }

  async revoked(agentId: string): Promise<void> {
    await this.redis.publish(this.channel(agentId), 'revoked');
  }
}

interface Conn {
  agent: AgentPrincipal;
  raw: ServerResponse;
  sentRevision: number;
  ping: NodeJS.Timeout;
}

/** Open SSE streams of this process, fed by one Redis subscriber connection. */
export class StreamHub {
  private readonly log = new Logger('StreamHub');
  private readonly conns = new Map<string, Set<Conn>>();
  private readonly sub: Redis;

  constructor(
    redisUrl: string,
    private readonly signal: RedisAgentSignal,
    private readonly service: () => AgentControlService,
    private readonly pingMs = PING_MS,
  ) {
    this.sub = new Redis(redisUrl, { maxRetriesPerRequest: null, lazyConnect: false });
    this.sub.on('error', () => {});
    this.sub.on('message', (channel: string, message: string) => {
      const id = channel.slice(channel.lastIndexOf(':') + 1);
      void this.onSignal(id, message).catch((err: unknown) =>
        this.log.warn(`signal ${message} for ${id} failed: ${String(err)}`),
      );
    });
  }

  get size(): number {
    let n = 0;
    for (const s of this.conns.values()) n += s.size;
    return n;
  }

  async open(agent: AgentPrincipal, raw: ServerResponse): Promise<void> {
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // Proxies such as nginx would otherwise buffer the stream.
      'x-accel-buffering': 'no',
    });
    raw.write(': connected\n\n');
    const conn: Conn = {
      agent,
      raw,
      sentRevision: -1,
      ping: setInterval(() => {
        raw.write(`event: ping\ndata: {}\n\n`);
        void this.service()
          .touch(agent)
          .catch(() => {});
      }, this.pingMs),
    };
    let set = this.conns.get(agent.agentId);
    if (!set) {
      set = new Set();
      this.conns.set(agent.agentId, set);
      await this.sub.subscribe(this.signal.channel(agent.agentId));
    }
    set.add(conn);
    raw.on('close', () => this.drop(conn));
    await this.service()
      .touch(agent)
      .catch(() => {});
    await this.sendDesired(conn);
  }

  private drop(conn: Conn): void {
    clearInterval(conn.ping);
    const set = this.conns.get(conn.agent.agentId);
    if (!set) return;
    set.delete(conn);
    if (set.size === 0) {
      this.conns.delete(conn.agent.agentId);
      void this.sub.unsubscribe(this.signal.channel(conn.agent.agentId)).catch(() => {});
    }
  }

  private async sendDesired(conn: Conn): Promise<void> {
    const stored = await this.service().storedState(conn.agent);
    if (!stored || stored.revision <= conn.sentRevision) return;
    conn.sentRevision = stored.revision;
    conn.raw.write(`event: desired\ndata: ${JSON.stringify(stored)}\n\n`);
  }

  private async onSignal(agentId: string, message: string): Promise<void> {
    const set = this.conns.get(agentId);
    if (!set) return;
    for (const conn of [...set]) {
      if (message === 'revoked') {
        if (!(await this.service().stillValid(conn.agent))) {
          conn.raw.write(`event: revoked\ndata: {}\n\n`);
          conn.raw.end();
          this.drop(conn);
        }
      } else {
        // The sweep asks for a resend of lagging agents: the agent may have lost what went out already.
        if (message === 'resend') conn.sentRevision = -1;
        await this.sendDesired(conn);
      }
    }
  }

  async close(): Promise<void> {
    for (const set of this.conns.values()) {
      for (const c of set) {
        clearInterval(c.ping);
        c.raw.end();
      }
    }
    this.conns.clear();
    this.sub.disconnect();
  }
}

/** The config-changed worker and the periodic sweep; several processes may run them. */
export class PushWorkers {
  private readonly log = new Logger('PushWorkers');
  private readonly conn: Redis;
  private readonly workers: Worker[] = [];
  private readonly sweepQueue: Queue;

  constructor(redisUrl: string, prefix: string, sweepMs: number, service: AgentControlService) {
    // BullMQ workers block on Redis; they need their own connection with unlimited retries.
    this.conn = new Redis(redisUrl, { maxRetriesPerRequest: null });
    this.conn.on('error', () => {});
    const opts = { connection: this.conn, prefix: `${prefix}:bull` };
    this.workers.push(
      new Worker(
        CONFIG_QUEUE,
        async (job) => {
          const { tenantId } = job.data as { tenantId: string };
          const moved = await service.compileTenant(tenantId);
          await service.notify(moved);
          return { agents: moved.length };
        },
        { ...opts, concurrency: 4 },
      ),
      new Worker(SWEEP_QUEUE, async () => service.sweep(), opts),
    );
    for (const w of this.workers) {
      w.on('error', () => {});
      w.on('failed', (job, err) => this.log.warn(`job ${job?.name} ${job?.id} failed: ${err.message}`));
    }
    this.sweepQueue = new Queue(SWEEP_QUEUE, opts);
    this.sweepQueue.on('error', () => {});
    // One schedule for the whole deployment: every process upserts the same scheduler id.
    void this.sweepQueue
      .upsertJobScheduler(
        'agent-sweep',
        { every: sweepMs },
        { name: 'sweep', opts: { removeOnComplete: 10, removeOnFail: 10 } },
      )
      .catch((err: unknown) => this.log.warn(`sweep schedule: ${String(err)}`));
  }

  async close(): Promise<void> {
    // force: a job still running is retried by another process; a Redis outage must not hang shutdown.
    const done = Promise.all([
      ...this.workers.map((w) => w.close(true).catch(() => {})),
      this.sweepQueue.close().catch(() => {}),
    ]);
    await Promise.race([done, new Promise((r) => setTimeout(r, 2000).unref())]);
    this.conn.disconnect();
  }
}

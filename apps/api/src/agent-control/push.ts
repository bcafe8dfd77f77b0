// The moving parts of config push: a Redis channel per agent (any process can signal, the one holding
// the stream delivers), the per-process table of open streams, and the BullMQ workers. Work scales with
// the number of agents, so it is batched: one pipelined publish for all agents of a compile, one query
// for the stored states of all signals a hub received together.
import { Logger } from '@nestjs/common';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { ServerResponse } from 'node:http';
import { CONFIG_QUEUE } from '../services/publisher.js';
import type {
  AgentControlService,
  AgentPrincipal,
  AgentSignal,
  StoredState,
} from '../services/agent-control.service.js';

export const SWEEP_QUEUE = 'agent-sweep';
/** Reconnect attempts of the push connections: quickly, at most every 500 ms, for as long as it takes. */
const retryStrategy = (attempt: number) => Math.min(attempt * 50, 500);
export const PING_MS = 15_000;

export class RedisAgentSignal implements AgentSignal {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  channel(agentId: string): string {
    return `${this.prefix}:agent:${agentId}`;
  }

  async desired(agentIds: string[]): Promise<void> {
    await this.publishAll(agentIds, 'desired');
  }

  async resend(agentIds: string[]): Promise<void> {
    await this.publishAll(agentIds, 'resend');
  }

  /** One pipeline (a single write, replies read together) instead of a round trip per agent. */
  private async publishAll(agentIds: string[], message: string): Promise<void> {
    if (agentIds.length === 0) return;
    const p = this.redis.pipeline();
    for (const id of agentIds) p.publish(this.channel(id), message);
    const replies = (await p.exec()) ?? [];
    const failed = replies.find(([err]) => err);
    if (failed?.[0]) throw failed[0];
  }

  async revoked(agentId: string): Promise<void> {
    await this.redis.publish(this.channel(agentId), 'revoked');
  }
}

interface Conn {
  agent: AgentPrincipal;
  raw: ServerResponse;
  sentRevision: number;
  /** The sweep asked to send the current revision again even if it went out already. */
  resend: boolean;
  ping: NodeJS.Timeout;
}

/** Open SSE streams of this process, fed by one Redis subscriber connection. */
export class StreamHub {
  private readonly log = new Logger('StreamHub');
  private readonly conns = new Map<string, Set<Conn>>();
  private readonly sub: Redis;
  /** Agents signalled since the last flush; signals that arrive together are served by one query. */
  private pending = new Map<string, 'desired' | 'resend'>();
  private flushing = false;

  constructor(
    redisUrl: string,
    private readonly signal: RedisAgentSignal,
    private readonly service: () => AgentControlService,
    private readonly pingMs = PING_MS,
  ) {
    this.sub = new Redis(redisUrl, { maxRetriesPerRequest: null, lazyConnect: false, retryStrategy });
    this.sub.on('error', () => {});
    this.sub.on('message', (channel: string, message: string) => {
      const id = channel.slice(channel.lastIndexOf(':') + 1);
      if (message === 'revoked') {
        void this.onRevoked(id).catch((err: unknown) =>
          this.log.warn(`signal revoked for ${id} failed: ${String(err)}`),
        );
        return;
      }
      if (message !== 'desired' && message !== 'resend') return;
      if (this.pending.get(id) !== 'resend') this.pending.set(id, message);
      this.schedule();
    });
    // Signals published while this subscriber was disconnected are gone: after a reconnect every open
    // stream is checked against its stored state (only newer revisions go out).
    let connectedOnce = false;
    this.sub.on('ready', () => {
      if (connectedOnce) {
        for (const id of this.conns.keys()) if (!this.pending.has(id)) this.pending.set(id, 'desired');
        this.schedule();
      }
      connectedOnce = true;
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
      resend: false,
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
    const stored = await this.service().storedStates([agent.agentId]);
    this.send(conn, stored.get(agent.agentId));
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

  /** Writes the stored state if it is newer than what this stream got (or a resend was asked for). */
  private send(conn: Conn, stored: StoredState | undefined): void {
    // A state of another tenant never goes out, whatever the channel said.
    if (!stored || stored.tenantId !== conn.agent.tenantId) return;
    const force = conn.resend;
    conn.resend = false;
    // Checked after the read, synchronously with the write: a slower read of an older revision that
    // finishes after a newer one went out is dropped, so an agent never receives an older revision.
    if (stored.revision < conn.sentRevision || (stored.revision === conn.sentRevision && !force)) return;
    conn.sentRevision = stored.revision;
    conn.raw.write(`event: desired\ndata: {"revision":${stored.revision},"state":${stored.state}}\n\n`);
  }

  /** Serves every pending signal with one query; signals arriving meanwhile wait for the next round. */
  private schedule(): void {
    if (this.flushing || this.pending.size === 0) return;
    this.flushing = true;
    setImmediate(() => {
      void this.flush()
        .catch((err: unknown) => this.log.warn(`sending desired states failed: ${String(err)}`))
        .finally(() => {
          this.flushing = false;
          this.schedule();
        });
    });
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    const ids = [...batch.keys()].filter((id) => this.conns.has(id));
    if (ids.length === 0) return;
    for (const id of ids) {
      if (batch.get(id) === 'resend') for (const conn of this.conns.get(id) ?? []) conn.resend = true;
    }
    let stored: Map<string, StoredState>;
    try {
      stored = await this.service().storedStates(ids);
    } catch (err) {
      // Not lost: the sweep re-sends to agents whose applied revision lags.
      this.log.warn(`reading ${ids.length} stored states failed: ${String(err)}`);
      return;
    }
    for (const id of ids) for (const conn of this.conns.get(id) ?? []) this.send(conn, stored.get(id));
  }

  private async onRevoked(agentId: string): Promise<void> {
    for (const conn of [...(this.conns.get(agentId) ?? [])]) {
      if (!(await this.service().stillValid(conn.agent))) {
        conn.raw.write(`event: revoked\ndata: {}\n\n`);
        conn.raw.end();
        this.drop(conn);
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
    this.conn = new Redis(redisUrl, { maxRetriesPerRequest: null, retryStrategy });
    this.conn.on('error', () => {});
    const opts = { connection: this.conn, prefix: `${prefix}:bull` };
    this.workers.push(
      new Worker(
        CONFIG_QUEUE,
        async (job) => {
          const { tenantId, revision } = job.data as { tenantId: string; revision: string };
          const moved = await service.compileAndNotify(tenantId, BigInt(revision));
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
    // One schedule for the whole deployment: every process upserts the same scheduler id. Again after
    // each reconnect: a Redis that restarted without its data has forgotten the schedule (and the
    // config-changed jobs; the sweep's catch-up compiles what they would have).
    const schedule = () =>
      void this.sweepQueue
        .upsertJobScheduler(
          'agent-sweep',
          { every: sweepMs },
          { name: 'sweep', opts: { removeOnComplete: 10, removeOnFail: 10 } },
        )
        .catch((err: unknown) => this.log.warn(`sweep schedule: ${String(err)}`));
    schedule();
    let connectedOnce = false;
    this.conn.on('ready', () => {
      if (connectedOnce) schedule();
      connectedOnce = true;
    });
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

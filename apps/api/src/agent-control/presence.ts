import type { Redis } from 'ioredis';

/** Seconds an agent counts as connected after its last stream ping, ACK or telemetry report. */
export const PRESENCE_TTL_S = 45;

/** Which agents are connected, shared by every API process through Redis keys with a TTL. */
export interface Presence {
  touch(agentId: string): Promise<void>;
  /** One pipelined round trip for many agents. */
  touchMany(agentIds: string[]): Promise<void>;
  clear(agentId: string): Promise<void>;
  connected(agentIds: string[]): Promise<Set<string>>;
  /** Whether the shared Redis connection is up now: callers skip best-effort work instead of waiting. */
  reachable(): boolean;
}

export class RedisPresence implements Presence {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(id: string): string {
    return `${this.prefix}:agent-presence:${id}`;
  }

  reachable(): boolean {
    return this.redis.status === 'ready';
  }

  async touch(agentId: string): Promise<void> {
    await this.redis.set(this.key(agentId), '1', 'EX', PRESENCE_TTL_S);
  }

  async touchMany(agentIds: string[]): Promise<void> {
    if (agentIds.length === 0) return;
    const p = this.redis.pipeline();
    for (const id of agentIds) p.set(this.key(id), '1', 'EX', PRESENCE_TTL_S);
    const replies = (await p.exec()) ?? [];
    const failed = replies.find(([err]) => err);
    if (failed?.[0]) throw failed[0];
  }

  async clear(agentId: string): Promise<void> {
    await this.redis.del(this.key(agentId));
  }

  async connected(agentIds: string[]): Promise<Set<string>> {
    if (agentIds.length === 0) return new Set();
    const vals = await this.redis.mget(agentIds.map((id) => this.key(id)));
    return new Set(agentIds.filter((_, i) => vals[i] !== null));
  }
}

export const PRESENCE = Symbol('PRESENCE');

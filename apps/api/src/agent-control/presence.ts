import type { Redis } from 'ioredis';

/** Seconds an agent counts as connected after its last stream ping, ACK or telemetry report. */
export const PRESENCE_TTL_S = 45;

/** Which agents are connected, shared by every API process through Redis keys with a TTL. */
export interface Presence {
  touch(agentId: string): Promise<void>;
  clear(agentId: string): Promise<void>;
  connected(agentIds: string[]): Promise<Set<string>>;
}

export class RedisPresence implements Presence {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(id: string): string {
    return `${this.prefix}:agent-presence:${id}`;
  }

  async touch(agentId: string): Promise<void> {
    await this.redis.set(this.key(agentId), '1', 'EX', PRESENCE_TTL_S);
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

import type { Agent, ApiKey, JoinToken, Prisma } from '../generated/prisma/client.js';
import type { Tx } from '../db/prisma.js';
import { type PageRequest, type PageResult, pageArgs, toPage } from './page.js';

export class ApiKeyRepository {
  constructor(private readonly db: Tx) {}

  async list(tenantId: string, page: PageRequest): Promise<PageResult<ApiKey>> {
    return toPage(await this.db.apiKey.findMany({ where: { tenantId }, ...pageArgs(page) }), page.limit);
  }

  find(tenantId: string, id: string): Promise<ApiKey | null> {
    return this.db.apiKey.findFirst({ where: { tenantId, id } });
  }

  create(tenantId: string, data: Omit<Prisma.ApiKeyUncheckedCreateInput, 'tenantId'>): Promise<ApiKey> {
    return this.db.apiKey.create({ data: { ...data, tenantId } });
  }

  revoke(tenantId: string, id: string, at: Date): Promise<ApiKey> {
    return this.db.apiKey.update({
      where: { id, tenantId },
      data: { revokedAt: at, version: { increment: 1 } },
    });
  }

  /** Lookup by secret hash: the key is what tells which tenant the caller belongs to. */
  findValidBySecretHash(secretHash: string, now: Date): Promise<ApiKey | null> {
    return this.db.apiKey.findFirst({
      where: { secretHash, revokedAt: null, OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] },
    });
  }

  /** At most one write a minute per key, so a busy key does not turn every read into a write. */
  async touch(tenantId: string, id: string, at: Date): Promise<void> {
    await this.db.apiKey.updateMany({
      where: {
        tenantId,
        id,
        OR: [{ lastUsedAt: null }, { lastUsedAt: { lt: new Date(at.getTime() - 60_000) } }],
      },
      data: { lastUsedAt: at },
    });
  }
}

export class JoinTokenRepository {
  constructor(private readonly db: Tx) {}

  async list(tenantId: string, page: PageRequest): Promise<PageResult<JoinToken>> {
    return toPage(await this.db.joinToken.findMany({ where: { tenantId }, ...pageArgs(page) }), page.limit);
  }

  find(tenantId: string, id: string): Promise<JoinToken | null> {
    return this.db.joinToken.findFirst({ where: { tenantId, id } });
  }

  create(tenantId: string, data: Omit<Prisma.JoinTokenUncheckedCreateInput, 'tenantId'>): Promise<JoinToken> {
    return this.db.joinToken.create({ data: { ...data, tenantId } });
  }

  revoke(tenantId: string, id: string, at: Date): Promise<JoinToken> {
    return this.db.joinToken.update({ where: { id, tenantId }, data: { revokedAt: at } });
  }
}

export class AgentRepository {
  constructor(private readonly db: Tx) {}

  async list(tenantId: string, page: PageRequest): Promise<PageResult<Agent>> {
    return toPage(await this.db.agent.findMany({ where: { tenantId }, ...pageArgs(page) }), page.limit);
  }

  find(tenantId: string, id: string): Promise<Agent | null> {
    return this.db.agent.findFirst({ where: { tenantId, id } });
  }
}

import type { ActorType, AuditLog, IdempotencyKey, Prisma } from '../generated/prisma/client.js';
import type { Tx } from '../db/prisma.js';

export interface AuditEntry {
  actorType: ActorType;
  actorId: string | null;
  action: string;
  resourceType: string;
  resourceId: string | null;
  before: unknown;
  after: unknown;
  revision: bigint;
}

const json = (v: unknown) =>
  v === null || v === undefined ? undefined : (JSON.parse(JSON.stringify(v)) as Prisma.InputJsonValue);

export class AuditRepository {
  constructor(private readonly db: Tx) {}

  async append(tenantId: string, e: AuditEntry): Promise<void> {
    await this.db.auditLog.create({
      data: { ...e, tenantId, before: json(e.before), after: json(e.after) },
    });
  }

  /** Newest first; `before` is the id of the last entry of the previous page. */
  async list(
    tenantId: string,
    limit: number,
    before?: bigint,
    filter: { resourceType?: string; action?: string; actorId?: string } = {},
  ): Promise<{ items: AuditLog[]; next: bigint | null }> {
    const rows = await this.db.auditLog.findMany({
      where: {
        tenantId,
        ...(before !== undefined ? { id: { lt: before } } : {}),
        ...(filter.resourceType !== undefined ? { resourceType: filter.resourceType } : {}),
        ...(filter.action !== undefined ? { action: filter.action } : {}),
        ...(filter.actorId !== undefined ? { actorId: filter.actorId } : {}),
      },
      orderBy: { id: 'desc' },
      take: limit + 1,
    });
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    return { items, next: rows.length > limit && last ? last.id : null };
  }
}

export class IdempotencyRepository {
  constructor(private readonly db: Tx) {}

  find(tenantId: string, key: string, now: Date): Promise<IdempotencyKey | null> {
    return this.db.idempotencyKey.findFirst({ where: { tenantId, key, expiresAt: { gt: now } } });
  }

  /** A live record with the same key makes this fail with P2002 (a concurrent request won the key). */
  async store(
    tenantId: string,
    rec: { key: string; requestHash: string; statusCode: number; responseBody: unknown; expiresAt: Date },
    now: Date,
  ): Promise<void> {
    // Expired records of this tenant go here, so the table needs no separate sweeper.
    await this.db.idempotencyKey.deleteMany({ where: { tenantId, expiresAt: { lte: now } } });
    await this.db.idempotencyKey.create({
      data: { ...rec, tenantId, responseBody: json(rec.responseBody) ?? {} },
    });
  }
}

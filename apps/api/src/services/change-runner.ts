import { Logger } from '@nestjs/common';
import { AppError, ErrorCode } from '../common/errors.js';
import type { Principal } from '../common/principal.js';
import { prismaCode } from '../db/prisma.js';
import type { Database, Repos } from '../repositories/index.js';
import type { ConfigChangedPublisher } from './publisher.js';

export interface Change<T> {
  value: T;
  action: string;
  resourceType: string;
  resourceId: string | null;
  before: unknown;
  after: unknown;
}

export interface IdempotencyRequest {
  key: string;
  /** Hash of method, route and body: the same key with another request is refused (422). */
  requestHash: string;
}

export interface Applied<T> {
  value: T;
  replayed: boolean;
}

export interface Clock {
  now(): Date;
}
export const systemClock: Clock = { now: () => new Date() };

const IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000;

/**
 * The one way a tenant's state changes: the write, the config-revision bump, the audit entry and the
 * idempotency record commit together, then the config-changed event is published.
 */
export class ChangeRunner {
  private readonly log = new Logger('ChangeRunner');

  constructor(
    private readonly db: Database,
    private readonly publisher: ConfigChangedPublisher,
    private readonly clock: Clock = systemClock,
  ) {}

  async apply<T>(
    actor: Principal,
    fn: (r: Repos) => Promise<Change<T>>,
    idem?: IdempotencyRequest,
    /** What an idempotent replay returns; lets secrets be left out of the stored copy. */
    stored: (value: T) => unknown = (v) => v,
  ): Promise<Applied<T>> {
    const tenantId = actor.tenantId;
    if (idem) {
      const hit = await this.replay<T>(tenantId, idem);
      if (hit) return hit;
    }
    let committed: { value: T; revision: bigint };
    try {
      committed = await this.db.transaction(async (r) => {
        const c = await fn(r);
        const revision = await r.tenants.bumpRevision(tenantId);
        await r.audit.append(tenantId, {
          actorType: actor.actorType,
          actorId: actor.actorId,
          action: c.action,
          resourceType: c.resourceType,
          resourceId: c.resourceId,
          before: c.before,
          after: c.after,
          revision,
        });
        if (idem) {
          const now = this.clock.now();
          await r.idempotency.store(
            tenantId,
            {
              key: idem.key,
              requestHash: idem.requestHash,
              statusCode: 201,
              responseBody: stored(c.value),
              expiresAt: new Date(now.getTime() + IDEMPOTENCY_TTL_MS),
            },
            now,
          );
        }
        return { value: c.value, revision };
      });
    } catch (err) {
      // Two requests with one key raced: the loser hit a unique index (the resource's or the key's own)
      // after the winner committed; it answers with the winner's response.
      if (idem && (prismaCode(err) === 'P2002' || (err instanceof AppError && err.status === 409))) {
        const hit = await this.replay<T>(tenantId, idem);
        if (hit) return hit;
      }
      throw err;
    }
    try {
      await this.publisher.publish({ tenantId, revision: committed.revision });
    } catch (err) {
      this.log.warn(`config-changed publish failed for ${tenantId}@${committed.revision}: ${String(err)}`);
    }
    return { value: committed.value, replayed: false };
  }

  private async replay<T>(tenantId: string, idem: IdempotencyRequest): Promise<Applied<T> | null> {
    const hit = await this.db.repos.idempotency.find(tenantId, idem.key, this.clock.now());
    if (!hit) return null;
    if (hit.requestHash !== idem.requestHash) {
      throw new AppError(
        ErrorCode.IdempotencyMismatch,
        'this Idempotency-Key was used with a different request',
      );
    }
    return { value: hit.responseBody as T, replayed: true };
  }
}

/** Translates the Prisma errors a write can raise into API errors. */
export async function mapWrite<T>(
  p: Promise<T>,
  on: { unique?: AppError; missing?: AppError; foreignKey?: AppError },
): Promise<T> {
  try {
    return await p;
  } catch (err) {
    const code = prismaCode(err);
    if (code === 'P2002' && on.unique) throw on.unique;
    if (code === 'P2025' && on.missing) throw on.missing;
    if (code === 'P2003' && on.foreignKey) throw on.foreignKey;
    throw err;
  }
}

export const stale = () =>
  new AppError(ErrorCode.PreconditionFailed, 'the resource changed; GET it again and retry');

/** If-Match, when given, must name the current version. */
export function checkVersion(expected: number | undefined, current: number): void {
  if (expected !== undefined && expected !== current) throw stale();
}

import type { Pool, Prisma } from '../generated/prisma/client.js';
import type { Tx } from '../db/prisma.js';
import { type PageRequest, type PageResult, pageArgs, toPage } from './page.js';

export type PoolData = Omit<Prisma.PoolUncheckedCreateInput, 'tenantId' | 'id' | 'version'>;

export class PoolRepository {
  constructor(private readonly db: Tx) {}

  async list(tenantId: string, page: PageRequest): Promise<PageResult<Pool>> {
    return toPage(await this.db.pool.findMany({ where: { tenantId }, ...pageArgs(page) }), page.limit);
  }

  find(tenantId: string, id: string): Promise<Pool | null> {
    return this.db.pool.findFirst({ where: { tenantId, id } });
  }

  create(tenantId: string, data: PoolData): Promise<Pool> {
    return this.db.pool.create({ data: { ...data, tenantId } });
  }

  /** Conditional on the version read before, so a concurrent writer makes this fail (P2025). */
  update(tenantId: string, id: string, version: number, data: Partial<PoolData>): Promise<Pool> {
    return this.db.pool.update({
      where: { id, tenantId, version },
      data: { ...data, version: { increment: 1 } },
    });
  }

  async delete(tenantId: string, id: string): Promise<void> {
    await this.db.pool.delete({ where: { id, tenantId } });
  }

  countVipsUsing(tenantId: string, poolId: string): Promise<number> {
    return this.db.vip.count({ where: { tenantId, poolId } });
  }
}

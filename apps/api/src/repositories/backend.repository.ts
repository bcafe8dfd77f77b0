import type { Backend, Prisma } from '../generated/prisma/client.js';
import type { Tx } from '../db/prisma.js';
import { type PageRequest, type PageResult, pageArgs, toPage } from './page.js';

/** The derived health (issue #4) travels with every backend read. */
const withHealth = { include: { healthState: { select: { health: true, checkedAt: true } } } } as const;
export type BackendRow = Backend & { healthState: { health: string; checkedAt: Date } | null };

export type BackendData = Omit<Prisma.BackendUncheckedCreateInput, 'tenantId' | 'id' | 'version' | 'poolId'>;

export class BackendRepository {
  constructor(private readonly db: Tx) {}

  async list(tenantId: string, poolId: string, page: PageRequest): Promise<PageResult<BackendRow>> {
    return toPage(
      await this.db.backend.findMany({ where: { tenantId, poolId }, ...pageArgs(page), ...withHealth }),
      page.limit,
    );
  }

  find(tenantId: string, poolId: string, id: string): Promise<BackendRow | null> {
    return this.db.backend.findFirst({ where: { tenantId, poolId, id }, ...withHealth });
  }

  create(tenantId: string, poolId: string, data: BackendData): Promise<BackendRow> {
    return this.db.backend.create({ data: { ...data, tenantId, poolId }, ...withHealth });
  }

  update(
    tenantId: string,
    poolId: string,
    id: string,
    version: number,
    data: Partial<BackendData>,
  ): Promise<BackendRow> {
    return this.db.backend.update({
      where: { id, tenantId, poolId, version },
      data: { ...data, version: { increment: 1 } },
      ...withHealth,
    });
  }

  async delete(tenantId: string, poolId: string, id: string): Promise<void> {
    await this.db.backend.delete({ where: { id, tenantId, poolId } });
  }
}

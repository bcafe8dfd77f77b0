import type { Backend, Prisma } from '../generated/prisma/client.js';
import type { Tx } from '../db/prisma.js';
import { type PageRequest, type PageResult, pageArgs, toPage } from './page.js';

export type BackendData = Omit<Prisma.BackendUncheckedCreateInput, 'tenantId' | 'id' | 'version' | 'poolId'>;

export class BackendRepository {
  constructor(private readonly db: Tx) {}

  async list(tenantId: string, poolId: string, page: PageRequest): Promise<PageResult<Backend>> {
    return toPage(
      await this.db.backend.findMany({ where: { tenantId, poolId }, ...pageArgs(page) }),
      page.limit,
    );
  }

  find(tenantId: string, poolId: string, id: string): Promise<Backend | null> {
    return this.db.backend.findFirst({ where: { tenantId, poolId, id } });
  }

  create(tenantId: string, poolId: string, data: BackendData): Promise<Backend> {
    return this.db.backend.create({ data: { ...data, tenantId, poolId } });
  }

  update(
    tenantId: string,
    poolId: string,
    id: string,
    version: number,
    data: Partial<BackendData>,
  ): Promise<Backend> {
    return this.db.backend.update({
      where: { id, tenantId, poolId, version },
      data: { ...data, version: { increment: 1 } },
    });
  }

  async delete(tenantId: string, poolId: string, id: string): Promise<void> {
    await this.db.backend.delete({ where: { id, tenantId, poolId } });
  }
}

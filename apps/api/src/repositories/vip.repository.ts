import type { Prisma, Vip, VipProtocol } from '../generated/prisma/client.js';
import type { Tx } from '../db/prisma.js';
import { type PageRequest, type PageResult, pageArgs, toPage } from './page.js';

export type VipData = Omit<
  Prisma.VipUncheckedCreateInput,
  'tenantId' | 'id' | 'version' | 'bypassSourceCidrs'
> & {
  bypassSourceCidrs: string[];
};

export class VipRepository {
  constructor(private readonly db: Tx) {}

  async list(tenantId: string, page: PageRequest): Promise<PageResult<Vip>> {
    return toPage(await this.db.vip.findMany({ where: { tenantId }, ...pageArgs(page) }), page.limit);
  }

  find(tenantId: string, id: string): Promise<Vip | null> {
    return this.db.vip.findFirst({ where: { tenantId, id } });
  }

  findByListener(
    tenantId: string,
    address: string,
    protocol: VipProtocol,
    port: number,
  ): Promise<Vip | null> {
    return this.db.vip.findFirst({ where: { tenantId, address, protocol, port } });
  }

  create(tenantId: string, data: VipData): Promise<Vip> {
    return this.db.vip.create({ data: { ...data, tenantId } });
  }

  update(tenantId: string, id: string, version: number, data: Partial<VipData>): Promise<Vip> {
    return this.db.vip.update({
      where: { id, tenantId, version },
      data: { ...data, version: { increment: 1 } },
    });
  }

  async delete(tenantId: string, id: string): Promise<void> {
    await this.db.vip.delete({ where: { id, tenantId } });
  }
}

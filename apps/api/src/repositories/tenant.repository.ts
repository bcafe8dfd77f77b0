import type { Tenant } from '../generated/prisma/client.js';
import type { Tx } from '../db/prisma.js';

export class TenantRepository {
  constructor(private readonly db: Tx) {}

  find(tenantId: string): Promise<Tenant | null> {
    return this.db.tenant.findUnique({ where: { id: tenantId } });
  }

  /** Creating a tenant is the one write without a tenant id to scope it by. */
  create(name: string): Promise<Tenant> {
    return this.db.tenant.create({ data: { name } });
  }

  /** Row-locks the tenant until the transaction ends, so revisions are strictly sequential. */
  async bumpRevision(tenantId: string): Promise<bigint> {
    const t = await this.db.tenant.update({
      where: { id: tenantId },
      data: { configRevision: { increment: 1 } },
      select: { configRevision: true },
    });
    return t.configRevision;
  }
}

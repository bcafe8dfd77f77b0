// Seeds the demo tenant that `npm run up` prints a login for. Idempotent: a second run finds the
// tenant and reports the same login. The objects match the namespace lab (infra/lab).
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hash } from '@node-rs/argon2';
import { createPrisma } from './prisma.js';

export const DEMO_EMAIL = 'demo@slipstream.local';
/** A fixed, documented password: the demo runs on a developer's machine only. */
export const DEMO_PASSWORD = 'slipstream-demo';
export const DEMO_TENANT = 'Demo';

export interface SeedResult {
  email: string;
  password: string;
  tenantId: string;
  created: boolean;
}

export async function seedDemo(databaseUrl: string, password = DEMO_PASSWORD): Promise<SeedResult> {
  const prisma = createPrisma(databaseUrl);
  try {
    const existing = await prisma.membership.findFirst({
      where: { role: 'owner', user: { email: DEMO_EMAIL }, tenant: { name: DEMO_TENANT } },
    });
    if (existing) return { email: DEMO_EMAIL, password, tenantId: existing.tenantId, created: false };
    const passwordHash = await hash(password);
    const tenantId = await prisma.$transaction(async (tx) => {
      const user = await tx.user.upsert({
        where: { email: DEMO_EMAIL },
        create: { email: DEMO_EMAIL, passwordHash },
        update: { passwordHash },
      });
      const tenant = await tx.tenant.create({ data: { name: DEMO_TENANT } });
      await tx.membership.create({ data: { tenantId: tenant.id, userId: user.id, role: 'owner' } });
      const pool = await tx.pool.create({
        data: { tenantId: tenant.id, name: 'web', probeProtocol: 'http', probePath: '/' },
      });
      await tx.backend.createMany({
        data: ['198.18.0.31', '198.18.0.32', '198.18.0.33'].map((address) => ({
          tenantId: tenant.id,
          poolId: pool.id,
          address,
          port: 80,
        })),
      });
      await tx.vip.create({
        data: {
          tenantId: tenant.id,
          name: 'web',
          address: '198.19.0.10',
          protocol: 'tcp',
          port: 80,
          poolId: pool.id,
          bypassEnabled: true,
          bypassSourceCidrs: ['198.18.0.0/24'],
        },
      });
      const t = await tx.tenant.update({
        where: { id: tenant.id },
        data: { configRevision: { increment: 1 } },
      });
      await tx.auditLog.create({
        data: {
          tenantId: tenant.id,
          actorType: 'system',
          actorId: 'seed',
          action: 'tenant.seed',
          resourceType: 'tenant',
          resourceId: tenant.id,
          after: { pools: ['web'], vips: ['web'] },
          revision: t.configRevision,
        },
      });
      return tenant.id;
    });
    return { email: DEMO_EMAIL, password, tenantId, created: true };
  } finally {
    await prisma.$disconnect();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const url = process.env.DATABASE_URL;
  if (!url) {
    console.error('DATABASE_URL is required');
    process.exit(2);
  }
  seedDemo(url)
    .then((r) => console.log(JSON.stringify(r)))
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}

import type { Membership, Role, Session, Tenant, User } from '../generated/prisma/client.js';
import type { Tx } from '../db/prisma.js';
import { type PageRequest, type PageResult, pageArgs, toPage } from './page.js';

export type MemberRow = Membership & { user: Pick<User, 'email'> };

/** Users are global (one login, several tenants); everything else here is tenant-scoped. */
export class UserRepository {
  constructor(private readonly db: Tx) {}

  findByEmail(email: string): Promise<User | null> {
    return this.db.user.findUnique({ where: { email } });
  }

  create(email: string, passwordHash: string): Promise<User> {
    return this.db.user.create({ data: { email, passwordHash } });
  }

  /** The user's memberships, oldest first: login picks the first unless a tenant is named. */
  memberships(userId: string): Promise<(Membership & { tenant: Tenant })[]> {
    return this.db.membership.findMany({
      where: { userId },
      include: { tenant: true },
      orderBy: { createdAt: 'asc' },
    });
  }
}

export class MemberRepository {
  constructor(private readonly db: Tx) {}

  async list(tenantId: string, page: PageRequest): Promise<PageResult<MemberRow>> {
    return toPage(
      await this.db.membership.findMany({
        where: { tenantId },
        include: { user: { select: { email: true } } },
        ...pageArgs(page),
      }),
      page.limit,
    );
  }

  find(tenantId: string, id: string): Promise<MemberRow | null> {
    return this.db.membership.findFirst({
      where: { tenantId, id },
      include: { user: { select: { email: true } } },
    });
  }

  /** Not tenant-scoped on purpose: lists the caller's own memberships across tenants (by their user id). */
  tenantsOfUser(userId: string): Promise<(Membership & { tenant: { id: string; name: string } })[]> {
    return this.db.membership.findMany({
      where: { userId },
      include: { tenant: { select: { id: true, name: true } } },
      orderBy: { createdAt: 'asc' },
    });
  }

  findByUser(tenantId: string, userId: string): Promise<Membership | null> {
    return this.db.membership.findFirst({ where: { tenantId, userId } });
  }

  create(tenantId: string, userId: string, role: Role): Promise<MemberRow> {
    return this.db.membership.create({
      data: { tenantId, userId, role },
      include: { user: { select: { email: true } } },
    });
  }

  update(tenantId: string, id: string, version: number, role: Role): Promise<MemberRow> {
    return this.db.membership.update({
      where: { id, tenantId, version },
      data: { role, version: { increment: 1 } },
      include: { user: { select: { email: true } } },
    });
  }

  async delete(tenantId: string, id: string): Promise<void> {
    await this.db.membership.delete({ where: { id, tenantId } });
  }

  countOwners(tenantId: string): Promise<number> {
    return this.db.membership.count({ where: { tenantId, role: 'owner' } });
  }
}

export class SessionRepository {
  constructor(private readonly db: Tx) {}

  create(tenantId: string, userId: string, tokenHash: string, expiresAt: Date): Promise<Session> {
    return this.db.session.create({ data: { tenantId, userId, tokenHash, expiresAt } });
  }

  /** Lookup by token hash: the tenant is what the token resolves to, so there is none to pass in. */
  findValid(tokenHash: string, now: Date) {
    return this.db.session.findFirst({
      where: { tokenHash, expiresAt: { gt: now } },
      include: { user: { select: { email: true } } },
    });
  }

  async delete(tenantId: string, tokenHash: string): Promise<void> {
    await this.db.session.deleteMany({ where: { tenantId, tokenHash } });
  }

  /** Called at login, so expired sessions do not pile up without a sweeper. */
  async deleteExpired(tenantId: string, userId: string, now: Date): Promise<void> {
    await this.db.session.deleteMany({ where: { tenantId, userId, expiresAt: { lte: now } } });
  }

  async deleteForUser(tenantId: string, userId: string): Promise<void> {
    await this.db.session.deleteMany({ where: { tenantId, userId } });
  }
}

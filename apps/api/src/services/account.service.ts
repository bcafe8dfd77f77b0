import { hash as argonHash, verify as argonVerify } from '@node-rs/argon2';
import { AppError, ErrorCode } from '../common/errors.js';
import { decodeCursor, encodeCursor, isDigits } from '../common/cursor.js';
import { type Principal, roleAtLeast } from '../common/principal.js';
import { hashSecret, newSecret, tokenKind } from '../common/tokens.js';
import type { PageQuery, RoleName } from '../dto/common.js';
import {
  type AgentDto,
  type ApiKeyCreate,
  type ApiKeyCreated,
  type ApiKeyDto,
  type AuditEntryDto,
  type JoinTokenCreate,
  type JoinTokenCreated,
  type JoinTokenDto,
  type LoginRequest,
  type MeDto,
  type MemberCreate,
  type MemberDto,
  type SessionDto,
  type SignupRequest,
  mapAgent,
  mapApiKey,
  mapAudit,
  mapJoinToken,
  mapMember,
} from '../dto/account.dto.js';
import type { Presence } from '../agent-control/presence.js';
import type { AuditQuery, TenantListDto } from '../dto/account.dto.js';
import type { Database } from '../repositories/index.js';
import {
  type Applied,
  type ChangeRunner,
  type Clock,
  type IdempotencyRequest,
  checkVersion,
  mapWrite,
  stale,
  systemClock,
} from './change-runner.js';
import { type Page, pageRequest } from './resource.service.js';

/** Password hashing behind an interface so unit tests need not pay for argon2. */
export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(hash: string, password: string): Promise<boolean>;
}

export const argon2Hasher: PasswordHasher = {
  hash: (p) => argonHash(p),
  verify: (h, p) => argonVerify(h, p).catch(() => false),
};

const badLogin = () => new AppError(ErrorCode.Unauthenticated, 'email or password is wrong');

export class AuthService {
  /** Verified against when the email is unknown, so both failures take the same time. */
  private dummyHash: Promise<string> | undefined;

  constructor(
    private readonly db: Database,
    private readonly changes: ChangeRunner,
    private readonly passwords: PasswordHasher,
    private readonly sessionTtlHours: number,
    private readonly clock: Clock = systemClock,
  ) {}

  async signup(input: SignupRequest): Promise<SessionDto> {
    const passwordHash = await this.passwords.hash(input.password);
    const { tenant, user } = await this.db.transaction(async (r) => {
      const user = await mapWrite(r.users.create(input.email, passwordHash), {
        unique: new AppError(ErrorCode.Conflict, 'an account with this email exists; log in instead'),
      });
      const tenant = await r.tenants.create(input.tenantName);
      await r.members.create(tenant.id, user.id, 'owner');
      const revision = await r.tenants.bumpRevision(tenant.id);
      await r.audit.append(tenant.id, {
        actorType: 'user',
        actorId: user.id,
        action: 'tenant.create',
        resourceType: 'tenant',
        resourceId: tenant.id,
        before: null,
        after: { name: tenant.name, owner: user.email },
        revision,
      });
      return { tenant, user };
    });
    return this.openSession(tenant.id, user.id, 'owner');
  }

  async login(input: LoginRequest): Promise<SessionDto> {
    const user = await this.db.repos.users.findByEmail(input.email);
    if (!user) {
      this.dummyHash ??= this.passwords.hash('not-a-real-password');
      await this.passwords.verify(await this.dummyHash, input.password);
      throw badLogin();
    }
    if (!(await this.passwords.verify(user.passwordHash, input.password))) throw badLogin();
    const memberships = await this.db.repos.users.memberships(user.id);
    const m = input.tenantId ? memberships.find((x) => x.tenantId === input.tenantId) : memberships[0];
    if (!m) throw new AppError(ErrorCode.Forbidden, 'not a member of that tenant');
    return this.openSession(m.tenantId, user.id, m.role);
  }

  private async openSession(tenantId: string, userId: string, role: RoleName): Promise<SessionDto> {
    const { secret, hash } = newSecret('s');
    const now = this.clock.now();
    const expiresAt = new Date(now.getTime() + this.sessionTtlHours * 3600_000);
    await this.db.repos.sessions.deleteExpired(tenantId, userId, now);
    await this.db.repos.sessions.create(tenantId, userId, hash, expiresAt);
    return { token: secret, tenantId, userId, role, expiresAt: expiresAt.toISOString() };
  }

  async logout(p: Principal): Promise<void> {
    if (p.sessionTokenHash) await this.db.repos.sessions.delete(p.tenantId, p.sessionTokenHash);
  }

  /** Resolves a bearer secret (session or API key) to a principal; null when unknown, expired or revoked. */
  async authenticate(secret: string): Promise<Principal | null> {
    const kind = tokenKind(secret);
    const now = this.clock.now();
    const hash = hashSecret(secret);
    if (kind === 's') {
      const s = await this.db.repos.sessions.findValid(hash, now);
      if (!s) return null;
      // The role is read live so a demotion or removal takes effect on the next request.
      const m = await this.db.repos.members.findByUser(s.tenantId, s.userId);
      if (!m) return null;
      return {
        tenantId: s.tenantId,
        role: m.role,
        actorType: 'user',
        actorId: s.userId,
        email: s.user.email,
        sessionTokenHash: hash,
      };
    }
    if (kind === 'k') {
      const k = await this.db.repos.apiKeys.findValidBySecretHash(hash, now);
      if (!k) return null;
      await this.db.repos.apiKeys.touch(k.tenantId, k.id, now);
      return { tenantId: k.tenantId, role: k.role, actorType: 'apiKey', actorId: k.id, email: null };
    }
    return null;
  }

  /** Tenants the caller can log in to: every membership of a session's user; an API key's own tenant. */
  async tenants(p: Principal): Promise<TenantListDto> {
    if (p.actorType === 'user') {
      const ms = await this.db.repos.members.tenantsOfUser(p.actorId);
      return {
        items: ms.map((m) => ({
          tenantId: m.tenant.id,
          tenantName: m.tenant.name,
          role: m.role,
          current: m.tenant.id === p.tenantId,
        })),
      };
    }
    const t = await this.db.repos.tenants.find(p.tenantId);
    if (!t) throw AppError.notFound('tenant');
    return { items: [{ tenantId: t.id, tenantName: t.name, role: p.role, current: true }] };
  }

  async me(p: Principal): Promise<MeDto> {
    const t = await this.db.repos.tenants.find(p.tenantId);
    if (!t) throw AppError.notFound('tenant');
    return {
      tenantId: t.id,
      tenantName: t.name,
      configRevision: Number(t.configRevision),
      role: p.role,
      // System principals (enrollment, sweeps) never call /v1/me; only bearer tokens reach it.
      actor: { type: p.actorType === 'apiKey' ? 'apiKey' : 'user', id: p.actorId, email: p.email },
    };
  }
}

const forbidden = (detail: string) => new AppError(ErrorCode.Forbidden, detail);

export class MemberService {
  constructor(
    private readonly db: Database,
    private readonly changes: ChangeRunner,
  ) {}

  async list(p: Principal, q: PageQuery): Promise<Page<MemberDto>> {
    const page = await this.db.repos.members.list(p.tenantId, pageRequest(q));
    return { items: page.items.map(mapMember), nextCursor: encodeCursor(page.nextAfter) };
  }

  async get(p: Principal, id: string): Promise<MemberDto> {
    const m = await this.db.repos.members.find(p.tenantId, id);
    if (!m) throw AppError.notFound('member');
    return mapMember(m);
  }

  /** Only owners hand out or take away the owner role. */
  private checkGrant(p: Principal, role: RoleName) {
    if (role === 'owner' && p.role !== 'owner') throw forbidden('only an owner can grant the owner role');
  }

  async create(p: Principal, input: MemberCreate, idem?: IdempotencyRequest): Promise<Applied<MemberDto>> {
    this.checkGrant(p, input.role);
    return this.changes.apply(
      p,
      async (r) => {
        // The user signs up first; membership then adds them to this tenant.
        const user = await r.users.findByEmail(input.email);
        if (!user)
          throw new AppError(ErrorCode.NotFound, 'no account with this email; ask them to sign up first');
        const m = await mapWrite(r.members.create(p.tenantId, user.id, input.role), {
          unique: new AppError(ErrorCode.Conflict, 'already a member'),
        });
        const value = mapMember(m);
        return {
          value,
          action: 'member.create',
          resourceType: 'member',
          resourceId: m.id,
          before: null,
          after: value,
        };
      },
      idem,
    );
  }

  async update(p: Principal, id: string, role: RoleName, ifMatch?: number): Promise<MemberDto> {
    const { value } = await this.changes.apply(p, async (r) => {
      const cur = await r.members.find(p.tenantId, id);
      if (!cur) throw AppError.notFound('member');
      checkVersion(ifMatch, cur.version);
      this.checkGrant(p, role);
      if (cur.role === 'owner' && p.role !== 'owner') throw forbidden('only an owner can change an owner');
      if (cur.role === 'owner' && role !== 'owner' && (await r.members.countOwners(p.tenantId)) <= 1) {
        throw new AppError(ErrorCode.Conflict, 'a tenant keeps at least one owner');
      }
      const m = await mapWrite(r.members.update(p.tenantId, id, cur.version, role), { missing: stale() });
      const value = mapMember(m);
      return {
        value,
        action: 'member.update',
        resourceType: 'member',
        resourceId: id,
        before: mapMember(cur),
        after: value,
      };
    });
    return value;
  }

  async delete(p: Principal, id: string, ifMatch?: number): Promise<void> {
    await this.changes.apply(p, async (r) => {
      const cur = await r.members.find(p.tenantId, id);
      if (!cur) throw AppError.notFound('member');
      checkVersion(ifMatch, cur.version);
      if (cur.role === 'owner' && p.role !== 'owner') throw forbidden('only an owner can remove an owner');
      if (cur.role === 'owner' && (await r.members.countOwners(p.tenantId)) <= 1) {
        throw new AppError(ErrorCode.Conflict, 'a tenant keeps at least one owner');
      }
      await r.members.delete(p.tenantId, id);
      await r.sessions.deleteForUser(p.tenantId, cur.userId);
      return {
        value: null,
        action: 'member.delete',
        resourceType: 'member',
        resourceId: id,
        before: mapMember(cur),
        after: null,
      };
    });
  }
}

export class ApiKeyService {
  constructor(
    private readonly db: Database,
    private readonly changes: ChangeRunner,
    private readonly clock: Clock = systemClock,
  ) {}

  async list(p: Principal, q: PageQuery): Promise<Page<ApiKeyDto>> {
    const page = await this.db.repos.apiKeys.list(p.tenantId, pageRequest(q));
    return { items: page.items.map(mapApiKey), nextCursor: encodeCursor(page.nextAfter) };
  }

  async get(p: Principal, id: string): Promise<ApiKeyDto> {
    const k = await this.db.repos.apiKeys.find(p.tenantId, id);
    if (!k) throw AppError.notFound('API key');
    return mapApiKey(k);
  }

  async create(
    p: Principal,
    input: ApiKeyCreate,
    idem?: IdempotencyRequest,
  ): Promise<Applied<ApiKeyCreated>> {
    if (!roleAtLeast(p.role, input.role)) throw forbidden('a key cannot have a higher role than its creator');
    return this.changes.apply(
      p,
      async (r) => {
        const { secret, hash, prefix } = newSecret('k');
        const k = await r.apiKeys.create(p.tenantId, {
          name: input.name,
          role: input.role,
          prefix,
          secretHash: hash,
          expiresAt: input.expiresAt ? new Date(input.expiresAt) : null,
          createdById: p.actorType === 'user' ? p.actorId : null,
        });
        const dto = mapApiKey(k);
        return {
          value: { ...dto, secret },
          action: 'apiKey.create',
          resourceType: 'apiKey',
          resourceId: k.id,
          before: null,
          after: dto,
        };
      },
      idem,
      (v) => ({ ...v, secret: null }),
    );
  }

  async revoke(p: Principal, id: string): Promise<void> {
    await this.changes.apply(p, async (r) => {
      const cur = await r.apiKeys.find(p.tenantId, id);
      if (!cur) throw AppError.notFound('API key');
      if (!roleAtLeast(p.role, cur.role))
        throw forbidden('cannot revoke a key with a higher role than yours');
      const k = cur.revokedAt ? cur : await r.apiKeys.revoke(p.tenantId, id, this.clock.now());
      return {
        value: null,
        action: 'apiKey.revoke',
        resourceType: 'apiKey',
        resourceId: id,
        before: mapApiKey(cur),
        after: mapApiKey(k),
      };
    });
  }
}

const MIN_JOIN_TOKEN_S = 60;
const MAX_JOIN_TOKEN_S = 30 * 86_400;

function joinTokenExpiry(input: JoinTokenCreate, now: Date): Date {
  if (input.expiresAt === undefined) return new Date(now.getTime() + (input.expiresInS ?? 3600) * 1000);
  const at = new Date(input.expiresAt);
  const inS = (at.getTime() - now.getTime()) / 1000;
  if (inS < MIN_JOIN_TOKEN_S || inS > MAX_JOIN_TOKEN_S) {
    throw new AppError(ErrorCode.Validation, 'invalid request body', [
      { path: 'expiresAt', message: 'must be between 1 minute and 30 days from now' },
    ]);
  }
  return at;
}

export class AgentService {
  constructor(
    private readonly db: Database,
    private readonly changes: ChangeRunner,
    private readonly clock: Clock = systemClock,
    private readonly presence?: Presence,
  ) {}

  private async online(ids: string[]): Promise<Set<string>> {
    // Presence lives in Redis; when it is down the list still answers, with nobody shown connected.
    return this.presence ? this.presence.connected(ids).catch(() => new Set<string>()) : new Set<string>();
  }

  async list(p: Principal, q: PageQuery): Promise<Page<AgentDto>> {
    const page = await this.db.repos.agents.list(p.tenantId, pageRequest(q));
    const on = await this.online(page.items.map((a) => a.id));
    return {
      items: page.items.map((a) => mapAgent(a, on.has(a.id))),
      nextCursor: encodeCursor(page.nextAfter),
    };
  }

  async get(p: Principal, id: string): Promise<AgentDto> {
    const a = await this.db.repos.agents.find(p.tenantId, id);
    if (!a) throw AppError.notFound('agent');
    return mapAgent(a, (await this.online([a.id])).has(a.id));
  }

  async listJoinTokens(p: Principal, q: PageQuery): Promise<Page<JoinTokenDto>> {
    const page = await this.db.repos.joinTokens.list(p.tenantId, pageRequest(q));
    return { items: page.items.map(mapJoinToken), nextCursor: encodeCursor(page.nextAfter) };
  }

  async getJoinToken(p: Principal, id: string): Promise<JoinTokenDto> {
    const t = await this.db.repos.joinTokens.find(p.tenantId, id);
    if (!t) throw AppError.notFound('join token');
    return mapJoinToken(t);
  }

  async createJoinToken(
    p: Principal,
    input: JoinTokenCreate,
    idem?: IdempotencyRequest,
  ): Promise<Applied<JoinTokenCreated>> {
    return this.changes.apply(
      p,
      async (r) => {
        const { secret, hash, prefix } = newSecret('j');
        const t = await r.joinTokens.create(p.tenantId, {
          name: input.name,
          role: input.role,
          prefix,
          secretHash: hash,
          maxUses: input.maxUses,
          expiresAt: joinTokenExpiry(input, this.clock.now()),
          createdById: p.actorType === 'user' ? p.actorId : null,
        });
        const dto = mapJoinToken(t);
        return {
          value: { ...dto, secret },
          action: 'joinToken.create',
          resourceType: 'joinToken',
          resourceId: t.id,
          before: null,
          after: dto,
        };
      },
      idem,
      (v) => ({ ...v, secret: null }),
    );
  }

  async revokeJoinToken(p: Principal, id: string): Promise<void> {
    await this.changes.apply(p, async (r) => {
      const cur = await r.joinTokens.find(p.tenantId, id);
      if (!cur) throw AppError.notFound('join token');
      const t = cur.revokedAt ? cur : await r.joinTokens.revoke(p.tenantId, id, this.clock.now());
      return {
        value: null,
        action: 'joinToken.revoke',
        resourceType: 'joinToken',
        resourceId: id,
        before: mapJoinToken(cur),
        after: mapJoinToken(t),
      };
    });
  }
}

export class AuditService {
  constructor(private readonly db: Database) {}

  async list(p: Principal, q: AuditQuery): Promise<Page<AuditEntryDto>> {
    const before = decodeCursor(q.cursor, isDigits);
    const page = await this.db.repos.audit.list(
      p.tenantId,
      q.limit,
      before === undefined ? undefined : BigInt(before),
      { resourceType: q.resourceType, action: q.action, actorId: q.actorId },
    );
    return {
      items: page.items.map(mapAudit),
      nextCursor: encodeCursor(page.next === null ? null : page.next.toString()),
    };
  }
}

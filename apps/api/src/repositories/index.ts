import type { PrismaClient, Tx } from '../db/prisma.js';
import { AgentControlRepository } from './agent-control.repository.js';
import { AuditRepository, IdempotencyRepository } from './audit.repository.js';
import { BackendRepository } from './backend.repository.js';
import { AgentRepository, ApiKeyRepository, JoinTokenRepository } from './credential.repository.js';
import { PoolRepository } from './pool.repository.js';
import { TelemetryRepository } from './telemetry.repository.js';
import { TenantRepository } from './tenant.repository.js';
import { MemberRepository, SessionRepository, UserRepository } from './user.repository.js';
import { VipRepository } from './vip.repository.js';

/** Every repository, bound to one client or one transaction. */
export class Repos {
  readonly tenants: TenantRepository;
  readonly users: UserRepository;
  readonly members: MemberRepository;
  readonly sessions: SessionRepository;
  readonly apiKeys: ApiKeyRepository;
  readonly joinTokens: JoinTokenRepository;
  readonly agents: AgentRepository;
  readonly pools: PoolRepository;
  readonly backends: BackendRepository;
  readonly vips: VipRepository;
  readonly audit: AuditRepository;
  readonly idempotency: IdempotencyRepository;
  readonly telemetry: TelemetryRepository;
  readonly agentControl: AgentControlRepository;

  constructor(db: Tx) {
    this.tenants = new TenantRepository(db);
    this.users = new UserRepository(db);
    this.members = new MemberRepository(db);
    this.sessions = new SessionRepository(db);
    this.apiKeys = new ApiKeyRepository(db);
    this.joinTokens = new JoinTokenRepository(db);
    this.agents = new AgentRepository(db);
    this.pools = new PoolRepository(db);
    this.backends = new BackendRepository(db);
    this.vips = new VipRepository(db);
    this.audit = new AuditRepository(db);
    this.idempotency = new IdempotencyRepository(db);
    this.telemetry = new TelemetryRepository(db);
    this.agentControl = new AgentControlRepository(db);
  }
}

/** What services depend on: repositories outside a transaction, and a way to run several in one. */
export interface Database {
  readonly repos: Repos;
  transaction<T>(fn: (repos: Repos) => Promise<T>): Promise<T>;
}

export class PrismaDatabase implements Database {
  readonly repos: Repos;

  constructor(readonly client: PrismaClient) {
    this.repos = new Repos(client);
  }

  transaction<T>(fn: (repos: Repos) => Promise<T>): Promise<T> {
    return this.client.$transaction((tx) => fn(new Repos(tx)));
  }

  async ping(): Promise<void> {
    await this.client.$queryRaw`SELECT 1`;
  }
}

export const DATABASE = Symbol('DATABASE');

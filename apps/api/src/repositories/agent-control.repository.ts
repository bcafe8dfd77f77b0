// Queries of the agent-control side (issue #4): enrollment, agent credentials, compiled states, redirect keys.
import type { Agent, AgentConfig, BypassKey, JoinToken, Prisma } from '../generated/prisma/client.js';
import type { Tx } from '../db/prisma.js';

export type VipWithBackends = Prisma.VipGetPayload<{
  include: { pool: { include: { backends: { include: { healthState: true } } } } };
}>;

export class AgentControlRepository {
  constructor(private readonly db: Tx) {}

  /** Unauthenticated lookup: the join token's secret is the only thing the caller has. */
  findJoinTokenByHash(secretHash: string): Promise<JoinToken | null> {
    return this.db.joinToken.findUnique({ where: { secretHash } });
  }

  /**
   * Takes one use of a valid token in a single statement: the row lock makes concurrent enrolls on the
   * last use race safely (exactly one gets the row back).
   */
  async consumeJoinToken(tenantId: string, id: string, now: Date): Promise<JoinToken | null> {
    const rows = await this.db.$queryRaw<JoinToken[]>`
      UPDATE "JoinToken" SET uses = uses + 1
      WHERE id = ${id}::uuid AND "tenantId" = ${tenantId}::uuid AND "revokedAt" IS NULL
        AND "expiresAt" > ${now} AND uses < "maxUses"
      RETURNING *`;
    return rows[0] ?? null;
  }

  /** Unauthenticated lookup by credential hash: the credential names its agent and tenant. */
  findAgentByCredentialHash(credentialHash: string): Promise<Agent | null> {
    return this.db.agent.findUnique({ where: { credentialHash } });
  }

  findAgentByName(tenantId: string, name: string): Promise<Agent | null> {
    return this.db.agent.findUnique({ where: { tenantId_name: { tenantId, name } } });
  }

  upsertEnrolled(
    tenantId: string,
    d: {
      name: string;
      role: 'host' | 'mux';
      underlay: string;
      version: string;
      hostname: string;
      credentialHash: string;
      joinTokenId: string;
    },
  ): Promise<Agent> {
    const data = {
      role: d.role,
      underlayAddress: d.underlay,
      agentVersion: d.version,
      hostname: d.hostname,
      credentialHash: d.credentialHash,
      joinTokenId: d.joinTokenId,
      revokedAt: null,
      status: 'pending' as const,
      lastError: null,
    };
    return this.db.agent.upsert({
      where: { tenantId_name: { tenantId, name: d.name } },
      create: { tenantId, name: d.name, ...data },
      update: data,
    });
  }

  revokeAgent(tenantId: string, id: string, at: Date): Promise<Agent> {
    return this.db.agent.update({
      where: { id, tenantId },
      data: { revokedAt: at, credentialHash: null, status: 'offline' },
    });
  }

  deleteAgent(tenantId: string, id: string): Promise<Agent> {
    return this.db.agent.delete({ where: { id, tenantId } });
  }

  agentsOf(tenantId: string): Promise<Agent[]> {
    return this.db.agent.findMany({ where: { tenantId }, orderBy: { id: 'asc' } });
  }

  vipsOf(tenantId: string): Promise<VipWithBackends[]> {
    return this.db.vip.findMany({
      where: { tenantId },
      include: {
        pool: { include: { backends: { orderBy: { id: 'asc' }, include: { healthState: true } } } },
      },
    });
  }

  async tenantRevision(tenantId: string): Promise<bigint | null> {
    const t = await this.db.tenant.findUnique({ where: { id: tenantId }, select: { configRevision: true } });
    return t?.configRevision ?? null;
  }

  /** Never moves an agent's stored state backwards: jobs for older revisions may finish late. */
  async storeConfig(tenantId: string, agentId: string, revision: bigint, state: unknown): Promise<boolean> {
    const json = JSON.stringify(state);
    const n = await this.db.$executeRaw`
      INSERT INTO "AgentConfig" ("agentId", "tenantId", revision, state, "updatedAt")
      SELECT ${agentId}::uuid, ${tenantId}::uuid, ${revision}, ${json}::jsonb, now()
      WHERE EXISTS (SELECT 1 FROM "Agent" WHERE id = ${agentId}::uuid AND "tenantId" = ${tenantId}::uuid)
      ON CONFLICT ("agentId") DO UPDATE SET revision = EXCLUDED.revision, state = EXCLUDED.state,
        "updatedAt" = now()
      WHERE "AgentConfig".revision < EXCLUDED.revision`;
    if (n > 0) {
      await this.db.agent.updateMany({
        where: { id: agentId, tenantId },
        data: { desiredRevision: revision },
      });
    }
    return n > 0;
  }

  findConfig(tenantId: string, agentId: string): Promise<AgentConfig | null> {
    return this.db.agentConfig.findFirst({ where: { tenantId, agentId } });
  }

  async recordAck(
    tenantId: string,
    agentId: string,
    a: { revision: bigint; applied: boolean; error: string | null; at: Date },
  ): Promise<void> {
    if (a.applied) {
      // An ACK for an older revision (late, reordered) must not lower what the agent already applied.
      await this.db.$executeRaw`
        UPDATE "Agent" SET "appliedRevision" = GREATEST(coalesce("appliedRevision", -1), ${a.revision}),
          "lastError" = NULL, "lastSeenAt" = ${a.at}, status = 'online', "updatedAt" = now()
        WHERE id = ${agentId}::uuid AND "tenantId" = ${tenantId}::uuid`;
    } else {
      await this.db.agent.updateMany({
        where: { id: agentId, tenantId },
        data: { lastError: a.error ?? 'rejected without a message', lastSeenAt: a.at, status: 'online' },
      });
    }
  }

  async touchAgent(tenantId: string, agentId: string, at: Date, appliedRevision?: bigint): Promise<void> {
    if (appliedRevision === undefined) {
      await this.db.agent.updateMany({
        where: { id: agentId, tenantId },
        data: { lastSeenAt: at, status: 'online' },
      });
      return;
    }
    await this.db.$executeRaw`
      UPDATE "Agent" SET "appliedRevision" = GREATEST(coalesce("appliedRevision", -1), ${appliedRevision}),
        "lastSeenAt" = ${at}, status = 'online', "updatedAt" = now()
      WHERE id = ${agentId}::uuid AND "tenantId" = ${tenantId}::uuid`;
  }

  /** Agents of any tenant whose applied revision is behind the stored desired one. */
  laggingAgents(): Promise<Pick<Agent, 'id' | 'tenantId'>[]> {
    return this.db.$queryRaw<Pick<Agent, 'id' | 'tenantId'>[]>`
      SELECT id, "tenantId" FROM "Agent"
      WHERE "revokedAt" IS NULL AND "desiredRevision" IS NOT NULL
        AND coalesce("appliedRevision", -1) < "desiredRevision"`;
  }

  bypassKeys(tenantId: string): Promise<BypassKey[]> {
    return this.db.bypassKey.findMany({ where: { tenantId }, orderBy: { createdAt: 'desc' } });
  }

  createBypassKey(
    tenantId: string,
    d: { keyId: string; secretCiphertext: string; revision: bigint },
  ): Promise<BypassKey> {
    return this.db.bypassKey.create({ data: { tenantId, ...d } });
  }

  /** Serialises key changes of one tenant (rotation, lazy first key, retirement) across processes. */
  async lockTenant(tenantId: string): Promise<void> {
    await this.db.$queryRaw`SELECT id FROM "Tenant" WHERE id = ${tenantId}::uuid FOR UPDATE`;
  }

  async retireBypassKeys(tenantId: string, ids: string[], at: Date): Promise<number> {
    const r = await this.db.bypassKey.updateMany({
      where: { tenantId, id: { in: ids }, retiredAt: null },
      data: { retiredAt: at },
    });
    return r.count;
  }

  /** Tenants with more than one live key: a rotation waits for its agents. */
  async tenantsRotating(): Promise<string[]> {
    const rows = await this.db.$queryRaw<{ tenantId: string }[]>`
      SELECT "tenantId" FROM "BypassKey" WHERE "retiredAt" IS NULL GROUP BY "tenantId" HAVING count(*) > 1`;
    return rows.map((r) => r.tenantId);
  }
}

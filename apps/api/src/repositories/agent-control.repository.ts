// Queries of the agent-control side (issue #4): enrollment, agent credentials, compiled states, redirect keys.
import type { Agent, BypassKey, JoinToken, Prisma } from '../generated/prisma/client.js';
import type { Tx } from '../db/prisma.js';
import type { StoredRow } from '../agent-control/stored-state.js';

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

  /**
   * Stores the states one compile produced for its revision, all in one statement, and returns the agents
   * whose stored state moved forward (the ones to notify). Never moves a stored state backwards: jobs for
   * older revisions may finish late. Agent rows are locked in id order so that two stores of one tenant,
   * or a store and a batch of ACKs, cannot deadlock.
   */
  async storeConfigs(tenantId: string, revision: bigint, states: [string, unknown][]): Promise<string[]> {
    if (states.length === 0) return [];
    const json = JSON.stringify(states.map(([agentId, state]) => ({ agentId, state })));
    const rows = await this.db.$queryRaw<{ id: string }[]>`
      WITH locked AS (
        SELECT id FROM "Agent"
        WHERE "tenantId" = ${tenantId}::uuid
          AND id IN (SELECT (e->>'agentId')::uuid FROM jsonb_array_elements(${json}::jsonb) e)
        ORDER BY id FOR UPDATE
      ), stored AS (
        INSERT INTO "AgentConfig" ("agentId", "tenantId", revision, state, "updatedAt")
        SELECT i."agentId", ${tenantId}::uuid, ${revision}, i.state, now()
        FROM jsonb_to_recordset(${json}::jsonb) AS i("agentId" uuid, state jsonb)
        JOIN locked l ON l.id = i."agentId"
        ORDER BY i."agentId"
        ON CONFLICT ("agentId") DO UPDATE SET revision = EXCLUDED.revision, state = EXCLUDED.state,
          "updatedAt" = now()
        WHERE "AgentConfig".revision < EXCLUDED.revision
        RETURNING "agentId"
      ), marked AS (
        UPDATE "Agent" a SET "desiredRevision" = ${revision}, "updatedAt" = now()
        FROM stored s WHERE a.id = s."agentId"
        RETURNING a.id
      )
      SELECT "agentId"::text AS id FROM stored ORDER BY 1`;
    return rows.map((r) => r.id);
  }

  /**
   * The stored rows of these agents and of the base rows they refer to (see
   * agent-control/stored-state.ts), in one statement so that both come from one snapshot: a compile that
   * commits in between cannot pair a row with a base of another revision. The state comes as JSON text
   * (so the stream writes it without parsing it); a row that refers to a base comes as its base's id and
   * its own `agent` block.
   */
  findConfigs(agentIds: string[]): Promise<StoredRow[]> {
    if (agentIds.length === 0) return Promise.resolve([]);
    return this.db.$queryRaw<StoredRow[]>`
      WITH wanted AS (
        SELECT * FROM "AgentConfig"
        WHERE "agentId" IN (SELECT jsonb_array_elements_text(${JSON.stringify(agentIds)}::jsonb)::uuid)
      ), rows AS (
        SELECT * FROM wanted
        UNION ALL
        SELECT * FROM "AgentConfig"
        WHERE "agentId" IN (SELECT (state->>'$base')::uuid FROM wanted)
          AND "agentId" NOT IN (SELECT "agentId" FROM wanted)
      )
      SELECT "agentId"::text AS "agentId", "tenantId"::text AS "tenantId", revision,
        CASE WHEN state->>'$base' IS NULL THEN state::text END AS state,
        state->>'$base' AS base,
        CASE WHEN state->>'$base' IS NOT NULL THEN (state->'agent')::text END AS agent
      FROM rows`;
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

  /**
   * Positive ACKs of many agents in one statement (at most one entry per agent: the caller keeps the
   * highest revision). Rows are locked in id order, as storeConfigs does, so the two cannot deadlock.
   */
  async recordApplied(
    acks: { tenantId: string; agentId: string; revision: bigint; at: Date }[],
  ): Promise<void> {
    if (acks.length === 0) return;
    const json = JSON.stringify(
      acks.map((a) => ({ ...a, revision: a.revision.toString(), at: a.at.toISOString() })),
    );
    await this.db.$executeRaw`
      WITH v AS (
        SELECT * FROM jsonb_to_recordset(${json}::jsonb)
          AS x("agentId" uuid, "tenantId" uuid, revision bigint, at timestamptz)
      ), locked AS (
        SELECT a.id FROM "Agent" a JOIN v ON v."agentId" = a.id AND v."tenantId" = a."tenantId"
        ORDER BY a.id FOR UPDATE OF a
      )
      UPDATE "Agent" a SET "appliedRevision" = GREATEST(coalesce(a."appliedRevision", -1), v.revision),
        "lastError" = NULL, "lastSeenAt" = v.at, status = 'online', "updatedAt" = now()
      FROM v JOIN locked l ON l.id = v."agentId"
      WHERE a.id = v."agentId"`;
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

  /** Whether every agent a compile makes a state for has stored `revision` or a newer one. */
  async storedAtLeast(tenantId: string, revision: bigint): Promise<boolean> {
    const [row] = await this.db.$queryRaw<{ done: boolean | null }[]>`
      SELECT bool_and(coalesce("desiredRevision", -1) >= ${revision}) AS done FROM "Agent"
      WHERE "tenantId" = ${tenantId}::uuid AND "credentialHash" IS NOT NULL AND "revokedAt" IS NULL
        AND "underlayAddress" IS NOT NULL`;
    return row?.done === true;
  }

  /**
   * Tenants whose revision is ahead of what one of their compiled-for agents has stored: the job for
   * that revision never ran to the end (lost while Redis was down, or failed every attempt).
   */
  async tenantsBehind(): Promise<string[]> {
    const rows = await this.db.$queryRaw<{ tenantId: string }[]>`
      SELECT DISTINCT a."tenantId"::text AS "tenantId" FROM "Agent" a JOIN "Tenant" t ON t.id = a."tenantId"
      WHERE a."credentialHash" IS NOT NULL AND a."revokedAt" IS NULL AND a."underlayAddress" IS NOT NULL
        AND coalesce(a."desiredRevision", -1) < t."configRevision"`;
    return rows.map((r) => r.tenantId);
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

// Enrollment, agent credentials, compiling and storing desired states, ACKs and redirect-key rotation.
// Streams and the queue live in agent-control/push.ts; this class holds the decisions.
import { randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { compileTenant, type TenantConfig } from '../agent-control/compiler.js';
import { Batcher, Coalescer } from '../agent-control/batching.js';
import type { Presence } from '../agent-control/presence.js';
import { compactStates, expandState } from '../agent-control/stored-state.js';
import type { SecretBox } from '../agent-control/secret-box.js';
import { AppError, ErrorCode } from '../common/errors.js';
import type { Principal } from '../common/principal.js';
import { hashSecret, newSecret, tokenKind } from '../common/tokens.js';
import { mapAgent } from '../dto/account.dto.js';
import {
  type AckRequest,
  type BypassKeyDto,
  type EnrollRequest,
  type EnrollResponse,
  mapBypassKeys,
} from '../dto/agent-control.dto.js';
import type { TelemetryReport } from '../dto/telemetry.dto.js';
import type { Database, Repos } from '../repositories/index.js';
import { type ChangeRunner, type Clock, systemClock } from './change-runner.js';
import type { TelemetryIngest } from './telemetry.port.js';

/** Who an agent credential belongs to; the tenant always comes from here, never from a request body. */
export interface AgentPrincipal {
  tenantId: string;
  agentId: string;
  role: 'host' | 'mux';
  credentialHash: string;
}

/** Tells whichever API process holds an agent's stream that something changed for it. */
export interface AgentSignal {
  /** New stored states for these agents (one pipelined round trip for all of them). */
  desired(agentIds: string[]): Promise<void>;
  /** Send again even if that revision went out already (the sweep, for agents that lag). */
  resend(agentIds: string[]): Promise<void>;
  revoked(agentId: string): Promise<void>;
}

/** An agent's stored desired state, the state kept as the JSON text it is stored as. */
export interface StoredState {
  tenantId: string;
  revision: number;
  state: string;
}

const system = (tenantId: string, actorId: string): Principal => ({
  tenantId,
  role: 'owner',
  actorType: 'system',
  actorId,
  email: null,
});

const badToken = () =>
  new AppError(
    ErrorCode.Unauthenticated,
    'the join token is unknown, expired, revoked or used up',
    undefined,
    {
      'www-authenticate': 'Bearer',
    },
  );

class NotYet extends Error {}

// Nothing of the report was kept; the agent's next report carries the same cumulative counters.
const telemetryUnavailable = () =>
  new AppError(
    ErrorCode.Unavailable,
    'telemetry storage is unavailable; the next report carries these counts',
  );

/** An agent the compiler makes a state for: enrolled, not revoked, with an underlay address. */
const compiled = (a: {
  credentialHash: string | null;
  revokedAt: Date | null;
  underlayAddress: string | null;
}) => !!a.credentialHash && !a.revokedAt && !!a.underlayAddress;

/**
 * Whether every agent that gets a state already stored this revision (or a newer one): a duplicate or
 * late job has nothing to store and skips the compile.
 */
function allStoredAt(
  agents: {
    credentialHash: string | null;
    revokedAt: Date | null;
    underlayAddress: string | null;
    desiredRevision: bigint | null;
  }[],
  revision: bigint,
): boolean {
  const targets = agents.filter(compiled);
  return (
    targets.length > 0 && targets.every((a) => a.desiredRevision !== null && a.desiredRevision >= revision)
  );
}

interface AppliedAck {
  tenantId: string;
  agentId: string;
  revision: bigint;
  at: Date;
}

export class AgentControlService {
  private readonly log = new Logger('AgentControl');
  /** One compile per tenant at a time in this process; a burst of changes shares the follow-up. */
  private readonly compiles = new Coalescer<string[]>();
  /** ACKs that arrive together (every agent answers the same push) are written in one statement. */
  private readonly acks = new Batcher<AppliedAck>((items) => this.writeAcks(items));

  constructor(
    private readonly db: Database,
    private readonly changes: ChangeRunner,
    private readonly box: SecretBox,
    private readonly presence: Presence,
    private readonly signal: AgentSignal,
    private readonly telemetry: TelemetryIngest,
    private readonly clock: Clock = systemClock,
  ) {}

  // --- credentials ---

  async enroll(input: EnrollRequest): Promise<EnrollResponse> {
    const token = await this.db.repos.agentControl.findJoinTokenByHash(hashSecret(input.joinToken));
    if (!token) throw badToken();
    let replaced: string | null = null;
    const applied = await this.changes.apply(system(token.tenantId, `joinToken:${token.id}`), async (r) => {
      const used = await r.agentControl.consumeJoinToken(token.tenantId, token.id, this.clock.now());
      if (!used) throw badToken();
      const prev = await r.agentControl.findAgentByName(token.tenantId, input.name);
      if (prev?.credentialHash) replaced = prev.id;
      const { secret, hash } = newSecret('a');
      const agent = await r.agentControl.upsertEnrolled(token.tenantId, {
        name: input.name,
        role: used.role,
        underlay: input.underlay,
        version: input.version,
        hostname: input.hostname,
        credentialHash: hash,
        joinTokenId: used.id,
      });
      await this.ensureKey(r, token.tenantId);
      return {
        value: { agentId: agent.id, tenantId: agent.tenantId, role: agent.role, credential: secret },
        action: prev ? 'agent.reenroll' : 'agent.enroll',
        resourceType: 'agent',
        resourceId: agent.id,
        before: prev ? mapAgent(prev) : null,
        after: mapAgent(agent),
      };
    });
    // The re-installed agent's old credential no longer matches: its old stream, if any, closes.
    if (replaced) await this.signal.revoked(replaced).catch(() => {});
    return applied.value;
  }

  async authenticate(secret: string): Promise<AgentPrincipal | null> {
    if (tokenKind(secret) !== 'a') return null;
    const hash = hashSecret(secret);
    const a = await this.db.repos.agentControl.findAgentByCredentialHash(hash);
    if (!a || a.revokedAt) return null;
    return { tenantId: a.tenantId, agentId: a.id, role: a.role, credentialHash: hash };
  }

  /** Whether a stream opened with this credential may stay open. */
  async stillValid(p: AgentPrincipal): Promise<boolean> {
    const a = await this.db.repos.agentControl.findAgentByCredentialHash(p.credentialHash);
    return !!a && !a.revokedAt && a.id === p.agentId;
  }

  async revoke(p: Principal, id: string): Promise<void> {
    await this.revokeAs(p, id, 'agent.revoke');
  }

  /** The agent itself leaves for good (install.sh --uninstall): revoked at once, audited as `agent.leave`. */
  async leave(a: AgentPrincipal): Promise<void> {
    const self: Principal = {
      tenantId: a.tenantId,
      role: 'admin',
      actorType: 'system',
      actorId: `agent:${a.agentId}`,
      email: null,
    };
    await this.revokeAs(self, a.agentId, 'agent.leave');
  }

  private async revokeAs(p: Principal, id: string, action: string): Promise<void> {
    await this.changes.apply(p, async (r) => {
      const cur = await r.agents.find(p.tenantId, id);
      if (!cur) throw AppError.notFound('agent');
      const a = cur.revokedAt ? cur : await r.agentControl.revokeAgent(p.tenantId, id, this.clock.now());
      return {
        value: null,
        action,
        resourceType: 'agent',
        resourceId: id,
        before: mapAgent(cur),
        after: mapAgent(a),
      };
    });
    await this.signal.revoked(id).catch(() => {});
    await this.presence.clear(id).catch(() => {});
  }

  async remove(p: Principal, id: string): Promise<void> {
    await this.changes.apply(p, async (r) => {
      const cur = await r.agents.find(p.tenantId, id);
      if (!cur) throw AppError.notFound('agent');
      await r.agentControl.deleteAgent(p.tenantId, id);
      return {
        value: null,
        action: 'agent.delete',
        resourceType: 'agent',
        resourceId: id,
        before: mapAgent(cur),
        after: null,
      };
    });
    await this.signal.revoked(id).catch(() => {});
    await this.presence.clear(id).catch(() => {});
  }

  // --- agent calls ---

  async ack(a: AgentPrincipal, b: AckRequest): Promise<void> {
    const at = this.clock.now();
    if (b.applied) {
      // Answered once the batch carrying it is written: a 204 still means "recorded".
      await this.acks.add({ tenantId: a.tenantId, agentId: a.agentId, revision: BigInt(b.revision), at });
      return;
    }
    await this.db.repos.agentControl.recordAck(a.tenantId, a.agentId, {
      revision: BigInt(b.revision),
      applied: false,
      error: b.error ?? null,
      at,
    });
    await this.markPresent([a.agentId]);
  }

  private async writeAcks(items: AppliedAck[]): Promise<void> {
    // One entry per agent: the highest revision and the latest time.
    const byAgent = new Map<string, AppliedAck>();
    for (const i of items) {
      const cur = byAgent.get(i.agentId);
      byAgent.set(
        i.agentId,
        cur
          ? {
              ...i,
              revision: i.revision > cur.revision ? i.revision : cur.revision,
              at: i.at > cur.at ? i.at : cur.at,
            }
          : i,
      );
    }
    await this.db.repos.agentControl.recordApplied([...byAgent.values()]);
    await this.markPresent([...byAgent.keys()]);
  }

  async telemetryReport(a: AgentPrincipal, report: TelemetryReport): Promise<void> {
    await this.db.repos.agentControl.touchAgent(
      a.tenantId,
      a.agentId,
      this.clock.now(),
      BigInt(report.appliedRevision),
    );
    await this.markPresent([a.agentId]);
    // The deltas need the last snapshot, kept in the same Redis: refuse at once rather than hang.
    if (!this.presence.reachable()) throw telemetryUnavailable();
    try {
      await this.telemetry.ingest(a.tenantId, a.agentId, report);
    } catch (err) {
      if (err instanceof AppError) throw err;
      // Storage (Redis holds the last snapshot, PostgreSQL the rows) is down: nothing of this report was
      // kept, and the agent's next report carries the same cumulative counters.
      this.log.warn(`telemetry of agent ${a.agentId} not stored: ${String(err)}`);
      throw telemetryUnavailable();
    }
  }

  async touch(a: AgentPrincipal): Promise<void> {
    await this.db.repos.agentControl.touchAgent(a.tenantId, a.agentId, this.clock.now());
    await this.markPresent([a.agentId]);
  }

  /** Presence is best effort: while Redis is down a stream, ACK or report goes on without it. */
  private async markPresent(agentIds: string[]): Promise<void> {
    if (agentIds.length === 0 || !this.presence.reachable()) return;
    await this.presence.touchMany(agentIds).catch(() => {});
  }

  /**
   * The stored states of these agents in one query (agents without one yet are missing). The caller
   * checks the tenant against the credential it holds.
   */
  async storedStates(agentIds: string[]): Promise<Map<string, StoredState>> {
    // The rows asked for and the base rows they refer to.
    const byId = new Map((await this.db.repos.agentControl.findConfigs(agentIds)).map((r) => [r.agentId, r]));
    const out = new Map<string, StoredState>();
    const cache = new Map<string, string>();
    for (const id of agentIds) {
      const r = byId.get(id);
      if (!r) continue;
      const state = expandState(r, byId, cache);
      if (state === null) {
        this.log.warn(
          `stored state of agent ${r.agentId} refers to a missing base; the next compile replaces it`,
        );
        continue;
      }
      out.set(r.agentId, { tenantId: r.tenantId, revision: Number(r.revision), state });
    }
    return out;
  }

  // --- compile and push ---

  /**
   * Compiles the tenant's current config for each of its agents and stores it; returns the agents whose
   * stored state moved forward (the ones to notify). Reads in one transaction so the revision and the
   * rows it describes belong together.
   */
  async compileTenant(tenantId: string): Promise<string[]> {
    const cfg = await this.db.transaction(async (r) => {
      const revision = await r.agentControl.tenantRevision(tenantId);
      if (revision === null) return null;
      const agents = await r.agentControl.agentsOf(tenantId);
      if (allStoredAt(agents, revision)) return null;
      // Nothing to compile for a tenant without enrolled agents (and no reason to mint its first key yet).
      if (!agents.some((a) => a.credentialHash && !a.revokedAt && a.underlayAddress)) return null;
      const vips = await r.agentControl.vipsOf(tenantId);
      let keys = await r.agentControl.bypassKeys(tenantId);
      if (!keys.some((k) => !k.retiredAt)) {
        await r.agentControl.lockTenant(tenantId);
        await this.ensureKey(r, tenantId);
        keys = await r.agentControl.bypassKeys(tenantId);
      }
      return { revision, vips, agents, keys };
    });
    if (!cfg) return [];
    const muxIds = cfg.agents.filter((a) => a.role === 'mux').map((a) => a.id);
    const connected = await this.presence.connected(muxIds).catch(() => new Set<string>());
    const input: TenantConfig = {
      tenantId,
      revision: Number(cfg.revision),
      connectedMuxIds: connected,
      agents: cfg.agents.map((a) => ({
        id: a.id,
        role: a.role,
        underlay: a.underlayAddress,
        revoked: !!a.revokedAt || !a.credentialHash,
      })),
      keys: cfg.keys.map((k) => ({
        keyId: k.keyId,
        secret: this.box.open(k.secretCiphertext, tenantId).toString('base64'),
        createdAt: k.createdAt,
        retired: !!k.retiredAt,
      })),
      vips: cfg.vips.map((v) => ({
        id: v.id,
        name: v.name,
        address: v.address,
        protocol: v.protocol,
        port: v.port,
        poolId: v.poolId,
        distribution: v.distribution,
        idleTimeoutS: v.idleTimeoutS,
        bypassEnabled: v.bypassEnabled,
        bypassSourceCidrs: v.bypassSourceCidrs,
        bypassMaxFlowsPerHost: v.bypassMaxFlowsPerHost,
        bypassIdleTimeoutS: v.bypassIdleTimeoutS,
        bypassHandshakeHoldMs: v.bypassHandshakeHoldMs,
        probe: {
          protocol: v.pool.probeProtocol,
          port: v.pool.probePort,
          path: v.pool.probePath,
          intervalMs: v.pool.probeIntervalMs,
          timeoutMs: v.pool.probeTimeoutMs,
          healthyThreshold: v.pool.probeHealthyThreshold,
          unhealthyThreshold: v.pool.probeUnhealthyThreshold,
        },
        backends: v.pool.backends.map((b) => ({
          address: b.address,
          port: b.port,
          weight: b.weight,
          state: b.state,
          health: b.healthState?.health === 'unhealthy' ? 'unhealthy' : 'healthy',
        })),
      })),
    };
    const { states, warnings } = compileTenant(input);
    for (const w of warnings) this.log.warn(w);
    // One statement for every agent of the revision (a round trip per agent made 1000 agents take
    // seconds), equal states stored once (stored-state.ts; a tenant-sized document per agent was ~25 MB).
    return this.db.repos.agentControl.storeConfigs(tenantId, cfg.revision, compactStates(states));
  }

  async notify(agentIds: string[]): Promise<void> {
    await this.signal.desired(agentIds);
  }

  /**
   * Compiles, stores and signals a tenant's current revision. Calls for one tenant that arrive while a
   * compile runs share one follow-up compile (it reads the newest revision, so nothing is skipped).
   * `revision`, when given, is the one the caller wants pushed.
   */
  async compileAndNotify(tenantId: string, revision?: bigint): Promise<string[]> {
    // A job for a revision every agent already has (a burst of changes, a retried or late job) ends
    // after one cheap query instead of queueing for a compile.
    if (revision !== undefined && (await this.db.repos.agentControl.storedAtLeast(tenantId, revision)))
      return [];
    return this.compiles.run(tenantId, async () => {
      const moved = await this.compileTenant(tenantId);
      await this.notify(moved);
      return moved;
    });
  }

  /**
   * The periodic catch-up, run by one process at a time: compiles tenants whose revision is ahead of what
   * their agents have stored (the config-changed job was lost, e.g. Redis was down when the change
   * committed, or it failed every attempt), re-sends state to connected agents that lag, and retires
   * rotated-out keys whose agents all caught up.
   */
  async sweep(): Promise<{ compiled: number; republished: number; retired: number }> {
    let compiled = 0;
    for (const tenantId of await this.db.repos.agentControl.tenantsBehind()) {
      try {
        if ((await this.compileAndNotify(tenantId)).length > 0) compiled++;
      } catch (err) {
        this.log.warn(`catch-up compile of tenant ${tenantId} failed: ${String(err)}`);
      }
    }
    const lagging = await this.db.repos.agentControl.laggingAgents();
    const on = await this.presence.connected(lagging.map((a) => a.id));
    await this.signal.resend(lagging.filter((a) => on.has(a.id)).map((a) => a.id));
    let retired = 0;
    for (const tenantId of await this.db.repos.agentControl.tenantsRotating()) {
      if (await this.retireIfConverged(tenantId)) retired++;
    }
    return { compiled, republished: on.size, retired };
  }

  // --- redirect keys ---

  async listKeys(p: Principal): Promise<BypassKeyDto[]> {
    return mapBypassKeys(await this.db.repos.agentControl.bypassKeys(p.tenantId));
  }

  async rotate(p: Principal): Promise<BypassKeyDto> {
    const applied = await this.changes.apply(p, async (r) => {
      await r.agentControl.lockTenant(p.tenantId);
      const live = (await r.agentControl.bypassKeys(p.tenantId)).filter((k) => !k.retiredAt);
      if (live.length > 1) {
        throw new AppError(
          ErrorCode.Conflict,
          'a key rotation is still in progress: the previous key retires once every agent applied the new one',
        );
      }
      // The tenant row is locked, so the revision this change will commit is the current one plus one.
      const revision = ((await r.agentControl.tenantRevision(p.tenantId)) ?? 0n) + 1n;
      const key = await this.newKey(r, p.tenantId, revision);
      const dto = mapBypassKeys([key])[0]!;
      return {
        value: dto,
        action: 'bypassKey.rotate',
        resourceType: 'bypassKey',
        resourceId: key.keyId,
        before: { live: live.map((k) => k.keyId) },
        after: dto,
      };
    });
    return applied.value;
  }

  private async retireIfConverged(tenantId: string): Promise<boolean> {
    try {
      await this.changes.apply(system(tenantId, 'rotation-sweep'), async (r) => {
        await r.agentControl.lockTenant(tenantId);
        const live = (await r.agentControl.bypassKeys(tenantId)).filter((k) => !k.retiredAt);
        const [newest, ...older] = live;
        if (!newest || older.length === 0) throw new NotYet();
        const agents = (await r.agentControl.agentsOf(tenantId)).filter(
          (a) => a.credentialHash && !a.revokedAt,
        );
        if (agents.some((a) => (a.appliedRevision ?? -1n) < newest.revision)) throw new NotYet();
        await r.agentControl.retireBypassKeys(
          tenantId,
          older.map((k) => k.id),
          this.clock.now(),
        );
        return {
          value: null,
          action: 'bypassKey.retire',
          resourceType: 'bypassKey',
          resourceId: older.map((k) => k.keyId).join(','),
          before: { live: live.map((k) => k.keyId) },
          after: { live: [newest.keyId] },
        };
      });
      return true;
    } catch (err) {
      if (err instanceof NotYet) return false;
      throw err;
    }
  }

  private async ensureKey(r: Repos, tenantId: string): Promise<void> {
    const keys = await r.agentControl.bypassKeys(tenantId);
    if (keys.some((k) => !k.retiredAt)) return;
    await this.newKey(r, tenantId, (await r.agentControl.tenantRevision(tenantId)) ?? 0n);
  }

  private newKey(r: Repos, tenantId: string, revision: bigint) {
    const keyId = `k${this.clock.now().getTime().toString(36)}-${randomBytes(3).toString('hex')}`;
    return r.agentControl.createBypassKey(tenantId, {
      keyId,
      secretCiphertext: this.box.seal(randomBytes(32), tenantId),
      revision,
    });
  }
}

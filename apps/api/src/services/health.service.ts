// Backend health from the muxes' probes: each mux's latest verdict is stored; the derived health is the
// majority of the verdicts of the last 10 s. A change into or out of `unhealthy` bumps the tenant's revision
// through ChangeRunner (audit `backend.health`, actor system) so the compiled state tells hosts to drop
// bypass entries that point at an unhealthy backend; unknown <-> healthy changes nothing pushed and is
// recorded without a revision.
import { Logger } from '@nestjs/common';
import type { Principal } from '../common/principal.js';
import type { Database, Repos } from '../repositories/index.js';
import type { ChangeRunner, Clock } from './change-runner.js';
import type { StatsMetrics } from './stats-metrics.js';

export type Health = 'healthy' | 'unhealthy' | 'unknown';

/** Verdicts older than this no longer count. */
export const HEALTH_WINDOW_MS = 10_000;

/** Unhealthy when a strict majority of the muxes that reported in the window say so. */
export function deriveHealth(votes: { unhealthy: number; total: number } | undefined): Health {
  if (!votes || votes.total === 0) return 'unknown';
  return votes.unhealthy * 2 > votes.total ? 'unhealthy' : 'healthy';
}

export interface ReportedHealth {
  vipId: string;
  address: string;
  port: number;
  healthy: boolean;
  reason?: string | undefined;
}

/** Thrown inside a ChangeRunner transaction to roll it back when another process already decided. */
class Unchanged extends Error {}

export class HealthService {
  private readonly log = new Logger('BackendHealth');

  constructor(
    private readonly db: Database,
    private readonly changes: ChangeRunner,
    private readonly metrics: StatsMetrics,
    private readonly clock: Clock,
  ) {}

  /** Stores a mux's verdicts and re-derives the backends whose verdict from this mux changed. */
  async record(tenantId: string, agentId: string, reports: ReportedHealth[]): Promise<void> {
    const repo = this.db.repos.telemetry;
    const ids = await repo.backendsFor(tenantId, reports);
    // One verdict per backend: a backend behind several VIPs is probed once per VIP; unhealthy wins.
    const byBackend = new Map<string, { healthy: boolean; reason: string | null }>();
    for (const r of reports) {
      const id = ids.get(`${r.vipId} ${r.address}:${r.port}`);
      if (!id) continue;
      const seen = byBackend.get(id);
      if (!seen || (seen.healthy && !r.healthy))
        byBackend.set(id, { healthy: r.healthy, reason: r.reason ?? null });
    }
    if (byBackend.size === 0) return;
    const now = this.clock.now();
    const changed = await repo.upsertHealthReports(
      tenantId,
      now,
      [...byBackend].map(([backendId, v]) => ({ backendId, agentId, ...v })),
    );
    if (changed.length > 0) await this.derive(tenantId, changed);
  }

  /** Re-derives every tracked backend: verdicts that aged out turn a backend `unknown`. */
  async sweep(): Promise<number> {
    const tracked = await this.db.repos.telemetry.healthTracked();
    const byTenant = new Map<string, string[]>();
    for (const t of tracked) byTenant.set(t.tenantId, [...(byTenant.get(t.tenantId) ?? []), t.backendId]);
    let changes = 0;
    for (const [tenantId, ids] of byTenant) changes += await this.derive(tenantId, ids);
    return changes;
  }

  /** Returns how many backends changed health (a change into or out of `unhealthy` is one revision). */
  async derive(tenantId: string, backendIds: string[]): Promise<number> {
    const now = this.clock.now();
    const since = new Date(now.getTime() - HEALTH_WINDOW_MS);
    const repo = this.db.repos.telemetry;
    const [votes, states] = await Promise.all([
      repo.healthVotes(tenantId, backendIds, since),
      repo.healthStates(tenantId, backendIds),
    ]);
    let changes = 0;
    for (const id of backendIds) {
      const health = deriveHealth(votes.get(id));
      const before = (states.get(id)?.health ?? 'unknown') as Health;
      if (health === before) {
        // Only the time of the check: writing `health` here, outside the lock, could undo a concurrent move.
        if (states.has(id)) await repo.touchHealth(tenantId, id, now);
        continue;
      }
      if (await this.change(tenantId, id, since, now)) changes++;
    }
    return changes;
  }

  /**
   * Whether a move between two derived states changes what agents are told. Compiled states mark only
   * `unhealthy` backends (unknown is not a failure), so unknown <-> healthy is recorded without a revision:
   * a fresh pool's first verdicts would otherwise push one revision per backend to every agent.
   */
  static pushes(before: Health, after: Health): boolean {
    return before === 'unhealthy' || after === 'unhealthy';
  }

  private async change(tenantId: string, backendId: string, since: Date, now: Date): Promise<boolean> {
    // Decided under a per-backend lock: two API processes seeing the same change act once.
    const decide = async (r: Repos) => {
      await r.telemetry.lockBackend(backendId);
      const votes = await r.telemetry.healthVotes(tenantId, [backendId], since);
      const health = deriveHealth(votes.get(backendId));
      const before = ((await r.telemetry.healthStates(tenantId, [backendId])).get(backendId)?.health ??
        'unknown') as Health;
      if (health === before) throw new Unchanged();
      return { health, before, votes: votes.get(backendId) ?? { unhealthy: 0, total: 0 } };
    };
    try {
      // A move that changes nothing pushed is written here; null leaves it (nothing written yet) to the
      // ChangeRunner below, which adds the revision and the audit entry.
      const quiet = await this.db.transaction(async (r) => {
        const d = await decide(r);
        if (HealthService.pushes(d.before, d.health)) return null;
        await r.telemetry.setHealth(tenantId, backendId, d.health, now, true);
        return d.health;
      });
      if (quiet) {
        this.metrics.healthChanges.inc({ health: quiet });
        return true;
      }
      const system: Principal = {
        tenantId,
        role: 'owner',
        actorType: 'system',
        actorId: 'backend-health',
        email: null,
      };
      const { value } = await this.changes.apply(system, async (r) => {
        const d = await decide(r);
        await r.telemetry.setHealth(tenantId, backendId, d.health, now, true);
        return {
          value: d.health,
          action: 'backend.health',
          resourceType: 'backend',
          resourceId: backendId,
          before: { health: d.before },
          after: { health: d.health, votes: d.votes },
        };
      });
      this.metrics.healthChanges.inc({ health: value });
      return true;
    } catch (err) {
      if (err instanceof Unchanged) return false;
      // A backend deleted meanwhile has nothing left to mark.
      this.log.warn(`health of backend ${backendId} not updated: ${String(err)}`);
      return false;
    }
  }

  /** The derived health of a tenant's backends, for the backend DTO. */
  async of(tenantId: string, backendIds: string[]) {
    return this.db.repos.telemetry.healthStates(tenantId, backendIds);
  }
}

// Tenant configuration -> one DesiredState per agent. Pure: the worker loads the rows, this decides what
// each agent gets, and the agent's own validator (run on these outputs in a test) is the contract.
import {
  DEFAULT_ENCAP,
  MAX_HANDSHAKE_HOLD_MS,
  type BackendSpec,
  type DesiredState,
  type ProbeSpec,
  type VipSpec,
} from '@slipstream/agent-protocol';

export interface CompileBackend {
  address: string;
  port: number;
  weight: number;
  state: 'active' | 'draining' | 'disabled';
  /** Derived from the muxes' verdicts; only `unhealthy` takes a backend out (unknown is not a failure). */
  health: 'healthy' | 'unhealthy' | 'unknown';
}

/** The pool's health probe (its DB columns). */
export interface CompileProbe {
  protocol: 'tcp' | 'http';
  /** null: each backend's own port. */
  port: number | null;
  path: string | null;
  intervalMs: number;
  timeoutMs: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
}

export interface CompileVip {
  id: string;
  name: string;
  address: string;
  protocol: 'tcp' | 'udp';
  port: number;
  poolId: string;
  distribution: 'five_tuple' | 'source_ip';
  idleTimeoutS: number;
  bypassEnabled: boolean;
  bypassSourceCidrs: string[];
  bypassMaxFlowsPerHost: number;
  bypassIdleTimeoutS: number;
  /** Absent in fixtures written before handshake holds: 0. */
  bypassHandshakeHoldMs?: number;
  probe: CompileProbe;
  backends: CompileBackend[];
}

export interface CompileAgent {
  id: string;
  role: 'host' | 'mux';
  underlay: string | null;
  revoked: boolean;
}

export interface CompileKey {
  keyId: string;
  /** base64 of the raw key bytes (decrypted). */
  secret: string;
  createdAt: Date;
  retired: boolean;
}

export interface TenantConfig {
  tenantId: string;
  revision: number;
  vips: CompileVip[];
  agents: CompileAgent[];
  /** Mux agent ids that hold a stream right now; the others are listed as unhealthy. */
  connectedMuxIds: ReadonlySet<string>;
  keys: CompileKey[];
}

export interface CompileResult {
  states: Map<string, DesiredState>;
  /** What was left out and why (logged by the worker; the API refuses most of it at write time). */
  warnings: string[];
}

export const REDIRECT_PORT = 4791;
export const REDIRECT_WINDOW_MS = 5000;

// The agent's validator ranges are narrower than the API's on two fields; clamp instead of refusing so
// a VIP that is valid in the API never stops a whole tenant from converging.
const AGENT_MAX_FLOWS_PER_HOST = 1_000_000;
const AGENT_MIN_IDLE_S = 5;
const MAX_MUXES = 64;

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

/** The agent's probe ranges match the API's; the cross-field rules are re-applied so a row never breaks a state. */
function compileProbe(p: CompileProbe): ProbeSpec {
  const intervalMs = clamp(p.intervalMs, 100, 3_600_000);
  const out: ProbeSpec = {
    protocol: p.protocol,
    intervalMs,
    timeoutMs: clamp(p.timeoutMs, 50, Math.min(60_000, intervalMs - 1)),
    healthyThreshold: clamp(p.healthyThreshold, 1, 20),
    unhealthyThreshold: clamp(p.unhealthyThreshold, 1, 20),
  };
  if (p.port !== null) out.port = p.port;
  if (p.protocol === 'http') out.path = p.path ?? '/';
  return out;
}

function compileVip(v: CompileVip, warnings: string[], replyOwner: Map<string, string>): VipSpec {
  const backends: BackendSpec[] = [];
  const seen = new Set<string>();
  for (const b of v.backends) {
    // The agent keys a VIP's backends by host address.
    if (seen.has(b.address)) {
      warnings.push(`vip ${v.id}: backend ${b.address}:${b.port} skipped (host already in the pool)`);
      continue;
    }
    // Backend hosts translate VIP:port to the backend port statelessly, so a reply's source port must name
    // one VIP: two VIPs of one address and protocol cannot share a backend host and port.
    const k = `${b.address}/${v.address}/${v.protocol}/${b.port}`;
    const other = replyOwner.get(k);
    if (other !== undefined && other !== v.id) {
      warnings.push(
        `vip ${v.id}: backend ${b.address}:${b.port} skipped (already serves ${v.protocol} ${v.address} for vip ${other})`,
      );
      continue;
    }
    replyOwner.set(k, v.id);
    seen.add(b.address);
    backends.push({
      address: b.address,
      port: b.port,
      weight: b.weight,
      state: b.state,
      healthy: b.health !== 'unhealthy',
    });
  }
  return {
    id: v.id,
    name: v.name,
    address: v.address,
    protocol: v.protocol,
    port: v.port,
    poolId: v.poolId,
    distribution: v.distribution === 'five_tuple' ? 'five-tuple' : 'source-ip',
    idleTimeoutS: clamp(v.idleTimeoutS, AGENT_MIN_IDLE_S, 86_400),
    bypass: {
      enabled: v.bypassEnabled,
      sourceCidrs: [...v.bypassSourceCidrs],
      maxFlowsPerHost: clamp(v.bypassMaxFlowsPerHost, 0, AGENT_MAX_FLOWS_PER_HOST),
      idleTimeoutS: clamp(v.bypassIdleTimeoutS, AGENT_MIN_IDLE_S, 86_400),
      // Only when set: a state without it means no hold, and agents from before holds refuse the field.
      ...(v.bypassHandshakeHoldMs
        ? { handshakeHoldMs: clamp(v.bypassHandshakeHoldMs, 0, MAX_HANDSHAKE_HOLD_MS) }
        : {}),
    },
    backends,
    probe: compileProbe(v.probe),
  };
}

/**
 * The active key is the newest unretired one; the previous one stays listed until the rotation sweep
 * retires it, so redirects signed by an agent that has not applied the rotation yet still verify.
 */
function redirectKeys(keys: CompileKey[]): { activeKeyId: string; keys: Record<string, string> } | null {
  const live = keys.filter((k) => !k.retired).sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
  const [active, previous] = live;
  if (!active) return null;
  const out: Record<string, string> = { [active.keyId]: active.secret };
  if (previous) out[previous.keyId] = previous.secret;
  return { activeKeyId: active.keyId, keys: out };
}

export function compileTenant(cfg: TenantConfig): CompileResult {
  const warnings: string[] = [];
  const states = new Map<string, DesiredState>();
  const redirect = redirectKeys(cfg.keys);
  if (!redirect) {
    warnings.push(`tenant ${cfg.tenantId}: no redirect key; nothing compiled`);
    return { states, warnings };
  }
  const replyOwner = new Map<string, string>();
  const vips = [...cfg.vips]
    .sort((a, b) => a.id.localeCompare(b.id))
    .map((v) => compileVip(v, warnings, replyOwner));
  // Backends carry mux-path replies to these in the tunnel (their agents decapsulate).
  const hosts = [
    ...new Set(
      cfg.agents.filter((a) => a.role === 'host' && !a.revoked && a.underlay).map((a) => a.underlay!),
    ),
  ]
    .sort()
    .map((address) => ({ address }));
  const muxes = cfg.agents
    .filter((a) => a.role === 'mux' && !a.revoked && a.underlay)
    .sort((a, b) => a.id.localeCompare(b.id))
    .slice(0, MAX_MUXES)
    .map((a) => ({ address: a.underlay!, healthy: cfg.connectedMuxIds.has(a.id) }));
  for (const a of cfg.agents) {
    if (a.revoked || !a.underlay) continue;
    states.set(a.id, {
      version: 1,
      revision: cfg.revision,
      agent: { tenantId: cfg.tenantId, agentId: a.id, role: a.role, underlay: a.underlay },
      redirect: {
        port: REDIRECT_PORT,
        activeKeyId: redirect.activeKeyId,
        keys: redirect.keys,
        windowMs: REDIRECT_WINDOW_MS,
      },
      encap: { ...DEFAULT_ENCAP },
      // A mux forwards to backends and needs no mux list; a host sends new flows to the muxes.
      muxes: a.role === 'mux' ? [] : muxes,
      // Both roles get every VIP: a host may be a client of any VIP and validates redirects against the
      // backends; a mux balances every VIP of the tenant.
      vips,
      hosts,
    });
  }
  return { states, warnings };
}

// Copied from apps/agent/src/config/desired-state.ts (the types only; the agent's validator is the
// authority). test/agent-control/compiler-drift.test.ts runs that validator on compiled states, so a
// drift between this copy and the agent fails a test.

export type AgentRole = 'host' | 'mux';
export type Protocol = 'tcp' | 'udp';
export type Distribution = 'five-tuple' | 'source-ip';
export type BackendState = 'active' | 'draining' | 'disabled';

export interface AgentIdentity {
  tenantId: string;
  agentId: string;
  role: AgentRole;
  /** This host's underlay IPv4: source of encapsulated and bypassed packets, redirect endpoint. */
  underlay: string;
}

export interface RedirectConfig {
  /** UDP port of the redirect channel on every agent of the tenant. */
  port: number;
  /** Key used to sign outgoing redirects and acks; must be one of `keys`. */
  activeKeyId: string;
  /** keyId -> base64 key (at least 32 bytes); two during a rotation. */
  keys: Record<string, string>;
  /** Accepted clock difference for a redirect's timestamp. */
  windowMs: number;
}

export interface MuxRef {
  address: string;
  healthy: boolean;
}

/** Another agent host of the tenant (role host). */
export interface HostRef {
  address: string;
}

export interface BypassPolicy {
  enabled: boolean;
  /** Client sources allowed to bypass; empty means every source. */
  sourceCidrs: string[];
  maxFlowsPerHost: number;
  idleTimeoutS: number;
}

export interface BackendSpec {
  /** The backend host's underlay IPv4. */
  address: string;
  port: number;
  weight: number;
  state: BackendState;
  /**
   * Health the control plane derived from the muxes' probes (absent: healthy). Hosts drop bypass entries
   * to an unhealthy backend and refuse redirects naming it; a mux starts from it until its own probes
   * decide.
   */
  healthy?: boolean;
}

export type ProbeProtocol = 'tcp' | 'http';

/** How muxes probe the backends of a VIP's pool (absent: not probed, every backend counts as up). */
export interface ProbeSpec {
  /** `tcp`: a connect succeeds; `http`: `GET path` answers 2xx or 3xx. */
  protocol: ProbeProtocol;
  /** Absent: each backend's own port. */
  port?: number;
  /** HTTP only; absent: `/`. */
  path?: string;
  intervalMs: number;
  timeoutMs: number;
  /** Consecutive successes that turn an unhealthy backend healthy. */
  healthyThreshold: number;
  /** Consecutive failures that turn a healthy backend unhealthy. */
  unhealthyThreshold: number;
}

export interface VipSpec {
  id: string;
  name: string;
  address: string;
  protocol: Protocol;
  port: number;
  poolId: string;
  distribution: Distribution;
  idleTimeoutS: number;
  bypass: BypassPolicy;
  backends: BackendSpec[];
  probe?: ProbeSpec;
}

export interface EncapConfig {
  /** VXLAN network identifier used on the tenant's tunnels. */
  vni: number;
  /** UDP port of the VXLAN-GPE tunnel. */
  udpPort: number;
  /** MTU of tunnelled VIP traffic: underlay MTU minus the 36 bytes of outer IP, UDP and VXLAN-GPE headers. */
  innerMtu: number;
}

export interface DesiredState {
  version: 1;
  revision: number;
  agent: AgentIdentity;
  redirect: RedirectConfig;
  encap: EncapConfig;
  muxes: MuxRef[];
  vips: VipSpec[];
  /**
   * The tenant's agent hosts (optional, default none). A backend carries its mux-path replies to these in
   * the tunnel (their agent decapsulates), so cloud anti-spoofing never sees the VIP as an underlay source;
   * replies to any other client leave plain. An explicit list, not "the underlay": a client without an
   * agent could not decapsulate.
   */
  hosts: HostRef[];
}

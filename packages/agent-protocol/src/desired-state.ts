/**
 * The desired state an agent reads (`--config <file>` today, pushed by the control plane later).
 * Field names mirror the API (VIP, pool backend, bypass policy) so the control plane can compile it
 * without renaming. The validator is strict: a file with any error is rejected as a whole, with every
 * problem listed, and the agent keeps its last good state.
 */
import { parseCidr, parseIpv4 } from './cidr.js';

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
  /**
   * TCP only (absent: 0, off). A backend holds a new connection's SYN-ACK to an agent host for up to this
   * long, until the client has its bypass entries: the handshake's ACK and everything after then go
   * straight to the backend, so a short connection costs the mux one packet instead of two or three, at
   * the price of up to this much (typically the time-to-bypass) on connection setup.
   */
  handshakeHoldMs?: number;
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

/** Bytes tunnelling adds to a VIP packet: outer IPv4 (20), UDP (8) and VXLAN-GPE (8), no inner Ethernet. */
export const ENCAP_OVERHEAD = 36;

/** Encapsulation when the state names none: the inner MTU of a 1500-byte underlay. */
export const DEFAULT_ENCAP: Readonly<EncapConfig> = {
  vni: 1,
  udpPort: 4790,
  innerMtu: 1500 - ENCAP_OVERHEAD,
};

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

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid desired state:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

type Obj = Record<string, unknown>;

class Checker {
  readonly problems: string[] = [];

  fail(path: string, msg: string): void {
    this.problems.push(`${path}: ${msg}`);
  }

  obj(v: unknown, path: string, keys: readonly string[], optional: readonly string[] = []): Obj | null {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      this.fail(path, 'must be an object');
      return null;
    }
    const o = v as Obj;
    for (const k of Object.keys(o)) {
      if (!keys.includes(k) && !optional.includes(k)) this.fail(`${path}.${k}`, 'unknown field');
    }
    for (const k of keys) if (!(k in o)) this.fail(`${path}.${k}`, 'is required');
    return o;
  }

  str(v: unknown, path: string, re: RegExp = ID_RE, what = 'an identifier ([A-Za-z0-9._:-], 1..64)'): string {
    if (typeof v !== 'string' || !re.test(v)) {
      this.fail(path, `must be ${what}`);
      return '';
    }
    return v;
  }

  int(v: unknown, path: string, min: number, max: number): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      this.fail(path, `must be an integer ${min}..${max}`);
      return min;
    }
    return v;
  }

  bool(v: unknown, path: string): boolean {
    if (typeof v !== 'boolean') {
      this.fail(path, 'must be true or false');
      return false;
    }
    return v;
  }

  ip(v: unknown, path: string): string {
    if (typeof v !== 'string' || parseIpv4(v) === null) {
      this.fail(path, 'must be a canonical IPv4 address');
      return '0.0.0.0';
    }
    return v;
  }

  oneOf<T extends string>(v: unknown, path: string, values: readonly T[]): T {
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
      this.fail(path, `must be one of ${values.join(', ')}`);
      return values[0]!;
    }
    return v as T;
  }

  arr(v: unknown, path: string, max: number): unknown[] {
    if (!Array.isArray(v)) {
      this.fail(path, 'must be an array');
      return [];
    }
    if (v.length > max) this.fail(path, `must have at most ${max} entries`);
    return v;
  }
}

const MAX_VIPS = 1024;
const MAX_BACKENDS = 1000;
const MAX_MUXES = 64;
const MAX_HOSTS = 100_000;

/** The longest SYN-ACK hold a policy may ask for: beyond it a lost redirect costs more than the mux does. */
export const MAX_HANDSHAKE_HOLD_MS = 50;

function checkBypass(c: Checker, v: unknown, path: string): BypassPolicy {
  const o =
    c.obj(v, path, ['enabled', 'sourceCidrs', 'maxFlowsPerHost', 'idleTimeoutS'], ['handshakeHoldMs']) ?? {};
  const sourceCidrs = c.arr(o.sourceCidrs, `${path}.sourceCidrs`, 256).map((s, i) => {
    if (typeof s !== 'string' || parseCidr(s) === null) {
      c.fail(`${path}.sourceCidrs[${i}]`, 'must be an IPv4 CIDR without host bits, e.g. 10.0.0.0/8');
      return '0.0.0.0/0';
    }
    return s;
  });
  const policy: BypassPolicy = {
    enabled: c.bool(o.enabled, `${path}.enabled`),
    sourceCidrs,
    maxFlowsPerHost: c.int(o.maxFlowsPerHost, `${path}.maxFlowsPerHost`, 0, 1_000_000),
    idleTimeoutS: c.int(o.idleTimeoutS, `${path}.idleTimeoutS`, 5, 86_400),
  };
  if (o.handshakeHoldMs !== undefined)
    policy.handshakeHoldMs = c.int(o.handshakeHoldMs, `${path}.handshakeHoldMs`, 0, MAX_HANDSHAKE_HOLD_MS);
  return policy;
}

function checkBackend(c: Checker, v: unknown, path: string): BackendSpec {
  const o = c.obj(v, path, ['address', 'port', 'weight', 'state'], ['healthy']) ?? {};
  const b: BackendSpec = {
    address: c.ip(o.address, `${path}.address`),
    port: c.int(o.port, `${path}.port`, 1, 65535),
    weight: c.int(o.weight, `${path}.weight`, 0, 1000),
    state: c.oneOf(o.state, `${path}.state`, ['active', 'draining', 'disabled'] as const),
  };
  if (o.healthy !== undefined) b.healthy = c.bool(o.healthy, `${path}.healthy`);
  return b;
}

const PROBE_PATH_RE = /^\/[\x21-\x7e]{0,1023}$/;

function checkProbe(c: Checker, v: unknown, path: string): ProbeSpec {
  const o =
    c.obj(
      v,
      path,
      ['protocol', 'intervalMs', 'timeoutMs', 'healthyThreshold', 'unhealthyThreshold'],
      ['port', 'path'],
    ) ?? {};
  const p: ProbeSpec = {
    protocol: c.oneOf(o.protocol, `${path}.protocol`, ['tcp', 'http'] as const),
    intervalMs: c.int(o.intervalMs, `${path}.intervalMs`, 100, 3_600_000),
    timeoutMs: c.int(o.timeoutMs, `${path}.timeoutMs`, 50, 60_000),
    healthyThreshold: c.int(o.healthyThreshold, `${path}.healthyThreshold`, 1, 20),
    unhealthyThreshold: c.int(o.unhealthyThreshold, `${path}.unhealthyThreshold`, 1, 20),
  };
  if (o.port !== undefined) p.port = c.int(o.port, `${path}.port`, 1, 65535);
  if (o.path !== undefined) {
    p.path = c.str(o.path, `${path}.path`, PROBE_PATH_RE, 'an absolute path of printable ASCII, 1..1024');
    if (o.protocol === 'tcp') c.fail(`${path}.path`, 'only http probes take a path');
  }
  if (p.timeoutMs >= p.intervalMs) c.fail(`${path}.timeoutMs`, 'must be lower than intervalMs');
  return p;
}

function checkVip(c: Checker, v: unknown, path: string): VipSpec {
  const o =
    c.obj(
      v,
      path,
      [
        'id',
        'name',
        'address',
        'protocol',
        'port',
        'poolId',
        'distribution',
        'idleTimeoutS',
        'bypass',
        'backends',
      ],
      ['probe'],
    ) ?? {};
  const vip: VipSpec = {
    id: c.str(o.id, `${path}.id`),
    name: c.str(
      o.name,
      `${path}.name`,
      /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/,
      'a name ([A-Za-z0-9._-], 1..63)',
    ),
    address: c.ip(o.address, `${path}.address`),
    protocol: c.oneOf(o.protocol, `${path}.protocol`, ['tcp', 'udp'] as const),
    port: c.int(o.port, `${path}.port`, 1, 65535),
    poolId: c.str(o.poolId, `${path}.poolId`),
    distribution: c.oneOf(o.distribution, `${path}.distribution`, ['five-tuple', 'source-ip'] as const),
    idleTimeoutS: c.int(o.idleTimeoutS, `${path}.idleTimeoutS`, 5, 86_400),
    bypass: checkBypass(c, o.bypass, `${path}.bypass`),
    backends: c
      .arr(o.backends, `${path}.backends`, MAX_BACKENDS)
      .map((b, i) => checkBackend(c, b, `${path}.backends[${i}]`)),
  };
  if (o.probe !== undefined) vip.probe = checkProbe(c, o.probe, `${path}.probe`);
  const seen = new Set<string>();
  vip.backends.forEach((b, i) => {
    if (seen.has(b.address)) c.fail(`${path}.backends[${i}].address`, `duplicate backend host ${b.address}`);
    seen.add(b.address);
  });
  return vip;
}

/**
 * A backend host translates VIP:port to its backend port statelessly (no conntrack), so a reply's source
 * port must name exactly one VIP: on one backend host, the VIPs of one address and protocol need distinct
 * backend ports (a VIP without translation counts with its own port).
 */
function checkPortTranslation(c: Checker, vips: VipSpec[]): void {
  const owner = new Map<string, number>();
  vips.forEach((v, i) =>
    v.backends.forEach((b, j) => {
      const k = `${b.address}/${v.address}/${v.protocol}/${b.port}`;
      const other = owner.get(k);
      if (other !== undefined && other !== i) {
        c.fail(
          `$.vips[${i}].backends[${j}].port`,
          `backend ${b.address} already serves ${v.protocol} port ${b.port} of VIP ${v.address} for $.vips[${other}]; ` +
            'replies could not be told apart',
        );
      } else owner.set(k, i);
    }),
  );
}

/** Validates parsed JSON; throws ConfigError listing every problem. */
export function validateDesiredState(input: unknown): DesiredState {
  const c = new Checker();
  const o =
    c.obj(input, '$', ['version', 'revision', 'agent', 'redirect', 'muxes', 'vips'], ['encap', 'hosts']) ??
    {};
  if (o.version !== 1) c.fail('$.version', 'must be 1');
  const a = c.obj(o.agent, '$.agent', ['tenantId', 'agentId', 'role', 'underlay']) ?? {};
  const agent: AgentIdentity = {
    tenantId: c.str(a.tenantId, '$.agent.tenantId'),
    agentId: c.str(a.agentId, '$.agent.agentId'),
    role: c.oneOf(a.role, '$.agent.role', ['host', 'mux'] as const),
    underlay: c.ip(a.underlay, '$.agent.underlay'),
  };
  const r = c.obj(o.redirect, '$.redirect', ['activeKeyId', 'keys'], ['port', 'windowMs']) ?? {};
  const keys: Record<string, string> = {};
  let ko: Obj = {};
  if (typeof r.keys !== 'object' || r.keys === null || Array.isArray(r.keys))
    c.fail('$.redirect.keys', 'must be an object');
  else ko = r.keys as Obj;
  const keyIds = Object.keys(ko);
  if (keyIds.length < 1 || keyIds.length > 2)
    c.fail('$.redirect.keys', 'must hold 1 or 2 keys (2 during a rotation)');
  for (const id of keyIds) {
    c.str(id, `$.redirect.keys[${JSON.stringify(id)}] (key id)`);
    const k = ko[id];
    if (typeof k !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(k) || Buffer.from(k, 'base64').length < 32) {
      c.fail(`$.redirect.keys.${id}`, 'must be a base64 key of at least 32 bytes');
    } else keys[id] = k;
  }
  const redirect: RedirectConfig = {
    port: r.port === undefined ? 4791 : c.int(r.port, '$.redirect.port', 1, 65535),
    activeKeyId: c.str(r.activeKeyId, '$.redirect.activeKeyId'),
    keys,
    windowMs: r.windowMs === undefined ? 5000 : c.int(r.windowMs, '$.redirect.windowMs', 100, 60_000),
  };
  if (redirect.activeKeyId && !(redirect.activeKeyId in ko))
    c.fail('$.redirect.activeKeyId', 'must name one of the keys');
  let encap: EncapConfig = { ...DEFAULT_ENCAP };
  if (o.encap !== undefined) {
    const e = c.obj(o.encap, '$.encap', ['vni', 'udpPort', 'innerMtu']) ?? {};
    encap = {
      vni: c.int(e.vni, '$.encap.vni', 1, 16_777_215),
      udpPort: c.int(e.udpPort, '$.encap.udpPort', 1, 65535),
      innerMtu: c.int(e.innerMtu, '$.encap.innerMtu', 576, 9000),
    };
  }
  const muxes = c.arr(o.muxes, '$.muxes', MAX_MUXES).map((m, i) => {
    const mo = c.obj(m, `$.muxes[${i}]`, ['address', 'healthy']) ?? {};
    return {
      address: c.ip(mo.address, `$.muxes[${i}].address`),
      healthy: c.bool(mo.healthy, `$.muxes[${i}].healthy`),
    };
  });
  const vips = c.arr(o.vips, '$.vips', MAX_VIPS).map((v, i) => checkVip(c, v, `$.vips[${i}]`));
  checkPortTranslation(c, vips);
  const hostsSeen = new Set<string>();
  const hosts = (o.hosts === undefined ? [] : c.arr(o.hosts, '$.hosts', MAX_HOSTS)).map((h, i) => {
    const ho = c.obj(h, `$.hosts[${i}]`, ['address']) ?? {};
    const before = c.problems.length;
    const address = c.ip(ho.address, `$.hosts[${i}].address`);
    if (c.problems.length === before && hostsSeen.has(address))
      c.fail(`$.hosts[${i}].address`, `duplicate host ${address}`);
    hostsSeen.add(address);
    return { address };
  });
  const ids = new Set<string>();
  const keysSeen = new Set<string>();
  vips.forEach((v, i) => {
    if (ids.has(v.id)) c.fail(`$.vips[${i}].id`, `duplicate VIP id ${v.id}`);
    ids.add(v.id);
    const k = `${v.address}/${v.protocol}/${v.port}`;
    if (keysSeen.has(k)) c.fail(`$.vips[${i}]`, `duplicate VIP ${k}`);
    keysSeen.add(k);
  });
  const state: DesiredState = {
    version: 1,
    revision: c.int(o.revision, '$.revision', 0, Number.MAX_SAFE_INTEGER),
    agent,
    redirect,
    encap,
    muxes,
    vips,
    hosts,
  };
  if (c.problems.length > 0) throw new ConfigError(c.problems);
  return state;
}

/** Parses and validates file text; errors name the offending field. */
export function parseDesiredState(text: string): DesiredState {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError([`not JSON: ${(err as Error).message}`]);
  }
  return validateDesiredState(json);
}

/** The lab's `status --json` contract as the benchmark reads it, and the choice of targets from it. */

export interface LabHost {
  name: string;
  netns: string;
  kind: 'client' | 'mux' | 'backend';
  role: 'host' | 'mux';
  underlay: string;
  agentPid: number | null;
  metrics: string;
}

export interface LabVip {
  name: string;
  address: string;
  protocol: 'tcp' | 'udp';
  port: number;
  service: 'http' | 'iperf' | 'tcp-echo' | 'udp-echo';
  bypass: boolean;
  /** Backends hold each SYN-ACK up to this long for the bypass (0 or absent: no hold). */
  handshakeHoldMs?: number;
  /** Not in the contract; when the lab adds it, the direct path uses it instead of the VIP port. */
  backendPort?: number;
}

export interface LabStatus {
  prefix: string;
  up: boolean;
  hosts: LabHost[];
  vips: LabVip[];
  configFile: string;
}

function fail(msg: string): never {
  throw new Error(`lab status: ${msg}`);
}

function str(o: Record<string, unknown>, k: string, where: string): string {
  const v = o[k];
  if (typeof v !== 'string' || v === '') fail(`${where}.${k} must be a non-empty string`);
  return v;
}

/** Validates the JSON text against the contract; throws naming the first field that does not fit. */
export function parseLabStatus(text: string): LabStatus {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    fail(`not JSON: ${text.slice(0, 200)}`);
  }
  if (typeof doc !== 'object' || doc === null) fail('not an object');
  const d = doc as Record<string, unknown>;
  if (typeof d.up !== 'boolean') fail('up must be a boolean');
  if (!Array.isArray(d.hosts)) fail('hosts must be an array');
  if (!Array.isArray(d.vips)) fail('vips must be an array');
  const hosts = d.hosts.map((h: unknown, i): LabHost => {
    const w = `hosts[${i}]`;
    if (typeof h !== 'object' || h === null) fail(`${w} must be an object`);
    const o = h as Record<string, unknown>;
    const kind = o.kind;
    if (kind !== 'client' && kind !== 'mux' && kind !== 'backend')
      fail(`${w}.kind must be client|mux|backend`);
    const role = o.role;
    if (role !== 'host' && role !== 'mux') fail(`${w}.role must be host|mux`);
    const pid = o.agentPid;
    if (pid !== null && pid !== undefined && typeof pid !== 'number')
      fail(`${w}.agentPid must be a number or null`);
    return {
      name: str(o, 'name', w),
      netns: str(o, 'netns', w),
      kind,
      role,
      underlay: str(o, 'underlay', w),
      agentPid: typeof pid === 'number' ? pid : null,
      metrics: str(o, 'metrics', w),
    };
  });
  const vips = d.vips.map((v: unknown, i): LabVip => {
    const w = `vips[${i}]`;
    if (typeof v !== 'object' || v === null) fail(`${w} must be an object`);
    const o = v as Record<string, unknown>;
    const protocol = o.protocol;
    if (protocol !== 'tcp' && protocol !== 'udp') fail(`${w}.protocol must be tcp|udp`);
    const service = o.service;
    if (service !== 'http' && service !== 'iperf' && service !== 'tcp-echo' && service !== 'udp-echo') {
      fail(`${w}.service must be http|iperf|tcp-echo|udp-echo`);
    }
    const port = o.port;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535)
      fail(`${w}.port must be 1..65535`);
    if (typeof o.bypass !== 'boolean') fail(`${w}.bypass must be a boolean`);
    const out: LabVip = {
      name: str(o, 'name', w),
      address: str(o, 'address', w),
      protocol,
      port,
      service,
      bypass: o.bypass,
    };
    if (typeof o.backendPort === 'number') out.backendPort = o.backendPort;
    if (typeof o.handshakeHoldMs === 'number') out.handshakeHoldMs = o.handshakeHoldMs;
    return out;
  });
  return {
    prefix: typeof d.prefix === 'string' ? d.prefix : '',
    up: d.up,
    hosts,
    vips,
    configFile: typeof d.configFile === 'string' ? d.configFile : '',
  };
}

export interface Endpoint {
  host: string;
  port: number;
}

export interface BenchTargets {
  clients: LabHost[];
  /** iperf3 and tcp-echo endpoints for each path. */
  iperf: { direct: Endpoint; mux: Endpoint; bypass: Endpoint };
  echo: { direct: Endpoint; mux: Endpoint; bypass: Endpoint };
  http: Endpoint;
  /** An HTTP VIP whose backends hold handshakes (absent: the lab has none). */
  httpHold?: Endpoint & { holdMs: number };
  /** Every bypass-enabled VIP, for filtering the client counters. */
  bypassVips: LabVip[];
  directBackend: LabHost;
}

/** Values the agents may use in the `vip` label for this VIP (name, address or address:port). */
export function vipLabelCandidates(vips: readonly LabVip[]): string[] {
  return [...new Set(vips.flatMap((v) => [v.name, v.address, `${v.address}:${v.port}`]))];
}

/** Picks what the benchmark drives; throws listing every VIP the lab is missing. */
export function selectTargets(s: LabStatus): BenchTargets {
  const missing: string[] = [];
  const find = (service: LabVip['service'], bypass: boolean): LabVip | undefined => {
    const v = s.vips.find((x) => x.protocol === 'tcp' && x.service === service && x.bypass === bypass);
    if (!v) missing.push(`a TCP VIP with bypass ${bypass ? 'enabled' : 'disabled'} serving ${service}`);
    return v;
  };
  const iperfBypass = find('iperf', true);
  const iperfMux = find('iperf', false);
  const echoBypass = find('tcp-echo', true);
  const echoMux = find('tcp-echo', false);
  const httpBypass = s.vips.find(
    (x) => x.protocol === 'tcp' && x.service === 'http' && x.bypass && !x.handshakeHoldMs,
  );
  if (!httpBypass) missing.push('a TCP VIP with bypass enabled serving http');
  const httpHold = s.vips.find(
    (x) => x.protocol === 'tcp' && x.service === 'http' && x.bypass && (x.handshakeHoldMs ?? 0) > 0,
  );
  const clients = s.hosts.filter((h) => h.kind === 'client');
  const backend = s.hosts.find((h) => h.kind === 'backend');
  if (clients.length === 0) missing.push('a client host');
  if (!backend) missing.push('a backend host');
  if (!iperfBypass || !iperfMux || !echoBypass || !echoMux || !httpBypass || !backend || missing.length > 0) {
    throw new Error(`lab status: the benchmark needs ${missing.join('; ')}`);
  }
  const ep = (v: LabVip): Endpoint => ({ host: v.address, port: v.port });
  // Backends listen on the VIP's port on every address, so the direct path is the same port on the underlay.
  const direct = (v: LabVip): Endpoint => ({ host: backend.underlay, port: v.backendPort ?? v.port });
  return {
    clients,
    iperf: { direct: direct(iperfBypass), mux: ep(iperfMux), bypass: ep(iperfBypass) },
    echo: { direct: direct(echoBypass), mux: ep(echoMux), bypass: ep(echoBypass) },
    http: ep(httpBypass),
    ...(httpHold ? { httpHold: { ...ep(httpHold), holdMs: httpHold.handshakeHoldMs ?? 0 } } : {}),
    bypassVips: s.vips.filter((v) => v.bypass),
    directBackend: backend,
  };
}

/**
 * Network-namespace lab: an underlay bridge in a namespace of its own, 2 clients, 2 muxes, 3 backends,
 * an agent in each, lab services on the backends. Everything carries the prefix, so `down` can remove
 * it all even after a crash (namespaces are found by name, processes by namespace).
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_ENCAP, type DesiredState, type VipSpec } from '../config/desired-state.js';
import { enroll } from '../control/enroll.js';
import { parseApiUrl } from '../control/http.js';
import { writeControlState, type ControlState } from '../control/state-file.js';

// Compiled entry points; the same from src/lab (tests) and dist/lab (CLI).
const DIST = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist');

export type HostKind = 'client' | 'mux' | 'backend';
export interface LabHostDef {
  name: string;
  kind: HostKind;
  underlay: string;
}

export const HOSTS: LabHostDef[] = [
  { name: 'c1', kind: 'client', underlay: '198.18.0.11' },
  { name: 'c2', kind: 'client', underlay: '198.18.0.12' },
  { name: 'm1', kind: 'mux', underlay: '198.18.0.21' },
  { name: 'm2', kind: 'mux', underlay: '198.18.0.22' },
  { name: 'b1', kind: 'backend', underlay: '198.18.0.31' },
  { name: 'b2', kind: 'backend', underlay: '198.18.0.32' },
  { name: 'b3', kind: 'backend', underlay: '198.18.0.33' },
];

export type Service = 'http' | 'iperf' | 'tcp-echo' | 'udp-echo';
export const SERVICE_PORTS: Record<Service, { protocol: 'tcp' | 'udp'; port: number }> = {
  http: { protocol: 'tcp', port: 80 },
  iperf: { protocol: 'tcp', port: 5201 },
  'tcp-echo': { protocol: 'tcp', port: 7 },
  'udp-echo': { protocol: 'udp', port: 7 },
};

export function labDir(prefix: string): string {
  return `/run/slipstream-lab/${prefix}`;
}

export function nsName(prefix: string, host: string): string {
  return `${prefix}-${host}`;
}

function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, {
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(input ? { input } : {}),
  });
}

function trySh(cmd: string, args: string[]): boolean {
  try {
    sh(cmd, args);
    return true;
  } catch {
    return false;
  }
}

function checkPrefix(prefix: string): void {
  // Interface names are limited to 15 characters; namespace names end in "-c1", "-ul".
  if (!/^[a-z][a-z0-9]{1,10}$/.test(prefix))
    throw new Error(`prefix must be 2..11 of [a-z0-9], starting with a letter: ${prefix}`);
}

function vip(
  id: string,
  name: string,
  address: string,
  service: Service,
  bypass: boolean,
  listenerPort?: number,
): VipSpec & { service: Service } {
  const { protocol, port } = SERVICE_PORTS[service];
  return {
    id,
    name,
    address,
    protocol,
    port: listenerPort ?? port,
    poolId: 'pool-web',
    // iperf3 opens a control and a data connection that must reach the same backend.
    distribution: service === 'iperf' ? 'source-ip' : 'five-tuple',
    idleTimeoutS: 300,
    bypass: { enabled: bypass, sourceCidrs: ['198.18.0.0/24'], maxFlowsPerHost: 100_000, idleTimeoutS: 300 },
    backends: HOSTS.filter((h) => h.kind === 'backend').map((h) => ({
      address: h.underlay,
      port,
      weight: 100,
      state: 'active' as const,
    })),
    service,
  };
}

export function demoVips(): (VipSpec & { service: Service })[] {
  return [
    vip('vip-web', 'web', '198.19.0.10', 'http', true),
    vip('vip-bulk', 'bulk', '198.19.0.10', 'iperf', true),
    vip('vip-echo', 'echo', '198.19.0.10', 'tcp-echo', true),
    vip('vip-web-mux', 'web-mux', '198.19.0.20', 'http', false),
    vip('vip-bulk-mux', 'bulk-mux', '198.19.0.20', 'iperf', false),
    vip('vip-echo-mux', 'echo-mux', '198.19.0.20', 'tcp-echo', false),
    vip('vip-udp', 'udp', '198.19.0.30', 'udp-echo', true),
    // Port translation: listener 8080, the backends' HTTP service on 80.
    vip('vip-web-alt', 'web-alt', '198.19.0.40', 'http', true, 8080),
    // The web service again, with the backends holding each SYN-ACK until the client is bypassed.
    withHold(vip('vip-web-hold', 'web-hold', '198.19.0.50', 'http', true), LAB_HOLD_MS),
  ];
}

/** The lab's handshake hold: above its time-to-bypass p99 under load (a few ms on a 2-core machine). */
export const LAB_HOLD_MS = 10;

function withHold<V extends VipSpec>(v: V, ms: number): V {
  return { ...v, bypass: { ...v.bypass, handshakeHoldMs: ms } };
}

/** The shared part of every agent's desired state; per-host files add the agent identity. */
export function demoConfig(key: string): Omit<DesiredState, 'agent'> {
  return {
    version: 1,
    revision: 1,
    redirect: { port: 4791, activeKeyId: 'k1', keys: { k1: key }, windowMs: 5000 },
    encap: { ...DEFAULT_ENCAP },
    muxes: HOSTS.filter((h) => h.kind === 'mux').map((h) => ({ address: h.underlay, healthy: true })),
    vips: demoVips().map(({ service: _s, ...v }) => v),
    hosts: HOSTS.filter((h) => h.kind !== 'mux').map((h) => ({ address: h.underlay })),
  };
}

export function hostConfigFile(prefix: string, host: string): string {
  return join(labDir(prefix), `${host}.json`);
}

export function writeHostConfig(prefix: string, base: Omit<DesiredState, 'agent'>, h: LabHostDef): void {
  const cfg: DesiredState = {
    ...base,
    agent: {
      tenantId: 'lab',
      agentId: h.name,
      role: h.kind === 'mux' ? 'mux' : 'host',
      underlay: h.underlay,
    },
  };
  const file = hostConfigFile(prefix, h.name);
  writeFileSync(`${file}.tmp`, JSON.stringify(cfg, null, 2));
  execFileSync('mv', [`${file}.tmp`, file]);
}

function nsExec(ns: string, cmd: string[]): string[] {
  return ['netns', 'exec', ns, ...cmd];
}

function startDetached(prefix: string, ns: string, logName: string, cmd: string[]): number {
  const log = openSync(join(labDir(prefix), `${logName}.log`), 'a');
  const p = spawn('ip', nsExec(ns, cmd), {
    detached: true,
    stdio: ['ignore', log, log],
    env: {
      ...process.env,
      NEXT_TELEMETRY_DISABLED: '1',
      TURBO_TELEMETRY_DISABLED: '1',
      CHECKPOINT_DISABLE: '1',
    },
  });
  p.unref();
  return p.pid!;
}

export function controlStateFile(prefix: string, host: string): string {
  return join(labDir(prefix), `agent-${host}.control.json`);
}

export function apiSocket(prefix: string): string {
  return join(labDir(prefix), 'api.sock');
}

/** Starts the host's agent; in control mode it takes its state from the API (enrolled beforehand). */
export function startAgent(prefix: string, host: string, mode: 'file' | 'control' = 'file'): number {
  const source =
    mode === 'control'
      ? ['--control', controlStateFile(prefix, host)]
      : ['--config', hostConfigFile(prefix, host)];
  const pid = startDetached(prefix, nsName(prefix, host), `agent-${host}`, [
    process.execPath,
    join(DIST, 'main.js'),
    'run',
    ...source,
  ]);
  writeFileSync(join(labDir(prefix), `agent-${host}.pid`), String(pid));
  return pid;
}

export function agentPid(prefix: string, host: string): number | null {
  const f = join(labDir(prefix), `agent-${host}.pid`);
  if (!existsSync(f)) return null;
  const pid = Number(readFileSync(f, 'utf8'));
  try {
    process.kill(pid, 0);
  } catch {
    return null;
  }
  // An agent that exited while this process was blocked is a zombie until our event loop reaps it.
  return isZombie(pid) ? null : pid;
}

function isZombie(pid: number): boolean {
  try {
    return /^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

export async function stopAgent(
  prefix: string,
  host: string,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<void> {
  const pid = agentPid(prefix, host);
  if (pid === null) return;
  process.kill(pid, signal);
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await sleep(50);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function waitFor(what: string, fn: () => boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (fn()) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

export function metricsText(prefix: string, host: string): string {
  try {
    return sh('ip', nsExec(nsName(prefix, host), ['curl', '-s', '-m', '2', 'http://127.0.0.1:9464/metrics']));
  } catch {
    return '';
  }
}

/** Joins the lab to a real API: each agent enrolls with the join token of its role and runs in control mode. */
export interface LabControl {
  /** The API as reachable from the host's root namespace, e.g. http://127.0.0.1:3001 (plain HTTP). */
  apiUrl: string;
  joinTokenHost: string;
  joinTokenMux: string;
  /**
   * Install each agent the way a real host does: run the API's `GET /install.sh` into a staging root under
   * the lab's run dir (`--root`, `--no-systemd`), then start the launcher it wrote inside the namespace,
   * which enrolls with the join token on its first start. Without it the lab enrolls from this checkout.
   */
  install?: boolean;
}

/** Agent name in the API: the namespace name, so two labs can share one tenant. */
export function agentName(prefix: string, host: string): string {
  return nsName(prefix, host);
}

function relayPidFile(prefix: string): string {
  return join(labDir(prefix), 'relay.pid');
}

function stopRelay(prefix: string): void {
  const f = relayPidFile(prefix);
  if (!existsSync(f)) return;
  const pid = Number(readFileSync(f, 'utf8'));
  try {
    // Only our relay: the pid file may be stale and the number reused.
    if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(join(DIST, 'lab', 'relay.js'))) {
      process.kill(pid, 'SIGTERM');
    }
  } catch {
    // already gone
  }
}

async function startRelay(prefix: string, apiUrl: string): Promise<string> {
  const t = parseApiUrl(apiUrl);
  if (t.socketPath || t.protocol !== 'http:' || t.base !== '')
    throw new Error(`the lab relays plain http://host:port API URLs only, got ${apiUrl}`);
  const sock = apiSocket(prefix);
  const log = openSync(join(labDir(prefix), 'relay.log'), 'a');
  const p = spawn(process.execPath, [join(DIST, 'lab', 'relay.js'), sock, t.host!, String(t.port)], {
    detached: true,
    stdio: ['ignore', log, log],
  });
  p.unref();
  writeFileSync(relayPidFile(prefix), String(p.pid));
  await waitFor('the API relay socket', () => existsSync(sock), 5000);
  return sock;
}

/** `labUp` in control mode; for `npm run up`: `await labUpWithControl('sls', {apiUrl, joinTokenHost, joinTokenMux})`. */
export function labUpWithControl(prefix: string, control: LabControl): Promise<void> {
  return labUp(prefix, control);
}

export async function labUp(prefix: string, control?: LabControl): Promise<void> {
  checkPrefix(prefix);
  if (control) {
    const t = parseApiUrl(control.apiUrl);
    if (t.socketPath || t.protocol !== 'http:' || t.base !== '')
      throw new Error(`the lab relays plain http://host:port API URLs only, got ${control.apiUrl}`);
    for (const tok of [control.joinTokenHost, control.joinTokenMux])
      if (!tok.startsWith('sls_j_')) throw new Error('join tokens start with sls_j_');
  }
  try {
    await buildLab(prefix, control);
  } catch (err) {
    // A lab that could not enroll (bad token, API down) is not left half built.
    if (control) labDown(prefix);
    throw err;
  }
}

async function enrollLabAgent(...args: Parameters<typeof enroll>): Promise<ControlState> {
  try {
    return await enroll(...args);
  } catch (err) {
    throw new Error(`enrolling lab agent ${args[2].name}: ${(err as Error).message}`, { cause: err });
  }
}

async function buildLab(prefix: string, control: LabControl | undefined): Promise<void> {
  labDown(prefix);
  mkdirSync(labDir(prefix), { recursive: true });
  const ul = nsName(prefix, 'ul');
  const batch: string[] = [`netns add ${ul}`];
  for (const h of HOSTS) batch.push(`netns add ${nsName(prefix, h.name)}`);
  sh('ip', ['-batch', '-'], batch.join('\n') + '\n');
  const ulb: string[] = ['link add br0 type bridge', 'link set br0 up', 'link set lo up'];
  for (const h of HOSTS) {
    ulb.push(`link add ${h.name} type veth peer name eth0 netns ${nsName(prefix, h.name)}`);
    ulb.push(`link set ${h.name} master br0 up`);
  }
  sh('ip', ['-n', ul, '-batch', '-'], ulb.join('\n') + '\n');
  for (const h of HOSTS) {
    const ns = nsName(prefix, h.name);
    sh(
      'ip',
      ['-n', ns, '-batch', '-'],
      ['link set lo up', 'link set eth0 up', `addr add ${h.underlay}/24 dev eth0`].join('\n') + '\n',
    );
    sh(
      'ip',
      nsExec(ns, ['sysctl', '-qw', 'net.ipv4.conf.eth0.rp_filter=0', 'net.ipv6.conf.all.disable_ipv6=1']),
    );
  }
  if (control?.install) {
    const sock = await startRelay(prefix, control.apiUrl);
    const script = await fetchInstaller(control.apiUrl);
    for (const h of HOSTS) {
      installLabAgent(prefix, h, script, [
        '--token',
        h.kind === 'mux' ? control.joinTokenMux : control.joinTokenHost,
        '--agent-api',
        `unix:${sock}`,
      ]);
      startInstalledAgent(prefix, h.name);
    }
  } else if (control) {
    const sock = await startRelay(prefix, control.apiUrl);
    // Enrolled through the relay, the same path the agents then use from inside their namespaces.
    for (const h of HOSTS) {
      const st = await enrollLabAgent(
        `unix:${sock}`,
        h.kind === 'mux' ? control.joinTokenMux : control.joinTokenHost,
        {
          name: agentName(prefix, h.name),
          underlay: h.underlay,
          version: 'lab',
          hostname: agentName(prefix, h.name),
        },
      );
      const want = h.kind === 'mux' ? 'mux' : 'host';
      if (st.role !== want)
        throw new Error(`agent ${h.name} enrolled as ${st.role}, expected ${want}: wrong join token?`);
      writeControlState(controlStateFile(prefix, h.name), st);
    }
    for (const h of HOSTS) startAgent(prefix, h.name, 'control');
  } else {
    const key = randomBytes(32).toString('base64');
    const base = demoConfig(key);
    writeFileSync(join(labDir(prefix), 'config.json'), JSON.stringify(base, null, 2));
    for (const h of HOSTS) writeHostConfig(prefix, base, h);
    for (const h of HOSTS) startAgent(prefix, h.name);
  }
  for (const h of HOSTS.filter((x) => x.kind === 'backend')) {
    const ns = nsName(prefix, h.name);
    const svc = (file: string, port: number): number =>
      startDetached(prefix, ns, `${file}-${h.name}`, [
        process.execPath,
        join(DIST, 'lab-services', `${file}.js`),
        '--port',
        String(port),
        '--name',
        h.name,
      ]);
    svc('http-server', 80);
    svc('tcp-echo', 7);
    svc('udp-echo', 7);
    startDetached(prefix, ns, `iperf3-${h.name}`, ['iperf3', '-s', '-p', '5201']);
  }
  // In control mode the state arrives from the API (possibly none yet); the metrics server is enough.
  await waitFor('agents and services', () =>
    HOSTS.every((h) => {
      if (control?.install && agentPid(prefix, h.name) === null)
        throw new Error(
          `installed agent ${h.name} exited: ${tail(join(labDir(prefix), `agent-${h.name}.log`))}`,
        );
      return metricsText(prefix, h.name).includes('slipstream_config_revision');
    }),
  );
  if (control?.install) {
    for (const h of HOSTS) {
      const st = JSON.parse(readFileSync(installedStateFile(prefix, h.name), 'utf8')) as ControlState;
      const want = h.kind === 'mux' ? 'mux' : 'host';
      if (st.role !== want)
        throw new Error(`agent ${h.name} enrolled as ${st.role}, expected ${want}: wrong join token?`);
    }
  }
  await waitFor('backend services', () =>
    HOSTS.filter((h) => h.kind === 'backend').every((h) => {
      const out = sh('ip', nsExec(nsName(prefix, h.name), ['ss', '-Hltn']));
      return out.includes(':80 ') && out.includes(':5201 ') && out.includes(':7 ');
    }),
  );
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-3).join(' | ');
  } catch {
    return '(no log)';
  }
}

/** The staging root a lab host's agent is installed into (`install.sh --root`). */
export function installRoot(prefix: string, host: string): string {
  return join(labDir(prefix), 'root', host);
}

/** The credential file the installed agent writes at its first start. */
export function installedStateFile(prefix: string, host: string): string {
  return join(installRoot(prefix, host), 'var', 'lib', 'slipstream', 'control.json');
}

/** The launcher `install.sh` writes (`run` enrolls once, then runs the agent; `cleanup`). */
export function installedLauncher(prefix: string, host: string): string {
  return join(installRoot(prefix, host), 'opt', 'slipstream', 'bin', 'slipstream-agent');
}

/** `GET <api>/install.sh`, as `curl -fsSL` would fetch it. */
export async function fetchInstaller(apiUrl: string): Promise<string> {
  const url = `${apiUrl.replace(/\/$/, '')}/install.sh`;
  const r = await fetch(url);
  const text = await r.text();
  if (!r.ok) throw new Error(`GET ${url}: ${r.status} ${text.slice(0, 300)}`);
  return text;
}

/**
 * Runs the installer for one lab host in the root namespace (it downloads from the API like a real
 * host), staged under `installRoot`; `extra` adds the token and agent API URL. Returns its output.
 */
export function installLabAgent(prefix: string, h: LabHostDef, script: string, extra: string[]): string {
  const file = join(labDir(prefix), 'install.sh');
  writeFileSync(file, script, { mode: 0o700 });
  const args = [
    file,
    '--root',
    installRoot(prefix, h.name),
    '--no-systemd',
    '--name',
    agentName(prefix, h.name),
    '--underlay',
    h.underlay,
    ...extra,
  ];
  try {
    return execFileSync('bash', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`installing lab agent ${h.name}: ${(e.stderr || e.stdout || e.message).trim()}`, {
      cause: err,
    });
  }
}

/** Starts the installed launcher inside the host's namespace (what systemd's ExecStart would run). */
export function startInstalledAgent(prefix: string, host: string): number {
  const pid = startDetached(prefix, nsName(prefix, host), `agent-${host}`, [
    installedLauncher(prefix, host),
    'run',
  ]);
  writeFileSync(join(labDir(prefix), `agent-${host}.pid`), String(pid));
  return pid;
}

export function labNamespaces(prefix: string): string[] {
  let out: string;
  try {
    out = sh('ip', ['netns', 'list']);
  } catch {
    return [];
  }
  return out
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(`${prefix}-`));
}

/** Removes the lab: processes in its namespaces, the namespaces (with their links), its files. */
export function labDown(prefix: string): void {
  checkPrefix(prefix);
  const nss = labNamespaces(prefix);
  for (let round = 0; round < 3; round++) {
    let any = false;
    for (const ns of nss) {
      let pids: string[];
      try {
        pids = sh('ip', ['netns', 'pids', ns]).split('\n').filter(Boolean);
      } catch {
        pids = [];
      }
      for (const pid of pids) {
        any = true;
        try {
          process.kill(Number(pid), round === 0 ? 'SIGTERM' : 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    if (!any) break;
    execFileSync('sleep', ['0.3']);
  }
  for (const ns of nss) trySh('ip', ['netns', 'del', ns]);
  stopRelay(prefix);
  rmSync(labDir(prefix), { recursive: true, force: true });
}

export interface LabStatus {
  prefix: string;
  up: boolean;
  hosts: {
    name: string;
    netns: string;
    kind: HostKind;
    role: 'host' | 'mux';
    underlay: string;
    agentPid: number | null;
    metrics: string;
    configFile: string;
  }[];
  vips: {
    name: string;
    address: string;
    protocol: 'tcp' | 'udp';
    port: number;
    service: Service;
    bypass: boolean;
    handshakeHoldMs: number;
  }[];
  configFile: string;
}

export function labStatus(prefix: string): LabStatus {
  checkPrefix(prefix);
  const nss = labNamespaces(prefix);
  const up = HOSTS.every((h) => nss.includes(nsName(prefix, h.name))) && nss.includes(nsName(prefix, 'ul'));
  return {
    prefix,
    up,
    hosts: HOSTS.map((h) => ({
      name: h.name,
      netns: nsName(prefix, h.name),
      kind: h.kind,
      role: h.kind === 'mux' ? 'mux' : 'host',
      underlay: h.underlay,
      agentPid: agentPid(prefix, h.name),
      metrics: 'http://127.0.0.1:9464/metrics',
      configFile: hostConfigFile(prefix, h.name),
    })),
    vips: demoVips().map((v) => ({
      name: v.name,
      address: v.address,
      protocol: v.protocol,
      port: v.port,
      service: v.service,
      bypass: v.bypass.enabled,
      handshakeHoldMs: v.bypass.handshakeHoldMs ?? 0,
    })),
    configFile: join(labDir(prefix), 'config.json'),
  };
}

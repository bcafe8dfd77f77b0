/**
 * Reconciles a KernelPlan into the current network namespace with nft and iproute2, and a persistent
 * `nft -e -i` session for per-flow elements (spawning nft per element costs ~7.5 ms, see DESIGN.md).
 */
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { promisify } from 'node:util';
import {
  HOLD_MARK,
  HOLD_QUEUE,
  NFT_TABLE,
  ROUTE_PROTO,
  RULE_PREF_BASE,
  TUNNEL_DEV,
  VIP_LABEL,
  type ExistingObjects,
  type KernelPlan,
  type RouteSpec,
} from './render.js';
import type { EncapConfig } from '../config/desired-state.js';

const execFileP = promisify(execFile);

export async function run(cmd: string, args: string[], input?: string): Promise<string> {
  if (input === undefined) {
    const { stdout } = await execFileP(cmd, args, { maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  }
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')}: ${err.trim()}`)),
    );
    p.stdin.end(input);
  });
}

export async function tryRun(cmd: string, args: string[]): Promise<boolean> {
  try {
    await run(cmd, args);
    return true;
  } catch {
    return false;
  }
}

export async function existingObjects(): Promise<ExistingObjects | null> {
  let out: string;
  try {
    out = await run('nft', ['-j', '-t', 'list', 'table', 'ip', NFT_TABLE]);
  } catch {
    return null;
  }
  const res: ExistingObjects = { chains: [], counters: [], maps: [] };
  const parsed = JSON.parse(out) as { nftables: Record<string, { name?: string }>[] };
  for (const item of parsed.nftables) {
    if (item.chain?.name) res.chains.push(item.chain.name);
    if (item.counter?.name) res.counters.push(item.counter.name);
    if (item.map?.name) res.maps.push(item.map.name);
    if (item.set?.name) res.maps.push(item.set.name);
  }
  return res;
}

async function ensureTunnel(encap: EncapConfig): Promise<void> {
  const out = await run('ip', ['-d', '-j', 'link', 'show']);
  const links = JSON.parse(out) as { ifname: string; linkinfo?: { info_data?: { port?: number } } }[];
  const tun = links.find((l) => l.ifname === TUNNEL_DEV);
  if (tun && tun.linkinfo?.info_data?.port !== encap.udpPort) {
    await run('ip', ['link', 'del', TUNNEL_DEV]);
  }
  if (!tun || tun.linkinfo?.info_data?.port !== encap.udpPort) {
    // VXLAN-GPE carries the inner IP packet without an Ethernet header: no MAC or ARP on the tunnel.
    await run('ip', [
      'link',
      'add',
      TUNNEL_DEV,
      'type',
      'vxlan',
      'gpe',
      'external',
      'dstport',
      String(encap.udpPort),
    ]);
  }
  await run('ip', ['link', 'set', TUNNEL_DEV, 'up']);
}

function routeArgs(r: RouteSpec, vni: number): string[] {
  const a = [
    'route',
    'replace',
    r.dst,
    'encap',
    'ip',
    'id',
    String(vni),
    'dst',
    r.encapDst,
    'dev',
    TUNNEL_DEV,
  ];
  if (r.src) a.push('src', r.src);
  a.push('mtu', 'lock', String(r.mtu), 'proto', String(ROUTE_PROTO));
  if (r.table !== 'main') a.push('table', String(r.table));
  return a;
}

async function reconcileRoutes(plan: KernelPlan, vni: number): Promise<void> {
  const batch: string[] = [];
  for (const r of plan.routes) batch.push(routeArgs(r, vni).join(' '));
  // Text, not JSON: iproute2 prints the encap's `dst` as a second "dst" key that hides the route's own.
  const out = await run('ip', ['route', 'show', 'table', 'all', 'proto', String(ROUTE_PROTO)]);
  for (const line of out.split('\n')) {
    const words = line.trim().split(/\s+/);
    const dst = words[0];
    if (!dst) continue;
    const ti = words.indexOf('table');
    const table = ti >= 0 ? words[ti + 1]! : 'main';
    const want = plan.routes.some((r) => {
      const rdst = r.dst.endsWith('/32') ? r.dst.slice(0, -3) : r.dst;
      return String(r.table) === table && rdst === dst;
    });
    if (!want) batch.push(`route del ${dst} table ${table} proto ${ROUTE_PROTO}`);
  }
  const rulesOut = await run('ip', ['-j', 'rule', 'show']);
  const rules = JSON.parse(rulesOut) as {
    priority: number;
    fwmark?: string;
    table?: string;
    ipproto?: string;
    dport?: number;
  }[];
  const ours = rules.filter((r) => r.priority >= RULE_PREF_BASE && r.priority < RULE_PREF_BASE + 1000);
  const same = (r: (typeof rules)[number], w: KernelPlan['rules'][number]): boolean =>
    r.priority === w.pref &&
    Number(r.fwmark) === w.fwmark &&
    r.table === String(w.table) &&
    (w.udpDport === undefined ? r.ipproto === undefined : r.ipproto === 'udp' && r.dport === w.udpDport);
  for (const r of ours) {
    if (!plan.rules.some((w) => same(r, w))) batch.push(`rule del pref ${r.priority}`);
  }
  for (const w of plan.rules) {
    if (ours.some((r) => same(r, w))) continue;
    const sel = w.udpDport === undefined ? '' : ` ipproto udp dport ${w.udpDport}`;
    batch.push(`rule add pref ${w.pref} fwmark ${w.fwmark}${sel} lookup ${w.table}`);
  }
  if (batch.length > 0) await run('ip', ['-batch', '-'], batch.join('\n') + '\n');
}

/** VIPs held on `lo` under our label (dummy devices are not available on every kernel). */
async function ownVips(): Promise<string[]> {
  const out = await run('ip', ['-j', 'addr', 'show', 'dev', 'lo']);
  return (JSON.parse(out) as { addr_info: { local: string; label?: string }[] }[]).flatMap((l) =>
    l.addr_info.filter((a) => a.label === VIP_LABEL).map((a) => a.local),
  );
}

async function reconcileVips(plan: KernelPlan): Promise<void> {
  const have = await ownVips();
  const batch: string[] = [];
  for (const a of plan.localVips)
    if (!have.includes(a)) batch.push(`addr add ${a}/32 dev lo label ${VIP_LABEL}`);
  for (const a of have) if (!plan.localVips.includes(a)) batch.push(`addr del ${a}/32 dev lo`);
  if (batch.length > 0) await run('ip', ['-batch', '-'], batch.join('\n') + '\n');
}

function applySysctls(sysctls: Record<string, string>): void {
  for (const [k, v] of Object.entries(sysctls)) {
    writeFileSync(`/proc/sys/${k.replaceAll('.', '/')}`, v);
  }
}

/** Brings the kernel to the plan. Flow elements in fo/ri/bi/bo survive: only static objects are rewritten. */
export async function applyPlan(plan: KernelPlan, encap: EncapConfig): Promise<void> {
  await ensureTunnel(encap);
  applySysctls(plan.sysctls);
  await run('nft', ['-f', '-'], plan.nft);
  await reconcileVips(plan);
  await reconcileRoutes(plan, encap.vni);
}

const HOLD_CHAIN = 'SLIPSTREAM-HOLD';
/** The handshake hold's iptables rule: marked TCP packets to the helper's queue; no helper, no hold. */
export const HOLD_RULE = [
  '-m', 'mark', '--mark', `0x${HOLD_MARK.toString(16)}`, '-p', 'tcp',
  '-j', 'NFQUEUE', '--queue-num', String(HOLD_QUEUE), '--queue-bypass',
]; // prettier-ignore
const HOLD_JUMP = ['-j', HOLD_CHAIN];

/** iptables on the mangle table, waiting for the xtables lock (iptables-legacy) instead of failing. */
const ipt = (...args: string[]): Promise<string> => run('iptables', ['-w', '-t', 'mangle', ...args]);
const iptOk = (...args: string[]): Promise<boolean> => tryRun('iptables', ['-w', '-t', 'mangle', ...args]);

/**
 * Puts the handshake hold's queue rule in place (agent/synack-hold.ts): a chain of our own in iptables'
 * mangle table, jumped to first thing from POSTROUTING (after every output chain, so `rep` has marked the
 * packet). The chain is rewritten each time, so a changed rule replaces the old one. iptables because
 * nftables' own `queue` statement is not in every kernel (not in this lab's).
 */
export async function ensureHoldRule(): Promise<void> {
  if (!(await iptOk('-S', HOLD_CHAIN))) await ipt('-N', HOLD_CHAIN);
  await ipt('-F', HOLD_CHAIN);
  await ipt('-A', HOLD_CHAIN, ...HOLD_RULE);
  if (!(await iptOk('-C', 'POSTROUTING', ...HOLD_JUMP))) await ipt('-I', 'POSTROUTING', '1', ...HOLD_JUMP);
}

/** Removes the hold's chain and its jump, if there (no iptables: there is nothing to remove). */
export async function removeHoldRule(): Promise<void> {
  if (!(await iptOk('-S', HOLD_CHAIN))) return;
  while (await iptOk('-D', 'POSTROUTING', ...HOLD_JUMP));
  await iptOk('-F', HOLD_CHAIN);
  await iptOk('-X', HOLD_CHAIN);
}

/** Removes everything the agent made in this namespace. */
export async function cleanupKernel(): Promise<void> {
  await tryRun('nft', ['delete', 'table', 'ip', NFT_TABLE]);
  await removeHoldRule();
  const rulesOut = await run('ip', ['-j', 'rule', 'show']);
  for (const r of JSON.parse(rulesOut) as { priority: number }[]) {
    if (r.priority >= RULE_PREF_BASE && r.priority < RULE_PREF_BASE + 1000) {
      await tryRun('ip', ['rule', 'del', 'pref', String(r.priority)]);
    }
  }
  await tryRun('ip', ['route', 'flush', 'table', 'all', 'proto', String(ROUTE_PROTO)]);
  await tryRun('ip', ['link', 'del', TUNNEL_DEV]);
  for (const a of await ownVips()) await tryRun('ip', ['addr', 'del', `${a}/32`, 'dev', 'lo']);
}

/**
 * Persistent `nft -i` child. After each transaction the session sends `describe ct expiration`: nft answers
 * it from its own tables (no netlink, no cache refresh, works with or without our table), so its line on
 * stdout marks completion, and anything on stderr before it is that transaction's error. Echo mode (`-e`)
 * would be simpler but costs ~2 ms a command; listing a set as the marker cost ~0.06 ms more (p50 0.27
 * against 0.21 ms an element).
 */
const MAX_BATCH = 64;
const TRACE = process.env.SLIPSTREAM_TRACE === '1';
const DONE_CMD = 'describe ct expiration';
const DONE_LINE = 'ct expression, datatype time (relative time) (basetype integer), 32 bits\n';

/**
 * Gives a process's autogroup (its session's scheduling group; see agent/priority.ts) a nice value.
 * Returns 'set', 'none' on a kernel without autogroup, or why it could not be set.
 */
export function setAutogroupNice(pid: number | 'self', nice: number): string {
  const file = `/proc/${pid}/autogroup`;
  if (!existsSync(file)) return 'none';
  try {
    writeFileSync(file, String(nice));
    return 'set';
  } catch (err) {
    return (err as Error).message;
  }
}

export class NftSession {
  private proc: ChildProcessWithoutNullStreams | null = null;
  private queue: {
    line: string;
    resolve: (out: string) => void;
    reject: (e: Error) => void;
    solo?: boolean;
  }[] = [];
  private out = '';
  private err = '';
  private current: { resolve: (out: string) => void; reject: (e: Error) => void } | null = null;
  private stopped = false;

  /** `nice`: run the nft child at this priority instead of the agent's own (background reads). */
  constructor(private readonly opts: { nice?: number } = {}) {}

  /** Starts the child now (it is also started on first use). */
  start(): Promise<void> {
    if (!this.proc && !this.stopped) this.spawn();
    return Promise.resolve();
  }

  private spawn(): void {
    // A session of its own when it runs at a priority of its own: with autogroup scheduling the CPU is
    // shared between sessions first, and inside the agent's (nice -10, see priority.ts) a background
    // reader would weigh like the agent against the rest of the host.
    const nice = this.opts.nice;
    const p = spawn('nft', ['-i'], { stdio: ['pipe', 'pipe', 'pipe'], detached: nice !== undefined });
    this.proc = p;
    if (nice !== undefined && p.pid !== undefined) {
      try {
        setPriority(p.pid, nice);
        setAutogroupNice(p.pid, nice);
      } catch {
        // Already gone (the exit handler deals with it), or no right to set it: the nice above holds.
      }
    }
    p.stdout.on('data', (d: Buffer) => {
      this.out += d.toString();
      // A query's own output comes before the marker, which is always the last line of a transaction.
      if (this.current && this.out.endsWith(DONE_LINE)) {
        // Let a pending stderr chunk of the same command be read first.
        setImmediate(() => this.finish());
      }
    });
    p.stderr.on('data', (d: Buffer) => {
      this.err += d.toString();
    });
    p.on('exit', () => {
      if (this.proc === p) this.proc = null;
      const cur = this.current;
      this.current = null;
      this.out = '';
      cur?.reject(new Error(`nft session exited ${this.err.trim()}`));
      this.err = '';
      if (!this.stopped) this.pump();
    });
  }

  private finish(): void {
    const cur = this.current;
    if (!cur) return;
    const err = this.err.trim();
    const out = this.out.slice(0, -DONE_LINE.length);
    this.current = null;
    this.out = '';
    this.err = '';
    if (err) cur.reject(new Error(err));
    else cur.resolve(out);
    this.pump();
  }

  private pump(): void {
    if (this.current) return;
    if (this.stopped) {
      for (const q of this.queue.splice(0)) q.reject(new Error('nft session stopped'));
      return;
    }
    if (this.queue.length === 0) return;
    if (!this.proc) this.spawn();
    // Under a burst, queued transactions go to the kernel as one (one netlink round trip and one cache
    // refresh for all of them). If that combined transaction fails, each is retried on its own so one
    // bad command cannot fail its neighbours.
    let n = 0;
    if (this.queue[0]!.solo) n = 1;
    else while (n < this.queue.length && n < MAX_BATCH && !this.queue[n]!.solo) n++;
    const batch = this.queue.splice(0, n);
    const t0 = performance.now();
    const done = (): void => {
      if (TRACE) process.stderr.write(`nft ${batch.length} ${(performance.now() - t0).toFixed(3)}\n`);
    };
    this.current = {
      resolve: (out) => {
        done();
        batch.forEach((b) => b.resolve(out));
      },
      reject: (err) => {
        done();
        if (batch.length === 1) batch[0]!.reject(err);
        else this.queue.unshift(...batch.map((b) => ({ ...b, solo: true })));
      },
    };
    this.proc!.stdin.write(`${batch.map((b) => b.line).join('; ')}\n${DONE_CMD}\n`);
  }

  /** Runs one transaction (commands separated by `;`, no newlines). */
  exec(line: string): Promise<void> {
    if (line.includes('\n')) return Promise.reject(new Error('one transaction per line'));
    return new Promise((resolve, reject) => {
      this.queue.push({ line, resolve: () => resolve(), reject });
      this.pump();
    });
  }

  /** Runs a read-only command (e.g. `get element`) alone and returns what nft printed. */
  query(line: string): Promise<string> {
    if (line.includes('\n')) return Promise.reject(new Error('one command per line'));
    return new Promise((resolve, reject) => {
      this.queue.push({ line, resolve, reject, solo: true });
      this.pump();
    });
  }

  stop(): void {
    this.stopped = true;
    this.pump();
    this.proc?.stdin.end();
    this.proc?.kill();
  }
}

/** `list counters` text output -> name -> packets, bytes. */
export function parseCounters(text: string): Map<string, { packets: number; bytes: number }> {
  const res = new Map<string, { packets: number; bytes: number }>();
  for (const m of text.matchAll(/counter (\S+) \{\s*packets (\d+) bytes (\d+)/g))
    res.set(m[1]!, { packets: Number(m[2]), bytes: Number(m[3]) });
  return res;
}

/** First 4 bytes of the confirmation a rule of installRules (render.ts) turns an install packet into. */
export const INSTALL_MAGIC = Buffer.from('SLI1', 'ascii');
export const INSTALL_TOKEN_LEN = 8;

function ipv4Bytes(a: string): number[] {
  return a.split('.').map(Number);
}

/** The inner IPv4/UDP header of an install packet, read by the rules of render.ts installRules. */
export interface InstallHeader {
  src: string;
  dst: string;
  sport: number;
  dport: number;
}

/**
 * Inner header of a client's install packet for one flow: `ip saddr` = backend host, `ip daddr` = VIP,
 * `udp sport` = client port, `udp dport` = VIP port (the rule adds `ri` and `fo`).
 */
export function clientInstall(f: {
  backendHost: string;
  vip: string;
  clientPort: number;
  vipPort: number;
}): InstallHeader {
  return { src: f.backendHost, dst: f.vip, sport: f.clientPort, dport: f.vipPort };
}

/**
 * Inner header of a backend's install packet for one flow: `ip saddr` = VIP, `ip daddr` = client host,
 * `udp sport` = VIP port, `udp dport` = client port, as the flow's replies (the rule adds `bo`).
 */
export function backendInstall(f: {
  vip: string;
  client: string;
  vipPort: number;
  clientPort: number;
}): InstallHeader {
  return { src: f.vip, dst: f.client, sport: f.vipPort, dport: f.clientPort };
}

/** Payload of a backend's install packet: it comes back as the confirmation (magic + a fresh token). */
export function installToken(token: Buffer): Buffer {
  return Buffer.concat([INSTALL_MAGIC, token.subarray(0, INSTALL_TOKEN_LEN)]);
}

/**
 * An install packet (render.ts installRules), sent as a UDP payload to 127.0.0.1:<tunnel port>: a
 * VXLAN-GPE header, then an IPv4/UDP packet with header `h` (clientInstall, backendInstall) and
 * `payload`, which comes back to the agent's redirect socket as the confirmation: for a client the signed
 * ack of the redirect (the kernel also sends it on to the backend), for a backend installToken().
 */
export function installPacket(vni: number, h: InstallHeader, body: Buffer): Buffer {
  const payload = body.length;
  const b = Buffer.alloc(8 + 20 + 8 + payload);
  // VXLAN-GPE: flags I (VNI valid) and P (next protocol present), next protocol 1 = IPv4.
  b[0] = 0x0c;
  b[3] = 0x01;
  b.writeUIntBE(vni, 4, 3);
  const ip = b.subarray(8, 28);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + 8 + payload, 2);
  ip[8] = 64;
  ip[9] = 17;
  ip.set(ipv4Bytes(h.src), 12);
  ip.set(ipv4Bytes(h.dst), 16);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += ip.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  ip.writeUInt16BE(~sum & 0xffff, 10);
  // UDP with checksum 0 (none): the rule rewrites address and port without having to fix one up.
  b.writeUInt16BE(h.sport, 28);
  b.writeUInt16BE(h.dport, 30);
  b.writeUInt16BE(8 + payload, 32);
  body.copy(b, 36);
  return b;
}

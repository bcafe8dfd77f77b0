/**
 * The agent daemon: reconciles the desired state into the kernel, runs the redirect channel and keeps
 * the per-flow bypass table in memory (never read back from the kernel except once at start-up).
 *
 * Ordering of a bypass (each side installs what it will receive before the other side sends it):
 *   1. backend sees the flow's first packet arrive from a mux; installs `bi` (receive rewrite);
 *   2. backend sends the signed redirect; client checks it, installs `ri` and `fo` in one kernel step
 *      (an install packet; nft as the fallback);
 *   3. client acks (the kernel sends the ack the install packet carries once both are in; the agent after
 *      an nft install); only then does the backend install `bo` (its replies leave as host->client).
 * Removal runs the other way: senders (`fo`, `bo`) go first, receivers (`ri`, `bi`) a grace period later.
 * A TCP flow is removed when it ends (both FINs or a RST, reported by the kernel: render.ts END_RULES), any
 * flow when it idles past its VIP's idle timeout, and at once when its backend leaves the pool.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import dgram from 'node:dgram';
import { readFileSync, watchFile, unwatchFile } from 'node:fs';
import http from 'node:http';
import { createInterface } from 'node:readline';
import { cidrContains } from '../core/cidr.js';
import {
  keyRef,
  newNonce,
  signAck,
  signRedirect,
  signRelease,
  verifyAck,
  verifyRedirect,
  verifyRelease,
  MSG_TYPE_ACK,
  MSG_TYPE_REDIRECT,
  MSG_TYPE_RELEASE,
  REDIRECT_MAGIC,
  type Redirect,
} from '../core/redirect-message.js';
import { ReplayCache } from '../core/replay-cache.js';
import { ElementDeleter } from './element-deleter.js';
import { RtoEstimator, retrySchedule } from '../core/rto.js';
import {
  parseDesiredState,
  validateDesiredState,
  type DesiredState,
  type VipSpec,
} from '../config/desired-state.js';
import {
  applyPlan,
  cleanupKernel,
  existingObjects,
  backendInstall,
  clientInstall,
  installPacket,
  installToken,
  type InstallHeader,
  INSTALL_MAGIC,
  INSTALL_TOKEN_LEN,
  NftSession,
  parseCounters,
  run,
} from '../dataplane/kernel.js';
import { BO_TIMEOUT_S, GRACE_S, NFLOG_GROUP, NFT_TABLE, renderPlan, vipTag } from '../dataplane/render.js';
import { CounterVec, Histogram } from './metrics.js';
import { Prober, withBackendHealth, type ProbeState, type ProbeTarget } from './prober.js';
import { SynAckHold } from './synack-hold.js';
import { BucketHistogram, KernelCounterTracker, type RawCounter, type TelemetryReport } from './telemetry.js';

/**
 * `SLIPSTREAM_TRACE=1`: one stderr line per step of each bypass (`trace <step> <flow> <epoch ms>`), to
 * find where time-to-bypass goes. Namespaces share the clock, so client and backend lines join by flow.
 */
const TRACE = process.env.SLIPSTREAM_TRACE === '1';
function trace(step: string, flow: string, atMs = performance.timeOrigin + performance.now()): void {
  if (TRACE) process.stderr.write(`trace ${step} ${flow} ${atMs.toFixed(3)}\n`);
}

// Loss on the underlay is rare; an early retry under load only adds work for a client that is still busy,
// so the first retry waits for the measured ack time (at least 150 ms, see core/rto.ts), then backs off.
const REDIRECT_RETRIES = 3;
/** Mux health probe: the mux agent echoes these 12 bytes on the redirect port. */
const HEALTH_MAGIC = Buffer.from('SLH1', 'ascii');
const HEALTH_LEN = 12;
const PROBE_INTERVAL_MS = 200;
/** A mux that has not answered for this long gets no new flows from this host. */
const MUX_DEAD_MS = 1000;
/** Receive buffer asked for the redirect socket (bytes). */
const REDIRECT_SOCKET_BUFFER = 4 << 20;
/** How long a client waits for its install packet's confirmation before installing through nft. */
const INSTALL_CONFIRM_MS = 200;
/** A confirmation later than this after its timeout counts as a miss (a packet the kernel did not take). */
const INSTALL_LATE_MS = 2000;
/** After this many unconfirmed install packets in a row, install through nft only for a while. */
const INSTALL_MAX_MISSES = 3;
const INSTALL_OFF_MS = 30_000;
/** Counter reads: every second, but at most a fifth of the time (of the low-priority nft child). */
const COUNTER_INTERVAL_MS = 1000;
/** Background reads (counters, `bo` snapshots) wait this many times their last duration between reads. */
const BACKGROUND_BUSY_FACTOR = 5;
const COUNTER_NICE = 10;
/** A `bo` snapshot this recent answers an activity check (see boSnapshot). */
const BO_SNAPSHOT_MS = 2000;

type Proto = 'tcp' | 'udp';

interface ClientEntry {
  vip: string;
  vipName: string;
  proto: Proto;
  cport: number;
  vport: number;
  backendHost: string;
  expiresAt: number;
  timer?: NodeJS.Timeout;
  /** FINs seen (FIN_OUT: from the client, FIN_IN: to it). */
  fin: number;
  /** Nonce of the last redirect accepted for the flow, named by its release; '' when rebuilt from the kernel. */
  nonce: string;
}

interface BackendEntry {
  client: string;
  proto: Proto;
  cport: number;
  vip: string;
  vport: number;
  vipName: string;
  state: 'pending' | 'active' | 'idle' | 'rejected';
  firstSeenMs: number;
  activeSince: number;
  nonce: string;
  nonces: string[];
  biExpiresAt: number;
  lastCheckMs: number;
  timers: NodeJS.Timeout[];
  /** FINs seen (FIN_OUT: from the client, FIN_IN: to it). */
  fin: number;
  /** The flow ended before its ack: the ack must not make it active. */
  ended?: boolean;
  /** The client's release came while its ack was still being acted on (onAck finishes it). */
  releaseSeen?: boolean;
  /** Nonce of the last redirect the client accepted: a release must name it (onRelease). */
  ackedNonce: string;
  /** `bi` was deleted early (a release, or a client that saw the flow end first). */
  biReleased?: boolean;
}

export interface AgentOptions {
  /** Desired-state file, re-read on change and SIGHUP; without one, state comes only from applyState(). */
  configFile?: string;
  metricsPort: number;
  metricsHost: string;
  log?: (msg: string) => void;
}

/** `1h2m3s4ms` -> milliseconds. */
export function parseNftDurationMs(text: string): number {
  const unit: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
  let total = 0;
  for (const m of text.matchAll(/(\d+)(ms|d|h|m|s)/g)) total += Number(m[1]) * unit[m[2]!]!;
  return total;
}

/**
 * `list set ... bo` text -> element key (`VIP . client . proto . VIP port . client port`) -> milliseconds
 * since a reply last refreshed it (its timeout minus what is left).
 */
export function parseBoAges(text: string): Map<string, number> {
  const ages = new Map<string, number>();
  const re =
    /(\d+\.\d+\.\d+\.\d+ \. \d+\.\d+\.\d+\.\d+ \. \w+ \. \d+ \. \d+)(?: timeout \S+)? expires ((?:\d+(?:ms|d|h|m|s))+)/g;
  for (const m of text.matchAll(re)) ages.set(m[1]!, BO_TIMEOUT_S * 1000 - parseNftDurationMs(m[2]!));
  return ages;
}

/** A flow's `bo` element as nft writes and lists it: `VIP . client . proto . VIP port . client port`. */
function boKey(e: { vip: string; client: string; proto: string; vport: number; cport: number }): string {
  return `${e.vip} . ${e.client} . ${e.proto} . ${e.vport} . ${e.cport}`;
}

/** A flow's `bi` element key on its backend: `client . proto . client port . VIP port`. */
function biKey(e: { client: string; proto: string; cport: number; vport: number }): string {
  return `${e.client} . ${e.proto} . ${e.cport} . ${e.vport}`;
}

/** A client flow's `fo` element key: `VIP . proto . client port . VIP port`. */
function foKey(e: { vip: string; proto: string; cport: number; vport: number }): string {
  return `${e.vip} . ${e.proto} . ${e.cport} . ${e.vport}`;
}

/** A client flow's `ri` element key: `backend host . proto . VIP port . client port`. */
function riKey(e: { backendHost: string; proto: string; vport: number; cport: number }): string {
  return `${e.backendHost} . ${e.proto} . ${e.vport} . ${e.cport}`;
}

function vipKeyOf(v: { address: string; protocol: string; port: number }): string {
  return `${v.address}/${v.protocol}/${v.port}`;
}

function fkey(...parts: (string | number)[]): string {
  return parts.join('|');
}

const FIN_OUT = 1;
const FIN_IN = 2;
/** How long a client remembers the end of a flow it has no entry for (its redirect may still be coming). */
const CLOSED_TTL_MS = 2000;
const CLOSED_MAX = 65_536;

export interface NflogPacket {
  seenMs: number;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  proto: Proto;
  /** tcpdump's TCP flags (`S`, `F.`, `R`, ...); empty for UDP. */
  flags: string;
}

/**
 * One line of `tcpdump -n -tt` on the NFLOG group, e.g.
 * `1700000000.123456 IP 198.18.0.11.40000 > 198.19.0.10.80: Flags [S], seq 1, win 64240, length 0` or
 * `1700000000.123456 IP 198.18.0.11.40000 > 198.19.0.30.7: UDP, length 5`; null for anything else.
 */
export function parseNflogLine(line: string): NflogPacket | null {
  const m =
    /^(\d+\.\d+) IP (\d+\.\d+\.\d+\.\d+)\.(\d+) > (\d+\.\d+\.\d+\.\d+)\.(\d+): (?:Flags \[([^\]]*)\]|(UDP))/.exec(
      line,
    );
  if (!m) return null;
  return {
    seenMs: Number(m[1]) * 1000,
    src: m[2]!,
    sport: Number(m[3]),
    dst: m[4]!,
    dport: Number(m[5]),
    proto: m[7] ? 'udp' : 'tcp',
    flags: m[6] ?? '',
  };
}

export class Agent {
  private state: DesiredState | null = null;
  private readonly nft = new NftSession();
  /**
   * Kernel counters (and `bo` snapshots) are read through a session of their own, at low priority: nft
   * 1.0.6 fetches every set element for any `list`, so a read costs about 15 ms per 1,000 bypass entries
   * on the host, and it must not hold up the flow session or compete with redirects for a CPU.
   */
  private readonly counterNft = new NftSession({ nice: COUNTER_NICE });
  private readonly deleter = new ElementDeleter((cmd) => this.nft.exec(cmd), NFT_TABLE);
  private sock: dgram.Socket | null = null;
  private sockAddr = '';
  private tcpdump: ChildProcess | null = null;
  private metricsServer: http.Server | null = null;
  private replay = new ReplayCache({ windowMs: 5000, maxEntries: 1_000_000 });
  /** Releases carry their redirect's nonce, which a host's own replay cache saw for a flow to itself. */
  private releaseReplay = new ReplayCache({ windowMs: 5000, maxEntries: 1_000_000 });
  /** Client side: `ri` deletions waiting out the grace period, by element key. */
  /**
   * Client side: `ri` deletions waiting out their grace period, by element key, with the VIP the element
   * rewrites to (a flow to another VIP must not be bypassed on it meanwhile, see onRedirect).
   */
  private readonly riDrops = new Map<string, { timer: NodeJS.Timeout; vip: string }>();
  /**
   * Backend side: which flow's `bi` element the kernel holds, by element key, for as long as it may be
   * there. The key has no VIP (packets straight from the client carry none), and the kernel's add never
   * replaces an element: a flow to another VIP on the same client and ports cannot be bypassed meanwhile.
   */
  private readonly biOwner = new Map<string, { k: string; vip: string }>();
  /** When the agent last deleted a `bi` element, by key (recent ones only, see disownBi). */
  private readonly biFreedAt = new Map<string, number>();
  private keys = new Map<string, Buffer>();
  private readonly client = new Map<string, ClientEntry>();
  private readonly backend = new Map<string, BackendEntry>();
  /** Redirect attempts awaiting their ack: nonce -> backend entry key and when the attempt left. */
  private readonly pending = new Map<string, { k: string; client: string; sentAt: number }>();
  /** Retry timing per client host, from the round trips of its acks (core/rto.ts); see sendRedirect. */
  private readonly rto = new Map<string, RtoEstimator>();
  /** Client entries per VIP, and `ri` element key -> forward key: O(1) policy checks per redirect. */
  private readonly clientCount = new Map<string, number>();
  private readonly riIndex = new Map<string, string>();
  /** Client side: `ri` element keys of redirects being installed, with their flow (see onRedirect). */
  private readonly riInstalling = new Map<string, string>();
  private readonly inflight = new Map<string, Promise<boolean>>();
  /** Client side: FINs of flows with no entry yet (a RST counts as both), by client key; see onFlowEnd. */
  private readonly closed = new Map<string, { fin: number; at: number }>();
  /** Install packets awaiting their confirmation, by token (hex). */
  private readonly installs = new Map<string, () => void>();
  private installMisses = 0;
  private installOffUntil = 0;
  private stopped = false;
  /** Backend side: the handshake holds of VIPs that ask for them (bypass.handshakeHoldMs). */
  private readonly hold: SynAckHold;
  /** Mux underlay address -> last health reply (ms). */
  private readonly muxSeen = new Map<string, number>();
  private muxDown = new Set<string>();
  private probeTimer: NodeJS.Timeout | null = null;
  private reloading: Promise<void> = Promise.resolve();
  private readonly log: (msg: string) => void;
  private started = false;
  /** When the kernel last finished taking a new ruleset (+Infinity while one is being applied). */
  private rulesStableSince = Number.POSITIVE_INFINITY;
  private rebuilt = false;
  private counterTimer: NodeJS.Timeout | null = null;
  private boLast: { at: number; ages: Map<string, number>; tookMs: number } | null = null;
  private boRead: Promise<{ at: number; ages: Map<string, number>; tookMs: number }> | null = null;
  private counterRead: Promise<Map<string, RawCounter>> | null = null;
  /** Changes on every start, so the control plane never subtracts counts of two different processes. */
  readonly bootId = randomUUID();
  private readonly kernelCounters = new KernelCounterTracker();
  private rawCounters = new Map<string, RawCounter>();
  /** Agent-side counts by VIP id (names may change between revisions, ids do not). */
  private readonly perVip = new Map<
    string,
    { flowsNew: number; flowsBypassed: number; redirectsSent: number }
  >();
  private readonly rxRejected = new Map<string, number>();
  private rxAccepted = 0;
  private readonly ttbMs = new BucketHistogram();
  /** Mux only: probes of the backends, per the VIPs' probe settings. */
  private readonly prober = new Prober((t, st) => this.onBackendHealth(t, st));

  readonly m = {
    flows: new CounterVec('slipstream_flows_total', 'New flows seen by this agent, by VIP and role'),
    bypassed: new CounterVec(
      'slipstream_flows_bypassed_total',
      'Flows this host switched to the direct path',
    ),
    redirectsSent: new CounterVec('slipstream_redirects_sent_total', 'Redirect messages sent (first tries)'),
    redirectsRetried: new CounterVec('slipstream_redirects_retried_total', 'Redirect retransmissions'),
    riReplaced: new CounterVec(
      'slipstream_ri_replaced_total',
      "Client side: an ended flow's reverse rewrite (ri, in its grace period) replaced by a new flow of another VIP on the same backend and ports",
    ),
    redirectsSkipped: new CounterVec(
      'slipstream_redirects_skipped_total',
      "Backend side: bypassable flows left on the mux without a redirect, by reason (bi_busy: another VIP's flow holds the receive rewrite of the same client and ports)",
    ),
    redirectsReceived: new CounterVec(
      'slipstream_redirects_received_total',
      'Redirects received, by result and reason',
    ),
    acks: new CounterVec('slipstream_redirect_acks_total', 'Acks received by the backend side'),
    acksSent: new CounterVec(
      'slipstream_redirect_acks_sent_total',
      'Acks sent by the client side: by the kernel right after an install packet, or by the agent',
    ),
    entries: new CounterVec('slipstream_bypass_entries', 'Active bypass entries on this host', 'gauge'),
    releasesSent: new CounterVec(
      'slipstream_releases_sent_total',
      'Releases sent by the client side: a flow no longer goes straight to its backend (its fo is gone)',
    ),
    releasesReceived: new CounterVec(
      'slipstream_releases_received_total',
      "Releases received by the backend side, by result and reason; accepted ones delete the flow's bi",
    ),
    ended: new CounterVec(
      'slipstream_flows_ended_total',
      'Bypassed TCP flows whose entries this host removed because the flow ended (reason fin: both sides sent one; rst)',
    ),
    installs: new CounterVec(
      'slipstream_bypass_installs_total',
      'Bypass entry installs, by side (client: ri and fo; backend: bo) and how they reached the kernel (install packet or nft)',
    ),
    configErrors: new CounterVec('slipstream_config_errors_total', 'Rejected desired-state files'),
    revision: new CounterVec('slipstream_config_revision', 'Revision of the applied desired state', 'gauge'),
    muxUp: new CounterVec('slipstream_mux_up', 'Whether this host gets health replies from the mux', 'gauge'),
    backendUp: new CounterVec(
      'slipstream_backend_up',
      "Mux only: this mux's probe verdict on a VIP's backend (1 up, 0 down; absent before a verdict)",
      'gauge',
    ),
    ttb: new Histogram(
      'slipstream_time_to_bypass_seconds',
      'First packet seen by the backend to entry active at the client',
      [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    ),
  };

  constructor(private readonly opts: AgentOptions) {
    this.log = opts.log ?? ((msg) => console.log(`${new Date().toISOString()} ${msg}`));
    this.hold = new SynAckHold(this.log);
  }

  async start(): Promise<void> {
    // Counters the previous agent process left in the kernel are not this process's to report.
    this.kernelCounters.baseline(await this.readKernelCounters().catch(() => new Map()));
    const file = this.opts.configFile;
    if (file) await this.applyState(parseDesiredState(readFileSync(file, 'utf8')));
    this.started = true;
    if (this.state) await this.afterFirstApply();
    this.startMetrics();
    this.pollCounters();
    if (file) {
      watchFile(file, { interval: 500 }, () => this.reload());
      process.on('SIGHUP', () => this.reload());
    }
  }

  /** Re-reads the config file; a bad file is counted, logged and changes nothing. */
  reload(): void {
    const file = this.opts.configFile;
    if (!file || this.stopped) return;
    let next: DesiredState;
    try {
      next = parseDesiredState(readFileSync(file, 'utf8'));
    } catch (err) {
      this.m.configErrors.inc({});
      this.log(`config rejected, keeping revision ${this.state?.revision}: ${(err as Error).message}`);
      return;
    }
    this.applyState(next).catch((err: Error) => this.log(`apply failed: ${err.message}`));
  }

  /**
   * Validates and applies a desired state (from the file or pushed by the control plane). Calls run one
   * after another. On failure it rejects with the error, re-applies the last good state so a half-applied
   * one does not linger in the kernel, and keeps reporting the last good revision.
   */
  applyState(state: DesiredState): Promise<void> {
    const job = this.reloading.then(async () => {
      if (this.stopped) throw new Error('agent is stopped');
      let next: DesiredState;
      try {
        next = validateDesiredState(state);
      } catch (err) {
        this.m.configErrors.inc({});
        throw err;
      }
      const prev = this.state;
      try {
        await this.apply(next);
      } catch (err) {
        this.m.configErrors.inc({});
        if (prev) {
          await this.apply(prev).catch((e: Error) =>
            this.log(`restoring revision ${prev.revision} failed: ${e.message}`),
          );
        }
        throw err;
      }
      if (this.started && !this.rebuilt) await this.afterFirstApply();
    });
    this.reloading = job.catch(() => undefined);
    return job;
  }

  /** The applied revision, or null before the first successful apply. */
  get appliedRevision(): number | null {
    return this.state?.revision ?? null;
  }

  private async afterFirstApply(): Promise<void> {
    this.rebuilt = true;
    await this.nft.start();
    await this.rebuildFromKernel();
  }

  private async apply(next: DesiredState): Promise<void> {
    const prev = this.state;
    if (prev && (prev.agent.underlay !== next.agent.underlay || prev.agent.role !== next.agent.role)) {
      throw new Error('agent identity (role, underlay) cannot change at run time; restart the agent');
    }
    const existing = (await existingObjects()) ?? undefined;
    if (next.agent.role === 'mux') this.prober.setTargets(next);
    const plan = renderPlan(this.withHealth(next), existing);
    this.rulesStableSince = Number.POSITIVE_INFINITY;
    try {
      await applyPlan(plan, next.encap);
      this.state = next;
    } finally {
      // A failed apply leaves rules of unknown vintage; the caller re-applies the last good state.
      if (this.state === next) this.rulesStableSince = Date.now();
    }
    // Outside the window above: holds only delay SYN-ACKs, whatever state their rule is in.
    await this.hold.set(plan.holds);
    this.keys = new Map(
      Object.entries(next.redirect.keys).map(([id, k]) => [
        keyRef(next.agent.tenantId, id),
        Buffer.from(k, 'base64'),
      ]),
    );
    if (prev?.redirect.windowMs !== next.redirect.windowMs) {
      this.replay = new ReplayCache({ windowMs: next.redirect.windowMs, maxEntries: 1_000_000 });
      this.releaseReplay = new ReplayCache({ windowMs: next.redirect.windowMs, maxEntries: 1_000_000 });
    }
    this.m.revision.set({}, next.revision);
    this.updateBackendGauges();
    await this.ensureSocket(next);
    if (next.agent.role === 'host') {
      this.ensureTcpdump();
      this.ensureProbes();
      await this.pruneForConfig(next);
    }
    this.log(`applied revision ${next.revision} (${next.vips.length} VIPs, role ${next.agent.role})`);
  }

  // ---------------------------------------------------------------- mux and backend health

  /**
   * The configured state as the kernel gets it: on a host, muxes it cannot reach marked unhealthy; on a
   * mux, backends its probes hold down (or the control plane marked down, before the first verdict) out
   * of the Maglev tables.
   */
  private withHealth(s: DesiredState): DesiredState {
    if (s.agent.role === 'mux') return withBackendHealth(s, (v, b) => this.prober.healthy(v, b));
    if (this.muxDown.size === 0) return s;
    return { ...s, muxes: s.muxes.map((m) => (this.muxDown.has(m.address) ? { ...m, healthy: false } : m)) };
  }

  /** A probe verdict changed: rebuild the Maglev tables at once (the mux keeps no flow state). */
  private onBackendHealth(t: ProbeTarget, st: ProbeState): void {
    this.log(
      `backend ${t.address}:${t.port} (${t.protocol} probe) is ${st.verdict}${st.reason ? `: ${st.reason}` : ''}`,
    );
    this.updateBackendGauges();
    this.reapply();
  }

  private reapply(): void {
    this.reloading = this.reloading.then(() =>
      this.state && !this.stopped
        ? this.apply(this.state).catch((err: Error) => this.log(`re-apply failed: ${err.message}`))
        : undefined,
    );
  }

  private updateBackendGauges(): void {
    this.m.backendUp.reset();
    const st = this.state;
    if (st?.agent.role !== 'mux') return;
    for (const v of st.vips)
      for (const b of v.backends) {
        const verdict = this.prober.verdict(v, b).verdict;
        if (verdict !== 'unknown')
          this.m.backendUp.set({ vip: v.name, backend: b.address }, verdict === 'healthy' ? 1 : 0);
      }
  }

  /**
   * The control plane's `healthy` flag is slow and may be unreachable; each host also probes its muxes
   * and stops sending new flows to one that stops answering (bypassed flows never touch it anyway).
   */
  private ensureProbes(): void {
    if (this.probeTimer) return;
    const started = Date.now();
    this.probeTimer = setInterval(() => {
      const st = this.state;
      if (!st || !this.sock) return;
      const now = Date.now();
      const probe = Buffer.alloc(HEALTH_LEN);
      HEALTH_MAGIC.copy(probe);
      probe.writeDoubleBE(now, 4);
      for (const m of st.muxes) this.sock.send(probe, st.redirect.port, m.address);
      const down = new Set(
        st.muxes
          .filter((m) => now - (this.muxSeen.get(m.address) ?? started) > MUX_DEAD_MS)
          .map((m) => m.address),
      );
      for (const m of st.muxes) this.m.muxUp.set({ mux: m.address }, down.has(m.address) ? 0 : 1);
      if (down.size !== this.muxDown.size || [...down].some((a) => !this.muxDown.has(a))) {
        this.muxDown = down;
        this.log(`muxes not answering: ${[...down].join(', ') || 'none'}`);
        this.reapply();
      }
    }, PROBE_INTERVAL_MS);
    this.probeTimer.unref();
  }

  // ---------------------------------------------------------------- start-up state

  /** Reads the flow maps once, so a restarted agent knows (and expires) the entries its predecessor made. */
  private async rebuildFromKernel(): Promise<void> {
    if (this.state?.agent.role !== 'host') return;
    const now = Date.now();
    type Elem = { elem: { val: { concat: (string | number)[] }; expires?: number } };
    const read = async (name: string): Promise<[Elem, string | undefined][]> => {
      const out = JSON.parse(
        await run('nft', ['-j', 'list', name === 'bo' ? 'set' : 'map', 'ip', NFT_TABLE, name]),
      ) as {
        nftables: { map?: { elem?: unknown[] }; set?: { elem?: unknown[] } }[];
      };
      const items = out.nftables.flatMap((x) => x.map?.elem ?? x.set?.elem ?? []);
      return items.map((it) =>
        Array.isArray(it) ? [it[0] as Elem, String(it[1])] : [it as Elem, undefined],
      );
    };
    for (const [e, backendHost] of await read('fo')) {
      const [vip, proto, cport, vport] = e.elem.val.concat as [string, Proto, number, number];
      const v = this.findVip(vip, proto, vport);
      const entry: ClientEntry = {
        vip,
        vipName: v?.name ?? vip,
        proto,
        cport,
        vport,
        backendHost: backendHost!,
        expiresAt: now + (e.elem.expires ?? 0) * 1000,
        fin: 0,
        nonce: '',
      };
      this.setClient(fkey(vip, proto, cport, vport), entry);
      this.armClientTimer(entry);
    }
    for (const [e] of await read('bo')) {
      const [vip, client, proto, vport, cport] = e.elem.val.concat as [string, string, Proto, number, number];
      const v = this.findVip(vip, proto, vport);
      const ent: BackendEntry = {
        client,
        proto,
        cport,
        vip,
        vport,
        vipName: v?.name ?? vip,
        state: 'active',
        firstSeenMs: now,
        activeSince: now,
        nonce: '',
        nonces: [],
        biExpiresAt: now + ((v?.bypass.idleTimeoutS ?? 0) + GRACE_S) * 1000,
        lastCheckMs: now,
        timers: [],
        fin: 0,
        ackedNonce: '',
      };
      const k = fkey(client, proto, cport, vip, vport);
      this.backend.set(k, ent);
      this.biOwner.set(biKey(ent), { k, vip });
      // Decide at once from the listing (no per-entry query): the client's entries may be close to expiry
      // after our downtime, so a flow with recent replies is renewed now and a quiet one goes idle.
      const ageMs = (BO_TIMEOUT_S - (e.elem.expires ?? 0)) * 1000;
      if (v && ageMs <= v.bypass.idleTimeoutS * 500 + 1000) void this.sendRedirect(k, ent, v, true);
      else void this.goIdle(k, ent);
    }
    this.updateGauges();
    this.log(
      `rebuilt ${this.client.size} client and ${this.backend.size} backend bypass entries from the kernel`,
    );
  }

  // ---------------------------------------------------------------- redirect channel

  private async ensureSocket(state: DesiredState): Promise<void> {
    const addr = `${state.agent.underlay}:${state.redirect.port}`;
    if (this.sock && this.sockAddr === addr) return;
    this.sock?.close();
    // Redirects, their retries, install confirmations and mux pings share this socket. The default
    // buffer (~200 KB, a few hundred datagrams) overflows in a burst of new flows, and every datagram it
    // drops costs a retry or an nft fallback; the kernel caps the request at net.core.rmem_max.
    const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: REDIRECT_SOCKET_BUFFER });
    sock.on('message', (buf, rinfo) => this.onMessage(buf, rinfo));
    sock.on('error', (err) => this.log(`redirect socket: ${err.message}`));
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(state.redirect.port, state.agent.underlay, () => resolve());
    });
    this.sock = sock;
    this.sockAddr = addr;
  }

  private onMessage(buf: Buffer, rinfo: dgram.RemoteInfo): void {
    // A confirmation is the install packet's own payload: a token (backend) or the signed ack the kernel
    // also sent to the backend (client), which must not be taken for an ack from a backend.
    const confirmed = this.installs.size > 0 ? this.installs.get(buf.toString('hex')) : undefined;
    if (confirmed) {
      confirmed();
      return;
    }
    if (buf.length === INSTALL_MAGIC.length + INSTALL_TOKEN_LEN && buf.subarray(0, 4).equals(INSTALL_MAGIC))
      return;
    if (buf.length === HEALTH_LEN && buf.subarray(0, 4).equals(HEALTH_MAGIC)) {
      if (this.state?.agent.role === 'mux') this.sock?.send(buf, rinfo.port, rinfo.address);
      else this.muxSeen.set(rinfo.address, Date.now());
      return;
    }
    if (this.state?.agent.role === 'mux') return;
    if (buf.length < 5 || !buf.subarray(0, 4).equals(REDIRECT_MAGIC)) {
      this.received('rejected', 'malformed');
      return;
    }
    if (buf[4] === MSG_TYPE_REDIRECT) void this.onRedirect(buf, rinfo);
    else if (buf[4] === MSG_TYPE_ACK) void this.onAck(buf);
    else if (buf[4] === MSG_TYPE_RELEASE) void this.onRelease(buf, rinfo);
    else this.received('rejected', 'malformed');
  }

  private ackFor(nonce: string, accepted: boolean, reason?: string): Buffer {
    const st = this.state!;
    const key = Buffer.from(st.redirect.keys[st.redirect.activeKeyId]!, 'base64');
    return signAck(
      {
        tenantId: st.agent.tenantId,
        keyId: st.redirect.activeKeyId,
        nonce,
        accepted,
        ...(reason ? { reason } : {}),
      },
      key,
    );
  }

  private reply(to: dgram.RemoteInfo, nonce: string, accepted: boolean, reason?: string): void {
    this.sock?.send(this.ackFor(nonce, accepted, reason), to.port, to.address);
    this.m.acksSent.inc({ by: 'agent' });
  }

  private findVip(address: string, proto: string, port: number): VipSpec | undefined {
    return this.state?.vips.find((v) => v.address === address && v.protocol === proto && v.port === port);
  }

  /** Client side: validate, install ri+fo in one transaction, ack. */
  private async onRedirect(buf: Buffer, rinfo: dgram.RemoteInfo): Promise<void> {
    const st = this.state!;
    const now = Date.now();
    const res = verifyRedirect(buf, this.keys, now, this.replay, st.redirect.windowMs);
    const reject = (reason: string, nonce?: string): void => {
      this.received('rejected', reason);
      // Only authenticated messages get a (negative) ack: forged ones must not make us a reflector.
      if (nonce) this.reply(rinfo, nonce, false, reason);
    };
    if (!res.ok) {
      reject(res.reason);
      return;
    }
    const r = res.redirect;
    const f = r.flow;
    const tk = TRACE ? fkey(f.clientAddr, f.protocol, f.clientPort, f.vip, f.vipPort) : '';
    trace('rx', tk);
    const vip = this.findVip(f.vip, f.protocol, f.vipPort);
    if (f.clientAddr !== st.agent.underlay) return reject('not_local', r.nonce);
    if (!vip) return reject('unknown_vip', r.nonce);
    const b = vip.backends.find((x) => x.address === r.backendHost);
    if (!b || b.state !== 'active' || b.weight === 0 || r.backendPort !== vip.port)
      return reject('backend_not_in_pool', r.nonce);
    if (b.healthy === false) return reject('backend_unhealthy', r.nonce);
    if (!vip.bypass.enabled) return reject('bypass_disabled', r.nonce);
    if (
      vip.bypass.sourceCidrs.length > 0 &&
      !vip.bypass.sourceCidrs.some((c) => cidrContains(c, f.clientAddr))
    ) {
      return reject('source_not_allowed', r.nonce);
    }
    const k = fkey(f.vip, f.protocol, f.clientPort, f.vipPort);
    // A retry that arrives while the first copy is being installed waits for it instead of installing twice.
    const busy = this.inflight.get(k);
    if (busy) {
      const ok = await busy;
      if (ok && this.client.get(k)?.backendHost === r.backendHost) {
        this.received('accepted', 'duplicate');
        this.reply(rinfo, r.nonce, true);
        return;
      }
    }
    const existing = this.client.get(k);
    const rk = riKey({
      backendHost: r.backendHost,
      proto: f.protocol,
      vport: f.vipPort,
      cport: f.clientPort,
    });
    if (!existing) {
      if (this.closedFin(k) === (FIN_OUT | FIN_IN)) return reject('flow_ended', r.nonce);
      if ((this.clientCount.get(vipKeyOf(vip)) ?? 0) >= vip.bypass.maxFlowsPerHost)
        return reject('table_full', r.nonce);
      // The reverse map is keyed without the VIP; two VIPs sharing a backend, port and client port clash
      // while a flow of the other VIP has the element or is installing it: refused.
      const other = this.riIndex.get(rk) ?? this.riInstalling.get(rk);
      if (other !== undefined && other !== k) return reject('conflict', r.nonce);
    } else if (existing.backendHost !== r.backendHost) {
      return reject('conflict', r.nonce);
    }
    // An ended flow's element stays its grace period, rewriting to its own VIP, and an install never
    // replaces an element: a new flow of another VIP replaces it (that flow is over; a late packet of it
    // now meets the new flow's socket, which ignores it) instead of being left on the mux for its life.
    const lingering = existing ? undefined : this.riDrops.get(rk);
    const replaceRi = lingering !== undefined && lingering.vip !== f.vip;
    if (replaceRi) {
      clearTimeout(lingering.timer);
      this.riDrops.delete(rk);
      this.m.riReplaced.inc({ vip: vip.name });
    }
    let done: (ok: boolean) => void = () => undefined;
    this.inflight.set(k, new Promise<boolean>((res) => (done = res)));
    if (!existing) this.riInstalling.set(rk, k);
    try {
      await this.installClient(k, existing, vip, r, rinfo, replaceRi);
      trace('installed', tk);
      done(true);
    } catch {
      done(false);
    } finally {
      this.inflight.delete(k);
      if (this.riInstalling.get(rk) === k) this.riInstalling.delete(rk);
    }
    // Both FINs went by while the entries were being installed: the flow is over already.
    const e = this.client.get(k);
    if (e && e.fin === (FIN_OUT | FIN_IN)) {
      this.m.ended.inc({ vip: vip.name, role: 'client', reason: 'fin' });
      await this.removeClientEntry(k, e);
    }
  }

  private async installClient(
    k: string,
    existing: ClientEntry | undefined,
    vip: VipSpec,
    r: Redirect,
    rinfo: dgram.RemoteInfo,
    replaceRi = false,
  ): Promise<void> {
    const f = r.flow;
    const t = vip.bypass.idleTimeoutS;
    const flow = { vip: f.vip, proto: f.protocol, cport: f.clientPort, vport: f.vipPort };
    const fo = foKey(flow);
    const ri = riKey({ ...flow, backendHost: r.backendHost });
    const add = `add element ip ${NFT_TABLE} ri { ${ri} timeout ${t + GRACE_S}s : ${f.vip} }; add element ip ${NFT_TABLE} fo { ${fo} timeout ${t}s : ${r.backendHost} }`;
    const del = `delete element ip ${NFT_TABLE} ri { ${ri} }; delete element ip ${NFT_TABLE} fo { ${fo} }`;
    // The install packet adds or refreshes both elements (ri first), and the kernel then sends the ack it
    // carries to the backend; nft is the fallback, and then the agent acks. A renewal through nft replaces
    // both elements atomically, which restarts their timeouts.
    let kernelAcked = false;
    try {
      // An earlier flow's deletion of these elements that is still on its way to the kernel goes first.
      await Promise.all([this.deleter.settled('ri', ri), this.deleter.settled('fo', fo)]);
      if (replaceRi)
        await this.nft.exec(`delete element ip ${NFT_TABLE} ri { ${ri} }`).catch(() => undefined);
      // A flow from this host to a VIP it also serves: the kernel's copy would loop back here and be
      // taken for the confirmation, so such a flow's ack goes from the agent.
      const self = r.backendHost === this.state?.agent.underlay;
      const ack = self ? undefined : this.ackFor(r.nonce, true);
      if (await this.installByPacket(clientInstall({ ...f, backendHost: r.backendHost }), ack)) {
        this.m.installs.inc({ side: 'client', via: 'packet' });
        if (ack) {
          this.m.acksSent.inc({ by: 'kernel' });
          kernelAcked = true;
        }
      } else {
        await this.nft.exec(existing ? `${del}; ${add}` : add);
        this.m.installs.inc({ side: 'client', via: 'nft' });
      }
    } catch (err) {
      try {
        await this.nft.exec(existing ? add : `${del}; ${add}`);
      } catch {
        this.log(`install of ${k} failed: ${(err as Error).message}`);
        this.received('rejected', 'install_failed');
        this.reply(rinfo, r.nonce, false, 'install_failed');
        throw err;
      }
    }
    if (existing?.timer) clearTimeout(existing.timer);
    const entry: ClientEntry = {
      vip: f.vip,
      vipName: vip.name,
      proto: f.protocol,
      cport: f.clientPort,
      vport: f.vipPort,
      backendHost: r.backendHost,
      expiresAt: Date.now() + t * 1000,
      fin: existing?.fin ?? this.takeClosedFin(k),
      nonce: r.nonce,
    };
    this.setClient(k, entry);
    this.armClientTimer(entry);
    this.received('accepted', existing ? 'renewed' : 'new');
    if (!existing) {
      this.m.bypassed.inc({ vip: vip.name });
      this.vipCounts(vip.id).flowsBypassed++;
    }
    this.updateGauges();
    if (!kernelAcked) this.reply(rinfo, r.nonce, true);
  }

  /**
   * Sends the kernel an install packet (render.ts installRules: ri and fo of a client flow, or bo of a
   * backend flow) and waits for its confirmation; false when none came in time (no rule for the VIP yet,
   * a full map, a host firewall), and the caller installs through nft. Repeated misses switch this path
   * off for a while.
   */
  private installByPacket(h: InstallHeader, payload?: Buffer): Promise<boolean> {
    const st = this.state;
    const sock = this.sock;
    if (!st || !sock || Date.now() < this.installOffUntil) return Promise.resolve(false);
    const body = payload ?? installToken(randomBytes(INSTALL_TOKEN_LEN));
    const id = body.toString('hex');
    if (this.installs.has(id)) return Promise.resolve(false);
    const pkt = installPacket(st.encap.vni, h, body);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        // Unconfirmed in time: the caller installs through nft as well (idempotent, and batched when many
        // wait). Whether the packet path is broken is decided later: under a burst the confirmation is often
        // only queued in the socket behind other datagrams, and a late one is no miss (a burst of false
        // misses would switch this path off for everyone).
        resolve(false);
        const due = Date.now() + INSTALL_LATE_MS;
        const late = setTimeout(() => {
          // Timers run before the event loop polls its sockets: read what is waiting first
          // (setImmediate runs after the poll), and a timer that fired long after its time measured a
          // stall of this process, not the kernel path.
          setImmediate(() => {
            if (!this.installs.delete(id) || Date.now() - due > INSTALL_CONFIRM_MS) return;
            if (++this.installMisses >= INSTALL_MAX_MISSES) {
              this.installMisses = 0;
              this.installOffUntil = Date.now() + INSTALL_OFF_MS;
              this.log(`install packets unconfirmed; installing through nft for ${INSTALL_OFF_MS / 1000} s`);
            }
          });
        }, INSTALL_LATE_MS);
        late.unref();
        this.installs.set(id, () => {
          clearTimeout(late);
          this.installs.delete(id);
          this.installMisses = 0;
        });
      }, INSTALL_CONFIRM_MS);
      this.installs.set(id, () => {
        clearTimeout(timer);
        this.installs.delete(id);
        this.installMisses = 0;
        resolve(true);
      });
      sock.send(pkt, st.encap.udpPort, '127.0.0.1');
    });
  }

  private setClient(k: string, e: ClientEntry): void {
    this.dropClient(k);
    this.client.set(k, e);
    const vk = vipKeyOf({ address: e.vip, protocol: e.proto, port: e.vport });
    this.clientCount.set(vk, (this.clientCount.get(vk) ?? 0) + 1);
    this.riIndex.set(riKey(e), k);
  }

  private dropClient(k: string): void {
    const e = this.client.get(k);
    if (!e) return;
    this.client.delete(k);
    const vk = vipKeyOf({ address: e.vip, protocol: e.proto, port: e.vport });
    this.clientCount.set(vk, Math.max(0, (this.clientCount.get(vk) ?? 1) - 1));
    const rk = riKey(e);
    if (this.riIndex.get(rk) === k) this.riIndex.delete(rk);
  }

  /** FINs already seen for a flow with no entry (it closed before its redirect came), if recent. */
  private closedFin(k: string): number {
    const c = this.closed.get(k);
    return c && Date.now() - c.at < CLOSED_TTL_MS ? c.fin : 0;
  }

  /** closedFin() for a flow being installed: its entry carries them from now on. */
  private takeClosedFin(k: string): number {
    const fin = this.closedFin(k);
    this.closed.delete(k);
    return fin;
  }

  /**
   * Client side: stop sending rewritten packets now, keep accepting rewritten replies a grace period
   * longer (the backend may still send some). A flow that reuses the ports and is bypassed again within
   * the grace period owns `ri` by then: it is left alone.
   */
  private async removeClientEntry(k: string, e: ClientEntry): Promise<void> {
    this.dropClient(k);
    if (e.timer) clearTimeout(e.timer);
    this.updateGauges();
    const fo = foKey(e);
    const ri = riKey(e);
    const stillWanted = (): boolean => !this.client.has(k) && !this.inflight.has(k);
    // `ri` is keyed without the VIP: a flow to another VIP on the same backend and ports may own it by now.
    const riFree = (): boolean => stillWanted() && !this.riIndex.has(ri);
    if (await this.deleter.delete({ set: 'fo', key: fo, stillWanted })) this.sendRelease(e);
    // A flow on the same ports to the same backend that ended within the grace period shares this `ri`
    // element: one deletion, a grace period after the last of them (a second one would fail, and with it
    // the whole batch it went in).
    clearTimeout(this.riDrops.get(ri)?.timer);
    const timer = setTimeout(() => {
      void this.deleter.delete({ set: 'ri', key: ri, stillWanted: riFree }).finally(() => {
        if (this.riDrops.get(ri)?.timer === timer) this.riDrops.delete(ri);
      });
    }, GRACE_S * 1000);
    timer.unref();
    this.riDrops.set(ri, { timer, vip: e.vip });
  }

  private armClientTimer(e: ClientEntry): void {
    // The kernel expires the elements itself; this only forgets them (slightly later, never earlier).
    e.timer = setTimeout(
      () => {
        const k = fkey(e.vip, e.proto, e.cport, e.vport);
        if (this.client.get(k) === e) {
          this.dropClient(k);
          this.updateGauges();
        }
      },
      Math.max(0, e.expiresAt - Date.now()) + GRACE_S * 1000 + 100,
    );
    e.timer.unref();
  }

  /** Backend side: ack for one of our redirects. */
  private async onAck(buf: Buffer): Promise<void> {
    const res = verifyAck(buf, this.keys);
    if (!res.ok) {
      this.m.acks.inc({ result: 'invalid', reason: res.reason });
      return;
    }
    const p = this.pending.get(res.nonce);
    if (p === undefined) return;
    const k = p.k;
    this.rtoOf(p.client).sample(Date.now() - p.sentAt);
    trace('ack', k);
    const e = this.backend.get(k);
    if (!e) return;
    // The client's entries are in (or it refused): a held SYN-ACK may go. Before `bo`, which only changes
    // how later replies leave: the SYN-ACK keeps the reply tunnel its mark chose either way.
    this.hold.release(e.client, e.cport);
    this.clearNonces(e);
    e.timers.forEach(clearTimeout);
    e.timers = [];
    const vip = this.findVip(e.vip, e.proto, e.vport);
    if (!res.accepted && res.reason === 'flow_ended') {
      // The client saw the flow close before the redirect came and installed nothing: nothing will come
      // straight here, so `bi` goes now (batched) instead of at its timeout.
      this.m.acks.inc({ result: 'rejected', reason: res.reason });
      this.retire(k, e);
      await this.releaseBi(k, e);
      return;
    }
    if (!res.accepted || !vip) {
      this.m.acks.inc({ result: 'rejected', reason: res.reason ?? 'unknown' });
      e.state = 'rejected';
      await this.removeBackendEntry(k, e, false);
      return;
    }
    this.m.acks.inc({ result: 'accepted', reason: '' });
    e.ackedNonce = res.nonce;
    if (e.ended) {
      // The flow ended while its redirect was out: no `bo`; the client's entries lapse or end on their own.
      this.retire(k, e);
      return;
    }
    const t = vip.bypass.idleTimeoutS;
    const wasActive = e.state === 'active';
    // The ack means the client's entries are in place: that ends time-to-bypass.
    if (!wasActive) {
      const ms = Date.now() - e.firstSeenMs;
      this.m.ttb.observe(ms / 1000);
      this.ttbMs.observe(ms);
    }
    if (!wasActive) {
      // A long timeout that every reply resets to BO_TIMEOUT_S; the agent deletes the element itself when
      // the flow idles (see check()). It must be explicit: the kernel refreshes only elements that carry one.
      const bo = boKey(e);
      try {
        await this.deleter.settled('bo', bo);
        const h = backendInstall({ vip: e.vip, client: e.client, vipPort: e.vport, clientPort: e.cport });
        if (await this.installByPacket(h)) this.m.installs.inc({ side: 'backend', via: 'packet' });
        else {
          await this.nft.exec(`add element ip ${NFT_TABLE} bo { ${bo} timeout ${BO_TIMEOUT_S - 1}s }`);
          this.m.installs.inc({ side: 'backend', via: 'nft' });
        }
      } catch (err) {
        // Replies keep the reply tunnel; the entry goes idle so it is forgotten (and its `bi` with it)
        // instead of staying pending with no timer.
        this.log(`bo install failed for ${k}: ${(err as Error).message}`);
        this.retire(k, e);
        return;
      }
    }
    const now = Date.now();
    if (!wasActive) e.activeSince = now;
    e.state = 'active';
    e.lastCheckMs = now;
    this.armBackendTimers(k, e, t * 500);
    this.updateGauges();
    if (e.releaseSeen && this.backend.get(k) === e) {
      // The client released the flow while this ack was being acted on: finish what onRelease left.
      e.releaseSeen = false;
      await this.goIdle(k, e);
      if (this.backend.get(k) === e) await this.releaseBi(k, e); // guarded: still idle, still its owner
    }
  }

  private armBackendTimers(k: string, e: BackendEntry, checkInMs: number): void {
    e.timers.forEach(clearTimeout);
    const check = setTimeout(() => void this.check(k, e), checkInMs);
    check.unref();
    e.timers = [check];
  }

  private forgetAt(k: string, e: BackendEntry, atMs: number): void {
    const forget = setTimeout(
      () => {
        if (this.backend.get(k) === e) {
          this.backend.delete(k);
          this.disownBi(biKey(e), k, false);
          this.clearNonces(e);
          this.updateGauges();
        }
      },
      Math.max(0, atMs - Date.now()) + 100,
    );
    forget.unref();
    e.timers.push(forget);
  }

  /**
   * All `bo` elements' ages in one read, taken at `at` (when the read finished, so activity is never
   * missed, at worst seen as a little more recent). nft 1.0.6 fetches every set element for any `list` or
   * `get`, so one read per element would cost O(entries) each, O(entries²) in all: checks that fall due
   * together share one read, on the low-priority counter session, at most every few seconds.
   */
  private boSnapshot(notBefore: number): Promise<{ at: number; ages: Map<string, number> }> {
    // Rejects when the read fails; a failed read is not kept.
    const last = this.boLast;
    if (
      last &&
      last.at >= notBefore &&
      Date.now() - last.at < Math.max(BO_SNAPSHOT_MS, BACKGROUND_BUSY_FACTOR * last.tookMs)
    )
      return Promise.resolve(last);
    if (this.boRead) {
      // A read already under way started before `notBefore` would not do; chain one after it.
      return this.boRead.then((r) => (r.at >= notBefore ? r : this.boSnapshot(notBefore)));
    }
    const t0 = performance.now();
    const read = this.counterNft
      .query(`list set ip ${NFT_TABLE} bo`)
      .then((out) => {
        const snap = { at: Date.now(), ages: parseBoAges(out), tookMs: performance.now() - t0 };
        this.boLast = snap;
        return snap;
      })
      .finally(() => {
        this.boRead = null;
      });
    this.boRead = read;
    return read;
  }

  /**
   * Runs every half idle timeout for an active flow. The client's entries expire one idle timeout after
   * the last redirect it accepted, so: replies seen since the last check -> renew (a fresh redirect);
   * none -> the flow is idle: stop rewriting replies now, before the client's reverse entry can expire.
   */
  private async check(k: string, e: BackendEntry): Promise<void> {
    const live = (): boolean => this.backend.get(k) === e && !this.stopped && e.state === 'active';
    if (!live()) return;
    const vip = this.findVip(e.vip, e.proto, e.vport);
    if (!vip) return this.removeBackendEntry(k, e, true);
    const bo = boKey(e);
    let snap: { at: number; ages: Map<string, number> };
    try {
      snap = await this.boSnapshot(e.lastCheckMs + 1);
    } catch (err) {
      // Activity unknown: keep the flow bypassed for another period rather than idle a live one.
      this.log(`reading bo failed: ${(err as Error).message}`);
      if (live()) {
        e.lastCheckMs = Date.now();
        await this.sendRedirect(k, e, vip, true);
      }
      return;
    }
    if (!live()) return;
    const age = snap.ages.get(bo) ?? null;
    const since = snap.at - e.lastCheckMs;
    e.lastCheckMs = snap.at;
    if (age !== null && age <= since + 1000) {
      await this.sendRedirect(k, e, vip, true);
      return;
    }
    await this.goIdle(k, e);
  }

  private async goIdle(k: string, e: BackendEntry): Promise<void> {
    const bo = boKey(e);
    this.retire(k, e);
    // Unless the flow restarted under the same key meanwhile (a new entry, its own `bo`).
    await this.deleter.delete({
      set: 'bo',
      key: bo,
      stillWanted: () => this.backend.get(k) === e && e.state === 'idle',
    });
  }

  /**
   * No more redirects or checks for this flow; it is forgotten when its `bi` expires, which the kernel
   * does on its own (`bi` only undoes the rewrite of a client that may still hold `fo`, never longer).
   */
  private retire(k: string, e: BackendEntry): void {
    e.state = 'idle';
    e.timers.forEach(clearTimeout);
    e.timers = [];
    this.clearNonces(e);
    this.forgetAt(k, e, e.biExpiresAt);
    this.updateGauges();
  }

  /**
   * Deletes an idle flow's `bi` before its timeout, once nothing can come straight here for it any more.
   * The entry stays (idle) until `bi` would have expired: a new flow on the same ports then takes the
   * restart path of onNewFlow, which installs `bi` through the same nft session, after this deletion.
   */
  private async releaseBi(k: string, e: BackendEntry): Promise<void> {
    if (e.biReleased) return;
    e.biReleased = true;
    const bi = biKey(e);
    const sent = await this.deleter.delete({
      set: 'bi',
      key: bi,
      stillWanted: () => this.backend.get(k) === e && e.state === 'idle' && this.biOwner.get(bi)?.k === k,
    });
    if (sent) this.disownBi(bi, k);
  }

  /**
   * Puts a `bi` element in the kernel, replacing one already there (which restarts its timeout; an add
   * alone would leave the old element and its VIP); a plain add when there is none.
   */
  private replaceBi(bi: string, timeoutS: number, vip: string): Promise<unknown> {
    const add = `add element ip ${NFT_TABLE} bi { ${bi} timeout ${timeoutS}s : ${vip} }`;
    return this.nft
      .exec(`delete element ip ${NFT_TABLE} bi { ${bi} }; ${add}`)
      .catch(() => this.nft.exec(add));
  }

  /** The flow k's `bi` element is gone (deleted or expired): its ports are free for any VIP's flow. */
  private disownBi(bi: string, k: string, deleted = true): void {
    if (this.biOwner.get(bi)?.k !== k) return;
    this.biOwner.delete(bi);
    if (!deleted) return;
    const now = Date.now();
    this.biFreedAt.set(bi, now);
    // Only the last second matters (NFLOG lag); the map is swept when it grows.
    if (this.biFreedAt.size > 10_000)
      for (const [key, at] of this.biFreedAt) if (now - at > 1000) this.biFreedAt.delete(key);
  }

  /**
   * Backend side: a client says it no longer sends a flow straight here (its `fo` is gone, mostly because
   * the flow ended). The release names the redirect it undoes by that redirect's nonce, so a late release
   * of an earlier flow on the same ports can never touch a newer one; a lost or unmatched release leaves
   * `bi` to its timeout, as before releases existed.
   */
  private async onRelease(buf: Buffer, rinfo: dgram.RemoteInfo): Promise<void> {
    const st = this.state;
    if (!st) return;
    const res = verifyRelease(buf, this.keys, Date.now(), this.releaseReplay, st.redirect.windowMs);
    if (!res.ok) return this.m.releasesReceived.inc({ result: 'rejected', reason: res.reason });
    const f = res.redirect.flow;
    if (res.redirect.backendHost !== st.agent.underlay || rinfo.address !== f.clientAddr)
      return this.m.releasesReceived.inc({ result: 'rejected', reason: 'not_ours' });
    const k = fkey(f.clientAddr, f.protocol, f.clientPort, f.vip, f.vipPort);
    const e = this.backend.get(k);
    if (!e || e.ackedNonce !== res.redirect.nonce)
      return this.m.releasesReceived.inc({ result: 'ignored', reason: 'unknown_redirect' });
    // The ack is still being acted on (its `bo` on the way): a short flow's client can be done by then.
    if (e.state === 'pending') {
      e.releaseSeen = true;
      return this.m.releasesReceived.inc({ result: 'accepted', reason: 'during_ack' });
    }
    // The client stopped first (it saw the end, or dropped the flow for its own reasons): so do we.
    if (e.state === 'active') await this.goIdle(k, e);
    if (this.backend.get(k) !== e || e.state !== 'idle' || e.biReleased)
      return this.m.releasesReceived.inc({ result: 'ignored', reason: 'not_idle' });
    this.m.releasesReceived.inc({ result: 'accepted', reason: '' });
    await this.releaseBi(k, e);
  }

  /** Client side: tells the backend that this flow no longer goes straight to it (see onRelease). */
  private sendRelease(e: ClientEntry): void {
    const st = this.state;
    if (!st || !this.sock || e.nonce === '') return;
    const key = Buffer.from(st.redirect.keys[st.redirect.activeKeyId]!, 'base64');
    const msg = signRelease(
      {
        tenantId: st.agent.tenantId,
        keyId: st.redirect.activeKeyId,
        flow: {
          protocol: e.proto,
          clientAddr: st.agent.underlay,
          clientPort: e.cport,
          vip: e.vip,
          vipPort: e.vport,
        },
        // Not read by the backend; the client keeps only the host.
        backendHost: e.backendHost,
        backendAddr: e.backendHost,
        backendPort: e.vport,
        timestampMs: Date.now(),
        nonce: e.nonce,
      },
      key,
    );
    this.sock.send(msg, st.redirect.port, e.backendHost);
    this.m.releasesSent.inc({ vip: e.vipName });
  }

  // ---------------------------------------------------------------- backend side: new flows from a mux

  private ensureTcpdump(): void {
    if (this.tcpdump) return;
    // One long-lived reader of the kernel's new-flow log (never a process per flow); the ruleset decides
    // what is logged (render.ts newFlowRules), one line per packet.
    const p = spawn('tcpdump', ['-i', `nflog:${NFLOG_GROUP}`, '-n', '-l', '-tt', '--immediate-mode'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.tcpdump = p;
    const rl = createInterface({ input: p.stdout! });
    rl.on('line', (line) => this.onPacketLine(line));
    p.stderr!.on('data', () => undefined);
    const retry = (why: string, ms: number): void => {
      if (this.tcpdump !== p) return;
      this.tcpdump = null;
      if (!this.stopped) {
        this.log(`tcpdump ${why}: no new flows or flow ends are seen until it runs; retrying`);
        setTimeout(() => this.ensureTcpdump(), ms).unref();
      }
    };
    // Not installed (install.sh installs it): the data plane forwards, without bypass, until it is.
    p.on('error', (err) => retry(`could not start (${err.message})`, 5000));
    p.on('exit', (code) => retry(`exited (${code})`, 500));
  }

  /** A packet the kernel logged: a new flow from a mux, or the end of a bypassed TCP flow. */
  private onPacketLine(line: string): void {
    const p = parseNflogLine(line);
    if (!p) return;
    if (/[FR]/.test(p.flags)) {
      this.onFlowEnd(p);
      return;
    }
    if (TRACE) {
      const f = fkey(p.src, p.proto, p.sport, p.dst, p.dport);
      trace('seen', f, p.seenMs);
      trace('read', f);
    }
    this.onNewFlow(p.src, p.sport, p.dst, p.dport, p.proto, p.seenMs);
  }

  /**
   * A FIN or RST of a bypassed TCP flow, seen leaving or arriving at this host as client or backend. After
   * a RST, or once both sides have sent a FIN, the flow's entries go (the closing handshake's last packets
   * may take the mux: they reach the same backend). Each end acts on its own kernel's report.
   */
  private onFlowEnd(p: NflogPacket): void {
    const toVip = this.findVip(p.dst, 'tcp', p.dport) !== undefined;
    if (!toVip && this.findVip(p.src, 'tcp', p.sport) === undefined) return;
    const [client, cport, vip, vport] = toVip
      ? [p.src, p.sport, p.dst, p.dport]
      : [p.dst, p.dport, p.src, p.sport];
    const bit = toVip ? FIN_OUT : FIN_IN;
    const reason = p.flags.includes('R') ? 'rst' : 'fin';
    const ended = (e: { fin: number }): boolean => {
      e.fin |= reason === 'fin' ? bit : 0;
      return reason === 'rst' || e.fin === (FIN_OUT | FIN_IN);
    };
    const ck = fkey(vip, 'tcp', cport, vport);
    const ce = this.client.get(ck);
    if (client === this.state?.agent.underlay) {
      if (ce) {
        if (ended(ce)) {
          this.m.ended.inc({ vip: ce.vipName, role: 'client', reason });
          void this.removeClientEntry(ck, ce);
        }
      } else {
        // A short flow often ends before its redirect arrives: remember, so the redirect is refused
        // (onRedirect) instead of installing entries nothing would remove before the idle timeout.
        const now = Date.now();
        for (const [key, c] of this.closed) {
          if (now - c.at < CLOSED_TTL_MS && this.closed.size < CLOSED_MAX) break;
          this.closed.delete(key);
        }
        const c = this.closed.get(ck) ?? { fin: 0, at: now };
        ended(c);
        if (reason === 'rst') c.fin = FIN_OUT | FIN_IN;
        this.closed.set(ck, c);
      }
    }
    const bk = fkey(client, 'tcp', cport, vip, vport);
    const be = this.backend.get(bk);
    if (be && (be.state === 'active' || be.state === 'pending') && !be.ended && ended(be)) {
      this.m.ended.inc({ vip: be.vipName, role: 'backend', reason });
      // Pending: the ack, when it comes, finds the flow over and installs nothing (onAck).
      if (be.state === 'pending') be.ended = true;
      else void this.goIdle(bk, be);
    }
  }

  private onNewFlow(
    client: string,
    cport: number,
    vipAddr: string,
    vport: number,
    proto: Proto,
    seenMs: number,
    restarted = false,
  ): void {
    // Every return without a redirect lets a held SYN-ACK go at once (a pending redirect's ack will).
    const st = this.state;
    if (!st) return this.hold.release(client, cport);
    const vip = this.findVip(vipAddr, proto, vport);
    if (!vip) return this.hold.release(client, cport);
    const me = vip.backends.find((b) => b.address === st.agent.underlay);
    if (!me || me.state !== 'active') return this.hold.release(client, cport);
    const k = fkey(client, proto, cport, vipAddr, vport);
    const e = this.backend.get(k);
    if (e) {
      // A packet from the mux for a flow we think is bypassed: the client lost its entry (or, for a TCP
      // SYN, this is a new connection reusing the tuple). Stop rewriting replies at once, then start over.
      // For TCP only SYNs are logged, so this is always a new connection (or a copy of its SYN): start
      // over even right after the last one, which a client cycling through its ports does within a
      // second; waiting left such a connection on the mux for its whole life. UDP logs every packet
      // from the mux: packets in flight when the redirect lands must not restart it.
      if (proto === 'udp') {
        if (e.state === 'pending' || Date.now() - e.activeSince < 1000) return;
        if (e.state === 'active' && Date.now() - e.activeSince < 2000) return;
      }
      void this.removeBackendEntry(k, e, true).then(() =>
        this.onNewFlow(client, cport, vipAddr, vport, proto, seenMs, true),
      );
      return;
    }
    this.m.flows.inc({ vip: vip.name, role: 'backend' });
    this.vipCounts(vip.id).flowsNew++;
    if (!vip.bypass.enabled) return this.hold.release(client, cport);
    if (vip.bypass.sourceCidrs.length > 0 && !vip.bypass.sourceCidrs.some((c) => cidrContains(c, client)))
      return this.hold.release(client, cport);
    const bi = biKey({ client, proto, cport, vport });
    const owner = this.biOwner.get(bi);
    if (me.healthy === false) {
      // A backend the control plane holds unhealthy: clients would refuse the redirect anyway. The kernel
      // added `bi` all the same; unowned, it goes (it would otherwise stay its full timeout, unseen).
      if (owner === undefined)
        void this.deleter.delete({ set: 'bi', key: bi, stillWanted: () => !this.biOwner.has(bi) });
      return this.hold.release(client, cport);
    }
    let takeOver = false;
    if (owner !== undefined && owner.vip !== vipAddr) {
      const prev = this.backend.get(owner.k);
      if (prev === undefined || !prev.biReleased) {
        // The kernel's `bi` for these ports rewrites to another VIP whose flow may still send straight
        // here (live, ended without its client's release yet, or removed and in its grace period): this
        // flow's packets would reach the wrong socket. It stays on the mux.
        this.m.redirectsSkipped.inc({ reason: 'bi_busy' });
        return this.hold.release(client, cport);
      }
      // That flow released its `bi` (the deletion may still be on its way, and the kernel may hold this
      // flow's own, added on its first packet): this flow installs its own.
      takeOver = true;
    }
    // The other VIP's element went just now: this packet may have met it (the kernel's add then did
    // nothing) and reached the agent after, so the agent installs this flow's own.
    const freed = this.biFreedAt.get(bi);
    if (freed !== undefined && seenMs <= freed + 50) takeOver = true;
    const t = vip.bypass.idleTimeoutS;
    const now = Date.now();
    const ent: BackendEntry = {
      client,
      proto,
      cport,
      vip: vipAddr,
      vport,
      vipName: vip.name,
      state: 'pending',
      firstSeenMs: Math.min(seenMs, now),
      activeSince: now,
      nonce: '',
      nonces: [],
      biExpiresAt: now + (t + GRACE_S) * 1000,
      lastCheckMs: now,
      timers: [],
      fin: 0,
      ackedNonce: '',
    };
    this.backend.set(k, ent);
    this.biOwner.set(bi, { k, vip: vipAddr });
    // Without an ack the entry is forgotten when its receive rewrite expires.
    this.forgetAt(k, ent, ent.biExpiresAt);
    // The kernel added `bi` before logging the packet, under the rules of this.state, unless the packet
    // came while rules were changing or the flow is being restarted (its old element may be going away):
    // then the agent installs it itself before redirecting. 50 ms covers the clocks' granularity.
    const kernelAdded = !restarted && !takeOver && seenMs > this.rulesStableSince + 50;
    const ready = kernelAdded
      ? Promise.resolve()
      : this.deleter.settled('bi', bi).then(() => this.replaceBi(bi, t + GRACE_S, vipAddr));
    ready
      .then(() => {
        trace('bi', k);
        return this.sendRedirect(k, ent, vip, false);
      })
      .catch((err: Error) => {
        this.log(`bi install failed for ${k}: ${err.message}`);
        this.backend.delete(k);
        this.disownBi(bi, k, false);
        this.hold.release(client, cport);
      });
  }

  private async sendRedirect(k: string, e: BackendEntry, vip: VipSpec, renewal: boolean): Promise<void> {
    const st = this.state!;
    if (renewal) {
      // Extend the receive rewrite first: it must outlive whatever the client installs next.
      const t = vip.bypass.idleTimeoutS;
      try {
        await this.replaceBi(biKey(e), t + GRACE_S, e.vip);
        e.biExpiresAt = Date.now() + (t + GRACE_S) * 1000;
      } catch (err) {
        this.log(`bi renewal failed for ${k}: ${(err as Error).message}`);
        await this.goIdle(k, e);
        return;
      }
    }
    const key = Buffer.from(st.redirect.keys[st.redirect.activeKeyId]!, 'base64');
    // Every attempt is a fresh message (new nonce, new timestamp): a retry of the same bytes would be
    // rejected as a replay when only the ack was lost. The client treats a repeat as a renewal.
    const attempt = (): void => {
      const nonce = newNonce();
      e.nonce = nonce;
      e.nonces.push(nonce);
      this.pending.set(nonce, { k, client: e.client, sentAt: Date.now() });
      const msg = signRedirect(
        {
          tenantId: st.agent.tenantId,
          keyId: st.redirect.activeKeyId,
          flow: {
            protocol: e.proto,
            clientAddr: e.client,
            clientPort: e.cport,
            vip: e.vip,
            vipPort: e.vport,
          },
          backendHost: st.agent.underlay,
          backendAddr: st.agent.underlay,
          backendPort: vip.port,
          timestampMs: Date.now(),
          nonce,
        },
        key,
      );
      this.sock?.send(msg, st.redirect.port, e.client);
      trace('sent', k);
    };
    this.clearNonces(e);
    attempt();
    this.m.redirectsSent.inc({ vip: vip.name });
    this.vipCounts(vip.id).redirectsSent++;
    // Tries must end while what they refer to still holds: for a first redirect the kernel's `bi` (added
    // at the first packet, renewed half an idle timeout after the ack), for a renewal the client's `ri`
    // (it lapses idle timeout + GRACE_S after the client last accepted, half an idle timeout ago). Both
    // leave half an idle timeout + GRACE_S from `start`; one second of it is margin.
    const halfT = vip.bypass.idleTimeoutS / 2;
    const start = renewal ? Date.now() : e.firstSeenMs;
    const windowMs = start + (halfT + GRACE_S - 1) * 1000 - Date.now();
    const plan = retrySchedule(this.rtoOf(e.client).delays(REDIRECT_RETRIES), windowMs);
    for (const at of plan.triesAtMs) {
      const timer = setTimeout(() => {
        if (this.backend.get(k) === e && this.pending.has(e.nonce)) {
          this.m.redirectsRetried.inc({ vip: vip.name });
          attempt();
        }
      }, at);
      timer.unref();
      e.timers.push(timer);
    }
    const giveUp = setTimeout(() => {
      if (!this.pending.has(e.nonce)) return;
      this.clearNonces(e);
      // An unanswered renewal: the client's entries will lapse, so stop rewriting replies first.
      if (renewal && e.state === 'active') void this.goIdle(k, e);
    }, plan.giveUpAtMs);
    giveUp.unref();
    e.timers.push(giveUp);
  }

  private rtoOf(client: string): RtoEstimator {
    let r = this.rto.get(client);
    if (!r) {
      // One small estimator per client host; past 4096 the longest-known one makes room (Map keeps order).
      if (this.rto.size >= 4096) this.rto.delete(this.rto.keys().next().value!);
      r = new RtoEstimator();
      this.rto.set(client, r);
    }
    return r;
  }

  private clearNonces(e: BackendEntry): void {
    for (const n of e.nonces) this.pending.delete(n);
    e.nonces = [];
  }

  private async removeBackendEntry(k: string, e: BackendEntry, graceForBi: boolean): Promise<void> {
    e.timers.forEach(clearTimeout);
    this.backend.delete(k);
    this.clearNonces(e);
    const bo = boKey(e);
    const bi = biKey(e);
    if (e.state === 'active')
      await this.nft.exec(`delete element ip ${NFT_TABLE} bo { ${bo} }`).catch(() => undefined);
    // A flow restarted under the same key owns the element by then: leave it.
    const dropBi = async (): Promise<void> => {
      if (this.backend.has(k) || this.biOwner.get(bi)?.k !== k) return;
      await this.nft.exec(`delete element ip ${NFT_TABLE} bi { ${bi} }`).catch(() => undefined);
      this.disownBi(bi, k);
    };
    if (graceForBi) setTimeout(() => void dropBi(), GRACE_S * 1000).unref();
    else await dropBi();
    this.updateGauges();
  }

  // ---------------------------------------------------------------- config changes

  /**
   * Drops bypass entries whose backend left the pool, was drained, disabled or marked unhealthy, or whose
   * VIP changed policy.
   */
  private async pruneForConfig(st: DesiredState): Promise<void> {
    for (const [k, e] of [...this.client]) {
      const vip = this.findVip(e.vip, e.proto, e.vport);
      const b = vip?.backends.find((x) => x.address === e.backendHost);
      const keep =
        vip &&
        vip.bypass.enabled &&
        b &&
        b.state === 'active' &&
        b.weight > 0 &&
        b.healthy !== false &&
        (vip.bypass.sourceCidrs.length === 0 ||
          vip.bypass.sourceCidrs.some((c) => cidrContains(c, st.agent.underlay)));
      if (keep) continue;
      await this.removeClientEntry(k, e);
    }
    for (const [k, e] of [...this.backend]) {
      const vip = this.findVip(e.vip, e.proto, e.vport);
      const me = vip?.backends.find((x) => x.address === st.agent.underlay);
      if (vip && vip.bypass.enabled && me && me.state === 'active' && me.weight > 0 && me.healthy !== false)
        continue;
      await this.removeBackendEntry(k, e, true);
    }
    this.updateGauges();
  }

  private updateGauges(): void {
    this.m.entries.reset();
    for (const v of this.state?.vips ?? [])
      this.m.entries.set({ vip: v.name }, this.clientCount.get(vipKeyOf(v)) ?? 0);
  }

  // ---------------------------------------------------------------- metrics

  private received(result: 'accepted' | 'rejected', reason: string): void {
    this.m.redirectsReceived.inc({ result, reason });
    if (result === 'accepted') this.rxAccepted++;
    else this.rxRejected.set(reason, (this.rxRejected.get(reason) ?? 0) + 1);
  }

  private vipCounts(id: string): { flowsNew: number; flowsBypassed: number; redirectsSent: number } {
    let c = this.perVip.get(id);
    if (!c) {
      c = { flowsNew: 0, flowsBypassed: 0, redirectsSent: 0 };
      this.perVip.set(id, c);
    }
    return c;
  }

  private async readKernelCounters(): Promise<Map<string, RawCounter>> {
    return parseCounters(await this.counterNft.query(`list counters table ip ${NFT_TABLE}`));
  }

  /** Reads the counters every second, or less often when a read is slow (see counterNft). */
  private pollCounters(): void {
    const t0 = performance.now();
    this.hold.requestStats();
    void this.refreshCounters().then(() => {
      if (this.stopped) return;
      const next = Math.max(COUNTER_INTERVAL_MS, BACKGROUND_BUSY_FACTOR * (performance.now() - t0));
      this.counterTimer = setTimeout(() => this.pollCounters(), next);
      this.counterTimer.unref();
    });
  }

  private refreshCounters(): Promise<Map<string, RawCounter>> {
    if (!this.state) return Promise.resolve(this.rawCounters);
    // Concurrent callers share one read: two readings applied out of order would look like a reset.
    this.counterRead ??= this.readKernelCounters()
      .then(
        (raw) => {
          this.rawCounters = raw;
          this.kernelCounters.update(raw);
        },
        (err: Error) => this.log(`reading counters failed: ${err.message}`),
      )
      .then(() => {
        this.counterRead = null;
        return this.rawCounters;
      });
    return this.counterRead;
  }

  /**
   * Cumulative counters since this process started (docs/agent-protocol.md). Kernel counters are as of
   * the last read (at most ~1 s old). Throws before the first state is applied: there is no revision to
   * report yet.
   */
  telemetry(): TelemetryReport {
    const st = this.state;
    if (!st) throw new Error('no desired state applied yet');
    const vips = st.vips.map((v) => {
      const t = vipTag(v);
      const mux = this.kernelCounters.get(`m_${t}`);
      const direct = this.kernelCounters.get(`d_${t}`);
      const own = this.perVip.get(v.id) ?? { flowsNew: 0, flowsBypassed: 0, redirectsSent: 0 };
      return {
        vipId: v.id,
        packetsMux: mux.packets,
        packetsDirect: direct.packets,
        bytesMux: mux.bytes,
        bytesDirect: direct.bytes,
        flowsNew: own.flowsNew + this.kernelCounters.get(`n_${t}`).packets,
        flowsBypassed: own.flowsBypassed,
        bypassEntries: this.clientCount.get(vipKeyOf(v)) ?? 0,
        redirectsSent: own.redirectsSent,
        muxPackets: this.kernelCounters.get(`x_${t}`).packets,
      };
    });
    return {
      bootId: this.bootId,
      at: new Date().toISOString(),
      appliedRevision: st.revision,
      vips,
      redirectsReceived: { accepted: this.rxAccepted, rejected: Object.fromEntries(this.rxRejected) },
      timeToBypass: this.ttbMs.snapshot(),
      // Muxes report their probe verdicts; hosts probe nothing.
      backendHealth: st.agent.role === 'mux' ? this.prober.reports(st) : [],
    };
  }

  private startMetrics(): void {
    this.metricsServer = http.createServer((req, res) => {
      if (req.url === '/telemetry') {
        // Fresh kernel counters for a local reader (tests, the lab); the control plane gets telemetry().
        void this.refreshCounters().then(() => {
          try {
            res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(this.telemetry()));
          } catch (err) {
            res.writeHead(503).end((err as Error).message);
          }
        });
        return;
      }
      if (req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      this.renderMetrics().then(
        (text) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(text),
        (err: Error) => res.writeHead(500).end(err.message),
      );
    });
    this.metricsServer.listen(this.opts.metricsPort, this.opts.metricsHost);
  }

  async renderMetrics(): Promise<string> {
    const packets = new CounterVec(
      'slipstream_packets_total',
      'Packets this host sent toward the VIP, by path',
    );
    const bytes = new CounterVec('slipstream_bytes_total', 'Bytes this host sent toward the VIP, by path');
    const mux = new CounterVec('slipstream_mux_packets_total', 'VIP packets forwarded by this mux');
    const muxBytes = new CounterVec('slipstream_mux_bytes_total', 'VIP bytes forwarded by this mux');
    const raw = await this.refreshCounters();
    const byTag = new Map<string, string>();
    for (const v of this.state?.vips ?? []) byTag.set(vipTag(v), v.name);
    for (const [cname, c] of raw) {
      const name = byTag.get(cname.slice(2));
      if (!name) continue;
      if (cname.startsWith('m_') || cname.startsWith('d_')) {
        const path = cname.startsWith('m_') ? 'mux' : 'direct';
        packets.set({ vip: name, path }, c.packets);
        bytes.set({ vip: name, path }, c.bytes);
      } else if (cname.startsWith('x_')) {
        mux.set({ vip: name }, c.packets);
        muxBytes.set({ vip: name }, c.bytes);
      } else if (cname.startsWith('n_')) {
        // The kernel counts new flows on clients (conntrack "new") and muxes (TCP SYNs); backends count in the agent.
        this.m.flows.set({ vip: name, role: this.state?.agent.role === 'mux' ? 'mux' : 'client' }, c.packets);
      }
    }
    const holds = new CounterVec(
      'slipstream_synack_holds_total',
      "Backend side: SYN-ACKs the handshake hold let go, by result (released: the client had its entries or would get none; expired: held the VIP's full hold time; early: released before it was queued; passed: not held)",
    );
    if (this.hold.active || this.state?.vips.some((v) => (v.bypass.handshakeHoldMs ?? 0) > 0)) {
      const h = this.hold.stats();
      for (const r of ['released', 'expired', 'early', 'passed'] as const) holds.set({ result: r }, h[r]);
    }
    const parts = [packets, bytes, mux, muxBytes, holds, ...Object.values(this.m)].map((x) => x.render());
    return parts.join('\n') + '\n';
  }

  /** Flow table snapshot for tests and status. */
  snapshot(): { client: ClientEntry[]; backend: Omit<BackendEntry, 'timers'>[] } {
    return {
      client: [...this.client.values()].map(({ timer: _t, ...rest }) => rest),
      backend: [...this.backend.values()].map(({ timers: _t, ...rest }) => rest),
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.prober.stop();
    if (this.probeTimer) clearInterval(this.probeTimer);
    if (this.counterTimer) clearTimeout(this.counterTimer);
    unwatchFile(this.opts.configFile ?? '');
    this.tcpdump?.kill();
    await this.hold.stop(false);
    this.sock?.close();
    this.metricsServer?.close();
    // Deletions already decided (ended flows) still reach the kernel.
    await this.deleter.flush();
    this.nft.stop();
    this.counterNft.stop();
    for (const e of this.client.values()) if (e.timer) clearTimeout(e.timer);
    for (const d of this.riDrops.values()) clearTimeout(d.timer);
    for (const e of this.backend.values()) e.timers.forEach(clearTimeout);
  }
}

export { cleanupKernel };

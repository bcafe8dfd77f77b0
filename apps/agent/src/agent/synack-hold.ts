/**
 * Handshake hold (bypass.handshakeHoldMs): a backend keeps a new connection's SYN-ACK back until the client
 * has its bypass entries, so the handshake's ACK and everything after it go straight to the backend and a
 * short connection costs the mux one packet (its SYN) instead of two or three.
 *
 * The packet work is the kernel's: `rep` marks the SYN-ACKs (render.ts HOLD_MARK), and one iptables rule
 * queues marked packets to NFQUEUE HOLD_QUEUE (nftables' own `queue` statement is not in every kernel;
 * iptables' NFQUEUE target is, through nft's xtables compatibility). The queue is read by a small C helper
 * (native/synack-hold.c), since Node cannot open a netlink socket. This class runs that helper, tells it each
 * VIP's hold time and which flows to let go, and keeps the rule in place while a VIP asks for holds.
 *
 * It fails open everywhere: the rule has `--queue-bypass` (no helper, no hold), the helper lets every
 * packet go when its time is up or when the agent goes away, and a host that cannot run it (no helper
 * built, no iptables) serves its VIPs without holds and says so once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ensureHoldRule, removeHoldRule, tryRun } from '../dataplane/kernel.js';
import { HOLD_QUEUE, type HoldSpec } from '../dataplane/render.js';

/** A helper that exits is started again after this, doubling while it keeps failing (up to a minute). */
const RESTART_MS = 1000;
const RESTART_MAX_MS = 60_000;
/** A helper that ran this long counts as having worked: the next failure starts the backoff over. */
const HEALTHY_RUN_MS = 10_000;
const HELPER = 'slipstream-synack-hold';

export interface HoldStats {
  held: number;
  released: number;
  expired: number;
  passed: number;
  early: number;
}
const ZERO: HoldStats = { held: 0, released: 0, expired: 0, passed: 0, early: 0 };

function addStats(a: HoldStats, b: HoldStats): HoldStats {
  const s = { ...a };
  for (const k of Object.keys(s) as (keyof HoldStats)[]) s[k] += b[k];
  return s;
}

/**
 * Where the helper is: next to the bundle (dist/bundle, and where install.sh puts both), else dist/native
 * next to dist/agent (and, seen from the sources a test runs, ../../dist). SLIPSTREAM_SYNACK_HOLD_BIN
 * overrides.
 */
export function defaultHelperPath(): string {
  if (process.env.SLIPSTREAM_SYNACK_HOLD_BIN) return process.env.SLIPSTREAM_SYNACK_HOLD_BIN;
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [
    join(here, HELPER),
    join(here, '..', 'native', HELPER),
    join(here, '..', '..', 'dist', 'native', HELPER),
  ];
  return candidates.find((c) => existsSync(c)) ?? candidates[0]!;
}

export function parseHoldStats(line: string): HoldStats | null {
  const m = /^held (\d+) released (\d+) expired (\d+) passed (\d+) early (\d+)$/.exec(line.trim());
  if (!m) return null;
  const [held, released, expired, passed, early] = m.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  return { held, released, expired, passed, early };
}

export class SynAckHold {
  private child: ChildProcess | null = null;
  private holds: HoldSpec[] = [];
  private stopped = false;
  private restartTimer: NodeJS.Timeout | null = null;
  private ruleIn = false;
  /** Totals of helpers that exited, plus the running one's last report. */
  private base: HoldStats = { ...ZERO };
  private last: HoldStats = { ...ZERO };
  private complained = '';
  private restartMs = RESTART_MS;
  private startedAt = 0;

  constructor(
    private readonly log: (msg: string) => void,
    private readonly helper = defaultHelperPath(),
  ) {}

  /** True while a helper runs and the kernel queues to it. */
  get active(): boolean {
    return this.child !== null && this.ruleIn;
  }

  /** Brings helper and rule to these holds (from the applied plan); never throws. */
  async set(holds: HoldSpec[]): Promise<void> {
    if (this.stopped) return;
    const before = new Map(this.holds.map((h) => [`${h.vip}:${h.port}`, h]));
    this.holds = holds;
    if (holds.length === 0) {
      await this.removeRule();
      this.stopHelper();
      return;
    }
    const why = !existsSync(this.helper)
      ? `${this.helper} is not built (no C compiler when the agent was built)`
      : !(await tryRun('iptables', ['--version']))
        ? 'iptables is not installed'
        : '';
    if (why !== '') {
      if (this.complained !== why) this.log(`handshake holds are off: ${why}`);
      this.complained = why;
      return;
    }
    this.complained = '';
    if (this.child === null && this.restartTimer === null) this.startHelper();
    else {
      for (const h of holds) before.delete(`${h.vip}:${h.port}`);
      for (const h of before.values()) this.write(`cap ${h.vip} ${h.port} 0`);
      this.sendCaps();
    }
    await this.ensureRule();
  }

  /** The flow to client:cport is bypassed, or will not be: its SYN-ACK may go. */
  release(client: string, cport: number): void {
    if (this.child !== null) this.write(`r ${client} ${cport}`);
  }

  /** Asks the running helper for its counts (its answer updates stats() a moment later). */
  requestStats(): void {
    if (this.child !== null) this.write('s');
  }

  /** Counts since this agent started, as of the helpers' last answers. */
  stats(): HoldStats {
    return addStats(this.base, this.last);
  }

  /** Stops the helper (it lets held packets go); `cleanup` also removes the kernel rule. */
  async stop(cleanup: boolean): Promise<void> {
    this.stopped = true;
    if (cleanup) await this.removeRule();
    this.stopHelper();
  }

  private startHelper(): void {
    let child: ChildProcess;
    try {
      child = spawn(this.helper, [String(HOLD_QUEUE)], { stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (err) {
      // Errors Node does not report as an 'error' event (ENOEXEC and the like) throw here.
      this.child = null;
      this.scheduleRestart(`could not start: ${(err as Error).message}`);
      return;
    }
    this.child = child;
    this.startedAt = Date.now();
    child.stdin!.on('error', () => {});
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const s = parseHoldStats(line);
      // A helper already replaced may still answer: its counts were folded into `base`.
      if (s && this.child === child) this.last = s;
    });
    createInterface({ input: child.stderr! }).on('line', (line) => this.log(line));
    // A failed spawn (ENOENT, EACCES) emits 'error' and no 'exit': both end this helper.
    let ended = false;
    const end = (why: string): void => {
      if (ended || this.child !== child) return;
      ended = true;
      this.child = null;
      this.fold();
      if (this.stopped || this.holds.length === 0) return;
      this.scheduleRestart(why);
    };
    child.on('error', (err) => end(`could not run: ${err.message}`));
    child.on('exit', (code, signal) => end(`exited (${code ?? signal})`));
    this.sendCaps();
  }

  private scheduleRestart(why: string): void {
    if (Date.now() - this.startedAt > HEALTHY_RUN_MS) this.restartMs = RESTART_MS;
    const ms = this.restartMs;
    this.restartMs = Math.min(RESTART_MAX_MS, this.restartMs * 2);
    this.log(`slipstream-synack-hold ${why}; SYN-ACKs pass unheld; restarting in ${ms} ms`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (!this.stopped && this.child === null && this.holds.length > 0) this.startHelper();
    }, ms);
    this.restartTimer.unref();
  }

  /** Adds the current helper's last counts to the totals of those gone. */
  private fold(): void {
    this.base = addStats(this.base, this.last);
    this.last = { ...ZERO };
  }

  private stopHelper(): void {
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    const c = this.child;
    if (c === null) return;
    this.child = null;
    this.fold();
    c.stdin?.end(); // the helper lets what it holds go and exits
  }

  private sendCaps(): void {
    for (const h of this.holds) this.write(`cap ${h.vip} ${h.port} ${h.ms}`);
  }

  private write(line: string): void {
    this.child?.stdin?.write(`${line}\n`);
  }

  private async ensureRule(): Promise<void> {
    try {
      await ensureHoldRule();
      this.ruleIn = true;
    } catch (err) {
      const why = `iptables refused the queue rule: ${(err as Error).message}`;
      if (this.complained !== why) this.log(`handshake holds are off: ${why}`);
      this.complained = why;
    }
  }

  private async removeRule(): Promise<void> {
    this.ruleIn = false;
    await removeHoldRule();
  }
}

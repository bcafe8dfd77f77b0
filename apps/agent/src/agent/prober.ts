/**
 * Backend health probes of a mux (the pool's probe settings, carried per VIP in the desired state).
 *
 * One probe loop per distinct target (backend address, port and settings), shared by every VIP that names
 * it. A verdict turns after `unhealthyThreshold` consecutive failures or `healthyThreshold` consecutive
 * successes (`step`, pure); until the first verdict a backend keeps the health the control plane sent.
 * The mux drops a backend that is not healthy from its Maglev table (`withBackendHealth`, pure): the mux
 * keeps no flow state, so its flows move to the other backends at once.
 */
import net from 'node:net';
import http from 'node:http';
import type { BackendSpec, DesiredState, ProbeProtocol, VipSpec } from '../config/desired-state.js';
import type { BackendHealth } from './telemetry.js';

export type Verdict = 'unknown' | 'healthy' | 'unhealthy';

export interface Thresholds {
  healthyThreshold: number;
  unhealthyThreshold: number;
}

export interface ProbeState {
  verdict: Verdict;
  /** Consecutive successes (reset by a failure) and failures (reset by a success). */
  successes: number;
  failures: number;
  /** Why the last probe failed; null after a success. */
  reason: string | null;
}

export const INITIAL_PROBE_STATE: ProbeState = {
  verdict: 'unknown',
  successes: 0,
  failures: 0,
  reason: null,
};

/**
 * The threshold state machine. From `unknown`, one success is enough (a fresh mux should not hold back a
 * backend that answers) while failures still need the full threshold (one lost probe is not death).
 */
export function step(s: ProbeState, ok: boolean, t: Thresholds, reason: string | null = null): ProbeState {
  if (ok) {
    const successes = s.successes + 1;
    const healthy = s.verdict === 'unknown' || successes >= t.healthyThreshold;
    return { verdict: healthy ? 'healthy' : s.verdict, successes, failures: 0, reason: null };
  }
  const failures = s.failures + 1;
  return {
    verdict: failures >= t.unhealthyThreshold ? 'unhealthy' : s.verdict,
    successes: 0,
    failures,
    reason,
  };
}

export interface ProbeTarget extends Thresholds {
  key: string;
  protocol: ProbeProtocol;
  address: string;
  port: number;
  /** HTTP only. */
  path: string;
  intervalMs: number;
  timeoutMs: number;
}

/** The probe target of one backend of a VIP; null when the VIP is not probed or the backend disabled. */
export function probeTarget(vip: VipSpec, b: BackendSpec): ProbeTarget | null {
  const p = vip.probe;
  if (!p || b.state === 'disabled') return null;
  const port = p.port ?? b.port;
  const path = p.protocol === 'http' ? (p.path ?? '/') : '';
  const t = {
    protocol: p.protocol,
    address: b.address,
    port,
    path,
    intervalMs: p.intervalMs,
    timeoutMs: p.timeoutMs,
    healthyThreshold: p.healthyThreshold,
    unhealthyThreshold: p.unhealthyThreshold,
  };
  return { key: Object.values(t).join('|'), ...t };
}

/**
 * The state with every backend the probes hold down given weight 0, so it gets no Maglev slot. When no
 * backend of a VIP would be left, the VIP keeps its configured weights: sending to backends that may be
 * alive beats dropping every packet (a probe path can fail while the service still works).
 */
export function withBackendHealth(
  s: DesiredState,
  healthy: (vip: VipSpec, b: BackendSpec) => boolean,
): DesiredState {
  let changed = false;
  const vips = s.vips.map((v) => {
    const up = v.backends.map((b) => healthy(v, b));
    const serving = v.backends.some((b, i) => up[i] && b.state === 'active' && b.weight > 0);
    if (!serving || up.every(Boolean)) return v;
    changed = true;
    return { ...v, backends: v.backends.map((b, i) => (up[i] ? b : { ...b, weight: 0 })) };
  });
  return changed ? { ...s, vips } : s;
}

export type ProbeResult = { ok: true } | { ok: false; reason: string };
export type ProbeFn = (t: ProbeTarget) => Promise<ProbeResult>;

/** One probe from this namespace: a TCP connect, or `GET path` answered with 2xx/3xx. */
export function probeOnce(t: ProbeTarget): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: ProbeResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(r);
    };
    const fail = (err: Error): void =>
      finish({ ok: false, reason: (err as NodeJS.ErrnoException).code ?? err.message });
    let close: () => void;
    if (t.protocol === 'tcp') {
      const sock = net.connect({ host: t.address, port: t.port });
      sock.once('connect', () => {
        finish({ ok: true });
        sock.destroy();
      });
      sock.once('error', fail);
      close = () => sock.destroy();
    } else {
      const req = http.get(
        {
          host: t.address,
          port: t.port,
          path: t.path,
          agent: false,
          headers: { 'user-agent': 'slipstream-probe/1', connection: 'close' },
        },
        (res) => {
          const code = res.statusCode ?? 0;
          res.resume();
          finish(code >= 200 && code < 400 ? { ok: true } : { ok: false, reason: `http ${code}` });
          req.destroy();
        },
      );
      req.once('error', fail);
      close = () => req.destroy();
    }
    const timer = setTimeout(() => {
      finish({ ok: false, reason: `timeout after ${t.timeoutMs} ms` });
      close();
    }, t.timeoutMs);
  });
}

interface Loop {
  target: ProbeTarget;
  state: ProbeState;
  timer: NodeJS.Timeout | null;
}

/** Runs the probe loops of a desired state and tells the caller when a verdict changes. */
export class Prober {
  private readonly loops = new Map<string, Loop>();
  private stopped = false;

  constructor(
    private readonly onChange: (t: ProbeTarget, s: ProbeState) => void,
    private readonly probe: ProbeFn = probeOnce,
  ) {}

  /** Starts loops for new targets and stops the ones no VIP names any more; others keep their verdict. */
  setTargets(state: DesiredState): void {
    const want = new Map<string, ProbeTarget>();
    for (const v of state.vips)
      for (const b of v.backends) {
        const t = probeTarget(v, b);
        if (t) want.set(t.key, t);
      }
    for (const [k, l] of this.loops)
      if (!want.has(k)) {
        if (l.timer) clearTimeout(l.timer);
        this.loops.delete(k);
      }
    for (const [k, t] of want) {
      if (this.loops.has(k)) continue;
      const loop: Loop = { target: t, state: INITIAL_PROBE_STATE, timer: null };
      this.loops.set(k, loop);
      // Spread the first probes over one interval so many targets do not fire together.
      this.schedule(loop, Math.random() * Math.min(t.intervalMs, 1000));
    }
  }

  private schedule(loop: Loop, delayMs: number): void {
    loop.timer = setTimeout(() => void this.run(loop), delayMs);
    loop.timer.unref();
  }

  private async run(loop: Loop): Promise<void> {
    const started = Date.now();
    const r = await this.probe(loop.target);
    if (this.stopped || this.loops.get(loop.target.key) !== loop) return;
    const before = loop.state.verdict;
    loop.state = step(loop.state, r.ok, loop.target, r.ok ? null : r.reason);
    if (loop.state.verdict !== before) this.onChange(loop.target, loop.state);
    this.schedule(loop, Math.max(0, loop.target.intervalMs - (Date.now() - started)));
  }

  /** This mux's verdict on a VIP's backend; `unknown` when not probed (yet). */
  verdict(vip: VipSpec, b: BackendSpec): ProbeState {
    const t = probeTarget(vip, b);
    return (t && this.loops.get(t.key)?.state) ?? INITIAL_PROBE_STATE;
  }

  /** Probes decide once they have a verdict; before that the control plane's flag holds. */
  healthy(vip: VipSpec, b: BackendSpec): boolean {
    const v = this.verdict(vip, b).verdict;
    return v === 'unknown' ? b.healthy !== false : v === 'healthy';
  }

  /** The verdicts to report (telemetry `backendHealth`): one per VIP and backend with a verdict. */
  reports(state: DesiredState): BackendHealth[] {
    const out: BackendHealth[] = [];
    for (const v of state.vips)
      for (const b of v.backends) {
        const s = this.verdict(v, b);
        if (s.verdict === 'unknown') continue;
        out.push({
          vipId: v.id,
          address: b.address,
          port: b.port,
          healthy: s.verdict === 'healthy',
          ...(s.verdict === 'unhealthy' && s.reason ? { reason: s.reason.slice(0, 500) } : {}),
        });
      }
    return out;
  }

  stop(): void {
    this.stopped = true;
    for (const l of this.loops.values()) if (l.timer) clearTimeout(l.timer);
    this.loops.clear();
  }
}

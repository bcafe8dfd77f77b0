/** Pure parts of the data-plane benchmark: statistics, iperf3 output, targets and the result table. */

/** Nearest-rank percentile (p in 0..100) of unsorted values; null for an empty list. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0 || !(p >= 0 && p <= 100)) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export interface IperfResult {
  /** Receiver-side goodput: what actually arrived, which is what a user gets. */
  bitsPerSecond: number;
  seconds: number;
  retransmits: number | null;
}

/** Parses `iperf3 -J` output; throws with iperf3's own message when the run failed. */
export function parseIperf3Json(text: string): IperfResult {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new Error(`iperf3 output is not JSON: ${text.slice(0, 200)}`);
  }
  const d = doc as {
    error?: unknown;
    end?: {
      sum_received?: { bits_per_second?: unknown; seconds?: unknown };
      sum_sent?: { retransmits?: unknown };
    };
  };
  if (typeof d.error === 'string') throw new Error(`iperf3: ${d.error}`);
  const rx = d.end?.sum_received;
  if (typeof rx?.bits_per_second !== 'number' || typeof rx.seconds !== 'number') {
    throw new Error('iperf3 output has no end.sum_received.bits_per_second');
  }
  const rt = d.end?.sum_sent?.retransmits;
  return {
    bitsPerSecond: rx.bits_per_second,
    seconds: rx.seconds,
    retransmits: typeof rt === 'number' ? rt : null,
  };
}

export type PathName = 'direct' | 'mux' | 'bypass';

export interface PathFigures {
  throughputRunsBps: number[];
  /** Median of the runs. */
  throughputBps: number | null;
  latencyP50Us: number | null;
  latencyP99Us: number | null;
  latencySamples: number;
  /**
   * Share of the client's packets to this VIP that took the direct path during the throughput and the
   * latency runs (from the agent's counters): proof that "bypass" was bypassed and "mux" was not.
   */
  directShareThroughput?: number | null;
  directShareLatency?: number | null;
  errors: string[];
}

export interface BenchResults {
  startedAt: string;
  finishedAt: string;
  labPrefix: string;
  /** 1-minute load average at start and end: other work on a 2-core machine skews every figure. */
  loadAvg1m?: { start: number; end: number };
  paths: Record<PathName, PathFigures>;
  /** Short connections flat out from one client (4 at a time): the figure the targets apply to. */
  timeToBypass: TtbFigures;
  /**
   * The same at a fixed rate of new connections, after the flat-out run: time-to-bypass against the
   * offered load, apart from the queueing of a saturated 2-core machine.
   */
  timeToBypassPaced?: (TtbFigures & { ratePerSec: number })[];
  /** The mixed workload against a VIP without a handshake hold. */
  mixed: MixedRun & {
    /**
     * Each kind of flow of the mix alone, from one client: where the mux packets come from. A flow's
     * first packets reach the backend through the mux before any redirect can come back.
     */
    kinds?: MixedKind[];
  };
  /** The same workload against the same service behind a VIP whose backends hold handshakes. */
  mixedHold?: MixedRun & { holdMs: number };
  /** What the hold costs connection setup (bench client `setup`, medians of alternating rounds). */
  setup?: { holdMs: number; rounds: number; plain: SetupFigures; hold: SetupFigures; errors: string[] };
  flowRate: {
    seconds: number;
    flowsOpened: number;
    flowsPerSec: number | null;
    bypassedPerSec: number | null;
    connectErrors: number;
    errors: string[];
  };
  /**
   * Many short connections in a row from one client, so ports come back while their last flow's entries
   * are being removed: any reset or failed request there is a data-plane fault, and entries left a while
   * after the last one ended show removals falling behind.
   */
  churn?: {
    connections: number;
    concurrency: number;
    failed: number;
    /** Entries of the churned VIP left on the client (fo, ri) and its backends (bo, bi), or null unread. */
    left: { fo: number; ri: number; bo: number; bi: number } | null;
    leftAfterS: number;
    errors: string[];
  };
}

export interface MixedRun {
  seconds: number;
  directPackets: number;
  muxPackets: number;
  share: number | null;
  requests: number;
  /**
   * New flows the clients opened to the bypass VIPs (their agents' kernel counters). A flow's first
   * packet always crosses the mux (only the mux can pick its backend), so 1 - newFlows / packets is
   * the highest share any redirect could reach for this mix.
   */
  newFlows?: number;
  errors: string[];
}

export interface SetupFigures {
  samples: number;
  failed: number;
  connectP50Ms: number | null;
  connectP99Ms: number | null;
  requestP50Ms: number | null;
  requestP99Ms: number | null;
}

export interface TtbFigures {
  observations: number;
  p50Ms: number | null;
  p99Ms: number | null;
  p99AboveTopBucket: boolean;
  errors: string[];
}

export interface MixedKind {
  kind: 'bulk' | 'keepalive' | 'short';
  seconds: number;
  directPackets: number;
  muxPackets: number;
  /** Bulk transfers, or HTTP requests (keep-alive and short; a short connection carries one). */
  units: number;
}

const KIND_UNIT: Record<MixedKind['kind'], string> = {
  bulk: 'transfer',
  keepalive: 'request',
  short: 'connection',
};

export const TARGETS = {
  bypassThroughputRatioMin: 0.9,
  bypassLatencyRatioMax: 1.1,
  timeToBypassP50MsMax: 2,
  timeToBypassP99MsMax: 10,
  mixedShareMin: 0.95,
} as const;

export type Verdict = 'PASS' | 'MISS' | 'n/a' | '';

export interface Row {
  metric: string;
  value: string;
  vsDirect: string;
  target: string;
  verdict: Verdict;
}

export function ratio(x: number | null, direct: number | null): number | null {
  if (x === null || direct === null || !(direct > 0)) return null;
  return x / direct;
}

const fmt = (x: number | null, digits: number, unit = ''): string =>
  x === null ? '-' : `${x.toFixed(digits)}${unit}`;
const fmtRatio = (r: number | null): string => (r === null ? '-' : `${r.toFixed(2)}x`);
const gbit = (bps: number | null): number | null => (bps === null ? null : bps / 1e9);

/** Verdict of `value <op> limit`; n/a when the figure could not be measured. */
function judge(value: number | null, ok: (v: number) => boolean): Verdict {
  return value === null ? 'n/a' : ok(value) ? 'PASS' : 'MISS';
}

export function resultRows(r: BenchResults): Row[] {
  const rows: Row[] = [];
  const d = r.paths.direct;
  for (const p of ['direct', 'mux', 'bypass'] as const) {
    const f = r.paths[p];
    const rt = ratio(f.throughputBps, d.throughputBps);
    rows.push({
      metric: `throughput ${p} (1 stream, median)`,
      value: fmt(gbit(f.throughputBps), 2, ' Gbit/s'),
      vsDirect: fmtRatio(rt),
      target: p === 'bypass' ? `>= ${TARGETS.bypassThroughputRatioMin}x` : '',
      verdict: p === 'bypass' ? judge(rt, (v) => v >= TARGETS.bypassThroughputRatioMin) : '',
    });
  }
  for (const p of ['direct', 'mux', 'bypass'] as const) {
    const f = r.paths[p];
    const rl = ratio(f.latencyP50Us, d.latencyP50Us);
    rows.push({
      metric: `64 B req/resp ${p} p50 / p99`,
      value: `${fmt(f.latencyP50Us, 0)} / ${fmt(f.latencyP99Us, 0)} us`,
      vsDirect: `${fmtRatio(rl)} / ${fmtRatio(ratio(f.latencyP99Us, d.latencyP99Us))}`,
      target: p === 'bypass' ? `p50 <= ${TARGETS.bypassLatencyRatioMax}x` : '',
      verdict: p === 'bypass' ? judge(rl, (v) => v <= TARGETS.bypassLatencyRatioMax) : '',
    });
  }
  const t = r.timeToBypass;
  rows.push({
    metric: `time-to-bypass p50 (${t.observations} flows, flat out)`,
    value: fmt(t.p50Ms, 2, ' ms'),
    vsDirect: '',
    target: `<= ${TARGETS.timeToBypassP50MsMax} ms`,
    verdict: judge(t.p50Ms, (v) => v <= TARGETS.timeToBypassP50MsMax),
  });
  rows.push({
    metric: 'time-to-bypass p99',
    value: t.p99AboveTopBucket ? `> ${fmt(t.p99Ms, 2, ' ms')}` : fmt(t.p99Ms, 2, ' ms'),
    vsDirect: '',
    target: `<= ${TARGETS.timeToBypassP99MsMax} ms`,
    verdict: t.p99AboveTopBucket ? 'MISS' : judge(t.p99Ms, (v) => v <= TARGETS.timeToBypassP99MsMax),
  });
  for (const pt of r.timeToBypassPaced ?? []) {
    rows.push({
      metric: `  at ${pt.ratePerSec} new flows/s: p50 / p99 (${pt.observations} flows)`,
      value: `${fmt(pt.p50Ms, 2)} / ${pt.p99AboveTopBucket ? '> ' : ''}${fmt(pt.p99Ms, 2, ' ms')}`,
      vsDirect: '',
      target: '',
      verdict: '',
    });
  }
  if (r.mixedHold) rows.push(...mixedRows(r.mixedHold, `handshake hold ${r.mixedHold.holdMs} ms`, true));
  rows.push(...mixedRows(r.mixed, 'no handshake hold', r.mixedHold === undefined));
  for (const k of r.mixed.kinds ?? []) {
    const total = k.directPackets + k.muxPackets;
    rows.push({
      metric: `  ${k.kind} alone (${k.seconds} s, 1 client)`,
      value:
        total === 0
          ? '-'
          : `${((k.directPackets / total) * 100).toFixed(1)} % (${k.muxPackets}/${total} pkts via mux)`,
      vsDirect: k.units > 0 ? `${(k.muxPackets / k.units).toFixed(2)} mux pkts/${KIND_UNIT[k.kind]}` : '',
      target: '',
      verdict: '',
    });
  }
  if (r.setup) {
    const { plain, hold, holdMs } = r.setup;
    rows.push({
      metric: `connection setup, hold ${holdMs} ms vs none: connect p50 / p99`,
      value: `${fmt(hold.connectP50Ms, 2)} / ${fmt(hold.connectP99Ms, 2, ' ms')}`,
      vsDirect: `none: ${fmt(plain.connectP50Ms, 2)} / ${fmt(plain.connectP99Ms, 2, ' ms')}`,
      target: '',
      verdict: '',
    });
    rows.push({
      metric: `  one GET per connection: p50 / p99`,
      value: `${fmt(hold.requestP50Ms, 2)} / ${fmt(hold.requestP99Ms, 2, ' ms')}`,
      vsDirect: `none: ${fmt(plain.requestP50Ms, 2)} / ${fmt(plain.requestP99Ms, 2, ' ms')} (${fmtRatio(ratio(hold.requestP50Ms, plain.requestP50Ms))} p50)`,
      target: '',
      verdict: '',
    });
  }
  rows.push({
    metric: `new flows/s opened by one host (${r.flowRate.seconds} s)`,
    value: fmt(r.flowRate.flowsPerSec, 0, ' flows/s'),
    vsDirect: '',
    target: '',
    verdict: '',
  });
  if (r.churn) {
    const c = r.churn;
    const l = c.left;
    rows.push({
      metric: `churn: ${c.connections} short connections, ${c.concurrency} at a time`,
      value: `${c.failed} failed`,
      vsDirect: l ? `left after ${c.leftAfterS} s: fo ${l.fo}, ri ${l.ri}, bo ${l.bo}, bi ${l.bi}` : '',
      target: '0 failed',
      verdict: c.errors.length > 0 && c.failed === 0 ? 'n/a' : c.failed === 0 ? 'PASS' : 'MISS',
    });
  }
  rows.push({
    metric: 'bypass entries created/s at saturation',
    value: fmt(r.flowRate.bypassedPerSec, 0, ' /s'),
    vsDirect:
      r.flowRate.bypassedPerSec !== null && r.flowRate.flowsPerSec
        ? `${((r.flowRate.bypassedPerSec / r.flowRate.flowsPerSec) * 100).toFixed(0)} % of flows`
        : '',
    target: '',
    verdict: '',
  });
  return rows;
}

/** The share row of one mixed run (judged or not) and its ceiling. */
function mixedRows(m: MixedRun, what: string, judged: boolean): Row[] {
  const total = m.directPackets + m.muxPackets;
  const rows: Row[] = [
    {
      metric: `mixed workload bypass share, ${what} (${m.seconds} s)`,
      value: m.share === null ? '-' : `${(m.share * 100).toFixed(1)} % (${m.directPackets}/${total} pkts)`,
      vsDirect: '',
      target: judged ? `>= ${TARGETS.mixedShareMin * 100} %` : '',
      verdict: judged ? judge(m.share, (v) => v >= TARGETS.mixedShareMin) : '',
    },
  ];
  if (m.newFlows !== undefined && total > 0) {
    rows.push({
      metric: '  ceiling: only first packets via mux',
      value: `${((1 - m.newFlows / total) * 100).toFixed(1)} % (${m.newFlows} new flows)`,
      vsDirect: total > 0 && m.newFlows > 0 ? `${(m.muxPackets / m.newFlows).toFixed(2)} mux pkts/flow` : '',
      target: '',
      verdict: '',
    });
  }
  return rows;
}

export function renderTable(rows: readonly Row[]): string {
  const head: Row = {
    metric: 'metric',
    value: 'value',
    vsDirect: 'vs direct',
    target: 'target',
    verdict: '',
  };
  const all = [head, ...rows];
  const w = (k: keyof Row): number => Math.max(...all.map((r) => r[k].length));
  const cols: (keyof Row)[] = ['metric', 'value', 'vsDirect', 'target', 'verdict'];
  const line = (r: Row): string =>
    cols
      .map((c) => r[c].padEnd(w(c)))
      .join('  ')
      .trimEnd();
  const sep = cols.map((c) => '-'.repeat(w(c))).join('  ');
  return [line(head), sep, ...rows.map(line)].join('\n');
}

/** Exit status for the run: 0 when every judged line passed, 1 when any missed or could not be measured. */
export function overallVerdict(rows: readonly Row[]): 'PASS' | 'MISS' {
  return rows.every((r) => r.verdict === 'PASS' || r.verdict === '') ? 'PASS' : 'MISS';
}

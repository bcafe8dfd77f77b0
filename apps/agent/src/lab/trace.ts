/**
 * Time-to-bypass breakdown from the agents' `SLIPSTREAM_TRACE=1` lines (`trace <step> <flow> <epoch ms>`).
 * Namespaces share one clock, so the backend's and the client's lines of a flow join on the flow key.
 */

/** The steps of one bypass, in order: backend (seen .. sent, ack), client (rx, installed). */
export const TRACE_STEPS = ['seen', 'read', 'bi', 'sent', 'rx', 'installed', 'ack'] as const;
export type TraceStep = (typeof TRACE_STEPS)[number];

export interface StageFigures {
  from: TraceStep;
  to: TraceStep;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface TraceReport {
  flows: number;
  complete: number;
  stages: StageFigures[];
  /** First packet seen by the backend -> entry active at the client: time-to-bypass as defined. */
  active: Omit<StageFigures, 'from' | 'to'>;
  /** First packet -> ack at the backend: what the agents' histogram records (clocks of one host only). */
  total: Omit<StageFigures, 'from' | 'to'>;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function figures(xs: number[]): Omit<StageFigures, 'from' | 'to'> {
  const s = [...xs].sort((a, b) => a - b);
  return { p50: quantile(s, 0.5), p90: quantile(s, 0.9), p99: quantile(s, 0.99), max: s[s.length - 1]! };
}

/** Joins trace lines by flow; the first time of each step counts (later ones are retries and renewals). */
export function traceReport(lines: Iterable<string>): TraceReport {
  const flows = new Map<string, Partial<Record<TraceStep, number>>>();
  for (const line of lines) {
    const m = /^trace (\w+) (\S+) (\d+(?:\.\d+)?)$/.exec(line.trim());
    if (!m || !(TRACE_STEPS as readonly string[]).includes(m[1]!)) continue;
    const f = flows.get(m[2]!) ?? {};
    f[m[1] as TraceStep] ??= Number(m[3]);
    flows.set(m[2]!, f);
  }
  const done = [...flows.values()].filter((f) => TRACE_STEPS.every((s) => f[s] !== undefined)) as Record<
    TraceStep,
    number
  >[];
  if (done.length === 0) throw new Error(`no complete bypass among ${flows.size} traced flows`);
  const stages = TRACE_STEPS.slice(1).map((to, i) => {
    const from = TRACE_STEPS[i]!;
    return { from, to, ...figures(done.map((f) => f[to] - f[from])) };
  });
  return {
    flows: flows.size,
    complete: done.length,
    stages,
    active: figures(done.map((f) => f.installed - f.seen)),
    total: figures(done.map((f) => f.ack - f.seen)),
  };
}

export function renderTraceReport(r: TraceReport): string {
  const row = (name: string, f: Omit<StageFigures, 'from' | 'to'>): string =>
    `${name.padEnd(22)} ${[f.p50, f.p90, f.p99, f.max].map((x) => x.toFixed(2).padStart(8)).join(' ')}`;
  return [
    `${r.complete} complete bypasses of ${r.flows} traced flows (ms)`,
    `${'step'.padEnd(22)} ${['p50', 'p90', 'p99', 'max'].map((x) => x.padStart(8)).join(' ')}`,
    ...r.stages.map((s) => row(`${s.from} -> ${s.to}`, s)),
    row('seen -> installed', r.active),
    row('seen -> ack (total)', r.total),
  ].join('\n');
}

// Pure parts of `npm run bench:control`: argument parsing, percentiles, SSE framing and the result table.

export interface BenchOptions {
  agents: number[];
  changes: number;
  processes: number;
  telemetrySeconds: number;
  flatSeconds: number;
  json: string | null;
  timeoutS: number;
  /**
   * How much of each desired event a simulated agent parses before it ACKs: all of it (default, as a
   * real agent does) or only the leading revision. All simulated agents share one thread here, so with
   * 1000 of them the full parse (1000 states of the tenant's size) is itself a few hundred ms that real
   * agents, each on its own machine, spend in parallel.
   */
  parse?: 'full' | 'revision';
}

export const DEFAULTS: BenchOptions = {
  agents: [100, 1000],
  changes: 20,
  processes: 1,
  telemetrySeconds: 10,
  flatSeconds: 5,
  json: null,
  timeoutS: 290,
};

export const USAGE = `usage: bench:control [--agents 100,1000] [--changes 20] [--processes 1|2]
                     [--telemetry-seconds 10] [--flat-seconds 5] [--timeout-s 290] [--json <file>]
                     [--parse full|revision]`;

function int(flag: string, v: string | undefined, min: number, max: number): number {
  if (v === undefined || !/^\d+$/.test(v)) throw new Error(`${flag} needs an integer, got ${v ?? 'nothing'}`);
  const n = Number(v);
  if (n < min || n > max) throw new Error(`${flag} must be ${min}..${max}, got ${n}`);
  return n;
}

/** Throws an Error naming the bad flag; the caller prints it with the usage and exits 2. */
export function parseArgs(argv: string[]): BenchOptions {
  const o: BenchOptions = { ...DEFAULTS, agents: [...DEFAULTS.agents] };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const v = argv[i + 1];
    i++;
    switch (flag) {
      case '--agents':
        if (v === undefined) throw new Error('--agents needs a list such as 100,1000');
        o.agents = v.split(',').map((x) => int('--agents', x.trim(), 1, 5000));
        break;
      case '--changes':
        o.changes = int(flag, v, 1, 1000);
        break;
      case '--processes':
        o.processes = int(flag, v, 1, 4);
        break;
      case '--telemetry-seconds':
        o.telemetrySeconds = int(flag, v, 0, 120);
        break;
      case '--flat-seconds':
        o.flatSeconds = int(flag, v, 0, 120);
        break;
      case '--timeout-s':
        o.timeoutS = int(flag, v, 10, 3600);
        break;
      case '--parse':
        if (v !== 'full' && v !== 'revision')
          throw new Error(`--parse needs full or revision, got ${v ?? 'nothing'}`);
        o.parse = v;
        break;
      case '--json':
        if (!v || v.startsWith('--')) throw new Error('--json needs a file name');
        o.json = v;
        break;
      default:
        throw new Error(`unknown argument ${flag}`);
    }
  }
  return o;
}

/** Nearest-rank percentile (p in 0..100) of unsorted samples; NaN for none. */
export function percentile(samples: readonly number[], p: number): number {
  if (p < 0 || p > 100 || Number.isNaN(p)) throw new RangeError(`percentile ${p} outside 0..100`);
  if (samples.length === 0) return NaN;
  const s = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * s.length));
  return s[rank - 1]!;
}

export interface SseEvent {
  event: string;
  data: string;
}

/**
 * Incremental Server-Sent Events framer: feed it chunks as they arrive (any split, `\n` or `\r\n`),
 * it returns the complete events. Comment lines and events without data are dropped, as browsers do.
 */
export class SseParser {
  private buf = '';
  private event = '';
  private data: string[] = [];

  push(chunk: string): SseEvent[] {
    this.buf += chunk;
    const out: SseEvent[] = [];
    let i: number;
    while ((i = this.buf.indexOf('\n')) >= 0) {
      let line = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 1);
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (line === '') {
        if (this.data.length) out.push({ event: this.event || 'message', data: this.data.join('\n') });
        this.event = '';
        this.data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const c = line.indexOf(':');
      const field = c < 0 ? line : line.slice(0, c);
      let value = c < 0 ? '' : line.slice(c + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') this.event = value;
      else if (field === 'data') this.data.push(value);
    }
    return out;
  }
}

export interface PropagationResult {
  agents: number;
  changes: number;
  /** Per change: PATCH response received -> last agent sent its ACK (ms). */
  lastAckSentMs: number[];
  /** Per change: PATCH response received -> last ACK answered 204 by the API (ms). */
  lastAckDoneMs: number[];
  /** Per change: PATCH sent -> last ACK answered 204 (includes the write itself). */
  writeToAckDoneMs: number[];
  /** GET /v1/agents after the run: agents whose applied = desired = final revision. */
  verifiedAgents: number;
  finalRevision: number;
}

export interface TelemetryResult {
  agents: number;
  paced: { seconds: number; sent: number; ok: number; failed: number; perSecond: number; p99Ms: number };
  flat: {
    seconds: number;
    concurrency: number;
    ok: number;
    failed: number;
    perSecond: number;
    p99Ms: number;
  };
}

export const TARGET_P99_MS = 500;
export const TARGET_AGENTS = 1000;

const f = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : '-');

/** The printed table; the PASS/MISS verdict applies to the 1000-agent row (p99 of the last ACK). */
export function formatTable(prop: PropagationResult[], tele: TelemetryResult[]): string {
  const rows: string[][] = [
    [
      'agents',
      'changes',
      'p50 ack ms',
      'p99 ack ms',
      'max ack ms',
      'p99 ack 204 ms',
      'verified',
      'target',
      'verdict',
    ],
  ];
  for (const r of prop) {
    const p99 = percentile(r.lastAckSentMs, 99);
    const judged = r.agents === TARGET_AGENTS;
    rows.push([
      String(r.agents),
      String(r.lastAckSentMs.length),
      f(percentile(r.lastAckSentMs, 50)),
      f(p99),
      f(Math.max(...r.lastAckSentMs)),
      f(percentile(r.lastAckDoneMs, 99)),
      `${r.verifiedAgents}/${r.agents}`,
      judged ? `p99 < ${TARGET_P99_MS}` : '-',
      judged ? verdict(r) : '-',
    ]);
  }
  const out = ['config propagation (PATCH backend weight answered -> last agent ACK)', grid(rows)];
  if (tele.length) {
    const t: string[][] = [
      [
        'agents',
        'paced sent',
        'paced 2xx/s',
        'paced p99 ms',
        'flat 2xx',
        'flat 2xx/s',
        'flat p99 ms',
        'failed',
      ],
    ];
    for (const r of tele) {
      t.push([
        String(r.agents),
        String(r.paced.sent),
        f(r.paced.perSecond),
        f(r.paced.p99Ms),
        String(r.flat.ok),
        f(r.flat.perSecond),
        f(r.flat.p99Ms),
        String(r.paced.failed + r.flat.failed),
      ]);
    }
    out.push('', 'telemetry ingest (POST /v1/agent/telemetry)', grid(t));
  }
  return out.join('\n');
}

/** PASS needs the latency target met, every change converged and every agent verified through the API. */
export function verdict(r: PropagationResult): 'PASS' | 'MISS' {
  const ok =
    r.lastAckSentMs.length === r.changes &&
    percentile(r.lastAckSentMs, 99) < TARGET_P99_MS &&
    r.verifiedAgents === r.agents;
  return ok ? 'PASS' : 'MISS';
}

function grid(rows: string[][]): string {
  const w = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padStart(w[i]!)).join('  ');
  return [line(rows[0]!), w.map((n) => '-'.repeat(n)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

/**
 * Just enough of the Prometheus text exposition format (0.0.4) for the benchmark: parse samples, sum a
 * counter over a label filter, subtract two scrapes, and estimate quantiles from histogram buckets the
 * way PromQL's histogram_quantile does (linear interpolation inside the bucket).
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export type LabelFilter = Record<string, string | readonly string[]>;

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;

function parseValue(s: string): number {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (s === 'NaN') return Number.NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s))
    throw new Error(`bad sample value ${JSON.stringify(s)}`);
  return Number(s);
}

/** Parses one exposition; throws with the line number on a malformed sample line. */
export function parsePrometheusText(text: string): Sample[] {
  const out: Sample[] = [];
  const lines = text.split('\n');
  for (let ln = 0; ln < lines.length; ln++) {
    const line = lines[ln]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    try {
      out.push(parseLine(line));
    } catch (err) {
      throw new Error(`metrics line ${ln + 1}: ${(err as Error).message}`, { cause: err });
    }
  }
  return out;
}

function parseLine(line: string): Sample {
  const m = NAME.exec(line);
  if (!m) throw new Error('missing metric name');
  const name = m[0];
  let i = name.length;
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    for (;;) {
      while (line[i] === ' ') i++;
      if (line[i] === '}') {
        i++;
        break;
      }
      const lm = LABEL_NAME.exec(line.slice(i));
      if (!lm) throw new Error('bad label name');
      i += lm[0].length;
      if (line[i] !== '=' || line[i + 1] !== '"') throw new Error('expected ="');
      i += 2;
      let v = '';
      for (;;) {
        const c = line[i++];
        if (c === undefined) throw new Error('unterminated label value');
        if (c === '"') break;
        if (c === '\\') {
          const e = line[i++];
          v += e === 'n' ? '\n' : e === '\\' ? '\\' : e === '"' ? '"' : `\\${e ?? ''}`;
        } else v += c;
      }
      labels[lm[0]] = v;
      while (line[i] === ' ') i++;
      if (line[i] === ',') i++;
      else if (line[i] !== '}') throw new Error('expected , or }');
    }
  }
  const rest = line.slice(i).trim().split(/\s+/);
  if (rest.length < 1 || rest.length > 2 || rest[0] === '') throw new Error('expected value [timestamp]');
  return { name, labels, value: parseValue(rest[0]!) };
}

export function matches(labels: Record<string, string>, filter: LabelFilter = {}): boolean {
  for (const [k, want] of Object.entries(filter)) {
    const have = labels[k];
    if (have === undefined) return false;
    if (typeof want === 'string' ? have !== want : !want.includes(have)) return false;
  }
  return true;
}

/** Sum of every sample of `name` whose labels match the filter (0 when none). */
export function sumSamples(samples: readonly Sample[], name: string, filter: LabelFilter = {}): number {
  let s = 0;
  for (const x of samples) if (x.name === name && matches(x.labels, filter)) s += x.value;
  return s;
}

export function hasSamples(samples: readonly Sample[], name: string, filter: LabelFilter = {}): boolean {
  return samples.some((x) => x.name === name && matches(x.labels, filter));
}

/** Distinct values a label takes on samples of `name`. */
export function labelValues(samples: readonly Sample[], name: string, label: string): string[] {
  const s = new Set<string>();
  for (const x of samples) if (x.name === name && x.labels[label] !== undefined) s.add(x.labels[label]!);
  return [...s].sort();
}

function labelKey(name: string, labels: Record<string, string>): string {
  return `${name}{${Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(',')}}`;
}

/**
 * after - before, per series. A series missing from `before` counts from 0 (it appeared during the run);
 * a negative delta means the counter reset (agent restart), and the after value is taken instead.
 */
export function deltaSamples(before: readonly Sample[], after: readonly Sample[]): Sample[] {
  const prev = new Map(before.map((s) => [labelKey(s.name, s.labels), s.value]));
  return after.map((s) => {
    const d = s.value - (prev.get(labelKey(s.name, s.labels)) ?? 0);
    return { name: s.name, labels: s.labels, value: d < 0 ? s.value : d };
  });
}

export interface Bucket {
  le: number;
  count: number;
}

/** Cumulative buckets of histogram `name` (summed across series matching the filter), sorted by le. */
export function histogramBuckets(
  samples: readonly Sample[],
  name: string,
  filter: LabelFilter = {},
): Bucket[] {
  const byLe = new Map<number, number>();
  for (const x of samples) {
    if (x.name !== `${name}_bucket` || !matches(x.labels, filter)) continue;
    const leRaw = x.labels.le;
    if (leRaw === undefined) continue;
    const le = parseValue(leRaw);
    byLe.set(le, (byLe.get(le) ?? 0) + x.value);
  }
  return [...byLe.entries()].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
}

/**
 * histogram_quantile: null when there are no observations. A quantile that falls in the +Inf bucket
 * returns the largest finite bound (as PromQL does), so "above the top bucket" must be read from
 * `quantileIsCapped`.
 */
export function histogramQuantile(q: number, buckets: readonly Bucket[]): number | null {
  if (!(q >= 0 && q <= 1) || buckets.length === 0) return null;
  const total = buckets[buckets.length - 1]!.count;
  if (!(total > 0)) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of buckets) {
    if (b.count >= rank) {
      if (b.le === Infinity) return prevLe;
      const inBucket = b.count - prevCount;
      if (inBucket <= 0) return b.le;
      return prevLe + ((b.le - prevLe) * (rank - prevCount)) / inBucket;
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

/** True when the q-quantile lies above the largest finite bucket bound. */
export function quantileIsCapped(q: number, buckets: readonly Bucket[]): boolean {
  const finite = buckets.filter((b) => b.le !== Infinity);
  const total = buckets[buckets.length - 1]?.count ?? 0;
  const top = finite[finite.length - 1];
  return total > 0 && top !== undefined && top.count < q * total;
}

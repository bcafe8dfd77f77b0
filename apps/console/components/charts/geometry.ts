// Chart geometry, kept free of React so it is unit-tested with fixed data. Charts draw in a fixed
// viewBox and scale with CSS, so the same numbers hold at 1280 px and on a phone.

export interface Box {
  width: number;
  height: number;
  /** Left margin for the y tick labels. */
  left: number;
  bottom: number;
  top: number;
  right: number;
}

export const DEFAULT_BOX: Box = { width: 560, height: 180, left: 44, bottom: 20, top: 8, right: 8 };

/** The smallest 1, 2 or 5 x 10^n at or above v (at least `floor`), so axes end on round numbers. */
export function niceMax(v: number, floor = 1): number {
  const m = Math.max(v, floor);
  if (!Number.isFinite(m) || m <= 0) return floor;
  const exp = 10 ** Math.floor(Math.log10(m));
  for (const f of [1, 2, 5, 10]) if (f * exp >= m - 1e-12) return f * exp;
  return 10 * exp;
}

/** Evenly spaced tick values from 0 to max, inclusive. */
export function ticks(max: number, count = 4): number[] {
  return Array.from({ length: count + 1 }, (_, i) => (max * i) / count);
}

function x(box: Box, i: number, n: number): number {
  const w = box.width - box.left - box.right;
  return box.left + (n <= 1 ? w : (w * i) / (n - 1));
}

function y(box: Box, v: number, max: number): number {
  const h = box.height - box.top - box.bottom;
  const clamped = Math.min(Math.max(v, 0), max);
  return box.top + h - (h * clamped) / max;
}

const r = (v: number) => Math.round(v * 10) / 10;

/**
 * An SVG path through the values; null (no sample) breaks the line instead of drawing it down to zero,
 * so a gap in telemetry shows as a gap and not as a drop in traffic.
 */
export function linePath(values: readonly (number | null)[], max: number, box: Box = DEFAULT_BOX): string {
  const parts: string[] = [];
  let pen = false;
  values.forEach((v, i) => {
    if (v === null || !Number.isFinite(v)) {
      pen = false;
      return;
    }
    parts.push(`${pen ? 'L' : 'M'}${r(x(box, i, values.length))},${r(y(box, v, max))}`);
    pen = true;
  });
  return parts.join(' ');
}

/** Running totals, bottom layer first; a missing sample counts as 0 in the stack. */
export function stack(layers: readonly (readonly (number | null)[])[]): number[][] {
  const n = Math.max(0, ...layers.map((l) => l.length));
  const acc = new Array<number>(n).fill(0);
  return layers.map((layer) =>
    acc.map((prev, i) => {
      const v = layer[i];
      acc[i] = prev + (v !== null && v !== undefined && Number.isFinite(v) ? Math.max(v, 0) : 0);
      return acc[i];
    }),
  );
}

/** Closed area paths for stacked layers: each fills between its running total and the one below. */
export function stackedAreaPaths(
  layers: readonly (readonly (number | null)[])[],
  max: number,
  box: Box = DEFAULT_BOX,
): string[] {
  const tops = stack(layers);
  return tops.map((top, li) => {
    const n = top.length;
    if (n === 0) return '';
    const below = li === 0 ? new Array<number>(n).fill(0) : (tops[li - 1] ?? []);
    const upper = top.map((v, i) => `${i === 0 ? 'M' : 'L'}${r(x(box, i, n))},${r(y(box, v, max))}`);
    const lower = below
      .map((v, i) => ({ v, i }))
      .reverse()
      .map(({ v, i }) => `L${r(x(box, i, n))},${r(y(box, v, max))}`);
    return [...upper, ...lower, 'Z'].join(' ');
  });
}

/** The highest finite value across series, for the y axis. */
export function seriesMax(series: readonly (readonly (number | null)[])[]): number {
  let m = 0;
  for (const s of series) for (const v of s) if (v !== null && Number.isFinite(v) && v > m) m = v;
  return m;
}

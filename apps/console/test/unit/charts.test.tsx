import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { LineChart, StackedAreaChart } from '../../components/charts/Charts';
import {
  linePath,
  niceMax,
  seriesMax,
  stack,
  stackedAreaPaths,
  ticks,
  type Box,
} from '../../components/charts/geometry';
import { StatsCharts, latestFigures, type ChartPoint } from '../../components/LivePanel';
import { fmtMs, fmtPercent, fmtRate } from '../../lib/format';

// A 100 x 100 plot area with no margins keeps the expected coordinates readable.
const BOX: Box = { width: 100, height: 100, left: 0, right: 0, top: 0, bottom: 0 };

describe('niceMax', () => {
  it.each([
    [0, 1],
    [0.3, 1],
    [1, 1],
    [1.2, 2],
    [3, 5],
    [7, 10],
    [42, 50],
    [180, 200],
    [12_345, 20_000],
  ])('rounds %d up to %d', (v, want) => expect(niceMax(v)).toBe(want));

  it('keeps a fractional floor for ratios', () => expect(niceMax(0.42, 0.1)).toBeCloseTo(0.5));
});

describe('ticks', () => {
  it('spaces ticks evenly from 0 to max', () => expect(ticks(200, 4)).toEqual([0, 50, 100, 150, 200]));
});

describe('linePath', () => {
  it('maps values onto the box, y growing downward', () => {
    expect(linePath([0, 50, 100], 100, BOX)).toBe('M0,100 L50,50 L100,0');
  });

  it('breaks the line at a missing sample instead of drawing it to zero', () => {
    expect(linePath([10, null, 30, 40], 100, BOX)).toBe('M0,90 M66.7,70 L100,60');
  });

  it('clamps values outside the axis', () => {
    expect(linePath([-5, 150], 100, BOX)).toBe('M0,100 L100,0');
  });

  it('draws nothing for no data', () => expect(linePath([], 100, BOX)).toBe(''));
});

describe('stack', () => {
  it('accumulates layers bottom-up and counts missing samples as 0', () => {
    expect(
      stack([
        [10, 20, null],
        [5, 5, 5],
      ]),
    ).toEqual([
      [10, 20, 0],
      [15, 25, 5],
    ]);
  });
});

describe('stackedAreaPaths', () => {
  it('fills each layer between its total and the layer below', () => {
    const [mux, direct] = stackedAreaPaths(
      [
        [20, 40],
        [30, 60],
      ],
      100,
      BOX,
    );
    expect(mux).toBe('M0,80 L100,60 L100,100 L0,100 Z');
    expect(direct).toBe('M0,50 L100,0 L100,60 L0,80 Z');
  });
});

describe('seriesMax', () => {
  it('ignores nulls and non-finite values', () =>
    expect(
      seriesMax([
        [1, null, 7],
        [Number.NaN, 3],
      ]),
    ).toBe(7));
});

describe('chart components', () => {
  it('renders one path per series with its legend', () => {
    const html = renderToStaticMarkup(
      <LineChart
        title="Time to bypass"
        series={[
          { name: 'p50', color: '#00f', values: [1, 2] },
          { name: 'p99', color: '#f00', values: [4, 8] },
        ]}
        xLabels={['12:00:00', '12:00:02']}
      />,
    );
    expect(html).toContain('aria-label="Time to bypass"');
    expect(html.match(/data-series="/g)).toHaveLength(2);
    expect(html).toContain('12:00:02');
    // The axis tops out at 10 for a maximum of 8.
    expect(html).toContain('>10<');
  });

  it('stacks mux under direct packets', () => {
    const html = renderToStaticMarkup(
      <StackedAreaChart
        title="Packets"
        series={[
          { name: 'via mux', color: '#999', values: [100, 100] },
          { name: 'direct', color: '#00f', values: [0, 300] },
        ]}
      />,
    );
    // Total reaches 400, so the axis ends at 500.
    expect(html).toContain('>500<');
    expect(html.indexOf('data-series="via mux"')).toBeLessThan(html.indexOf('data-series="direct"'));
  });
});

describe('StatsCharts', () => {
  const points: ChartPoint[] = [
    {
      at: '2026-11-26T12:00:00Z',
      newFlowsPerS: 12,
      muxPacketsPerS: 900,
      directPacketsPerS: 100,
      bypassRatio: 0.1,
      timeToBypassP50Ms: 1.5,
      timeToBypassP99Ms: 9,
    },
    {
      at: '2026-11-26T12:00:02Z',
      newFlowsPerS: 20,
      muxPacketsPerS: 200,
      directPacketsPerS: 1800,
      bypassRatio: 0.9,
      timeToBypassP50Ms: 1.2,
      timeToBypassP99Ms: 7.5,
    },
  ];

  it('shows the latest figures and the four charts', () => {
    const html = renderToStaticMarkup(<StatsCharts points={points} />);
    expect(html).toContain('data-testid="figure-new-flows">20<');
    expect(html).toContain('data-testid="figure-bypass-ratio">90.0%<');
    expect(html).toContain('1.2 ms / 7.5 ms');
    for (const title of ['New flows per second', 'Packets per second via mux and direct', 'Bypass ratio'])
      expect(html).toContain(`aria-label="${title}"`);
    expect(html).toContain('12:00:00');
  });
});

describe('latestFigures', () => {
  const pt = (at: string, mux: number): ChartPoint => ({
    at,
    newFlowsPerS: mux ? 1 : 0,
    muxPacketsPerS: mux,
    directPacketsPerS: 0,
    bypassRatio: mux ? 0 : null,
    timeToBypassP50Ms: null,
    timeToBypassP99Ms: null,
  });

  it('skips a newest second that has no report yet', () => {
    const points = [pt('a', 5), pt('b', 7), pt('c', 0)];
    expect(latestFigures(points)?.at).toBe('b');
  });

  it('shows zeros once traffic stopped more than five seconds ago', () => {
    const points = [pt('a', 5), ...['b', 'c', 'd', 'e', 'f'].map((at) => pt(at, 0))];
    expect(latestFigures(points)?.at).toBe('f');
  });

  it('is undefined for an empty series', () => {
    expect(latestFigures([])).toBeUndefined();
  });
});

describe('formatting', () => {
  it('formats rates, ratios and durations, with a dash for no data', () => {
    expect([fmtRate(12.25), fmtRate(250), fmtRate(12_500), fmtRate(2_500_000), fmtRate(null)]).toEqual([
      '12.3',
      '250',
      '12.5k',
      '2.5M',
      '—',
    ]);
    expect([fmtPercent(0.8766), fmtPercent(null)]).toEqual(['87.7%', '—']);
    expect([fmtMs(0.86), fmtMs(250), fmtMs(undefined)]).toEqual(['0.9 ms', '250 ms', '—']);
  });
});

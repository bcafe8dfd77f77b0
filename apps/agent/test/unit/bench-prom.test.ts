import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  deltaSamples,
  hasSamples,
  histogramBuckets,
  histogramQuantile,
  labelValues,
  parsePrometheusText,
  quantileIsCapped,
  sumSamples,
} from '../../src/bench/prom.js';

const fixture = (name: string): string => readFileSync(new URL(`fixtures/${name}`, import.meta.url), 'utf8');
const before = parsePrometheusText(fixture('client-metrics-before.prom'));
const after = parsePrometheusText(fixture('client-metrics-after.prom'));

describe('Prometheus text parsing', () => {
  it('parses names, labels (with escapes), values and optional timestamps', () => {
    expect(after).toContainEqual({
      name: 'slipstream_packets_total',
      labels: { vip: 'web2', path: 'direct' },
      value: 7,
    });
    expect(after).toContainEqual({
      name: 'slipstream_redirects_received_total',
      labels: { result: 'rejected', reason: 'quote"and\\slash, comma' },
      value: 1,
    });
    expect(after).toContainEqual({ name: 'slipstream_time_to_bypass_seconds_count', labels: {}, value: 110 });
    expect(parsePrometheusText('x{le="+Inf"} +Inf\ny NaN\nz -1.5e-3\n')).toEqual([
      { name: 'x', labels: { le: '+Inf' }, value: Infinity },
      { name: 'y', labels: {}, value: Number.NaN },
      { name: 'z', labels: {}, value: -0.0015 },
    ]);
  });

  it('rejects malformed lines naming the line', () => {
    expect(() => parsePrometheusText('ok 1\nbad{x="1" 2')).toThrow(/line 2/);
    expect(() => parsePrometheusText('m{x=1} 2')).toThrow(/line 1/);
    expect(() => parsePrometheusText('m abc')).toThrow(/value/);
    expect(() => parsePrometheusText('{} 1')).toThrow(/name/);
  });

  it('sums counters over a label filter, including a list of accepted values', () => {
    expect(sumSamples(after, 'slipstream_packets_total')).toBe(150 + 1950 + 9500 + 7);
    expect(sumSamples(after, 'slipstream_packets_total', { path: 'direct' })).toBe(1957);
    expect(sumSamples(after, 'slipstream_packets_total', { vip: ['web', 'web2'], path: 'direct' })).toBe(
      1957,
    );
    expect(sumSamples(after, 'slipstream_packets_total', { vip: 'nope' })).toBe(0);
    expect(hasSamples(after, 'slipstream_packets_total', { vip: 'nope' })).toBe(false);
    expect(labelValues(after, 'slipstream_packets_total', 'vip')).toEqual(['web', 'web-nobypass', 'web2']);
  });

  it('computes per-series deltas; new series count from zero, resets take the new value', () => {
    const d = deltaSamples(before, after);
    expect(sumSamples(d, 'slipstream_packets_total', { vip: 'web', path: 'direct' })).toBe(950);
    expect(sumSamples(d, 'slipstream_packets_total', { vip: 'web', path: 'mux' })).toBe(50);
    expect(sumSamples(d, 'slipstream_packets_total', { vip: 'web2' })).toBe(7);
    expect(sumSamples(d, 'slipstream_flows_bypassed_total')).toBe(100);
    const reset = deltaSamples(parsePrometheusText('c 100'), parsePrometheusText('c 30'));
    expect(reset).toEqual([{ name: 'c', labels: {}, value: 30 }]);
  });

  it('estimates histogram quantiles from bucket deltas like histogram_quantile', () => {
    const b = histogramBuckets(deltaSamples(before, after), 'slipstream_time_to_bypass_seconds');
    expect(b.map((x) => x.count)).toEqual([0, 50, 90, 98, 99, 100]);
    // rank 50 falls at the top of the 0.5..1 ms bucket
    expect(histogramQuantile(0.5, b)).toBeCloseTo(0.001, 9);
    // rank 75: 25 of 40 observations into the 1..2 ms bucket
    expect(histogramQuantile(0.75, b)).toBeCloseTo(0.001 + 0.001 * (25 / 40), 9);
    // rank 99: exactly the 10 ms bucket's count
    expect(histogramQuantile(0.99, b)).toBeCloseTo(0.01, 9);
    expect(quantileIsCapped(0.99, b)).toBe(false);
    expect(histogramQuantile(0.999, b)).toBe(0.01);
    expect(quantileIsCapped(0.999, b)).toBe(true);
    expect(histogramQuantile(0.5, [])).toBeNull();
    expect(histogramQuantile(0.5, [{ le: Infinity, count: 0 }])).toBeNull();
  });
});

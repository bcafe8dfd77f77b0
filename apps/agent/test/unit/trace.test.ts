import { describe, expect, it } from 'vitest';
import { renderTraceReport, traceReport } from '../../src/lab/trace.js';

const flow = (key: string, t0: number, gaps: number[]): string[] =>
  ['seen', 'read', 'bi', 'sent', 'rx', 'installed', 'ack'].map((s, i) => {
    const t = t0 + gaps.slice(0, i).reduce((a, b) => a + b, 0);
    return `trace ${s} ${key} ${t.toFixed(3)}`;
  });

describe('time-to-bypass trace report', () => {
  it('joins the steps of each flow and reports each stage', () => {
    const lines = [
      ...flow('a|tcp|1|v|80', 1000, [0.1, 0.2, 0.1, 0.3, 1, 0.2]),
      ...flow('b|tcp|2|v|80', 2000, [0.3, 0.2, 0.1, 0.5, 3, 0.4]),
      'applied revision 1',
      'trace sent a|tcp|1|v|80 9999', // a retry: the first time counts
      'trace seen c|tcp|3|v|80 3000', // never completed
    ];
    const r = traceReport(lines);
    expect(r.flows).toBe(3);
    expect(r.complete).toBe(2);
    const rx = r.stages.find((s) => s.from === 'rx')!;
    expect(rx.to).toBe('installed');
    expect(rx.p50).toBeCloseTo(3); // upper median of [1, 3]
    expect(rx.max).toBeCloseTo(3);
    expect(r.total.max).toBeCloseTo(4.5);
    // Entry active at the client: everything but the ack's way back.
    expect(r.active.max).toBeCloseTo(4.1);
    expect(r.active.p50).toBeCloseTo(4.1); // upper median of [1.7, 4.1]
    expect(renderTraceReport(r)).toMatch(/rx -> installed\s+3\.00/);
  });

  it('says so when nothing completed', () => {
    expect(() => traceReport(['trace seen x 1'])).toThrow(/no complete bypass among 1 traced flows/);
  });
});

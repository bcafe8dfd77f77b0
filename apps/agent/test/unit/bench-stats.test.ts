import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseLabStatus, selectTargets, vipLabelCandidates } from '../../src/bench/lab-status.js';
import {
  median,
  overallVerdict,
  parseIperf3Json,
  percentile,
  renderTable,
  resultRows,
  type BenchResults,
  type PathFigures,
} from '../../src/bench/stats.js';

const fixture = (name: string): string => readFileSync(new URL(`fixtures/${name}`, import.meta.url), 'utf8');

describe('percentile / median', () => {
  it('uses nearest rank', () => {
    const v = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted on purpose
    expect(percentile(v, 50)).toBe(50);
    expect(percentile(v, 99)).toBe(99);
    expect(percentile(v, 100)).toBe(100);
    expect(percentile(v, 0)).toBe(1);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNull();
    expect(percentile([1, 2], 101)).toBeNull();
  });

  it('takes the middle value or the mean of the two middle values', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNull();
  });
});

describe('iperf3 JSON', () => {
  it('reads receiver-side throughput from a real iperf3 3.12 run', () => {
    const r = parseIperf3Json(fixture('iperf3-ok.json'));
    expect(r.bitsPerSecond).toBeCloseTo(30807009692.95, 1);
    expect(r.seconds).toBeCloseTo(1.000005, 6);
    expect(r.retransmits).toBe(8);
  });

  it("surfaces iperf3's own error", () => {
    expect(() => parseIperf3Json(fixture('iperf3-error.json'))).toThrow(
      /unable to connect to server: Connection refused/,
    );
    expect(() => parseIperf3Json('iperf3: error')).toThrow(/not JSON/);
    expect(() => parseIperf3Json('{"end":{}}')).toThrow(/sum_received/);
  });
});

const host = (name: string, kind: string, n: number): object => ({
  name,
  netns: `ss-${name}`,
  kind,
  role: kind === 'mux' ? 'mux' : 'host',
  underlay: `198.18.0.${n}`,
  agentPid: 100 + n,
  metrics: 'http://127.0.0.1:9464/metrics',
});
const vip = (
  name: string,
  port: number,
  service: string,
  bypass: boolean,
  address = '198.19.0.10',
): object => ({
  name,
  address,
  protocol: 'tcp',
  port,
  service,
  bypass,
});
const status = {
  prefix: 'ss',
  up: true,
  hosts: [
    host('c1', 'client', 11),
    host('c2', 'client', 12),
    host('m1', 'mux', 2),
    host('b1', 'backend', 21),
  ],
  vips: [
    vip('web', 80, 'http', true),
    vip('bulk', 5201, 'iperf', true),
    vip('echo', 7, 'tcp-echo', true),
    vip('bulk-mux', 5201, 'iperf', false, '198.19.0.20'),
    vip('echo-mux', 7, 'tcp-echo', false, '198.19.0.20'),
    { ...vip('dns', 53, 'udp-echo', true), protocol: 'udp' },
  ],
  configFile: '/tmp/x.json',
};

describe('lab status', () => {
  it('parses the contract and picks the three paths', () => {
    const t = selectTargets(parseLabStatus(JSON.stringify(status)));
    expect(t.clients.map((c) => c.name)).toEqual(['c1', 'c2']);
    expect(t.iperf).toEqual({
      direct: { host: '198.18.0.21', port: 5201 },
      mux: { host: '198.19.0.20', port: 5201 },
      bypass: { host: '198.19.0.10', port: 5201 },
    });
    expect(t.echo.mux).toEqual({ host: '198.19.0.20', port: 7 });
    expect(t.http).toEqual({ host: '198.19.0.10', port: 80 });
    expect(vipLabelCandidates(t.bypassVips)).toContain('198.19.0.10:80');
    expect(vipLabelCandidates(t.bypassVips)).toContain('web');
    expect(vipLabelCandidates(t.bypassVips)).not.toContain('bulk-mux');
  });

  it('picks an HTTP VIP with a handshake hold apart from the plain one', () => {
    const hold = { ...vip('web-hold', 80, 'http', true, '198.19.0.50'), handshakeHoldMs: 10 };
    const t = selectTargets(parseLabStatus(JSON.stringify({ ...status, vips: [hold, ...status.vips] })));
    expect(t.http).toEqual({ host: '198.19.0.10', port: 80 });
    expect(t.httpHold).toEqual({ host: '198.19.0.50', port: 80, holdMs: 10 });
    expect(selectTargets(parseLabStatus(JSON.stringify(status))).httpHold).toBeUndefined();
  });

  it('says exactly which VIPs are missing', () => {
    const s = { ...status, vips: status.vips.slice(0, 3) };
    expect(() => selectTargets(parseLabStatus(JSON.stringify(s)))).toThrow(
      /bypass disabled serving iperf; a TCP VIP with bypass disabled serving tcp-echo/,
    );
  });

  it('rejects output that does not fit the contract', () => {
    expect(() => parseLabStatus('lab is down')).toThrow(/not JSON/);
    expect(() => parseLabStatus(JSON.stringify({ ...status, up: 'yes' }))).toThrow(/up must be a boolean/);
    expect(() =>
      parseLabStatus(JSON.stringify({ ...status, vips: [{ ...status.vips[0], port: 0 }] })),
    ).toThrow(/vips\[0\]\.port/);
    expect(() =>
      parseLabStatus(JSON.stringify({ ...status, hosts: [{ ...status.hosts[0], kind: 'router' }] })),
    ).toThrow(/hosts\[0\]\.kind/);
  });
});

const path = (bps: number | null, p50: number | null, p99: number | null): PathFigures => ({
  throughputRunsBps: bps === null ? [] : [bps],
  throughputBps: bps,
  latencyP50Us: p50,
  latencyP99Us: p99,
  latencySamples: 1000,
  errors: [],
});

function results(over: Partial<BenchResults> = {}): BenchResults {
  return {
    startedAt: '2026-11-26T14:00:00.000Z',
    finishedAt: '2026-11-26T14:02:00.000Z',
    labPrefix: 'ss',
    paths: { direct: path(10e9, 50, 80), mux: path(6.6e9, 64, 120), bypass: path(9.2e9, 54, 90) },
    timeToBypass: { observations: 400, p50Ms: 0.9, p99Ms: 4.5, p99AboveTopBucket: false, errors: [] },
    mixed: { seconds: 10, directPackets: 9700, muxPackets: 300, share: 0.97, requests: 5000, errors: [] },
    flowRate: {
      seconds: 5,
      flowsOpened: 5000,
      flowsPerSec: 1000,
      bypassedPerSec: 950,
      connectErrors: 0,
      errors: [],
    },
    ...over,
  };
}

describe('result table', () => {
  it('judges the churn run by its failures and shows the entries left', () => {
    const churn = (failed: number, errors: string[] = []) =>
      resultRows(
        results({
          churn: {
            connections: 12000,
            concurrency: 8,
            failed,
            left: failed ? null : { fo: 0, ri: 0, bo: 1, bi: 12 },
            leftAfterS: 7,
            errors,
          },
        }),
      ).find((r) => r.metric.startsWith('churn'))!;
    expect(churn(0)).toMatchObject({
      metric: 'churn: 12000 short connections, 8 at a time',
      value: '0 failed',
      vsDirect: 'left after 7 s: fo 0, ri 0, bo 1, bi 12',
      target: '0 failed',
      verdict: 'PASS',
    });
    expect(churn(2, ['2 requests failed: read ECONNRESET'])).toMatchObject({
      value: '2 failed',
      verdict: 'MISS',
    });
    expect(churn(0, ['nft list fo on c1: no such table'])).toMatchObject({ verdict: 'n/a' });
    expect(resultRows(results()).some((r) => r.metric.startsWith('churn'))).toBe(false);
  });

  it('computes ratios against the direct path and judges each target', () => {
    const rows = resultRows(results());
    const by = (prefix: string) => rows.find((r) => r.metric.startsWith(prefix))!;
    expect(by('throughput mux')).toMatchObject({ value: '6.60 Gbit/s', vsDirect: '0.66x', verdict: '' });
    expect(by('throughput bypass')).toMatchObject({ vsDirect: '0.92x', verdict: 'PASS' });
    expect(by('64 B req/resp bypass')).toMatchObject({
      value: '54 / 90 us',
      vsDirect: '1.08x / 1.13x',
      verdict: 'PASS',
    });
    expect(by('time-to-bypass p50')).toMatchObject({ value: '0.90 ms', verdict: 'PASS' });
    expect(by('time-to-bypass p99')).toMatchObject({ value: '4.50 ms', verdict: 'PASS' });
    expect(by('mixed')).toMatchObject({ verdict: 'PASS' });
    expect(by('bypass entries')).toMatchObject({ value: '950 /s', vsDirect: '95 % of flows' });
    expect(overallVerdict(rows)).toBe('PASS');
  });

  it('misses a target below its bound, and counts an unmeasured figure as n/a, not a pass', () => {
    const rows = resultRows(
      results({
        paths: { direct: path(10e9, 50, 80), mux: path(6e9, 60, 100), bypass: path(8.9e9, 56, 90) },
        timeToBypass: { observations: 10, p50Ms: 2.5, p99Ms: 10, p99AboveTopBucket: true, errors: [] },
        mixed: { seconds: 10, directPackets: 0, muxPackets: 0, share: null, requests: 0, errors: ['x'] },
      }),
    );
    const by = (prefix: string) => rows.find((r) => r.metric.startsWith(prefix))!;
    expect(by('throughput bypass').verdict).toBe('MISS');
    expect(by('64 B req/resp bypass').verdict).toBe('MISS');
    expect(by('time-to-bypass p50').verdict).toBe('MISS');
    expect(by('time-to-bypass p99')).toMatchObject({ value: '> 10.00 ms', verdict: 'MISS' });
    expect(by('mixed')).toMatchObject({ value: '-', verdict: 'n/a' });
    expect(overallVerdict(rows)).toBe('MISS');
  });

  it('shows the ceiling of the mixed share when each new flow sends only its first packet via the mux', () => {
    const rows = resultRows(
      results({
        mixed: {
          seconds: 10,
          directPackets: 9000,
          muxPackets: 1000,
          share: 0.9,
          requests: 1,
          newFlows: 600,
          errors: [],
        },
      }),
    );
    const i = rows.findIndex((r) => r.metric.startsWith('mixed workload'));
    expect(rows[i + 1]).toEqual({
      metric: '  ceiling: only first packets via mux',
      value: '94.0 % (600 new flows)',
      vsDirect: '1.67 mux pkts/flow',
      target: '',
      verdict: '',
    });
    const without = resultRows(results());
    expect(without.some((r) => r.metric.includes('ceiling'))).toBe(false);
  });

  it('judges the mixed share with a handshake hold when there is one, and shows what the hold costs', () => {
    const run = (direct: number, mux: number) => ({
      seconds: 10,
      directPackets: direct,
      muxPackets: mux,
      share: direct / (direct + mux),
      requests: 1,
      newFlows: 100,
      errors: [],
    });
    const setup = (c: number, r: number) => ({
      samples: 900,
      failed: 0,
      connectP50Ms: c,
      connectP99Ms: c * 4,
      requestP50Ms: r,
      requestP99Ms: r * 4,
    });
    const rows = resultRows(
      results({
        mixed: run(9100, 900),
        mixedHold: { ...run(9600, 400), holdMs: 10 },
        setup: { holdMs: 10, rounds: 3, plain: setup(0.2, 0.9), hold: setup(0.8, 1.35), errors: [] },
      }),
    );
    const by = (prefix: string) => rows.find((r) => r.metric.startsWith(prefix))!;
    expect(by('mixed workload bypass share, handshake hold 10 ms')).toMatchObject({
      value: '96.0 % (9600/10000 pkts)',
      target: '>= 95 %',
      verdict: 'PASS',
    });
    expect(by('mixed workload bypass share, no handshake hold')).toMatchObject({
      value: '91.0 % (9100/10000 pkts)',
      target: '',
      verdict: '',
    });
    expect(by('connection setup, hold 10 ms vs none')).toMatchObject({
      value: '0.80 / 3.20 ms',
      vsDirect: 'none: 0.20 / 0.80 ms',
    });
    expect(by('  one GET per connection')).toMatchObject({
      value: '1.35 / 5.40 ms',
      vsDirect: 'none: 0.90 / 3.60 ms (1.50x p50)',
    });
    expect(overallVerdict(rows)).toBe('PASS');
    // Without a hold run the plain run is the judged one.
    expect(
      resultRows(results({ mixed: run(9100, 900) })).find((r) => r.metric.startsWith('mixed workload')),
    ).toMatchObject({ verdict: 'MISS' });
  });

  it('shows time-to-bypass at paced rates after the flat-out figure, unjudged', () => {
    const paced = (ratePerSec: number, p99Ms: number, capped = false) => ({
      ratePerSec,
      observations: 300,
      p50Ms: 0.5,
      p99Ms,
      p99AboveTopBucket: capped,
      errors: [],
    });
    const rows = resultRows(results({ timeToBypassPaced: [paced(100, 3.2), paced(300, 5, true)] }));
    const i = rows.findIndex((r) => r.metric.startsWith('time-to-bypass p99'));
    expect(rows[i + 1]).toEqual({
      metric: '  at 100 new flows/s: p50 / p99 (300 flows)',
      value: '0.50 / 3.20 ms',
      vsDirect: '',
      target: '',
      verdict: '',
    });
    expect(rows[i + 2]).toMatchObject({ value: '0.50 / > 5.00 ms', verdict: '' });
    expect(rows[i]!.metric).toBe('time-to-bypass p99');
    expect(rows.find((r) => r.metric.startsWith('time-to-bypass p50'))!.metric).toBe(
      'time-to-bypass p50 (400 flows, flat out)',
    );
  });

  it('shows each kind of flow of the mix alone, with mux packets per unit, unjudged', () => {
    const rows = resultRows(
      results({
        mixed: {
          seconds: 10,
          directPackets: 9500,
          muxPackets: 500,
          share: 0.95,
          requests: 5000,
          errors: [],
          kinds: [
            { kind: 'bulk', seconds: 4, directPackets: 9900, muxPackets: 100, units: 20 },
            { kind: 'short', seconds: 4, directPackets: 400, muxPackets: 600, units: 200 },
            { kind: 'keepalive', seconds: 4, directPackets: 0, muxPackets: 0, units: 0 },
          ],
        },
      }),
    );
    const by = (prefix: string) => rows.find((r) => r.metric.startsWith(prefix))!;
    expect(by('  bulk alone (4 s, 1 client)')).toMatchObject({
      value: '99.0 % (100/10000 pkts via mux)',
      vsDirect: '5.00 mux pkts/transfer',
      verdict: '',
    });
    expect(by('  short alone')).toMatchObject({
      value: '40.0 % (600/1000 pkts via mux)',
      vsDirect: '3.00 mux pkts/connection',
    });
    expect(by('  keepalive alone')).toMatchObject({ value: '-', vsDirect: '' });
    // The rows follow the mixed line they explain.
    expect(rows.indexOf(by('  bulk alone'))).toBe(rows.indexOf(by('mixed')) + 1);
    expect(overallVerdict(rows)).toBe('PASS');
  });

  it('renders aligned columns', () => {
    const text = renderTable(resultRows(results()));
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^metric\s+value\s+vs direct\s+target$/);
    expect(lines[1]).toMatch(/^-+ {2}-+ {2}-+ {2}-+ {2}-+$/);
    expect(lines).toHaveLength(2 + 11);
    const col = lines[0]!.indexOf('value');
    for (const l of lines.slice(2)) expect(l[col - 1]).toBe(' ');
  });
});

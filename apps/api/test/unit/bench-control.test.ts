import { describe, expect, it } from 'vitest';
import {
  DEFAULTS,
  type PropagationResult,
  SseParser,
  formatTable,
  parseArgs,
  percentile,
  verdict,
} from '../../src/bench/control-lib.js';

describe('bench:control arguments', () => {
  it('defaults to 100 and 1000 agents, 20 changes, one process', () => {
    expect(parseArgs([])).toEqual(DEFAULTS);
  });

  it('reads every flag', () => {
    expect(
      parseArgs([
        '--agents',
        '10, 50',
        '--changes',
        '3',
        '--processes',
        '2',
        '--telemetry-seconds',
        '0',
        '--flat-seconds',
        '4',
        '--timeout-s',
        '60',
        '--json',
        'out.json',
      ]),
    ).toEqual({
      agents: [10, 50],
      changes: 3,
      processes: 2,
      telemetrySeconds: 0,
      flatSeconds: 4,
      timeoutS: 60,
      json: 'out.json',
    });
  });

  it.each([
    [['--agents', '0'], /--agents must be 1..5000/],
    [['--agents', '10,x'], /--agents needs an integer, got x/],
    [['--changes'], /--changes needs an integer, got nothing/],
    [['--processes', '9'], /--processes must be 1..4/],
    [['--changes', '-1'], /--changes needs an integer/],
    [['--json'], /--json needs a file name/],
    [['--json', '--agents'], /--json needs a file name/],
    [['--frobnicate', '1'], /unknown argument --frobnicate/],
  ])('refuses %j with a message naming the flag', (argv, msg) => {
    expect(() => parseArgs(argv)).toThrow(msg);
  });
});

describe('percentile (nearest rank)', () => {
  const xs = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted on purpose

  it('picks the nearest-rank sample', () => {
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 99)).toBe(99);
    expect(percentile(xs, 100)).toBe(100);
    expect(percentile(xs, 0)).toBe(1);
    // 20 changes: p99 is the worst one, p50 the 10th.
    const twenty = Array.from({ length: 20 }, (_, i) => (i + 1) * 10);
    expect(percentile(twenty, 99)).toBe(200);
    expect(percentile(twenty, 50)).toBe(100);
  });

  it('does not reorder the caller array, and is NaN for no samples', () => {
    const a = [3, 1, 2];
    expect(percentile(a, 50)).toBe(2);
    expect(a).toEqual([3, 1, 2]);
    expect(percentile([], 50)).toBeNaN();
  });

  it('refuses a percentile outside 0..100', () => {
    expect(() => percentile([1], 101)).toThrow(RangeError);
    expect(() => percentile([1], -1)).toThrow(RangeError);
  });
});

describe('SseParser', () => {
  it('frames events across arbitrary chunk splits and CRLF line ends', () => {
    const text =
      ': comment\r\nevent: desired\r\ndata: {"revision":3,\r\ndata: "state":{}}\r\n\r\nevent: ping\ndata: {}\n\ndata: plain\n\n';
    for (const size of [1, 2, 7, text.length]) {
      const p = new SseParser();
      const got = [];
      for (let i = 0; i < text.length; i += size) got.push(...p.push(text.slice(i, i + size)));
      expect(got).toEqual([
        { event: 'desired', data: '{"revision":3,\n"state":{}}' },
        { event: 'ping', data: '{}' },
        { event: 'message', data: 'plain' },
      ]);
    }
  });

  it('holds an incomplete event until its blank line and drops events without data', () => {
    const p = new SseParser();
    expect(p.push('event: revoked\n\nevent: desired\ndata: {"revision":1}\n')).toEqual([]);
    expect(p.push('\n')).toEqual([{ event: 'desired', data: '{"revision":1}' }]);
  });
});

describe('result table and verdict', () => {
  const run = (agents: number, ms: number[], verified = agents): PropagationResult => ({
    agents,
    changes: ms.length,
    lastAckSentMs: ms,
    lastAckDoneMs: ms.map((x) => x + 5),
    writeToAckDoneMs: ms.map((x) => x + 20),
    verifiedAgents: verified,
    finalRevision: 40,
  });

  it('passes 1000 agents under 500 ms p99 only when every agent is verified and every change converged', () => {
    expect(verdict(run(1000, [100, 200, 499]))).toBe('PASS');
    expect(verdict(run(1000, [100, 200, 500]))).toBe('MISS');
    expect(verdict(run(1000, [100, 200], 999))).toBe('MISS');
    expect(verdict({ ...run(1000, [100, 200]), changes: 3 })).toBe('MISS');
  });

  it('prints the figures and judges only the 1000-agent row', () => {
    const out = formatTable(
      [run(100, [10, 20, 30]), run(1000, [100, 150, 700])],
      [
        {
          agents: 100,
          paced: { seconds: 10, sent: 1000, ok: 1000, failed: 0, perSecond: 99.6, p99Ms: 12 },
          flat: { seconds: 5, concurrency: 64, ok: 4000, failed: 2, perSecond: 800.4, p99Ms: 90 },
        },
      ],
    );
    const lines = out.split('\n');
    const row100 = lines.find((l) => /^\s+100\s+3\s/.test(l))!;
    const row1000 = lines.find((l) => /^\s+1000\s+3\s/.test(l))!;
    expect(row100.trim().split(/\s+/)).toEqual(['100', '3', '20', '30', '30', '35', '100/100', '-', '-']);
    expect(row1000.trim().split(/\s+/)).toEqual([
      '1000',
      '3',
      '150',
      '700',
      '700',
      '705',
      '1000/1000',
      'p99',
      '<',
      '500',
      'MISS',
    ]);
    const tele = lines.find((l) => /^\s+100\s+1000\s/.test(l))!;
    expect(tele.trim().split(/\s+/)).toEqual(['100', '1000', '100', '12', '4000', '800', '90', '2']);
  });
});

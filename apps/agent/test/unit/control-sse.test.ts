import { describe, expect, it } from 'vitest';
import { Backoff } from '../../src/control/backoff.js';
import { SseParser } from '../../src/control/sse.js';

describe('SseParser', () => {
  it('parses events split at every possible byte boundary identically', () => {
    const text =
      ': hello\n\nevent: desired\ndata: {"revision": 3,\ndata:  "x": 1}\nid: 7\n\n' +
      'event: ping\r\ndata:\r\n\r\ndata: plain\r\rretry: 10\nevent: revoked\ndata: {}\n\n';
    const expected = [
      { event: 'desired', data: '{"revision": 3,\n "x": 1}', id: '7' },
      { event: 'ping', data: '', id: '7' },
      { event: 'message', data: 'plain', id: '7' },
      { event: 'revoked', data: '{}', id: '7' },
    ];
    expect(new SseParser().push(text)).toEqual(expected);
    for (let cut = 0; cut <= text.length; cut++) {
      const p = new SseParser();
      expect([...p.push(text.slice(0, cut)), ...p.push(text.slice(cut))], `cut at ${cut}`).toEqual(expected);
    }
    const p = new SseParser();
    expect([...text].flatMap((ch) => p.push(ch))).toEqual(expected);
  });

  it('holds back an unterminated event and drops an event with no data', () => {
    const p = new SseParser();
    expect(p.push('event: desired\ndata: {"a"')).toEqual([]);
    expect(p.push(':1}\n')).toEqual([]);
    expect(p.push('\n')).toEqual([{ event: 'desired', data: '{"a":1}' }]);
    expect(p.push('event: x\n\ndata: y\n\n')).toEqual([{ event: 'message', data: 'y' }]);
  });

  it('strips a leading byte-order mark and only one space after the colon', () => {
    expect(new SseParser().push('\ufeffdata:  two\ndata:none\n\n')).toEqual([
      { event: 'message', data: ' two\nnone' },
    ]);
  });
});

describe('Backoff', () => {
  it('grows exponentially from 1 s to 30 s, jittered over the upper half', () => {
    const low = new Backoff(1000, 30_000, () => 0);
    expect(Array.from({ length: 8 }, () => low.next())).toEqual([
      1000, 1000, 2000, 4000, 8000, 15000, 15000, 15000,
    ]);
    const high = new Backoff(1000, 30_000, () => 0.999999);
    expect(Array.from({ length: 8 }, () => high.next())).toEqual([
      1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000,
    ]);
    high.reset();
    expect(high.next()).toBe(1000);
  });

  it('stays within bounds for any random source and refuses a bad range', () => {
    const b = new Backoff(1000, 30_000);
    for (let i = 0; i < 200; i++) {
      const ms = b.next();
      expect(ms).toBeGreaterThanOrEqual(1000);
      expect(ms).toBeLessThanOrEqual(30_000);
    }
    expect(() => new Backoff(0, 10)).toThrow(/bad backoff range/);
    expect(() => new Backoff(100, 10)).toThrow(/bad backoff range/);
  });
});

import { describe, expect, it } from 'vitest';
import {
  POLL_MS,
  UNAVAILABLE_RETRY_MS,
  startPolling,
  type Live,
  type PollDeps,
} from '../../components/live-poll';

type Answer = { status: number; body?: unknown } | Error;

/** A scripted fetch and a manual clock: each answer is consumed in order, timers fire only when run. */
function harness(answers: Answer[]) {
  const states: Live[] = [];
  const timers: { fn: () => void; ms: number; cleared: boolean }[] = [];
  const urls: string[] = [];
  let unauthenticated = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const deps: PollDeps = {
    fetch: async (url) => {
      urls.push(url);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await Promise.resolve();
      inFlight--;
      const a = answers.shift() ?? { status: 200, body: { intervalS: 1, points: [] } };
      if (a instanceof Error) throw a;
      return { status: a.status, ok: a.status < 400, json: async () => a.body };
    },
    setTimer: (fn, ms) => {
      const t = { fn, ms, cleared: false };
      timers.push(t);
      return t;
    },
    clearTimer: (t) => {
      (t as { cleared: boolean }).cleared = true;
    },
    onState: (l) => states.push(l),
    onUnauthenticated: () => unauthenticated++,
  };
  const settle = () => new Promise((r) => setTimeout(r, 0));
  /** Fires the newest pending timer and waits for its request to finish. */
  const fire = async () => {
    const t = timers.at(-1);
    if (!t || t.cleared) throw new Error('no pending timer');
    t.cleared = true;
    t.fn();
    await settle();
  };
  return {
    deps,
    states,
    timers,
    urls,
    fire,
    settle,
    get unauthenticated() {
      return unauthenticated;
    },
    get maxInFlight() {
      return maxInFlight;
    },
  };
}

const series = (n: number) => ({
  intervalS: 2,
  points: Array.from({ length: n }, (_, i) => ({ at: `2026-11-26T12:00:0${i}Z`, newFlowsPerS: i })),
});

describe('startPolling', () => {
  it('polls every 2 s, one request at a time, and hands each answer on', async () => {
    const h = harness([
      { status: 200, body: series(1) },
      { status: 200, body: series(2) },
    ]);
    startPolling('/live/stats?vip=v1', h.deps);
    await h.settle();
    expect(h.states).toEqual([{ kind: 'data', stats: series(1) }]);
    expect(h.timers.map((t) => t.ms)).toEqual([POLL_MS]);
    await h.fire();
    expect(h.states.at(-1)).toEqual({ kind: 'data', stats: series(2) });
    expect(h.urls).toEqual(['/live/stats?vip=v1', '/live/stats?vip=v1']);
    expect(h.maxInFlight).toBe(1);
    expect(POLL_MS).toBeLessThanOrEqual(2000);
  });

  it('reports "unavailable" on 404 and looks again only every 30 s', async () => {
    const h = harness([
      { status: 404, body: { title: 'Not Found' } },
      { status: 200, body: series(1) },
    ]);
    startPolling('/live/stats', h.deps);
    await h.settle();
    expect(h.states).toEqual([{ kind: 'unavailable' }]);
    expect(h.timers.at(-1)?.ms).toBe(UNAVAILABLE_RETRY_MS);
    // When the endpoint appears, the charts start and the cadence goes back to 2 s.
    await h.fire();
    expect(h.states.at(-1)?.kind).toBe('data');
    expect(h.timers.at(-1)?.ms).toBe(POLL_MS);
  });

  it('shows problem details and network errors, and keeps polling', async () => {
    const h = harness([
      { status: 503, body: { title: 'Service unavailable', detail: 'Redis is down' } },
      new Error('fetch failed'),
      { status: 200, body: { unexpected: true } },
      { status: 200, body: series(1) },
    ]);
    startPolling('/live/stats', h.deps);
    await h.settle();
    await h.fire();
    await h.fire();
    await h.fire();
    expect(h.states).toEqual([
      { kind: 'error', message: 'Redis is down' },
      { kind: 'error', message: 'fetch failed' },
      { kind: 'error', message: 'unexpected response from the stats endpoint' },
      { kind: 'data', stats: series(1) },
    ]);
  });

  it('stops and asks for a login on 401', async () => {
    const h = harness([{ status: 401, body: { title: 'Not logged in' } }]);
    startPolling('/live/stats', h.deps);
    await h.settle();
    expect(h.unauthenticated).toBe(1);
    expect(h.states).toEqual([]);
    expect(h.timers).toEqual([]);
  });

  it('stop() cancels the pending timer and ignores an answer still in flight', async () => {
    const h = harness([{ status: 200, body: series(1) }]);
    const stop = startPolling('/live/stats', h.deps);
    stop();
    await h.settle();
    expect(h.states).toEqual([]);
    expect(h.timers).toEqual([]);

    const h2 = harness([{ status: 200, body: series(1) }]);
    const stop2 = startPolling('/live/stats', h2.deps);
    await h2.settle();
    stop2();
    expect(h2.timers.at(-1)?.cleared).toBe(true);
  });
});

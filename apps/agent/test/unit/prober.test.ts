import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { DesiredState, ProbeSpec } from '../../src/config/desired-state.js';
import {
  INITIAL_PROBE_STATE,
  probeOnce,
  Prober,
  probeTarget,
  step,
  withBackendHealth,
  type ProbeResult,
  type ProbeState,
  type ProbeTarget,
} from '../../src/agent/prober.js';
import { maglevFor } from '../../src/dataplane/render.js';
import { sample } from './sample-state.js';

const T = { healthyThreshold: 2, unhealthyThreshold: 3 };

function run(outcomes: boolean[], from: ProbeState = INITIAL_PROBE_STATE) {
  const seen: string[] = [];
  let s = from;
  for (const ok of outcomes) {
    s = step(s, ok, T, ok ? null : 'ECONNREFUSED');
    seen.push(s.verdict);
  }
  return { s, seen };
}

const PROBE: ProbeSpec = {
  protocol: 'http',
  path: '/healthz',
  intervalMs: 1000,
  timeoutMs: 300,
  healthyThreshold: 2,
  unhealthyThreshold: 3,
};

function probed(): DesiredState {
  const s = sample('mux');
  s.vips = s.vips.map((v) => (v.protocol === 'tcp' ? { ...v, probe: PROBE } : v));
  return s;
}

describe('probe threshold state machine', () => {
  it('turns unhealthy only after unhealthyThreshold consecutive failures', () => {
    const up = run([true]).s;
    expect(up.verdict).toBe('healthy');
    expect(run([false, false, true, false, false], up).seen).toEqual([
      'healthy',
      'healthy',
      'healthy',
      'healthy',
      'healthy',
    ]);
    const { s, seen } = run([false, false, false], up);
    expect(seen).toEqual(['healthy', 'healthy', 'unhealthy']);
    expect(s).toEqual({ verdict: 'unhealthy', successes: 0, failures: 3, reason: 'ECONNREFUSED' });
  });

  it('needs healthyThreshold consecutive successes to come back', () => {
    const down = run([false, false, false]).s;
    expect(down.verdict).toBe('unhealthy');
    expect(run([true, false, true, true], down).seen).toEqual([
      'unhealthy',
      'unhealthy',
      'unhealthy',
      'healthy',
    ]);
  });

  it('decides from unknown on one success, but on a full run of failures', () => {
    expect(run([true]).seen).toEqual(['healthy']);
    expect(run([false, false, false]).seen).toEqual(['unknown', 'unknown', 'unhealthy']);
  });

  it('honours thresholds of 1', () => {
    const one = { healthyThreshold: 1, unhealthyThreshold: 1 };
    const down = step(INITIAL_PROBE_STATE, false, one, 'x');
    expect(down.verdict).toBe('unhealthy');
    expect(step(down, true, one).verdict).toBe('healthy');
  });
});

describe('probe targets', () => {
  it('probes the backend port unless the VIP names one, and the path only over http', () => {
    const s = probed();
    const web = s.vips[0]!;
    expect(probeTarget(web, web.backends[0]!)).toMatchObject({
      protocol: 'http',
      address: '198.18.0.31',
      port: 80,
      path: '/healthz',
    });
    const tcp = { ...web, probe: { ...PROBE, protocol: 'tcp' as const, path: undefined, port: 8081 } };
    const t = probeTarget(tcp, web.backends[0]!)!;
    expect(t).toMatchObject({ protocol: 'tcp', port: 8081, path: '' });
    expect(t.key).not.toBe(probeTarget(web, web.backends[0]!)!.key);
    expect(probeTarget({ ...web, probe: undefined }, web.backends[0]!)).toBeNull();
    expect(probeTarget(web, { ...web.backends[0]!, state: 'disabled' })).toBeNull();
  });
});

describe('backend health in the Maglev table', () => {
  it('gives a down backend no slot and moves few others', () => {
    const s = probed();
    const down = s.vips[0]!.backends[1]!.address;
    const out = withBackendHealth(s, (v, b) => !(v.id === s.vips[0]!.id && b.address === down));
    const before = maglevFor(s.vips[0]!);
    const after = maglevFor(out.vips[0]!);
    expect(after.size).toBe(before.size);
    expect(after.slots.includes(1)).toBe(false);
    // Maglev: the other backends keep nearly all their slots (their flows stay where they are).
    let kept = 0;
    let others = 0;
    for (let i = 0; i < before.size; i++) {
      if (before.slots[i] === 1) continue;
      others++;
      if (after.slots[i] === before.slots[i]) kept++;
    }
    expect(kept / others).toBeGreaterThan(0.9);
    // Other VIPs and the input are untouched.
    expect(out.vips[1]).toBe(s.vips[1]);
    expect(s.vips[0]!.backends[1]!.weight).toBe(100);
  });

  it('returns the same state when every backend is up, and keeps a VIP whole when none is', () => {
    const s = probed();
    expect(withBackendHealth(s, () => true)).toBe(s);
    expect(withBackendHealth(s, () => false)).toBe(s);
  });
});

describe('Prober', () => {
  afterEach(() => vi.useRealTimers());

  it('runs one loop per target, reports verdicts and follows the control plane until it has one', async () => {
    vi.useFakeTimers();
    const s = probed();
    const dead = '198.18.0.32';
    s.vips[0]!.backends[2]!.healthy = false; // the control plane's view of b3 before any probe
    const calls: ProbeTarget[] = [];
    const changes: string[] = [];
    const prober = new Prober(
      (t, st) => changes.push(`${t.address}:${t.port} ${st.verdict}`),
      (t): Promise<ProbeResult> => {
        calls.push(t);
        return Promise.resolve(t.address === dead ? { ok: false, reason: 'ECONNREFUSED' } : { ok: true });
      },
    );
    prober.setTargets(s);
    const web = s.vips[0]!;
    expect(prober.healthy(web, web.backends[2]!)).toBe(false);
    expect(prober.healthy(web, web.backends[1]!)).toBe(true);
    expect(prober.reports(s)).toEqual([]);
    await vi.advanceTimersByTimeAsync(1000);
    // VIPs probing the same backend port share one loop: each target is probed once per interval.
    const targets = new Set(calls.map((c) => c.key));
    expect(targets.size).toBe(calls.length);
    await vi.advanceTimersByTimeAsync(2000);
    expect(changes.filter((c) => c.startsWith(dead)).every((c) => c.endsWith('unhealthy'))).toBe(true);
    expect(changes).toContain(`${dead}:80 unhealthy`);
    expect(prober.healthy(web, web.backends[1]!)).toBe(false);
    expect(prober.healthy(web, web.backends[2]!)).toBe(true);
    const reports = prober.reports(s).filter((r) => r.vipId === web.id);
    expect(reports).toEqual([
      { vipId: web.id, address: '198.18.0.31', port: 80, healthy: true },
      { vipId: web.id, address: dead, port: 80, healthy: false, reason: 'ECONNREFUSED' },
      { vipId: web.id, address: '198.18.0.33', port: 80, healthy: true },
    ]);
    // Unprobed VIPs (udp) report nothing.
    expect(prober.reports(s).some((r) => r.vipId === 'vip-udp')).toBe(false);
    // Dropping the probe settings stops the loops.
    prober.setTargets({ ...s, vips: s.vips.map((v) => ({ ...v, probe: undefined })) });
    const n = calls.length;
    await vi.advanceTimersByTimeAsync(5000);
    expect(calls.length).toBe(n);
    prober.stop();
  });
});

describe('probeOnce against real sockets', () => {
  const target = (protocol: 'tcp' | 'http', port: number, path = '/'): ProbeTarget => ({
    key: 'k',
    protocol,
    address: '127.0.0.1',
    port,
    path,
    intervalMs: 1000,
    timeoutMs: 300,
    healthyThreshold: 1,
    unhealthyThreshold: 1,
  });

  it('tcp: a listener is up, a closed port is down', async () => {
    const srv = net.createServer((c) => c.destroy());
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    expect(await probeOnce(target('tcp', port))).toEqual({ ok: true });
    await new Promise((r) => srv.close(r));
    expect(await probeOnce(target('tcp', port))).toEqual({ ok: false, reason: 'ECONNREFUSED' });
  });

  it('http: 2xx and 3xx are up, 5xx and a silent server are down', async () => {
    const srv = http.createServer((req, res) => {
      if (req.url === '/slow') return; // never answers
      res.writeHead(req.url === '/ok' ? 200 : req.url === '/moved' ? 302 : 503).end();
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    expect(await probeOnce(target('http', port, '/ok'))).toEqual({ ok: true });
    expect(await probeOnce(target('http', port, '/moved'))).toEqual({ ok: true });
    expect(await probeOnce(target('http', port, '/bad'))).toEqual({ ok: false, reason: 'http 503' });
    const t0 = Date.now();
    expect(await probeOnce(target('http', port, '/slow'))).toEqual({
      ok: false,
      reason: 'timeout after 300 ms',
    });
    expect(Date.now() - t0).toBeLessThan(1000);
    srv.closeAllConnections();
    await new Promise((r) => srv.close(r));
  });
});

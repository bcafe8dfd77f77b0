/**
 * Lifecycle in a real lab: agent restart keeps flows and rebuilds state, a dead mux does not break
 * bypassed flows, draining or removing a backend drops its entries, re-applying a state changes nothing,
 * and `cleanup` removes everything the agent made.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentPid, HOSTS, metricsText, nsName, startAgent, stopAgent } from '../../src/lab/lab.js';
import {
  client,
  echoFlow,
  isRoot,
  metric,
  nftElements,
  nsRun,
  sleep,
  startLab,
  stopLab,
  updateConfig,
  waitUntil,
} from './helpers.js';

const ALL = HOSTS.map((h) => h.name);
const MAIN = join(import.meta.dirname, '..', '..', 'dist', 'main.js');
const BENCH_CLIENT = join(import.meta.dirname, '..', '..', 'dist', 'bench', 'client.js');

describe.skipIf(!isRoot)('agent lifecycle', () => {
  let prefix = '';
  beforeAll(async () => {
    prefix = await startLab();
  });
  afterAll(() => stopLab(prefix));

  function backendOf(host: string, port: number): string {
    const line = nftElements(prefix, host, 'fo')
      .split(/,|\{|\}/)
      .find((l) => l.includes(`. ${port} .`));
    const m = line ? / : (\d+\.\d+\.\d+\.\d+)/.exec(line) : null;
    if (!m) throw new Error(`no fo entry for port ${port}`);
    return m[1]!;
  }

  it('runs every agent thread and its autogroup at nice -10, and its background counter reads at nice 10 in a group of their own', async () => {
    /** `/proc/<pid>/stat` after the command name: [2] is the parent, [16] the nice value. */
    const stat = (path: string): string[] => readFileSync(path, 'utf8').split(') ')[1]!.split(' ');
    const pid = agentPid(prefix, 'c1')!;
    const threads = readdirSync(`/proc/${pid}/task`).map((t) =>
      Number(stat(`/proc/${pid}/task/${t}/stat`)[16]),
    );
    expect(threads.length).toBeGreaterThan(1);
    expect(new Set(threads)).toEqual(new Set([-10]));
    const nftChildren = (): { pid: string; nice: number }[] =>
      readdirSync('/proc')
        .filter((d) => /^\d+$/.test(d))
        .flatMap((d) => {
          try {
            const comm = readFileSync(`/proc/${d}/comm`, 'utf8').trim();
            const f = stat(`/proc/${d}/stat`);
            return comm === 'nft' && Number(f[1]) === pid ? [{ pid: d, nice: Number(f[16]) }] : [];
          } catch {
            return [];
          }
        });
    await waitUntil('the counter reader has started', () => nftChildren().some((c) => c.nice === 10));
    // With autogroup scheduling, nice weighs only inside a session: the agent's group is -10 too, and the
    // background reader has a group of its own at 10 (a kernel without autogroup has no such file).
    if (existsSync(`/proc/${pid}/autogroup`)) {
      expect(readFileSync(`/proc/${pid}/autogroup`, 'utf8')).toMatch(/ nice -10$/m);
      const reader = nftChildren().find((c) => c.nice === 10)!;
      expect(readFileSync(`/proc/${reader.pid}/autogroup`, 'utf8')).toMatch(/ nice 10$/m);
    }
  });

  it('restarting the client and backend agents keeps established flows and rebuilds their state', async () => {
    const flow = echoFlow(prefix, 'c1', '198.19.0.10', 7, 41001, 6000);
    await waitUntil('bypass', () => nftElements(prefix, 'c1', 'fo').includes('41001'));
    const entries = metric(prefix, 'c1', 'slipstream_bypass_entries', { vip: 'echo' });
    expect(entries).toBeGreaterThanOrEqual(1);
    for (const h of ['c1', 'b1', 'b2', 'b3']) await stopAgent(prefix, h);
    const echoed = flow.state.latest.echoed;
    await sleep(800);
    expect(flow.state.latest.echoed).toBeGreaterThan(echoed);
    for (const h of ['c1', 'b1', 'b2', 'b3']) startAgent(prefix, h);
    await waitUntil('c1 agent back', () => metric(prefix, 'c1', 'slipstream_config_revision') > 0);
    expect(metric(prefix, 'c1', 'slipstream_bypass_entries', { vip: 'echo' })).toBe(entries);
    // A new flow after the restart is bypassed too.
    const r = await client<{ status: number }>(prefix, 'c1', 'http', '198.19.0.10', '80');
    expect(r.status).toBe(200);
    const end = await flow.done;
    expect(end.error).toBeNull();
    expect(end.echoed).toBe(end.sent);
  });

  it('killing a mux leaves bypassed flows running; new flows go to the other mux', async () => {
    const flow = echoFlow(prefix, 'c2', '198.19.0.10', 7, 41002, 3000);
    await waitUntil('bypass', () => nftElements(prefix, 'c2', 'fo').includes('41002'));
    execFileSync('ip', ['-n', nsName(prefix, 'm1'), 'link', 'set', 'eth0', 'down']);
    const echoed = flow.state.latest.echoed;
    await sleep(500);
    expect(flow.state.latest.echoed).toBeGreaterThan(echoed);
    // Each host probes its muxes and stops hashing new flows onto one that stops answering.
    await waitUntil('clients notice the dead mux', () =>
      ['c1', 'c2'].every((c) => metric(prefix, c, 'slipstream_mux_up', { mux: '198.18.0.21' }) === 0),
    );
    const m2Before = metric(prefix, 'm2', 'slipstream_mux_packets_total');
    for (let i = 0; i < 8; i++) {
      const r = await client<{ status: number }>(prefix, i % 2 ? 'c1' : 'c2', 'http', '198.19.0.20', '80');
      expect(r.status).toBe(200);
    }
    expect(metric(prefix, 'm2', 'slipstream_mux_packets_total') - m2Before).toBeGreaterThanOrEqual(8 * 4);
    const end = await flow.done;
    expect(end.error).toBeNull();
    expect(end.echoed).toBe(end.sent);
    execFileSync('ip', ['-n', nsName(prefix, 'm1'), 'link', 'set', 'eth0', 'up']);
    await waitUntil('clients use the mux again', () =>
      ['c1', 'c2'].every((c) => metric(prefix, c, 'slipstream_mux_up', { mux: '198.18.0.21' }) === 1),
    );
  });

  it('a live flow stays bypassed past the idle timeout; after it ends its entries go away', async () => {
    await updateConfig(prefix, ALL, (s) => {
      s.vips.find((v) => v.name === 'echo')!.bypass.idleTimeoutS = 6;
    });
    const muxPkts = (): number =>
      metric(prefix, 'm1', 'slipstream_mux_packets_total', { vip: 'echo' }) +
      metric(prefix, 'm2', 'slipstream_mux_packets_total', { vip: 'echo' });
    const renewed = (): number =>
      metric(prefix, 'c2', 'slipstream_redirects_received_total', { result: 'accepted', reason: 'renewed' });
    // Let teardown packets of earlier tests' flows drain first: the mux count must be quiet.
    for (let last = -1; last !== muxPkts(); await sleep(1000)) last = muxPkts();
    const renewedBefore = renewed();
    const flow = echoFlow(prefix, 'c2', '198.19.0.10', 7, 41030, 9000);
    await waitUntil('bypass', () => nftElements(prefix, 'c2', 'fo').includes('41030')).catch((err: Error) => {
      // Seen once in a full CI run and never reproduced: say which side stopped the redirect.
      const lines = (h: string): string[] =>
        metricsText(prefix, h)
          .split('\n')
          .filter((l) => /^slipstream_(redirect|bypass_installs|flows_total)/.test(l));
      const why = ['c2', 'b1', 'b2', 'b3'].map((h) => `${h}: ${lines(h).join(' | ')}`).join('\n');
      throw new Error(`${err.message}; flow ${JSON.stringify(flow.state)}\n${why}`);
    });
    await sleep(300);
    const mux = muxPkts();
    const end = await flow.done;
    expect(end.error).toBeNull();
    expect(end.echoed).toBe(end.sent);
    // 9 s of traffic with a 6 s idle timeout: renewed, never back on the mux.
    expect(renewed()).toBeGreaterThan(renewedBefore);
    expect(muxPkts()).toBe(mux);
    await waitUntil(
      'entries gone',
      () =>
        !nftElements(prefix, 'c2', 'fo').includes('41030') &&
        !nftElements(prefix, 'c2', 'ri').includes('41030') &&
        ['b1', 'b2', 'b3'].every((b) => !nftElements(prefix, b, 'bo').includes('41030')),
      20_000,
    );
  });

  it('a TCP flow that ends (FIN both ways, or a RST) loses its entries at once, not an idle timeout later', async () => {
    await updateConfig(prefix, ALL, (s) => {
      s.vips.find((v) => v.name === 'echo')!.bypass.idleTimeoutS = 300;
    });
    const backends = ['b1', 'b2', 'b3'];
    for (const [how, port] of [
      ['fin', 41040],
      ['rst', 41050],
    ] as const) {
      const ended = (hosts: string[], role: string): number =>
        hosts.reduce(
          (n, h) => n + metric(prefix, h, 'slipstream_flows_ended_total', { role, reason: how }),
          0,
        );
      const before = { client: ended(['c1'], 'client'), backend: ended(backends, 'backend') };
      const flow = echoFlow(prefix, 'c1', '198.19.0.10', 7, port, 1500, how);
      await waitUntil(`${how}: bypass`, () => nftElements(prefix, 'c1', 'fo').includes(String(port)));
      await waitUntil(`${how}: bo`, () =>
        backends.some((b) => nftElements(prefix, b, 'bo').includes(String(port))),
      );
      const end = await flow.done;
      expect(end.error).toBeNull();
      expect(end.echoed).toBe(end.sent);
      // 300 s idle timeout: only the end of the flow can take the senders' entries within seconds.
      await waitUntil(
        `${how}: fo and bo gone`,
        () =>
          !nftElements(prefix, 'c1', 'fo').includes(String(port)) &&
          backends.every((b) => !nftElements(prefix, b, 'bo').includes(String(port))),
        3000,
      );
      expect(ended(['c1'], 'client')).toBe(before.client + 1);
      expect(ended(backends, 'backend')).toBe(before.backend + 1);
      // The client's reverse entry outlives `fo` by the grace period (late replies), then goes too.
      expect(nftElements(prefix, 'c1', 'ri')).toContain(String(port));
      await waitUntil(
        `${how}: ri gone`,
        () => !nftElements(prefix, 'c1', 'ri').includes(String(port)),
        10_000,
      );
    }
  });

  it("a new connection on an ended flow's ports works while the backend still holds the old flow's bo", async () => {
    const port = 41060;
    const names: Record<string, string> = { '198.18.0.31': 'b1', '198.18.0.32': 'b2', '198.18.0.33': 'b3' };
    const first = echoFlow(prefix, 'c1', '198.19.0.10', 7, port, 1500, 'rst');
    await waitUntil('bypass', () => nftElements(prefix, 'c1', 'fo').includes(String(port)));
    const backend = names[backendOf('c1', port)]!;
    await waitUntil('bo', () => nftElements(prefix, backend, 'bo').includes(String(port)));
    // The backend's agent is frozen, so it cannot act on the end: the flow's `bo` stays, as it does while
    // the agent's deletions run behind under a flood.
    const pid = agentPid(prefix, backend)!;
    process.kill(pid, 'SIGSTOP');
    try {
      expect((await first.done).error).toBeNull();
      // The client acted on the RST: `fo` at once, `ri` after the grace period.
      await waitUntil('c1 ri gone', () => !nftElements(prefix, 'c1', 'ri').includes(String(port)), 10_000);
      expect(nftElements(prefix, backend, 'bo')).toContain(String(port));
      // The same ports again, through the mux (no redirect can come now). Its replies must not leave with
      // the backend's address, which the client, without `ri`, would answer with a RST.
      const flow = echoFlow(prefix, 'c1', '198.19.0.10', 7, port, 1000, 'rst');
      // Reset, its connect would hang: give up in time for the finally below to thaw the agent.
      const giveUp = setTimeout(() => flow.kill(), 8000);
      const second = await flow.done.finally(() => clearTimeout(giveUp));
      expect(second.error).toBeNull();
      expect(second.sent, 'the second connection exchanged nothing').toBeGreaterThan(0);
      expect(second.echoed).toBe(second.sent);
      expect(nftElements(prefix, backend, 'bo')).not.toContain(String(port));
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  });

  it('with a handshake hold a short connection sends the mux its SYN only; without the helper it still works', async () => {
    const backends = ['b1', 'b2', 'b3'];
    const mux = (vip: string): number =>
      metric(prefix, 'c1', 'slipstream_packets_total', { vip, path: 'mux' });
    const holds = (result: string): number =>
      backends.reduce((n, b) => n + metric(prefix, b, 'slipstream_synack_holds_total', { result }), 0);
    const setup = (host: string, count: number): { samples: number; failed: number } =>
      JSON.parse(
        nsRun(prefix, 'c1', [
          process.execPath,
          BENCH_CLIENT,
          'setup',
          '--host',
          host,
          '--port',
          '80',
          '--count',
          String(count),
        ]),
      ) as { samples: number; failed: number };
    const helpers = (): number[] =>
      backends.flatMap((b) => {
        try {
          return execFileSync('pgrep', ['-P', String(agentPid(prefix, b)), '-f', 'synack-hold'], {
            encoding: 'utf8',
          })
            .trim()
            .split('\n')
            .map(Number);
        } catch {
          return [];
        }
      });
    expect(helpers()).toHaveLength(3);
    const released0 = holds('released');
    const hold0 = mux('web-hold');
    expect(setup('198.19.0.50', 200)).toMatchObject({ samples: 200, failed: 0 });
    const plain0 = mux('web');
    expect(setup('198.19.0.10', 200)).toMatchObject({ samples: 200, failed: 0 });
    const perFlowHold = (mux('web-hold') - hold0) / 200;
    const perFlowPlain = (mux('web') - plain0) / 200;
    // The SYN, and a flow now and then whose redirect took longer than the hold (10 ms).
    expect(perFlowHold).toBeLessThan(1.2);
    expect(perFlowPlain).toBeGreaterThan(1.8);
    await waitUntil('held SYN-ACKs counted', () => holds('released') - released0 >= 180, 5000);

    // Helpers gone: the kernel passes SYN-ACKs unheld until the agents have started new ones.
    const old = helpers();
    for (const pid of old) process.kill(pid, 'SIGKILL');
    expect(setup('198.19.0.50', 20)).toMatchObject({ samples: 20, failed: 0 });
    await waitUntil(
      'helpers restarted',
      () => helpers().length === 3 && !helpers().some((p) => old.includes(p)),
      5000,
    );
    const again = mux('web-hold');
    expect(setup('198.19.0.50', 100)).toMatchObject({ samples: 100, failed: 0 });
    expect((mux('web-hold') - again) / 100).toBeLessThan(1.2);
  });

  it("a flow to another VIP on an ended bypassed flow's client port and backend works (ri and bi name no VIP)", async () => {
    // web (198.19.0.10:80) and web-hold (198.19.0.50:80) share backends and port. Straight packets carry no
    // VIP, so both ends key their rewrites without it, and an ended flow's elements stay a while: `ri` on
    // the client a grace period, `bi` on the backend until its release arrives (or its timeout, if lost).
    const ports = Array.from({ length: 18 }, (_, i) => 41200 + i);
    const conflicts = (): number =>
      metric(prefix, 'c1', 'slipstream_redirects_received_total', {
        result: 'rejected',
        reason: 'conflict',
      }) + metric(prefix, 'c1', 'slipstream_ri_replaced_total');
    const busy = (): number =>
      ['b1', 'b2', 'b3'].reduce(
        (n, b) => n + metric(prefix, b, 'slipstream_redirects_skipped_total', { reason: 'bi_busy' }),
        0,
      );
    type Got = { bytes?: number; status?: number; error?: string };
    const first = async (p: number): Promise<void> => {
      // Long enough (20 MB) to be bypassed before it ends.
      const r = await client<Got>(prefix, 'c1', 'bytes', '198.19.0.10', '80', '20000000', String(p));
      expect(r, `first flow from port ${p}`).toMatchObject({ bytes: 20_000_000 });
    };
    // The held handshake makes the second flow bypassed before its first ACK, if its redirect is accepted.
    const second = (p: number): Promise<Got> =>
      client<Got>(prefix, 'c1', 'http', '198.19.0.50', '80', '/', String(p));

    // 1. Right after the first flow: its `ri` still rewrites to 198.19.0.10, and its `bi` too until the
    // release is through.
    const c0 = conflicts();
    const b0 = busy();
    for (const p of ports.slice(0, 9)) {
      await first(p);
      expect(await second(p), `second flow from port ${p}`).toMatchObject({ status: 200 });
    }
    // With three backends, some pairs met on the same one: their backend sent no redirect (bi_busy), or
    // the client replaced the ended flow's ri (or refused, while that flow was still being removed).
    expect(conflicts() - c0 + busy() - b0).toBeGreaterThan(0);

    // 2. Releases lost (dropped on c1 by a rule of the test's own): the backends' `bi` stays, the client's
    // `ri` goes after its grace period, and the second flow's client accepts whatever it is offered.
    nsRun(prefix, 'c1', [
      'nft',
      'add table ip lost; add chain ip lost o { type filter hook output priority 0; }',
    ]);
    nsRun(prefix, 'c1', ['nft', 'add rule ip lost o udp dport 4791 @th,96,8 3 counter drop']);
    try {
      const b1 = busy();
      for (const p of ports.slice(9)) await first(p);
      await sleep(6500);
      for (const p of ports.slice(9))
        expect(await second(p), `second flow from port ${p}, release lost`).toMatchObject({ status: 200 });
      expect(nsRun(prefix, 'c1', ['nft', 'list chain ip lost o'])).not.toMatch(/packets 0 /);
      expect(busy() - b1).toBeGreaterThan(0);
    } finally {
      nsRun(prefix, 'c1', ['nft', 'delete table ip lost']);
    }
  });

  it('a connection on the ports of one bypassed less than a second ago is bypassed too', async () => {
    const mux = (): number => metric(prefix, 'c1', 'slipstream_packets_total', { vip: 'web', path: 'mux' });
    const bytes = (p: number) =>
      client<{ bytes: number }>(prefix, 'c1', 'bytes', '198.19.0.10', '80', '20000000', String(p));
    const port = 41300;
    const m0 = mux();
    expect(await bytes(port)).toMatchObject({ bytes: 20_000_000 });
    const m1 = mux();
    // Same ports, same VIP, so the same backend, at once: its SYN must start a bypass over, not be taken
    // for a stray packet of the last one (which left this flow's ~thousands of ACKs on the mux).
    expect(await bytes(port)).toMatchObject({ bytes: 20_000_000 });
    const m2 = mux();
    expect(m1 - m0).toBeLessThan(50);
    expect(m2 - m1).toBeLessThan(50);
  });

  it('short connections leave no entries: ended ones are removed, ones over before their redirect are refused', async () => {
    const c = (name: string, labels: Record<string, string> = {}): number =>
      metric(prefix, 'c1', name, labels);
    const backends = ['b1', 'b2', 'b3'];
    const released = (): number =>
      backends.reduce(
        (n, b) => n + metric(prefix, b, 'slipstream_releases_received_total', { result: 'accepted' }),
        0,
      );
    // `bi` elements of c1's flows to port 80 (client . proto . client port . VIP port : VIP).
    const biOfC1 = (): Set<string> =>
      new Set(
        backends.flatMap((b) =>
          [...nftElements(prefix, b, 'bi').matchAll(/198\.18\.0\.11 \. tcp \. (\d+) \. 80 /g)].map(
            (m) => m[1]!,
          ),
        ),
      );
    const biBefore = biOfC1();
    const before = {
      bypassed: c('slipstream_flows_bypassed_total', { vip: 'web' }),
      ended: c('slipstream_flows_ended_total', { vip: 'web', role: 'client' }),
      refused: c('slipstream_redirects_received_total', { result: 'rejected', reason: 'flow_ended' }),
      releasesSent: c('slipstream_releases_sent_total', { vip: 'web' }),
      released: released(),
    };
    const out = JSON.parse(
      nsRun(prefix, 'c1', [
        process.execPath,
        BENCH_CLIENT,
        'short',
        '--host',
        '198.19.0.10',
        '--port',
        '80',
        '--count',
        '300',
      ]),
    ) as { ok: number; failed: number };
    expect(out).toMatchObject({ ok: 300, failed: 0 });
    const web = /tcp \. \d+ \. 80 /;
    // Bounds far below the 300 s idle timeout these removals replace, and loose enough for the full
    // suite, where several labs share two cores and deletions run seconds behind.
    await waitUntil('no fo left', () => !web.test(nftElements(prefix, 'c1', 'fo')), 15_000);
    // `ri` is keyed backend . proto . VIP port . client port, and outlives `fo` by the grace period.
    await waitUntil('no ri left', () => !/tcp \. 80 \. \d+ /.test(nftElements(prefix, 'c1', 'ri')), 20_000);
    const bypassed = c('slipstream_flows_bypassed_total', { vip: 'web' }) - before.bypassed;
    const refused =
      c('slipstream_redirects_received_total', { result: 'rejected', reason: 'flow_ended' }) - before.refused;
    // Every flow that got entries had them removed because it ended; the rest were refused.
    expect(c('slipstream_flows_ended_total', { vip: 'web', role: 'client' }) - before.ended).toBe(bypassed);
    expect(bypassed + refused).toBeGreaterThan(0);
    expect(backends.some((b) => / \. 80 \. \d+/.test(nftElements(prefix, b, 'bo')))).toBe(false);
    // The backends' receive rewrites go too, instead of at their 305 s timeout: a refused redirect tells the
    // backend directly; a bypassed flow's client sends a release once its `fo` is gone, one per flow.
    const newBi = (): string[] => [...biOfC1()].filter((port) => !biBefore.has(port));
    await waitUntil('no bi left', () => newBi().length === 0, 15_000);
    expect(c('slipstream_releases_sent_total', { vip: 'web' }) - before.releasesSent).toBe(bypassed);
    expect(released() - before.released).toBe(bypassed);
  });

  it('draining or removing a backend drops its bypass entries at once and new flows avoid it', async () => {
    const names: Record<string, string> = { '198.18.0.31': 'b1', '198.18.0.32': 'b2', '198.18.0.33': 'b3' };
    for (const [mode, port] of [
      ['drain', 41010],
      ['remove', 41020],
    ] as const) {
      const flow = echoFlow(prefix, 'c1', '198.19.0.10', 7, port, 1500);
      await waitUntil('bypass', () => nftElements(prefix, 'c1', 'fo').includes(String(port)));
      const victim = backendOf('c1', port);
      await updateConfig(prefix, ALL, (s) => {
        for (const v of s.vips) {
          if (mode === 'drain') v.backends.forEach((b) => b.address === victim && (b.state = 'draining'));
          else v.backends = v.backends.filter((b) => b.address !== victim);
        }
      });
      expect(nftElements(prefix, 'c1', 'fo')).not.toContain(victim);
      expect(nftElements(prefix, names[victim]!, 'bo')).not.toContain(`. ${port}`);
      for (let i = 0; i < 12; i++) {
        const r = await client<{ status: number; body: { backend: string } }>(
          prefix,
          'c2',
          'http',
          '198.19.0.10',
          '80',
        );
        expect(r.status).toBe(200);
        expect(r.body.backend).not.toBe(names[victim]);
      }
      flow.kill();
      // Restore the pool for the next round.
      await updateConfig(prefix, ALL, (s) => {
        for (const v of s.vips) {
          v.backends = ['198.18.0.31', '198.18.0.32', '198.18.0.33'].map((address) => ({
            address,
            port: v.port,
            weight: 100,
            state: 'active',
          }));
        }
      });
    }
  });

  it('applying the same state again changes nothing in the kernel', async () => {
    const snap = (): string =>
      [
        nsRun(prefix, 'm1', ['nft', '-t', 'list', 'table', 'ip', 'slipstream']).replace(
          /packets \d+ bytes \d+/g,
          '',
        ),
        nsRun(prefix, 'm1', ['ip', 'rule']),
        nsRun(prefix, 'm1', ['ip', 'route', 'show', 'table', 'all', 'proto', '83']),
        nsRun(prefix, 'b1', ['nft', '-t', 'list', 'table', 'ip', 'slipstream']).replace(
          /packets \d+ bytes \d+/g,
          '',
        ),
        nsRun(prefix, 'b1', ['ip', 'route', 'show', 'table', 'all', 'proto', '83']),
        nsRun(prefix, 'b1', ['ip', 'addr', 'show', 'dev', 'lo']),
      ].join('\n');
    const before = snap();
    await updateConfig(prefix, ['m1', 'b1'], () => undefined);
    expect(snap()).toBe(before);
  });

  it('cleanup removes everything the agent made', async () => {
    await stopAgent(prefix, 'c2');
    await stopAgent(prefix, 'b2');
    for (const h of ['c2', 'b2']) {
      nsRun(prefix, h, [process.execPath, MAIN, 'cleanup']);
      expect(() => nsRun(prefix, h, ['nft', 'list', 'table', 'ip', 'slipstream'])).toThrow();
      expect(nsRun(prefix, h, ['ip', 'route', 'show', 'table', 'all', 'proto', '83'])).toBe('');
      expect(nsRun(prefix, h, ['ip', 'rule'])).not.toMatch(/fwmark/);
      expect(nsRun(prefix, h, ['ip', 'link'])).not.toContain('slvx0');
      expect(nsRun(prefix, h, ['ip', 'addr', 'show', 'dev', 'lo'])).not.toContain('198.19.');
    }
  });
});

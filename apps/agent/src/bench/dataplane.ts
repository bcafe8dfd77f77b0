/**
 * Data-plane benchmark (`npm run bench:dataplane`): not a test. Brings the namespace lab up (or reuses
 * a running one with --reuse), drives traffic from the client namespaces, and prints one table with
 * absolute figures, ratios against the direct path and the targets of issue #3.
 *
 *   --reuse        use the lab that is already up (and leave it up afterwards)
 *   --keep         leave the lab up at the end
 *   --json         also write the results to --out (default test-output/bench-dataplane.json)
 *   --quick        shorter runs, for checking that the benchmark itself works
 *   --prefix P     lab prefix to pass to the lab CLI (default: the lab's own default)
 *
 * All traffic stays inside the lab namespaces; every step has a timeout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  parseLabStatus,
  selectTargets,
  vipLabelCandidates,
  type Endpoint,
  type LabHost,
} from './lab-status.js';
import { namespacePids, PIN_CPU, pinnedCommand, pinProcesses } from './pin.js';
import {
  deltaSamples,
  hasSamples,
  histogramBuckets,
  histogramQuantile,
  labelValues,
  parsePrometheusText,
  quantileIsCapped,
  sumSamples,
  type Sample,
} from './prom.js';
import {
  median,
  overallVerdict,
  parseIperf3Json,
  renderTable,
  resultRows,
  type BenchResults,
  type MixedRun,
  type PathFigures,
  type SetupFigures,
  type PathName,
  type TtbFigures,
} from './stats.js';

process.env.NEXT_TELEMETRY_DISABLED = '1';
process.env.TURBO_TELEMETRY_DISABLED = '1';
process.env.CHECKPOINT_DISABLE = '1';

const here = dirname(fileURLToPath(import.meta.url));
const LAB_CLI = resolve(here, '../lab/cli.js');
const CLIENT = resolve(here, 'client.js');

function parseCli() {
  try {
    return parseArgs({
      options: {
        reuse: { type: 'boolean', default: false },
        keep: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        out: { type: 'string', default: 'test-output/bench-dataplane.json' },
        quick: { type: 'boolean', default: false },
        prefix: { type: 'string' },
      },
      strict: true,
    });
  } catch (err) {
    console.error(`bench:dataplane: ${(err as Error).message}`);
    process.exit(2);
  }
}
const { values: opts } = parseCli();
const Q = opts.quick;
const CFG = {
  iperfSeconds: Q ? 2 : 5,
  iperfRuns: Q ? 1 : 3,
  rrCount: Q ? 500 : 15000,
  rrRounds: Q ? 1 : 3,
  shortConnections: Q ? 100 : 400,
  mixedSeconds: Q ? 4 : 10,
  kindSeconds: Q ? 2 : 4,
  floodSeconds: Q ? 2 : 5,
  pacedRates: Q ? [200] : [100, 300],
  pacedSeconds: Q ? 1 : 3,
  churnRuns: Q ? 1 : 4,
};

/** Churn: connections per generator run, 8 at a time; entries are counted this long after the last. */
const CHURN_PER_RUN = 3000;
const CHURN_SETTLE_S = 7;

/**
 * How long each flood connection stays open. A flow that ends before its redirect arrives is not bypassed
 * (nothing would remove its entries), so connections closed at once would measure how fast they close,
 * not how many flows a host can bypass; 512 connections held 100 ms each offer up to ~5,000 flows/s.
 */
const FLOOD_HOLD_MS = 100;

const children = new Set<ChildProcess>();
let aborted = false;

/** Called between steps: after Ctrl-C no new traffic starts, but the lab still comes down. */
function checkAbort(): void {
  if (aborted) throw new Error('interrupted');
}
const log = (msg: string): void => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}`);

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command with a hard timeout; never rejects. */
function run(cmd: string, args: readonly string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((done) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      stderr += `\n(timed out after ${timeoutMs} ms)`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (err) => {
      stderr += err.message;
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      done({ code, stdout, stderr });
    });
  });
}

const nsExec = (ns: string, cmd: string, args: readonly string[], timeoutMs: number): Promise<RunResult> =>
  run('ip', ['netns', 'exec', ns, cmd, ...args], timeoutMs);

function firstLine(s: string): string {
  return s.trim().split('\n').slice(-1)[0]?.slice(0, 300) ?? '';
}

/**
 * Entries of one client's flows to a VIP port still in the kernel: `fo` and `ri` on the client, `bo` and
 * `bi` on every other host agent (element keys as render.ts lays them out).
 */
async function churnEntriesLeft(
  c: LabHost,
  hosts: LabHost[],
  ep: Endpoint,
): Promise<{ fo: number; ri: number; bo: number; bi: number }> {
  const list = async (h: LabHost, kind: 'map' | 'set', name: string): Promise<string> => {
    const r = await nsExec(h.netns, 'nft', ['list', kind, 'ip', 'slipstream', name], 10_000);
    if (r.code !== 0) throw new Error(`nft list ${name} on ${h.name}: ${firstLine(r.stderr)}`);
    return r.stdout;
  };
  const count = (text: string, re: RegExp): number => text.match(re)?.length ?? 0;
  const esc = (a: string): string => a.replaceAll('.', '\\.');
  const [vip, client, port] = [esc(ep.host), esc(c.underlay), ep.port];
  const others = hosts.filter((h) => h !== c);
  const sum = async (name: string, kind: 'map' | 'set', re: RegExp): Promise<number> =>
    (await Promise.all(others.map((h) => list(h, kind, name)))).reduce((n, t) => n + count(t, re), 0);
  return {
    fo: count(await list(c, 'map', 'fo'), new RegExp(`${vip} \\. tcp \\. \\d+ \\. ${port} `, 'g')),
    ri: count(await list(c, 'map', 'ri'), new RegExp(`tcp \\. ${port} \\. \\d+ [^,]*: ${vip}`, 'g')),
    bo: await sum('bo', 'set', new RegExp(`${vip} \\. ${client} \\. tcp \\. ${port} \\. \\d+`, 'g')),
    bi: await sum('bi', 'map', new RegExp(`${client} \\. tcp \\. \\d+ \\. ${port} `, 'g')),
  };
}

/** Runs the traffic generator in a namespace and returns its JSON line. */
async function client<T>(
  ns: string,
  mode: string,
  ep: Endpoint,
  extra: string[],
  timeoutMs: number,
  pin = false,
): Promise<T> {
  const cmd: [string, string[]] = [
    process.execPath,
    [CLIENT, mode, '--host', ep.host, '--port', String(ep.port), ...extra],
  ];
  const r = await nsExec(ns, ...(pin ? pinnedCommand(...cmd) : cmd), timeoutMs);
  if (r.code !== 0)
    throw new Error(`${mode} to ${ep.host}:${ep.port} failed: ${firstLine(r.stderr) || `exit ${r.code}`}`);
  return JSON.parse(firstLine(r.stdout)) as T;
}

/** Connection setup rounds: one HTTP GET per new connection, one at a time, alternating the two VIPs. */
const SETUP_ROUNDS = 3;

/**
 * What a handshake hold costs an application: connect and whole-request times of one-at-a-time short
 * connections to the same service without and with a hold, in alternating rounds (a noisy machine
 * drifts; interleaving shares the drift). Medians of the rounds' percentiles.
 */
async function measureSetup(
  c: LabHost,
  plain: Endpoint,
  hold: Endpoint & { holdMs: number },
): Promise<NonNullable<BenchResults['setup']>> {
  const count = Q ? 100 : 300;
  log(
    `connection setup: ${SETUP_ROUNDS} x ${count} short HTTP connections one at a time from ${c.name}, ${plain.host}:${plain.port} (no hold) and ${hold.host}:${hold.port} (hold ${hold.holdMs} ms) in turn`,
  );
  const runs: Record<'plain' | 'hold', SetupFigures[]> = { plain: [], hold: [] };
  const errors: string[] = [];
  for (let i = 0; i < SETUP_ROUNDS; i++) {
    for (const [k, ep] of [
      ['plain', plain],
      ['hold', hold],
    ] as const) {
      checkAbort();
      try {
        const r = await client<SetupFigures & { errors: string[] }>(
          c.netns,
          'setup',
          ep,
          ['--count', String(count)],
          120_000,
        );
        runs[k].push(r);
        if (r.failed > 0) errors.push(`${k}: ${r.failed} connections failed: ${r.errors.join('; ')}`);
      } catch (err) {
        errors.push(`${k}: ${(err as Error).message}`);
      }
    }
  }
  const med = (xs: SetupFigures[]): SetupFigures => {
    const m = (f: (x: SetupFigures) => number | null): number | null =>
      median(xs.map(f).filter((v): v is number => v !== null));
    return {
      samples: xs.reduce((a, x) => a + x.samples, 0),
      failed: xs.reduce((a, x) => a + x.failed, 0),
      connectP50Ms: m((x) => x.connectP50Ms),
      connectP99Ms: m((x) => x.connectP99Ms),
      requestP50Ms: m((x) => x.requestP50Ms),
      requestP99Ms: m((x) => x.requestP99Ms),
    };
  };
  const out = {
    holdMs: hold.holdMs,
    rounds: SETUP_ROUNDS,
    plain: med(runs.plain),
    hold: med(runs.hold),
    errors,
  };
  const show = (f: SetupFigures): string =>
    `connect p50/p99 ${f.connectP50Ms?.toFixed(2)}/${f.connectP99Ms?.toFixed(2)} ms, request ${f.requestP50Ms?.toFixed(2)}/${f.requestP99Ms?.toFixed(2)} ms`;
  log(`  no hold: ${show(out.plain)}; hold: ${show(out.hold)}`);
  return out;
}

const SCRAPE =
  'fetch(process.argv[1]).then(r=>{if(!r.ok)throw new Error("HTTP "+r.status);return r.text()})' +
  '.then(t=>process.stdout.write(t)).catch(e=>{console.error(String(e));process.exit(1)})';

async function scrape(h: LabHost): Promise<Sample[]> {
  const r = await nsExec(h.netns, process.execPath, ['-e', SCRAPE, h.metrics], 10_000);
  if (r.code !== 0)
    throw new Error(`metrics of ${h.name} (${h.metrics}) unreachable: ${firstLine(r.stderr)}`);
  return parsePrometheusText(r.stdout);
}

async function labCli(args: string[], timeoutMs: number): Promise<RunResult> {
  const prefix = opts.prefix === undefined ? [] : ['--prefix', opts.prefix];
  return run(process.execPath, [LAB_CLI, ...args, ...prefix], timeoutMs);
}

const emptyPath = (): PathFigures => ({
  throughputRunsBps: [],
  throughputBps: null,
  latencyP50Us: null,
  latencyP99Us: null,
  latencySamples: 0,
  errors: [],
});

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) throw new Error('the benchmark needs root (network namespaces)');
  const startedAt = new Date().toISOString();
  let broughtUp = false;
  if (!opts.reuse) {
    log('bringing the lab up (npm run lab -- up)');
    const up = await labCli(['up'], 180_000);
    if (up.code !== 0) throw new Error(`lab up failed: ${firstLine(up.stderr) || firstLine(up.stdout)}`);
    broughtUp = true;
  }
  try {
    return await measure(startedAt);
  } finally {
    if (broughtUp && !opts.keep) {
      log('bringing the lab down');
      const down = await labCli(['down'], 120_000);
      if (down.code !== 0) log(`lab down failed: ${firstLine(down.stderr)}`);
    } else if (opts.keep || opts.reuse) log('leaving the lab up');
  }
}

async function measure(startedAt: string): Promise<number> {
  const st = await labCli(['status', '--json'], 30_000);
  if (st.code !== 0) throw new Error(`lab status failed: ${firstLine(st.stderr)}`);
  const status = parseLabStatus(st.stdout);
  if (!status.up) throw new Error('the lab is not up (run `npm run lab -- up`, or drop --reuse)');
  const t = selectTargets(status);
  const loadStart = loadavg()[0]!;
  log(
    `1-minute load average ${loadStart.toFixed(2)} (2 cores: figures are only comparable on an idle machine)`,
  );
  const c1 = t.clients[0]!;
  const clients = t.clients;
  const vipFilter = { vip: vipLabelCandidates(t.bypassVips) };
  log(
    `lab ${status.prefix}: clients ${clients.map((c) => c.name).join(',')}, direct backend ${t.directBackend.name}`,
  );

  // Agents may still be starting: wait until every client's metrics answer.
  for (const c of clients) {
    for (let i = 0; ; i++) {
      try {
        await scrape(c);
        break;
      } catch (err) {
        if (i >= 20) throw err;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  checkAbort();
  const paths: Record<PathName, PathFigures> = { direct: emptyPath(), mux: emptyPath(), bypass: emptyPath() };
  /** direct / (direct + mux) packets c1 sent to the VIP at `ep` between two scrapes. */
  const directShare = (before: Sample[], after: Sample[], ep: Endpoint): number | null => {
    const vips = status.vips.filter(
      (v) => v.protocol === 'tcp' && v.address === ep.host && v.port === ep.port,
    );
    const d = deltaSamples(before, after);
    const filter = { vip: vipLabelCandidates(vips) };
    const direct = sumSamples(d, 'slipstream_packets_total', { ...filter, path: 'direct' });
    const mux = sumSamples(d, 'slipstream_packets_total', { ...filter, path: 'mux' });
    return direct + mux > 0 ? direct / (direct + mux) : null;
  };
  const shareText = (x: number | null | undefined): string =>
    x === null || x === undefined ? '' : `, ${(x * 100).toFixed(1)} % of packets direct`;

  // Throughput and latency: both ends of every path on one CPU (see pin.ts), restored afterwards.
  const servers = status.hosts
    .filter((h) => h.kind === 'backend')
    .flatMap((h) => namespacePids(h.netns, (cmd) => /(^|\/)iperf3 |tcp-echo\.js/.test(cmd)));
  log(
    `throughput and latency: the traffic generator and ${servers.length} iperf3/echo servers pinned to CPU ${PIN_CPU}`,
  );
  const unpin = pinProcesses(servers);
  try {
    // Paths take turns within each repetition, so load that drifts during the run (2 cores, other work)
    // hits all three alike instead of skewing one of them. Each path has its own VIP, so one pair of
    // scrapes around all runs still separates their counters.
    const throughputBefore = await scrape(c1);
    for (let i = 0; i < CFG.iperfRuns; i++) {
      for (const p of ['direct', 'mux', 'bypass'] as const) {
        checkAbort();
        const f = paths[p];
        const ep = t.iperf[p];
        log(`throughput ${p} run ${i + 1}/${CFG.iperfRuns}: iperf3 -> ${ep.host}:${ep.port}`);
        // -O 1 leaves the first second out, so the bypass path is measured after the switch.
        const r = await nsExec(
          c1.netns,
          ...pinnedCommand('iperf3', [
            '-c',
            ep.host,
            '-p',
            String(ep.port),
            '-t',
            String(CFG.iperfSeconds),
            '-O',
            '1',
            '-J',
            '--connect-timeout',
            '3000',
          ]),
          (CFG.iperfSeconds + 20) * 1000,
        );
        try {
          const bps = parseIperf3Json(r.stdout).bitsPerSecond;
          f.throughputRunsBps.push(bps);
          log(`  ${(bps / 1e9).toFixed(2)} Gbit/s`);
        } catch (err) {
          f.errors.push((err as Error).message);
          log(`  ${(err as Error).message}`);
        }
      }
    }
    const throughputAfter = await scrape(c1);
    for (const p of ['direct', 'mux', 'bypass'] as const) {
      const f = paths[p];
      f.throughputBps = median(f.throughputRunsBps);
      if (p !== 'direct')
        f.directShareThroughput = directShare(throughputBefore, throughputAfter, t.iperf[p]);
      if (f.throughputBps !== null) {
        log(
          `throughput ${p}: median ${(f.throughputBps / 1e9).toFixed(2)} Gbit/s${shareText(f.directShareThroughput)}`,
        );
      }
    }

    // Same interleaving as for throughput: each round measures every path on a fresh connection, and the
    // reported percentiles are the medians of the rounds' percentiles.
    const rounds: Record<PathName, { p50: number[]; p99: number[] }> = {
      direct: { p50: [], p99: [] },
      mux: { p50: [], p99: [] },
      bypass: { p50: [], p99: [] },
    };
    const perRound = Math.ceil(CFG.rrCount / CFG.rrRounds);
    const latencyBefore = await scrape(c1);
    for (let i = 0; i < CFG.rrRounds; i++) {
      for (const p of ['direct', 'mux', 'bypass'] as const) {
        checkAbort();
        const f = paths[p];
        const ep = t.echo[p];
        log(
          `latency ${p} round ${i + 1}/${CFG.rrRounds}: ${perRound} x 64 B round trips -> ${ep.host}:${ep.port}`,
        );
        try {
          const r = await client<{ samples: number; p50Us: number; p99Us: number }>(
            c1.netns,
            'rr',
            ep,
            ['--count', String(perRound), '--warmup', '200', '--size', '64'],
            120_000,
            true,
          );
          rounds[p].p50.push(r.p50Us);
          rounds[p].p99.push(r.p99Us);
          f.latencySamples += r.samples;
          log(`  p50 ${r.p50Us.toFixed(0)} us, p99 ${r.p99Us.toFixed(0)} us`);
        } catch (err) {
          f.errors.push((err as Error).message);
          log(`  ${(err as Error).message}`);
        }
      }
    }
    const latencyAfter = await scrape(c1);
    for (const p of ['direct', 'mux', 'bypass'] as const) {
      const f = paths[p];
      f.latencyP50Us = median(rounds[p].p50);
      f.latencyP99Us = median(rounds[p].p99);
      if (p !== 'direct') f.directShareLatency = directShare(latencyBefore, latencyAfter, t.echo[p]);
      log(
        `latency ${p}: p50 ${f.latencyP50Us?.toFixed(0) ?? '-'} us, p99 ${f.latencyP99Us?.toFixed(0) ?? '-'} us${shareText(f.directShareLatency)}`,
      );
    }
  } finally {
    unpin();
  }

  // The histogram lives on whichever end observes the switch (the lab's agents record it on the backend
  // side when the ack arrives), so sum it over every host agent; muxes never record it.
  const hostAgents = status.hosts.filter((h) => h.role === 'host');
  const measureTtb = async (count: number, extra: string[]): Promise<TtbFigures> => {
    const ttb: TtbFigures = {
      observations: 0,
      p50Ms: null,
      p99Ms: null,
      p99AboveTopBucket: false,
      errors: [],
    };
    try {
      const before = await Promise.all(hostAgents.map(scrape));
      const r = await client<{ ok: number; failed: number; errors: string[] }>(
        c1.netns,
        'short',
        t.http,
        ['--count', String(count), '--concurrency', '4', ...extra],
        180_000,
      );
      if (r.failed > 0) ttb.errors.push(`${r.failed} requests failed: ${r.errors.join('; ')}`);
      await new Promise((res) => setTimeout(res, 500));
      const after = await Promise.all(hostAgents.map(scrape));
      const d = hostAgents.flatMap((_, i) => deltaSamples(before[i]!, after[i]!));
      const buckets = histogramBuckets(d, 'slipstream_time_to_bypass_seconds');
      if (buckets.length === 0)
        ttb.errors.push('no slipstream_time_to_bypass_seconds histogram on any host agent');
      ttb.observations = buckets[buckets.length - 1]?.count ?? 0;
      const p50 = histogramQuantile(0.5, buckets);
      const p99 = histogramQuantile(0.99, buckets);
      ttb.p50Ms = p50 === null ? null : p50 * 1000;
      ttb.p99Ms = p99 === null ? null : p99 * 1000;
      ttb.p99AboveTopBucket = quantileIsCapped(0.99, buckets);
      log(
        `  ${ttb.observations} bypasses, p50 ${ttb.p50Ms?.toFixed(2) ?? '-'} ms, p99 ${ttb.p99Ms?.toFixed(2) ?? '-'} ms`,
      );
    } catch (err) {
      ttb.errors.push((err as Error).message);
      log(`  ${(err as Error).message}`);
    }
    return ttb;
  };

  checkAbort();
  log(
    `time-to-bypass: ${CFG.shortConnections} short HTTP connections flat out (4 at a time) from ${c1.name} -> ${t.http.host}:${t.http.port}`,
  );
  const ttb = await measureTtb(CFG.shortConnections, []);
  // After the flat-out run, so that figure (the one judged) never runs on code the paced runs warmed up.
  const ttbPaced: NonNullable<BenchResults['timeToBypassPaced']> = [];
  for (const rate of CFG.pacedRates) {
    checkAbort();
    const count = rate * CFG.pacedSeconds;
    log(`time-to-bypass at ${rate} new flows/s: ${count} short HTTP connections from ${c1.name}`);
    ttbPaced.push({ ratePerSec: rate, ...(await measureTtb(count, ['--rate', String(rate)])) });
  }

  /** The mixed workload from every client at once against one HTTP VIP; share from the clients' counters. */
  const runMixed = async (target: Endpoint, label: string): Promise<MixedRun> => {
    const m: MixedRun = {
      seconds: CFG.mixedSeconds,
      directPackets: 0,
      muxPackets: 0,
      share: null,
      requests: 0,
      errors: [],
    };
    log(
      `mixed workload${label}: bulk + keep-alive + short connections from ${clients.length} clients for ${CFG.mixedSeconds} s -> ${target.host}:${target.port}`,
    );
    try {
      const before = await Promise.all(clients.map(scrape));
      const outs = await Promise.all(
        clients.map((c) =>
          client<{ requests: number; errors: string[] }>(
            c.netns,
            'mixed',
            target,
            ['--seconds', String(CFG.mixedSeconds), '--bulk', '2', '--keepalive', '4', '--short', '4'],
            (CFG.mixedSeconds + 90) * 1000,
          ),
        ),
      );
      await new Promise((res) => setTimeout(res, 500));
      const after = await Promise.all(clients.map(scrape));
      for (const [i, o] of outs.entries()) {
        m.requests += o.requests;
        if (o.errors.length > 0) m.errors.push(`${clients[i]!.name}: ${o.errors.join('; ')}`);
      }
      for (let i = 0; i < clients.length; i++) {
        const d = deltaSamples(before[i]!, after[i]!);
        if (!hasSamples(d, 'slipstream_packets_total', vipFilter)) {
          m.errors.push(
            `${clients[i]!.name}: no slipstream_packets_total for the bypass VIPs (vip labels seen: ${labelValues(d, 'slipstream_packets_total', 'vip').join(',') || 'none'})`,
          );
        }
        m.directPackets += sumSamples(d, 'slipstream_packets_total', { ...vipFilter, path: 'direct' });
        m.muxPackets += sumSamples(d, 'slipstream_packets_total', { ...vipFilter, path: 'mux' });
        m.newFlows =
          (m.newFlows ?? 0) + sumSamples(d, 'slipstream_flows_total', { ...vipFilter, role: 'client' });
      }
      const total = m.directPackets + m.muxPackets;
      m.share = total > 0 ? m.directPackets / total : null;
      log(`  ${m.requests} HTTP requests; direct ${m.directPackets} pkts, mux ${m.muxPackets} pkts`);
    } catch (err) {
      m.errors.push((err as Error).message);
      log(`  ${(err as Error).message}`);
    }
    return m;
  };

  checkAbort();
  const mixed: BenchResults['mixed'] = await runMixed(t.http, ' (no handshake hold)');
  let mixedHold: BenchResults['mixedHold'];
  let setup: BenchResults['setup'];
  if (t.httpHold) {
    checkAbort();
    mixedHold = {
      ...(await runMixed(t.httpHold, `, handshake hold ${t.httpHold.holdMs} ms`)),
      holdMs: t.httpHold.holdMs,
    };
    checkAbort();
    setup = await measureSetup(c1, t.http, t.httpHold);
  } else log('mixed workload with a handshake hold: skipped, the lab has no HTTP VIP with one');

  // The same kinds one at a time from one client, to show which of them the mux packets come from.
  mixed.kinds = [];
  for (const [kind, flags] of [
    ['bulk', ['--bulk', '2', '--keepalive', '0', '--short', '0']],
    ['keepalive', ['--bulk', '0', '--keepalive', '4', '--short', '0']],
    ['short', ['--bulk', '0', '--keepalive', '0', '--short', '4']],
  ] as const) {
    checkAbort();
    try {
      const before = await scrape(c1);
      const o = await client<{ requests: number; bulkTransfers: number }>(
        c1.netns,
        'mixed',
        t.http,
        ['--seconds', String(CFG.kindSeconds), ...flags],
        (CFG.kindSeconds + 90) * 1000,
      );
      await new Promise((res) => setTimeout(res, 500));
      const d = deltaSamples(before, await scrape(c1));
      const k = {
        kind,
        seconds: CFG.kindSeconds,
        directPackets: sumSamples(d, 'slipstream_packets_total', { ...vipFilter, path: 'direct' }),
        muxPackets: sumSamples(d, 'slipstream_packets_total', { ...vipFilter, path: 'mux' }),
        units: kind === 'bulk' ? o.bulkTransfers : o.requests,
      };
      mixed.kinds.push(k);
      log(`  ${kind} alone: direct ${k.directPackets} pkts, mux ${k.muxPackets} pkts, ${k.units} units`);
    } catch (err) {
      mixed.errors.push(`${kind} alone: ${(err as Error).message}`);
    }
  }

  checkAbort();
  const flowRate: BenchResults['flowRate'] = {
    seconds: CFG.floodSeconds,
    flowsOpened: 0,
    flowsPerSec: null,
    bypassedPerSec: null,
    connectErrors: 0,
    errors: [],
  };
  log(
    `flow rate: TCP connects as fast as possible from ${c1.name} for ${CFG.floodSeconds} s, each held ${FLOOD_HOLD_MS} ms -> ${t.echo.bypass.host}:${t.echo.bypass.port}`,
  );
  try {
    const before = await scrape(c1);
    const r = await client<{ opened: number; failed: number; seconds: number; errors: string[] }>(
      c1.netns,
      'flood',
      t.echo.bypass,
      ['--seconds', String(CFG.floodSeconds), '--concurrency', '512', '--hold', String(FLOOD_HOLD_MS)],
      (CFG.floodSeconds + 60) * 1000,
    );
    // Redirects for the last flows are still in flight when the generator stops.
    await new Promise((res) => setTimeout(res, 1000));
    const d = deltaSamples(before, await scrape(c1));
    flowRate.flowsOpened = r.opened;
    flowRate.connectErrors = r.failed;
    flowRate.flowsPerSec = r.opened / r.seconds;
    if (!hasSamples(d, 'slipstream_flows_bypassed_total'))
      flowRate.errors.push('no slipstream_flows_bypassed_total on the client agent');
    else flowRate.bypassedPerSec = sumSamples(d, 'slipstream_flows_bypassed_total', vipFilter) / r.seconds;
    if (r.failed > 0) flowRate.errors.push(`${r.failed} connects failed: ${r.errors.join('; ')}`);
    log(
      `  ${flowRate.flowsPerSec.toFixed(0)} flows/s, ${flowRate.bypassedPerSec?.toFixed(0) ?? '-'} bypass entries/s`,
    );
  } catch (err) {
    flowRate.errors.push((err as Error).message);
    log(`  ${(err as Error).message}`);
  }

  checkAbort();
  const churn: NonNullable<BenchResults['churn']> = {
    connections: CFG.churnRuns * CHURN_PER_RUN,
    concurrency: 8,
    failed: 0,
    left: null,
    leftAfterS: CHURN_SETTLE_S,
    errors: [],
  };
  log(
    `churn: ${churn.connections} short HTTP connections, ${churn.concurrency} at a time, from ${c1.name} -> ${t.http.host}:${t.http.port}`,
  );
  try {
    for (let i = 0; i < CFG.churnRuns; i++) {
      checkAbort();
      const r = await client<{ ok: number; failed: number; errors: string[] }>(
        c1.netns,
        'short',
        t.http,
        ['--count', String(CHURN_PER_RUN), '--concurrency', String(churn.concurrency)],
        180_000,
      );
      churn.failed += r.failed;
      if (r.failed > 0) churn.errors.push(`${r.failed} requests failed: ${r.errors.join('; ')}`);
    }
    // Ended flows lose fo at once, ri after the 5 s grace, bo and bi when the backend acts on the end.
    await new Promise((res) => setTimeout(res, CHURN_SETTLE_S * 1000));
    churn.left = await churnEntriesLeft(c1, hostAgents, t.http);
    log(
      `  ${churn.failed} failed; left after ${CHURN_SETTLE_S} s: fo ${churn.left.fo}, ri ${churn.left.ri}, bo ${churn.left.bo}, bi ${churn.left.bi}`,
    );
  } catch (err) {
    churn.errors.push((err as Error).message);
    log(`  ${(err as Error).message}`);
  }

  const results: BenchResults = {
    startedAt,
    finishedAt: new Date().toISOString(),
    labPrefix: status.prefix,
    loadAvg1m: { start: loadStart, end: loadavg()[0]! },
    paths,
    timeToBypass: ttb,
    timeToBypassPaced: ttbPaced,
    mixed,
    ...(mixedHold ? { mixedHold } : {}),
    ...(setup ? { setup } : {}),
    flowRate,
    churn,
  };
  const rows = resultRows(results);
  console.log(`\n${renderTable(rows)}\n`);
  const problems = [
    ...(['direct', 'mux', 'bypass'] as const).flatMap((p) => paths[p].errors.map((e) => `${p}: ${e}`)),
    ...ttb.errors.map((e) => `time-to-bypass: ${e}`),
    ...ttbPaced.flatMap((p) => p.errors.map((e) => `time-to-bypass at ${p.ratePerSec}/s: ${e}`)),
    ...mixed.errors.map((e) => `mixed: ${e}`),
    ...(mixedHold?.errors ?? []).map((e) => `mixed with hold: ${e}`),
    ...(setup?.errors ?? []).map((e) => `connection setup: ${e}`),
    ...flowRate.errors.map((e) => `flow rate: ${e}`),
    ...churn.errors.map((e) => `churn: ${e}`),
  ];
  for (const p of problems) console.log(`note: ${p}`);
  if (opts.json) {
    const out = resolve(opts.out);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify({ results, rows, verdict: overallVerdict(rows) }, null, 2)}\n`);
    log(`results written to ${out}`);
  }
  const verdict = overallVerdict(rows);
  log(`overall: ${verdict} (load average ${loadStart.toFixed(2)} -> ${loadavg()[0]!.toFixed(2)})`);
  return verdict === 'PASS' ? 0 : 1;
}

// Output piped into `head` must not kill the run before the lab is brought down.
process.stdout.on('error', () => undefined);

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    aborted = true;
    for (const c of children) c.kill('SIGKILL');
    // main()'s finally still brings the lab down once the killed children report back.
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`bench:dataplane: ${(err as Error).message}`);
    process.exit(2);
  },
);

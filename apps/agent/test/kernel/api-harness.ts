/**
 * A real control plane for the lab's end-to-end tests: embedded PostgreSQL and Redis (devstack) on free
 * ports under a throwaway folder in `.data/`, migrations, and `apps/api/dist/main.js` as a child process
 * that a test can kill and restart. Needs built `apps/api` and `packages/devstack`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  freePort,
  startPostgres,
  startRedis,
  type StartedPostgres,
  type StartedRedis,
} from '@slipstream/devstack';
import type { TelemetryReport } from '../../src/agent/telemetry.js';
import { HOSTS } from '../../src/lab/lab.js';
import { nsRun, sleep } from './helpers.js';

const ROOT = resolve(import.meta.dirname, '..', '..', '..', '..');
const API_DIST = join(ROOT, 'apps', 'api', 'dist');

export interface AgentRow {
  id: string;
  name: string;
  role: string;
  connected: boolean;
  appliedRevision: number | null;
  desiredRevision: number | null;
  lastError: string | null;
  agentVersion: string | null;
}

export class ApiHarness {
  private dataDir = '';
  private pg: StartedPostgres | null = null;
  private redis: StartedRedis | null = null;
  private api: ChildProcess | null = null;
  private env: NodeJS.ProcessEnv = {};
  port = 0;
  /** Session token used by call(); set after signup. */
  token = '';
  /** The lab whose agents agents() and converged() look at. */
  prefix = '';

  constructor() {
    // Safety net for a crashed run; stop() does the orderly cleanup.
    process.on('exit', () => this.kill());
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** `bundleDir`: the folder served to installers (SLIPSTREAM_AGENT_BUNDLE_DIR), default the agent's build. */
  async start(opts: { bundleDir?: string } = {}): Promise<void> {
    mkdirSync(join(ROOT, '.data'), { recursive: true });
    this.dataDir = join(ROOT, '.data', `agent-e2e-${randomBytes(4).toString('hex')}`);
    mkdirSync(this.dataDir);
    // PostgreSQL runs as its own user and must traverse this folder.
    chmodSync(this.dataDir, 0o755);
    const [pgPort, redisPort] = [await freePort(), await freePort()];
    this.port = await freePort();
    this.pg = await startPostgres({ dataDir: join(this.dataDir, 'pg'), port: pgPort });
    this.redis = await startRedis({ port: redisPort });
    this.env = {
      PATH: process.env.PATH,
      NODE_ENV: 'development',
      PORT: String(this.port),
      HOST: '127.0.0.1',
      DATABASE_URL: this.pg.url,
      REDIS_URL: this.redis.url,
      SLIPSTREAM_MASTER_KEY: randomBytes(32).toString('base64'),
      LOG_LEVEL: 'warn',
      NEXT_TELEMETRY_DISABLED: '1',
      TURBO_TELEMETRY_DISABLED: '1',
      CHECKPOINT_DISABLE: '1',
      ...(opts.bundleDir ? { SLIPSTREAM_AGENT_BUNDLE_DIR: opts.bundleDir } : {}),
    };
    execFileSync(process.execPath, [join(API_DIST, 'db', 'migrate.js')], { env: this.env, stdio: 'pipe' });
    await this.startApi();
  }

  async stop(): Promise<void> {
    await this.killApi();
    await this.redis?.stop();
    await this.pg?.stop();
    if (this.dataDir) rmSync(this.dataDir, { recursive: true, force: true });
  }

  async startApi(): Promise<void> {
    const api = spawn(process.execPath, [join(API_DIST, 'main.js')], {
      env: this.env,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    this.api = api;
    const end = Date.now() + 20_000;
    for (;;) {
      try {
        if ((await fetch(`${this.url}/v1/health`)).ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > end || api.exitCode !== null) throw new Error('the API did not come up');
      await sleep(100);
    }
  }

  /** For a process exit hook: synchronous, safe to call twice. */
  kill(): void {
    this.api?.kill('SIGKILL');
  }

  async killApi(): Promise<void> {
    const p = this.api;
    if (!p || p.exitCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await gone;
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: {
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, json: (text ? JSON.parse(text) : null) as T };
  }

  async ok<T>(method: string, path: string, body?: unknown): Promise<T> {
    const r = await this.call<T>(method, path, body);
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.json)}`);
    return r.json;
  }

  /** Signs up a fresh tenant; call() and ok() act as its owner from then on. */
  async signup(tenantName: string): Promise<void> {
    const email = `${tenantName.replace(/\W+/g, '-')}-${randomBytes(3).toString('hex')}@example.com`;
    const s = await this.ok<{ token: string }>('POST', '/v1/auth/signup', {
      email,
      password: 'correct horse battery',
      tenantName,
    });
    this.token = s.token;
  }

  /** Join tokens enough for the lab's hosts and muxes, as labUpWithControl takes them. */
  async labJoinTokens(): Promise<{ joinTokenHost: string; joinTokenMux: string }> {
    const muxes = HOSTS.filter((h) => h.kind === 'mux').length;
    const host = await this.ok<{ secret: string }>('POST', '/v1/join-tokens', {
      name: 'lab-hosts',
      role: 'host',
      maxUses: HOSTS.length - muxes,
    });
    const mux = await this.ok<{ secret: string }>('POST', '/v1/join-tokens', {
      name: 'lab-muxes',
      role: 'mux',
      maxUses: muxes,
    });
    return { joinTokenHost: host.secret, joinTokenMux: mux.secret };
  }

  async revision(): Promise<number> {
    return (await this.ok<{ configRevision: number }>('GET', '/v1/me')).configRevision;
  }

  async agents(): Promise<AgentRow[]> {
    return (await this.ok<{ items: AgentRow[] }>('GET', '/v1/agents?limit=200')).items.filter((a) =>
      a.name.startsWith(`${this.prefix}-`),
    );
  }

  /** Waits until every lab agent is connected and has ACKed `rev`; returns how long it took. */
  async converged(rev: number, timeoutMs: number): Promise<number> {
    const start = Date.now();
    let last: AgentRow[] = [];
    while (Date.now() - start < timeoutMs) {
      last = await this.agents();
      if (last.length === HOSTS.length && last.every((a) => a.connected && a.appliedRevision === rev)) {
        return Date.now() - start;
      }
      await sleep(100);
    }
    throw new Error(`agents did not converge on revision ${rev}: ${JSON.stringify(last)}`);
  }

  /** An agent's own telemetry report, read inside its namespace. */
  telemetry(host: string): TelemetryReport {
    return JSON.parse(
      nsRun(this.prefix, host, ['curl', '-s', '-m', '3', 'http://127.0.0.1:9464/telemetry']),
    ) as TelemetryReport;
  }
}

/**
 * A real control plane for kernel tests: embedded PostgreSQL, a Redis child and `apps/api/dist/main.js`
 * on free ports, under a throwaway folder in `.data/`. Needs built `apps/api` and `packages/devstack`.
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
import { sleep } from './helpers.js';

const ROOT = resolve(import.meta.dirname, '..', '..', '..', '..');
const API_DIST = join(ROOT, 'apps', 'api', 'dist');

export class RealApi {
  port = 0;
  token = '';
  private dataDir = '';
  private pg: StartedPostgres | null = null;
  private redis: StartedRedis | null = null;
  private proc: ChildProcess | null = null;
  private env: NodeJS.ProcessEnv = {};

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** `bundleDir`: the folder served to installers (SLIPSTREAM_AGENT_BUNDLE_DIR), default the agent's build. */
  async start(opts: { bundleDir?: string } = {}): Promise<void> {
    mkdirSync(join(ROOT, '.data'), { recursive: true });
    this.dataDir = join(ROOT, '.data', `agent-api-${randomBytes(4).toString('hex')}`);
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
      CHECKPOINT_DISABLE: '1',
      ...(opts.bundleDir ? { SLIPSTREAM_AGENT_BUNDLE_DIR: opts.bundleDir } : {}),
    };
    execFileSync(process.execPath, [join(API_DIST, 'db', 'migrate.js')], { env: this.env, stdio: 'pipe' });
    const p = spawn(process.execPath, [join(API_DIST, 'main.js')], {
      env: this.env,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    this.proc = p;
    const end = Date.now() + 20_000;
    for (;;) {
      try {
        if ((await fetch(`${this.url}/v1/health`)).ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > end || p.exitCode !== null) throw new Error('the API did not come up');
      await sleep(100);
    }
  }

  /** Safe to call twice and from a process exit hook (the kill is synchronous). */
  kill(): void {
    this.proc?.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (p && p.exitCode === null) {
      const gone = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      await gone;
    }
    await this.redis?.stop();
    await this.pg?.stop();
    if (this.dataDir) rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** Calls the API with the signed-up session; throws on any status >= 300. */
  async ok<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: {
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return (text ? JSON.parse(text) : null) as T;
  }
}

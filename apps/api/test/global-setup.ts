// One embedded PostgreSQL and one Redis for the whole run, on free ports, with a migrated template
// database that each test file clones (CREATE DATABASE ... TEMPLATE is a file copy: milliseconds).
import { mkdirSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import type { TestProject } from 'vitest/node';
import { createDatabase, freePort, startPostgres, startRedis } from '@slipstream/devstack';
import { applyMigrations } from '../src/db/migrate.js';

export const TEMPLATE_DB = 'slipstream_tpl';
const root = resolve(import.meta.dirname, '../../..');
export const MIGRATIONS_DIR = resolve(root, 'prisma/migrations');

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
    redisUrl: string;
    migrationsDir: string;
  }
}

export default async function setup(project: TestProject) {
  // Under the repo's .data/ (not /tmp or /root): PostgreSQL runs as user postgres and needs to reach it.
  const dataDir = resolve(root, '.data', `test-${randomBytes(4).toString('hex')}`);
  mkdirSync(resolve(root, '.data'), { recursive: true });
  const [pgPort, redisPort] = [await freePort(), await freePort()];
  const pg = await startPostgres({ dataDir, port: pgPort });
  const redis = await startRedis({ port: redisPort });
  const tplUrl = await createDatabase(pg.adminUrl, TEMPLATE_DB);
  await applyMigrations(tplUrl, MIGRATIONS_DIR);
  project.provide('pgAdminUrl', pg.adminUrl);
  project.provide('redisUrl', redis.url);
  project.provide('migrationsDir', MIGRATIONS_DIR);
  return async () => {
    await redis.stop();
    await pg.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
}

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { inject } from 'vitest';
import { createDatabase, dropDatabase } from '@slipstream/devstack';
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';

export const TEMPLATE_DB = 'slipstream_tpl';

const rand = () => randomBytes(5).toString('hex');

/** One master key per test file, so two app instances of one test share their redirect keys. */
export const TEST_MASTER_KEY = randomBytes(32).toString('base64');

/** A fresh, migrated database for one test file. */
export async function freshDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const admin = inject('pgAdminUrl');
  const name = `t_${rand()}`;
  const url = await createDatabase(admin, name, TEMPLATE_DB);
  return { url, drop: () => dropDatabase(admin, name) };
}

export interface TestApi {
  app: NestFastifyApplication;
  databaseUrl: string;
  call: (method: string, url: string, opts?: CallOpts) => Promise<Res>;
  close: () => Promise<void>;
}

export interface CallOpts {
  token?: string;
  body?: unknown;
  /** Sent as-is (for malformed and oversize bodies). */
  raw?: string;
  headers?: Record<string, string>;
  /** The TCP peer address the app sees (default 127.0.0.1). */
  remoteAddress?: string;
}

export interface Res {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON
  headers: Record<string, string | string[] | number | undefined>;
}

export async function startApi(env: Record<string, string> = {}, databaseUrl?: string): Promise<TestApi> {
  const db = databaseUrl ? { url: databaseUrl, drop: async () => {} } : await freshDatabase();
  const config = loadConfig({
    DATABASE_URL: db.url,
    REDIS_URL: inject('redisUrl'),
    LOG_LEVEL: 'silent',
    AUTH_RATE_LIMIT_PER_MIN: '1000000',
    ENROLL_RATE_LIMIT_PER_MIN: '1000000',
    REDIS_PREFIX: `test-${rand()}`,
    SLIPSTREAM_MASTER_KEY: TEST_MASTER_KEY,
    ...env,
  });
  const app = await createApp(config);
  await app.getHttpAdapter().getInstance().ready();
  const call = async (method: string, url: string, o: CallOpts = {}): Promise<Res> => {
    const headers: Record<string, string> = { ...o.headers };
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    let payload: string | undefined;
    if (o.raw !== undefined) payload = o.raw;
    else if (o.body !== undefined) payload = JSON.stringify(o.body);
    if (payload !== undefined) headers['content-type'] ??= 'application/json';
    const r = await app.inject({
      method: method as 'GET',
      url,
      headers,
      ...(o.remoteAddress ? { remoteAddress: o.remoteAddress } : {}),
      ...(payload !== undefined ? { payload } : {}),
    });
    let body: unknown = undefined;
    if (r.body) {
      try {
        body = JSON.parse(r.body);
      } catch {
        body = r.body;
      }
    }
    return { status: r.statusCode, body, headers: r.headers };
  };
  return {
    app,
    databaseUrl: db.url,
    call,
    close: async () => {
      await app.close();
      await db.drop();
    },
  };
}

let n = 0;
export async function signup(
  api: TestApi,
  label = 'acme',
): Promise<{ token: string; tenantId: string; email: string; userId: string }> {
  const email = `${label}-${rand()}-${n++}@example.test`;
  const r = await api.call('POST', '/v1/auth/signup', {
    body: { email, password: 'correct horse battery', tenantName: label },
  });
  if (r.status !== 201) throw new Error(`signup failed: ${r.status} ${JSON.stringify(r.body)}`);
  return { token: r.body.token, tenantId: r.body.tenantId, email, userId: r.body.userId };
}

export function expectProblem(r: Res, status: number, code?: string): void {
  if (r.status !== status || !String(r.headers['content-type']).startsWith('application/problem+json')) {
    throw new Error(
      `expected ${status} problem+json, got ${r.status} ${String(r.headers['content-type'])}: ${JSON.stringify(r.body)}`,
    );
  }
  if (r.body.status !== status || typeof r.body.type !== 'string' || typeof r.body.title !== 'string') {
    throw new Error(`not a problem document: ${JSON.stringify(r.body)}`);
  }
  if (code && r.body.type !== `https://slipstream.dev/problems/${code}`) {
    throw new Error(`expected type ${code}, got ${r.body.type}: ${JSON.stringify(r.body)}`);
  }
}

const TABLES = [
  'Tenant',
  'User',
  'Membership',
  'Session',
  'ApiKey',
  'Pool',
  'Backend',
  'Vip',
  'Agent',
  'JoinToken',
  'AuditLog',
  'IdempotencyKey',
  'AgentConfig',
  'BypassKey',
];

/**
 * Row counts of every table plus the sums of versions and config revisions: equal fingerprints before
 * and after a request mean it wrote nothing.
 */
export async function fingerprint(databaseUrl: string): Promise<Record<string, string>> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    const parts = [
      ...TABLES.map((t) => `(SELECT count(*) FROM "${t}")::text AS "${t}"`),
      `(SELECT coalesce(sum("configRevision"), 0) FROM "Tenant")::text AS revisions`,
      ...['Pool', 'Backend', 'Vip', 'Membership', 'ApiKey'].map(
        (t) => `(SELECT coalesce(sum(version), 0) FROM "${t}")::text AS "${t}_versions"`,
      ),
    ];
    const { rows } = await c.query<Record<string, string>>(`SELECT ${parts.join(', ')}`);
    return rows[0] ?? {};
  } finally {
    await c.end();
  }
}

export async function sql<T extends Record<string, unknown>>(
  databaseUrl: string,
  text: string,
  values: unknown[] = [],
): Promise<T[]> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    return (await c.query<T>(text, values)).rows;
  } finally {
    await c.end();
  }
}

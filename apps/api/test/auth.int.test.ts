// Accounts, tokens, keys, the shared auth rate limit and health.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { type TestApi, expectProblem, signup, sql, startApi } from './helpers.js';

describe('auth', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startApi();
  });
  afterAll(() => api.close());

  it('signup creates a tenant and its owner, login returns a working token, logout ends it', async () => {
    const s = await signup(api, 'first');
    const rows = await sql<{ passwordHash: string }>(
      api.databaseUrl,
      `SELECT "passwordHash" FROM "User" WHERE email = $1`,
      [s.email],
    );
    expect(rows[0]?.passwordHash).toMatch(/^\$argon2id\$/);
    const login = await api.call('POST', '/v1/auth/login', {
      body: { email: s.email.toUpperCase(), password: 'correct horse battery' },
    });
    expect(login.status).toBe(200);
    expect(login.body).toMatchObject({
      tenantId: s.tenantId,
      role: 'owner',
      token: expect.stringMatching(/^sls_s_/),
    });
    const me = await api.call('GET', '/v1/me', { token: login.body.token });
    expect(me.body).toMatchObject({
      tenantId: s.tenantId,
      tenantName: 'first',
      role: 'owner',
      actor: { type: 'user', email: s.email },
    });
    const sessions = await sql(api.databaseUrl, `SELECT 1 FROM "Session" WHERE "tokenHash" = $1`, [
      login.body.token,
    ]);
    expect(sessions).toHaveLength(0); // only the hash is stored
    expect((await api.call('POST', '/v1/auth/logout', { token: login.body.token })).status).toBe(204);
    expectProblem(await api.call('GET', '/v1/me', { token: login.body.token }), 401);
    expect((await api.call('GET', '/v1/me', { token: s.token })).status).toBe(200);

    // An expired session is refused, and the next login removes it.
    await sql(
      api.databaseUrl,
      `UPDATE "Session" SET "expiresAt" = now() - interval '1 second' WHERE "userId" = $1`,
      [s.userId],
    );
    expectProblem(await api.call('GET', '/v1/me', { token: s.token }), 401);
    await api.call('POST', '/v1/auth/login', { body: { email: s.email, password: 'correct horse battery' } });
    const left = await sql(
      api.databaseUrl,
      `SELECT 1 FROM "Session" WHERE "userId" = $1 AND "expiresAt" <= now()`,
      [s.userId],
    );
    expect(left).toHaveLength(0);
  });

  it('wrong password, unknown email and duplicate signup are refused', async () => {
    const s = await signup(api, 'second');
    expectProblem(
      await api.call('POST', '/v1/auth/login', { body: { email: s.email, password: 'wrong password!' } }),
      401,
    );
    expectProblem(
      await api.call('POST', '/v1/auth/login', {
        body: { email: 'ghost@example.test', password: 'whatever123' },
      }),
      401,
    );
    const dup = await api.call('POST', '/v1/auth/signup', {
      body: { email: s.email, password: 'another password', tenantName: 'x' },
    });
    expectProblem(dup, 409, 'conflict');
  });

  it('API keys: secret shown once, only a hash stored, prefix listed, revocation and expiry honoured', async () => {
    const s = await signup(api, 'keys');
    const k = await api.call('POST', '/v1/api-keys', {
      token: s.token,
      body: { name: 'ci', role: 'operator' },
    });
    expect(k.status).toBe(201);
    const secret: string = k.body.secret;
    expect(secret.startsWith(k.body.prefix)).toBe(true);
    const stored = await sql<{ secretHash: string }>(
      api.databaseUrl,
      `SELECT "secretHash" FROM "ApiKey" WHERE id = $1`,
      [k.body.id],
    );
    expect(stored[0]?.secretHash).toMatch(/^[0-9a-f]{64}$/);
    expect(stored[0]?.secretHash).not.toContain(secret);
    const list = await api.call('GET', '/v1/api-keys', { token: s.token });
    expect(JSON.stringify(list.body)).not.toContain(secret);
    expect(list.body.items[0]).toMatchObject({ prefix: k.body.prefix, revokedAt: null });
    const asKey = await api.call('GET', '/v1/me', { token: secret });
    expect(asKey.body).toMatchObject({
      role: 'operator',
      actor: { type: 'apiKey', id: k.body.id, email: null },
    });
    expect(
      (await api.call('GET', `/v1/api-keys/${k.body.id}`, { token: s.token })).body.lastUsedAt,
    ).not.toBeNull();
    expect((await api.call('DELETE', `/v1/api-keys/${k.body.id}`, { token: s.token })).status).toBe(204);
    expectProblem(await api.call('GET', '/v1/me', { token: secret }), 401);

    const soon = new Date(Date.now() + 60_000).toISOString();
    const e = await api.call('POST', '/v1/api-keys', {
      token: s.token,
      body: { name: 'short', role: 'viewer', expiresAt: soon },
    });
    expect((await api.call('GET', '/v1/me', { token: e.body.secret })).status).toBe(200);
    await sql(
      api.databaseUrl,
      `UPDATE "ApiKey" SET "expiresAt" = now() - interval '1 second' WHERE id = $1`,
      [e.body.id],
    );
    expectProblem(await api.call('GET', '/v1/me', { token: e.body.secret }), 401);
  });

  it('members: a removed member loses access at once; the last owner stays', async () => {
    const owner = await signup(api, 'team');
    const u = await signup(api, 'mate');
    const m = await api.call('POST', '/v1/members', {
      token: owner.token,
      body: { email: u.email, role: 'admin' },
    });
    const login = await api.call('POST', '/v1/auth/login', {
      body: { email: u.email, password: 'correct horse battery', tenantId: owner.tenantId },
    });
    expect((await api.call('GET', '/v1/pools', { token: login.body.token })).status).toBe(200);
    const list = await api.call('GET', '/v1/members', { token: owner.token });
    const ownerRow = list.body.items.find((x: { role: string }) => x.role === 'owner');
    expectProblem(
      await api.call('PATCH', `/v1/members/${ownerRow.id}`, { token: owner.token, body: { role: 'admin' } }),
      409,
    );
    expectProblem(await api.call('DELETE', `/v1/members/${ownerRow.id}`, { token: login.body.token }), 403);
    expect((await api.call('DELETE', `/v1/members/${m.body.id}`, { token: owner.token })).status).toBe(204);
    expectProblem(await api.call('GET', '/v1/pools', { token: login.body.token }), 401);
  });

  it('join tokens: secret once, hash stored, listed, revocable', async () => {
    const s = await signup(api, 'agents');
    const t = await api.call('POST', '/v1/join-tokens', {
      token: s.token,
      body: { name: 'edge', role: 'mux' },
    });
    expect(t.body).toMatchObject({
      role: 'mux',
      maxUses: 1,
      uses: 0,
      secret: expect.stringMatching(/^sls_j_/),
    });
    const list = await api.call('GET', '/v1/join-tokens', { token: s.token });
    expect(list.body.items).toHaveLength(1);
    expect(JSON.stringify(list.body)).not.toContain(t.body.secret);
    expect((await api.call('DELETE', `/v1/join-tokens/${t.body.id}`, { token: s.token })).status).toBe(204);
    expect(
      (await api.call('GET', `/v1/join-tokens/${t.body.id}`, { token: s.token })).body.revokedAt,
    ).not.toBeNull();
    expect((await api.call('GET', '/v1/agents', { token: s.token })).body).toEqual({
      items: [],
      nextCursor: null,
    });
  });
});

describe('auth rate limit shared through Redis', () => {
  it('two API processes share one budget, and the 429 has Retry-After', async () => {
    const prefix = `rl-${Date.now()}`;
    const one = await startApi({ AUTH_RATE_LIMIT_PER_MIN: '4', REDIS_PREFIX: prefix });
    const two = await startApi({ AUTH_RATE_LIMIT_PER_MIN: '4', REDIS_PREFIX: prefix }, one.databaseUrl);
    try {
      const body = { email: 'nobody@example.test', password: 'wrong-password' };
      // The limiter uses fixed 60 s windows: stay clear of a boundary so all requests share one window.
      const toBoundary = 60_000 - (Date.now() % 60_000);
      if (toBoundary < 3000) await new Promise((r) => setTimeout(r, toBoundary + 100));
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) {
        const api = i % 2 ? two : one;
        const r = await api.call('POST', '/v1/auth/login', { body });
        statuses.push(r.status);
        if (r.status === 429) {
          expectProblem(r, 429, 'rate-limited');
          expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
        }
      }
      // Per-process counters would have let all 8 through (4 each).
      expect(statuses).toEqual([401, 401, 401, 401, 429, 429, 429, 429]);
    } finally {
      await two.close();
      await one.close();
    }
  });
});

describe('health', () => {
  it('503 with redis down when Redis is unreachable', async () => {
    const api = await startApi({ REDIS_URL: 'redis://127.0.0.1:1' });
    try {
      const r = await api.call('GET', '/v1/health');
      expect(r.status).toBe(503);
      expect(r.body).toEqual({ status: 'degraded', postgres: 'up', redis: 'down' });
    } finally {
      await api.close();
    }
  });

  it('reports both up against the real servers', async () => {
    const api = await startApi({}, undefined);
    try {
      const r = await api.call('GET', '/v1/health');
      expect(r.body).toEqual({ status: 'ok', postgres: 'up', redis: 'up' });
      expect(inject('redisUrl')).toMatch(/^redis:/);
    } finally {
      await api.close();
    }
  });
});

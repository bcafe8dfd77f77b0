// What the console needed from the API: the real client address behind it, audit filters, a tenant list.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestApi, expectProblem, signup, startApi } from './helpers.js';

async function clearOfWindowBoundary() {
  // The limiter uses fixed 60 s windows: stay clear of a boundary so all requests share one window.
  const toBoundary = 60_000 - (Date.now() % 60_000);
  if (toBoundary < 3000) await new Promise((r) => setTimeout(r, toBoundary + 100));
}

describe('auth rate limit per real client address (TRUST_PROXY)', () => {
  const body = { email: 'nobody@example.test', password: 'wrong-password' };

  it('counts each browser behind a trusted proxy separately', async () => {
    const api = await startApi({ AUTH_RATE_LIMIT_PER_MIN: '2', TRUST_PROXY: '10.9.0.0/16' });
    try {
      await clearOfWindowBoundary();
      const from = (client: string) =>
        api.call('POST', '/v1/auth/login', {
          body,
          remoteAddress: '10.9.0.5',
          headers: { 'x-forwarded-for': client },
        });
      const a = [await from('203.0.113.1'), await from('203.0.113.1'), await from('203.0.113.1')];
      expect(a.map((r) => r.status)).toEqual([401, 401, 429]);
      // Another browser through the same console server has its own budget.
      expect((await from('203.0.113.2')).status).toBe(401);
    } finally {
      await api.close();
    }
  });

  it('ignores X-Forwarded-For from an untrusted peer', async () => {
    const api = await startApi({ AUTH_RATE_LIMIT_PER_MIN: '2', TRUST_PROXY: '10.9.0.0/16' });
    try {
      await clearOfWindowBoundary();
      const statuses: number[] = [];
      for (const client of ['203.0.113.1', '203.0.113.2', '203.0.113.3']) {
        const r = await api.call('POST', '/v1/auth/login', {
          body,
          remoteAddress: '198.51.100.7',
          headers: { 'x-forwarded-for': client },
        });
        statuses.push(r.status);
      }
      // A forged header cannot buy a fresh budget: all three count against 198.51.100.7.
      expect(statuses).toEqual([401, 401, 429]);
    } finally {
      await api.close();
    }
  });

  it('refuses a malformed TRUST_PROXY at start', async () => {
    await expect(startApi({ TRUST_PROXY: 'not-an-address' })).rejects.toThrow(/TRUST_PROXY/);
  });
});

describe('audit-log filters and the tenant list', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startApi();
  });
  afterAll(() => api.close());

  it('filters the audit log by resourceType, action and actorId', async () => {
    const o = await signup(api, 'audit');
    const pool = await api.call('POST', '/v1/pools', { token: o.token, body: { name: 'p1' } });
    await api.call('PATCH', `/v1/pools/${pool.body.id}`, { token: o.token, body: { name: 'p2' } });
    const key = await api.call('POST', '/v1/api-keys', {
      token: o.token,
      body: { name: 'k', role: 'operator' },
    });
    await api.call('POST', '/v1/pools', { token: key.body.secret, body: { name: 'p3' } });
    const q = async (query: string) =>
      (await api.call('GET', `/v1/audit-log?${query}`, { token: o.token })).body.items as {
        action: string;
        resourceType: string;
        actor: { id: string };
      }[];
    const pools = await q('resourceType=pool');
    expect(pools.map((e) => e.action)).toEqual(['pool.create', 'pool.update', 'pool.create']);
    expect((await q('action=pool.update')).map((e) => e.resourceType)).toEqual(['pool']);
    expect((await q(`actorId=${key.body.id}`)).map((e) => e.action)).toEqual(['pool.create']);
    expect(await q('resourceType=pool&action=pool.create&actorId=nobody')).toEqual([]);
    const all = await q('limit=200');
    expect(all.length).toBeGreaterThan(pools.length);
    expectProblem(await api.call('GET', '/v1/audit-log?colour=red', { token: o.token }), 400, 'validation');
  });

  it("lists the caller's tenants with the role in each", async () => {
    const a = await signup(api, 'first');
    const b = await signup(api, 'second');
    await api.call('POST', '/v1/members', { token: b.token, body: { email: a.email, role: 'viewer' } });
    const r = await api.call('GET', '/v1/auth/tenants', { token: a.token });
    expect(r.status).toBe(200);
    expect(r.body.items).toEqual([
      { tenantId: a.tenantId, tenantName: 'first', role: 'owner', current: true },
      { tenantId: b.tenantId, tenantName: 'second', role: 'viewer', current: false },
    ]);
    const key = await api.call('POST', '/v1/api-keys', {
      token: a.token,
      body: { name: 'k', role: 'viewer' },
    });
    const byKey = await api.call('GET', '/v1/auth/tenants', { token: key.body.secret });
    expect(byKey.body.items).toEqual([
      { tenantId: a.tenantId, tenantName: 'first', role: 'viewer', current: true },
    ]);
    expectProblem(await api.call('GET', '/v1/auth/tenants'), 401);
  });
});

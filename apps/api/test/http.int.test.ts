// ETag/If-Match, Idempotency-Key, pagination, config revision + audit log, and error ids.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type TestApi, expectProblem, fingerprint, signup, sql, startApi } from './helpers.js';

describe('HTTP semantics', () => {
  let api: TestApi;
  let token: string;
  beforeAll(async () => {
    api = await startApi({ CONFIG_PUBLISHER: 'none' });
    ({ token } = await signup(api));
  });
  afterAll(() => api.close());

  const revision = async () => (await api.call('GET', '/v1/me', { token })).body.configRevision as number;

  describe('ETag and If-Match', () => {
    it('GET returns W/"<version>", a matching If-Match applies and bumps it, a stale one is 412', async () => {
      const created = await api.call('POST', '/v1/pools', { token, body: { name: 'etag' } });
      expect(created.headers.etag).toBe('W/"1"');
      const get = await api.call('GET', `/v1/pools/${created.body.id}`, { token });
      expect(get.headers.etag).toBe('W/"1"');
      const ok = await api.call('PATCH', `/v1/pools/${created.body.id}`, {
        token,
        body: { healthProbe: { protocol: 'http' } },
        headers: { 'if-match': 'W/"1"' },
      });
      expect(ok.status).toBe(200);
      expect(ok.headers.etag).toBe('W/"2"');
      expect(ok.body.healthProbe).toMatchObject({ protocol: 'http', path: '/', intervalMs: 5000 });
      const before = await fingerprint(api.databaseUrl);
      const stale = await api.call('PATCH', `/v1/pools/${created.body.id}`, {
        token,
        body: { name: 'renamed' },
        headers: { 'if-match': 'W/"1"' },
      });
      expectProblem(stale, 412, 'precondition-failed');
      expect(await fingerprint(api.databaseUrl)).toEqual(before);
      const staleDelete = await api.call('DELETE', `/v1/pools/${created.body.id}`, {
        token,
        headers: { 'if-match': '"1"' },
      });
      expectProblem(staleDelete, 412);
      expect((await api.call('GET', `/v1/pools/${created.body.id}`, { token })).body.name).toBe('etag');
      const del = await api.call('DELETE', `/v1/pools/${created.body.id}`, {
        token,
        headers: { 'if-match': 'W/"2"' },
      });
      expect(del.status).toBe(204);
    });

    it('PATCH without If-Match applies unconditionally (documented choice)', async () => {
      const p = await api.call('POST', '/v1/pools', { token, body: { name: 'nomatch' } });
      const r = await api.call('PATCH', `/v1/pools/${p.body.id}`, { token, body: { name: 'nomatch2' } });
      expect(r.status).toBe(200);
      expect(r.body.version).toBe(2);
    });
  });

  describe('Idempotency-Key', () => {
    it('same key and body replays the first response and creates once', async () => {
      const body = { name: 'idem-pool' };
      const headers = { 'idempotency-key': 'k-1' };
      const first = await api.call('POST', '/v1/pools', { token, body, headers });
      const countAfterFirst = await fingerprint(api.databaseUrl);
      const second = await api.call('POST', '/v1/pools', { token, body, headers });
      expect(first.status).toBe(201);
      expect(second.status).toBe(201);
      expect(second.headers['idempotent-replayed']).toBe('true');
      expect(second.body).toEqual(first.body);
      expect(await fingerprint(api.databaseUrl)).toEqual(countAfterFirst);
    });

    it('same key with a different body is 422 and writes nothing', async () => {
      const headers = { 'idempotency-key': 'k-2' };
      await api.call('POST', '/v1/pools', { token, body: { name: 'idem-a' }, headers });
      const before = await fingerprint(api.databaseUrl);
      const r = await api.call('POST', '/v1/pools', { token, body: { name: 'idem-b' }, headers });
      expectProblem(r, 422, 'idempotency-key-reused');
      expect(await fingerprint(api.databaseUrl)).toEqual(before);
    });

    it('concurrent requests with one key create one resource', async () => {
      const headers = { 'idempotency-key': 'k-race' };
      const body = { name: 'idem-race' };
      const rs = await Promise.all(
        [1, 2, 3, 4].map(() => api.call('POST', '/v1/pools', { token, body, headers })),
      );
      expect(rs.map((r) => r.status)).toEqual([201, 201, 201, 201]);
      expect(new Set(rs.map((r) => r.body.id)).size).toBe(1);
      const rows = await sql(api.databaseUrl, `SELECT id FROM "Pool" WHERE name = 'idem-race'`);
      expect(rows).toHaveLength(1);
    });

    it('keys are per tenant, and an API key secret is never replayed', async () => {
      const other = await signup(api, 'other');
      const headers = { 'idempotency-key': 'shared' };
      const a = await api.call('POST', '/v1/api-keys', {
        token,
        body: { name: 'ci', role: 'viewer' },
        headers,
      });
      const b = await api.call('POST', '/v1/api-keys', {
        token: other.token,
        body: { name: 'ci', role: 'viewer' },
        headers,
      });
      expect(a.body.id).not.toBe(b.body.id);
      expect(a.body.secret).toMatch(/^sls_k_/);
      const replay = await api.call('POST', '/v1/api-keys', {
        token,
        body: { name: 'ci', role: 'viewer' },
        headers,
      });
      expect(replay.body.id).toBe(a.body.id);
      expect(replay.body.secret).toBeNull();
      const stored = await sql(api.databaseUrl, `SELECT "responseBody"::text AS body FROM "IdempotencyKey"`);
      for (const row of stored) expect(String(row.body)).not.toContain(a.body.secret);
    });
  });

  describe('pagination', () => {
    it('walks every item exactly once with limit and nextCursor', async () => {
      const pool = await api.call('POST', '/v1/pools', { token, body: { name: 'paged' } });
      const made = new Set<string>();
      for (let i = 1; i <= 7; i++) {
        const r = await api.call('POST', `/v1/pools/${pool.body.id}/backends`, {
          token,
          body: { address: `10.9.0.${i}`, port: 80 },
        });
        made.add(r.body.id);
      }
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const url = `/v1/pools/${pool.body.id}/backends?limit=3${cursor ? `&cursor=${cursor}` : ''}`;
        const r = await api.call('GET', url, { token });
        expect(r.status).toBe(200);
        expect(r.body.items.length).toBeLessThanOrEqual(3);
        seen.push(...r.body.items.map((b: { id: string }) => b.id));
        cursor = r.body.nextCursor;
        pages++;
      } while (cursor);
      expect(pages).toBe(3);
      expect(new Set(seen)).toEqual(made);
      expect(seen).toHaveLength(7);
    });
  });

  describe('config revision and audit log', () => {
    it('each change bumps the revision once and is audited with before/after', async () => {
      const r0 = await revision();
      const p = await api.call('POST', '/v1/pools', { token, body: { name: 'audited' } });
      const b = await api.call('POST', `/v1/pools/${p.body.id}/backends`, {
        token,
        body: { address: '10.8.0.1', port: 8080 },
      });
      await api.call('PATCH', `/v1/pools/${p.body.id}/backends/${b.body.id}`, {
        token,
        body: { state: 'draining', weight: 0 },
      });
      const v = await api.call('POST', '/v1/vips', {
        token,
        body: {
          name: 'audited',
          address: '198.19.0.50',
          protocol: 'tcp',
          port: 443,
          poolId: p.body.id,
          bypass: { enabled: true, sourceCidrs: ['198.18.0.0/24'] },
        },
      });
      expect(v.body.bypass).toEqual({
        enabled: true,
        sourceCidrs: ['198.18.0.0/24'],
        maxFlowsPerHost: 65536,
        idleTimeoutS: 120,
        handshakeHoldMs: 0,
      });
      await api.call('PATCH', `/v1/vips/${v.body.id}`, { token, body: { bypass: { enabled: false } } });
      await api.call('DELETE', `/v1/vips/${v.body.id}`, { token });
      expect(await revision()).toBe(r0 + 6);

      const log = await api.call('GET', '/v1/audit-log?limit=6', { token });
      expect(log.body.items.map((e: { action: string }) => e.action)).toEqual([
        'vip.delete',
        'vip.update',
        'vip.create',
        'backend.update',
        'backend.create',
        'pool.create',
      ]);
      const update = log.body.items[3];
      expect(update.before).toMatchObject({ state: 'active', weight: 100 });
      expect(update.after).toMatchObject({ state: 'draining', weight: 0 });
      expect(update.actor).toEqual({ type: 'user', id: expect.any(String) });
      expect(update.revision).toBe(r0 + 3);
      const vipUpdate = log.body.items[1];
      expect(vipUpdate.before.bypass.enabled).toBe(true);
      expect(vipUpdate.after.bypass).toEqual({ ...v.body.bypass, enabled: false });
      const next = await api.call('GET', `/v1/audit-log?limit=6&cursor=${log.body.nextCursor}`, { token });
      expect(next.body.items[0].id).not.toBe(log.body.items[5].id);
    });

    it('a refused change bumps nothing', async () => {
      const r0 = await revision();
      await api.call('POST', '/v1/pools', { token, body: { name: 'bad name' } });
      expect(await revision()).toBe(r0);
    });

    it('changes made with an API key are attributed to the key', async () => {
      const k = await api.call('POST', '/v1/api-keys', { token, body: { name: 'robot', role: 'operator' } });
      const p = await api.call('POST', '/v1/pools', { token: k.body.secret, body: { name: 'by-robot' } });
      expect(p.status).toBe(201);
      const log = await api.call('GET', '/v1/audit-log?limit=1', { token });
      expect(log.body.items[0]).toMatchObject({
        action: 'pool.create',
        actor: { type: 'apiKey', id: k.body.id },
      });
    });
  });

  describe('errors', () => {
    it('a 500 carries an error id and leaks no detail', async () => {
      // Break the schema underneath the API so the repository query fails unexpectedly.
      const logged = await startApi({ LOG_LEVEL: 'error' }, api.databaseUrl);
      const lines: string[] = [];
      const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
        lines.push(String(chunk));
        return true;
      });
      await sql(api.databaseUrl, `ALTER TABLE "Agent" RENAME COLUMN "hostname" TO "hostname_x"`);
      try {
        const r = await logged.call('GET', '/v1/agents', { token });
        expectProblem(r, 500, 'internal');
        expect(r.body.errorId).toMatch(/^[0-9a-f-]{36}$/);
        expect(r.body.detail).toContain(r.body.errorId);
        expect(JSON.stringify(r.body)).not.toContain('hostname');
        expect(lines.join('')).toContain(`errorId=${r.body.errorId}`);
      } finally {
        spy.mockRestore();
        await sql(api.databaseUrl, `ALTER TABLE "Agent" RENAME COLUMN "hostname_x" TO "hostname"`);
        await logged.app.close();
      }
    });

    it('unknown routes and malformed ids are 404 problem+json', async () => {
      expectProblem(await api.call('GET', '/v1/nope', { token }), 404, 'not-found');
      expectProblem(await api.call('GET', '/v1/pools/not-a-uuid', { token }), 404, 'not-found');
    });
  });
});

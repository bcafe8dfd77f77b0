// Enrollment, agent credentials, config push over SSE (one and two API processes), ACK/NACK, revocation
// and redirect-key rotation, against the real PostgreSQL and Redis.
import { createHash, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type TestApi, expectProblem, fingerprint, signup, sql, startApi } from '../helpers.js';
import { StreamHub } from '../../src/agent-control/push.js';
import { SseClient } from './sse.js';

const ALLOW = { AGENT_SWEEP_MS: '300', AGENT_PING_MS: '200' };

async function until(fn: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error('timed out waiting for a condition');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function baseUrl(api: TestApi): Promise<string> {
  await api.app.listen(0, '127.0.0.1');
  const a = api.app.getHttpServer().address() as AddressInfo;
  return `http://127.0.0.1:${a.port}`;
}

let n = 0;
async function joinToken(api: TestApi, token: string, body: Record<string, unknown> = {}): Promise<string> {
  const r = await api.call('POST', '/v1/join-tokens', {
    token,
    body: { name: `jt-${++n}`, role: 'host', ...body },
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.secret as string;
}

function enrollBody(jt: string, name: string, underlay = `198.18.1.${(++n % 250) + 1}`) {
  return { joinToken: jt, name, underlay, version: '0.1.0', hostname: `${name}.lab` };
}

async function enroll(api: TestApi, jt: string, name: string, underlay?: string) {
  const r = await api.call('POST', '/v1/agent/enroll', { body: enrollBody(jt, name, underlay) });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body as { agentId: string; tenantId: string; role: string; credential: string };
}

/** A pool with one backend at port 80 and a VIP on it; returns ids. */
async function seedVip(api: TestApi, token: string, address = '10.200.0.1') {
  const pool = await api.call('POST', '/v1/pools', { token, body: { name: `p-${++n}` } });
  const backend = await api.call('POST', `/v1/pools/${pool.body.id}/backends`, {
    token,
    body: { address: '198.18.1.200', port: 80, weight: 100 },
  });
  const vip = await api.call('POST', '/v1/vips', {
    token,
    body: { name: `v-${++n}`, address, protocol: 'tcp', port: 80, poolId: pool.body.id },
  });
  for (const r of [pool, backend, vip]) expect(r.status, JSON.stringify(r.body)).toBe(201);
  return { pool: pool.body.id as string, backend: backend.body.id as string, vip: vip.body.id as string };
}

describe('enrollment and agent credentials', () => {
  let api: TestApi;
  let owner: Awaited<ReturnType<typeof signup>>;
  beforeAll(async () => {
    api = await startApi(ALLOW);
    owner = await signup(api, 'enroll');
  });
  afterAll(() => api.close());

  it('enrolls: role from the token, credential once, only its hash stored, token use counted', async () => {
    const jt = await joinToken(api, owner.token, { role: 'mux', maxUses: 2 });
    const e = await enroll(api, jt, 'mux-1', '198.18.1.11');
    expect(e).toMatchObject({ tenantId: owner.tenantId, role: 'mux' });
    expect(e.credential).toMatch(/^sls_a_[A-Za-z0-9_-]{43}$/);
    const [row] = await sql<{
      credentialHash: string;
      role: string;
      underlayAddress: string;
      hostname: string;
    }>(
      api.databaseUrl,
      `SELECT "credentialHash", role, "underlayAddress", hostname FROM "Agent" WHERE id = $1`,
      [e.agentId],
    );
    expect(row).toEqual({
      credentialHash: createHash('sha256').update(e.credential).digest('hex'),
      role: 'mux',
      underlayAddress: '198.18.1.11',
      hostname: 'mux-1.lab',
    });
    const tokens = await api.call('GET', '/v1/join-tokens', { token: owner.token });
    expect(tokens.body.items.find((t: { uses: number; maxUses: number }) => t.maxUses === 2).uses).toBe(1);
    const agent = await api.call('GET', `/v1/agents/${e.agentId}`, { token: owner.token });
    expect(agent.body).toMatchObject({
      role: 'mux',
      hostname: 'mux-1.lab',
      underlayAddress: '198.18.1.11',
      agentVersion: '0.1.0',
    });
    // The tenant got its first redirect key with the first agent.
    const keys = await api.call('GET', '/v1/bypass-keys', { token: owner.token });
    expect(keys.body.items).toHaveLength(1);
    expect(keys.body.items[0].state).toBe('active');
    expect(JSON.stringify(keys.body)).not.toMatch(/secret/i);
  });

  it('refuses expired, used-up, revoked, unknown and malformed tokens and changes nothing', async () => {
    const expired = await joinToken(api, owner.token);
    await sql(
      api.databaseUrl,
      `UPDATE "JoinToken" SET "expiresAt" = now() - interval '1 second' WHERE "secretHash" = $1`,
      [createHash('sha256').update(expired).digest('hex')],
    );
    const usedUp = await joinToken(api, owner.token, { maxUses: 1 });
    await enroll(api, usedUp, 'first-use');
    const revoked = await joinToken(api, owner.token);
    const list = await api.call('GET', '/v1/join-tokens', { token: owner.token });
    const revokedId = list.body.items.find((t: { prefix: string }) => revoked.startsWith(t.prefix)).id;
    expect((await api.call('DELETE', `/v1/join-tokens/${revokedId}`, { token: owner.token })).status).toBe(
      204,
    );
    const before = await fingerprint(api.databaseUrl);
    for (const jt of [expired, usedUp, revoked, `sls_j_${'A'.repeat(43)}`]) {
      expectProblem(
        await api.call('POST', '/v1/agent/enroll', { body: enrollBody(jt, `x-${++n}`) }),
        401,
        'unauthenticated',
      );
    }
    for (const body of [
      enrollBody('not-a-token', 'bad'),
      enrollBody(`sls_k_${'A'.repeat(43)}`, 'bad'),
      { ...enrollBody(usedUp, 'bad'), underlay: '300.1.1.1' },
      { ...enrollBody(usedUp, 'bad'), tenantId: owner.tenantId },
    ]) {
      expectProblem(await api.call('POST', '/v1/agent/enroll', { body }), 400, 'validation');
    }
    expect(await fingerprint(api.databaseUrl)).toEqual(before);
  });

  it('join tokens honour role, expiresAt and maxUses', async () => {
    const at = new Date(Date.now() + 2 * 3600_000);
    at.setMilliseconds(0);
    const r = await api.call('POST', '/v1/join-tokens', {
      token: owner.token,
      body: { name: `jt-at-${++n}`, role: 'mux', expiresAt: at.toISOString(), maxUses: 3 },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body).toMatchObject({ role: 'mux', maxUses: 3, uses: 0, expiresAt: at.toISOString() });
    for (let i = 0; i < 3; i++) expect((await enroll(api, r.body.secret, `three-${i}`)).role).toBe('mux');
    expectProblem(
      await api.call('POST', '/v1/agent/enroll', { body: enrollBody(r.body.secret, 'fourth') }),
      401,
    );
    for (const body of [
      { name: 'past', role: 'host', expiresAt: new Date(Date.now() - 1000).toISOString() },
      { name: 'far', role: 'host', expiresAt: new Date(Date.now() + 31 * 86_400_000).toISOString() },
      { name: 'both', role: 'host', expiresAt: at.toISOString(), expiresInS: 600 },
      { name: 'role', role: 'router' },
    ]) {
      expectProblem(
        await api.call('POST', '/v1/join-tokens', { token: owner.token, body }),
        400,
        'validation',
      );
    }
  });

  it('rate-limits enrollment per address on its own budget, apart from logins', async () => {
    const limited = await startApi({ ENROLL_RATE_LIMIT_PER_MIN: '2', AUTH_RATE_LIMIT_PER_MIN: '2' });
    try {
      // Fixed 60 s windows: stay clear of a boundary so all requests share one window.
      const toBoundary = 60_000 - (Date.now() % 60_000);
      if (toBoundary < 3000) await new Promise((r) => setTimeout(r, toBoundary + 100));
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await limited.call('POST', '/v1/agent/enroll', {
          body: enrollBody(`sls_j_${'B'.repeat(43)}`, `rl-${i}`),
        });
        statuses.push(r.status);
        if (r.status === 429) expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
      }
      expect(statuses).toEqual([401, 401, 429]);
      const login = await limited.call('POST', '/v1/auth/login', {
        body: { email: 'nobody@example.test', password: 'wrong-password' },
      });
      expect(login.status).toBe(401);
    } finally {
      await limited.close();
    }
  });

  it('lets exactly one of two concurrent enrolls take a single-use token', async () => {
    for (let round = 0; round < 3; round++) {
      const jt = await joinToken(api, owner.token, { maxUses: 1 });
      const rs = await Promise.all(
        ['race-a', 'race-b'].map((name) =>
          api.call('POST', '/v1/agent/enroll', { body: enrollBody(jt, `${name}-${round}`) }),
        ),
      );
      expect(rs.map((r) => r.status).sort()).toEqual([201, 401]);
      const [t] = await sql<{ uses: number }>(
        api.databaseUrl,
        `SELECT uses FROM "JoinToken" WHERE "secretHash" = $1`,
        [createHash('sha256').update(jt).digest('hex')],
      );
      expect(t!.uses).toBe(1);
    }
  });

  it('keeps agent and user credentials apart, and refuses forged, revoked and replaced credentials', async () => {
    const jt = await joinToken(api, owner.token, { maxUses: 5 });
    const e = await enroll(api, jt, 'creds');
    const ack = (token: string) =>
      api.call('POST', '/v1/agent/ack', { token, body: { revision: 0, applied: true } });
    expect((await ack(e.credential)).status).toBe(204);
    const key = await api.call('POST', '/v1/api-keys', {
      token: owner.token,
      body: { name: `k-${++n}`, role: 'owner' },
    });
    // User tokens and API keys are not agent credentials, and the reverse.
    expectProblem(await ack(owner.token), 401, 'unauthenticated');
    expectProblem(await ack(key.body.secret), 401, 'unauthenticated');
    expectProblem(await api.call('GET', '/v1/pools', { token: e.credential }), 401, 'unauthenticated');
    expectProblem(await api.call('GET', '/v1/agents', { token: e.credential }), 401, 'unauthenticated');
    expectProblem(await ack(`sls_a_${randomBytes(32).toString('base64url')}`), 401, 'unauthenticated');
    expectProblem(await ack(`${e.credential.slice(0, -1)}${e.credential.endsWith('A') ? 'B' : 'A'}`), 401);
    // Re-enrolling the same name (a re-install) replaces the credential: the old one stops working.
    const again = await enroll(api, jt, 'creds');
    expect(again.agentId).toBe(e.agentId);
    expectProblem(await ack(e.credential), 401, 'unauthenticated');
    expect((await ack(again.credential)).status).toBe(204);
    // Revoked: 401 everywhere, also for telemetry and the stream.
    expect((await api.call('POST', `/v1/agents/${e.agentId}/revoke`, { token: owner.token })).status).toBe(
      204,
    );
    expectProblem(await ack(again.credential), 401, 'unauthenticated');
    expectProblem(await api.call('GET', '/v1/agent/stream', { token: again.credential }), 401);
    const shown = await api.call('GET', `/v1/agents/${e.agentId}`, { token: owner.token });
    expect(shown.body.revokedAt).not.toBeNull();
    expect(shown.body.connected).toBe(false);
  });

  it('deletes an agent: gone from the list, its credential refused, its stored state removed', async () => {
    const e = await enroll(api, await joinToken(api, owner.token), 'to-delete');
    await until(
      async () =>
        (await sql(api.databaseUrl, `SELECT 1 FROM "AgentConfig" WHERE "agentId" = $1`, [e.agentId])).length >
        0,
    );
    expect((await api.call('DELETE', `/v1/agents/${e.agentId}`, { token: owner.token })).status).toBe(204);
    expectProblem(await api.call('GET', `/v1/agents/${e.agentId}`, { token: owner.token }), 404);
    expectProblem(
      await api.call('POST', '/v1/agent/ack', { token: e.credential, body: { revision: 1, applied: true } }),
      401,
    );
    expect(
      await sql(api.databaseUrl, `SELECT 1 FROM "AgentConfig" WHERE "agentId" = $1`, [e.agentId]),
    ).toEqual([]);
    const audit = await api.call('GET', '/v1/audit-log?action=agent.delete', { token: owner.token });
    expect(audit.body.items.map((x: { resourceId: string }) => x.resourceId)).toEqual([e.agentId]);
  });

  it('lets an agent leave (uninstall): its own credential is revoked at once and audited', async () => {
    const e = await enroll(api, await joinToken(api, owner.token), 'leaving');
    const other = await enroll(api, await joinToken(api, owner.token), 'staying');
    expect((await api.call('POST', '/v1/agent/leave', { token: e.credential })).status).toBe(204);
    // Refused from then on, also for a second leave; another agent is untouched.
    expectProblem(await api.call('POST', '/v1/agent/leave', { token: e.credential }), 401, 'unauthenticated');
    expectProblem(
      await api.call('POST', '/v1/agent/ack', { token: e.credential, body: { revision: 1, applied: true } }),
      401,
    );
    const ack = await api.call('POST', '/v1/agent/ack', {
      token: other.credential,
      body: { revision: 1, applied: true },
    });
    expect(ack.status).toBe(204);
    const shown = await api.call('GET', `/v1/agents/${e.agentId}`, { token: owner.token });
    expect(shown.body.revokedAt).not.toBeNull();
    const audit = await api.call('GET', '/v1/audit-log?action=agent.leave', { token: owner.token });
    expect(audit.body.items).toMatchObject([
      { resourceId: e.agentId, actor: { type: 'system', id: `agent:${e.agentId}` } },
    ]);
    // A user token is no agent credential.
    expectProblem(await api.call('POST', '/v1/agent/leave', { token: owner.token }), 401);
  });

  it('records ACK and NACK', async () => {
    const jt = await joinToken(api, owner.token);
    const e = await enroll(api, jt, 'acker');
    const r1 = await api.call('POST', '/v1/agent/ack', {
      token: e.credential,
      body: { revision: 3, applied: false, error: 'nft: syntax error' },
    });
    expect(r1.status).toBe(204);
    let a = (await api.call('GET', `/v1/agents/${e.agentId}`, { token: owner.token })).body;
    expect(a).toMatchObject({
      appliedRevision: null,
      lastError: 'nft: syntax error',
      connected: true,
      status: 'online',
    });
    expect(a.lastSeenAt).not.toBeNull();
    await api.call('POST', '/v1/agent/ack', { token: e.credential, body: { revision: 4, applied: true } });
    // A late ACK of an older revision does not move the applied revision back.
    await api.call('POST', '/v1/agent/ack', { token: e.credential, body: { revision: 2, applied: true } });
    a = (await api.call('GET', `/v1/agents/${e.agentId}`, { token: owner.token })).body;
    expect(a).toMatchObject({ appliedRevision: 4, lastError: null });
    expectProblem(
      await api.call('POST', '/v1/agent/ack', {
        token: e.credential,
        body: { revision: 5, applied: false, error: 'x'.repeat(2001) },
      }),
      400,
    );
  });
});

describe('telemetry intake', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startApi(ALLOW);
  });
  afterAll(() => api.close());

  const report = (over: Record<string, unknown> = {}) => ({
    bootId: '6f1c2f1e-8f6a-4c1e-9d7e-0a1b2c3d4e5f',
    at: new Date().toISOString(),
    appliedRevision: 5,
    vips: [],
    redirectsReceived: { accepted: 0, rejected: { bad_signature: 0 } },
    timeToBypass: { bucketsMs: [1, 10], counts: [0, 0, 0], sumMs: 0, count: 0 },
    backendHealth: [],
    ...over,
  });

  it('takes a valid report as a heartbeat and refuses malformed ones without a trace', async () => {
    const t = await signup(api, 'tele');
    const e = await enroll(api, await joinToken(api, t.token), 'tele-1');
    const r = await api.call('POST', '/v1/agent/telemetry', { token: e.credential, body: report() });
    // 204 once the telemetry side binds TelemetryIngest (services/stats.providers.ts); without it the API
    // refuses the report loudly instead of dropping it. The heartbeat is recorded either way.
    if (r.status !== 204) expectProblem(r, 503, 'service-unavailable');
    const a = (await api.call('GET', `/v1/agents/${e.agentId}`, { token: t.token })).body;
    expect(a).toMatchObject({ appliedRevision: 5, connected: true });
    expect(a.lastSeenAt).not.toBeNull();
    const before = await fingerprint(api.databaseUrl);
    for (const bad of [
      report({ tenantId: t.tenantId }),
      report({ appliedRevision: -1 }),
      report({ timeToBypass: { bucketsMs: [1, 10], counts: [0, 0], sumMs: 0, count: 0 } }),
      report({ timeToBypass: { bucketsMs: [1, 10], counts: [1, 0, 0], sumMs: 0, count: 2 } }),
      report({ vips: [{ vipId: 'x' }] }),
      report({ redirectsReceived: { accepted: 0, rejected: { 'Bad Reason': 1 } } }),
    ]) {
      expectProblem(
        await api.call('POST', '/v1/agent/telemetry', { token: e.credential, body: bad }),
        400,
        'validation',
      );
    }
    expect(await fingerprint(api.databaseUrl)).toEqual(before);
    expectProblem(await api.call('POST', '/v1/agent/telemetry', { token: t.token, body: report() }), 401);
  });
});

describe('config push', () => {
  const prefix = `test-push-${randomBytes(4).toString('hex')}`;
  let api: TestApi;
  let url: string;
  let a: Awaited<ReturnType<typeof signup>>;
  let b: Awaited<ReturnType<typeof signup>>;
  const streams: SseClient[] = [];
  beforeAll(async () => {
    api = await startApi({ ...ALLOW, REDIS_PREFIX: prefix });
    url = await baseUrl(api);
    a = await signup(api, 'push-a');
    b = await signup(api, 'push-b');
  });
  afterAll(async () => {
    for (const s of streams) s.close();
    await api.close();
  });

  it('delivers the current state on connect and a new revision within 1 s of a change', async () => {
    const ids = await seedVip(api, a.token);
    const e = await enroll(api, await joinToken(api, a.token), 'host-push', '198.18.1.21');
    const s = await SseClient.open(url, e.credential);
    streams.push(s);
    expect(s.status).toBe(200);
    expect(s.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(s.headers['cache-control']).toMatch(/no-cache/);
    const first = await s.waitFor(() => s.desired()[0]);
    expect(first.state.agent).toEqual({
      tenantId: a.tenantId,
      agentId: e.agentId,
      role: 'host',
      underlay: '198.18.1.21',
    });
    expect(first.state.vips.map((v: { id: string }) => v.id)).toEqual([ids.vip]);
    expect(first.state.vips[0].backends[0]).toEqual({
      address: '198.18.1.200',
      port: 80,
      weight: 100,
      state: 'active',
      // No mux has reported yet: unknown health is not a failure.
      healthy: true,
    });
    // The pool's default probe.
    expect(first.state.vips[0].probe).toEqual({
      protocol: 'tcp',
      intervalMs: 5000,
      timeoutMs: 2000,
      healthyThreshold: 2,
      unhealthyThreshold: 3,
    });
    const t0 = Date.now();
    const patch = await api.call('PATCH', `/v1/pools/${ids.pool}/backends/${ids.backend}`, {
      token: a.token,
      body: { weight: 7, state: 'draining' },
    });
    expect(patch.status, JSON.stringify(patch.body)).toBe(200);
    const next = await s.waitFor(
      () => s.desired().find((d) => d.state.vips[0]?.backends[0]?.weight === 7),
      1000,
    );
    const latency =
      s.events.find((ev) => ev.event === 'desired' && JSON.parse(ev.data).revision === next.revision)!.at -
      t0;
    expect(latency).toBeLessThan(1000);
    expect(next.revision).toBeGreaterThan(first.revision);
    expect(next.state.vips[0].backends[0].state).toBe('draining');
    const me = await api.call('GET', '/v1/me', { token: a.token });
    expect(next.revision).toBe(me.body.configRevision);
    const shown = (await api.call('GET', `/v1/agents/${e.agentId}`, { token: a.token })).body;
    expect(shown).toMatchObject({ connected: true, status: 'online', desiredRevision: next.revision });
    // The job behind it retries with backoff.
    const { Queue } = await import('bullmq');
    const { Redis } = await import('ioredis');
    const conn = new Redis(inject('redisUrl'));
    const q = new Queue('config-changed', { connection: conn, prefix: `${prefix}:bull` });
    const job = await q.getJob(`${a.tenantId}-${next.revision}`);
    expect(job?.opts).toMatchObject({ attempts: 5, backoff: { type: 'exponential', delay: 1000 } });
    await q.close();
    conn.disconnect();
    // The agent applies it.
    await api.call('POST', '/v1/agent/ack', {
      token: e.credential,
      body: { revision: next.revision, applied: true },
    });
    expect((await api.call('GET', `/v1/agents/${e.agentId}`, { token: a.token })).body.appliedRevision).toBe(
      next.revision,
    );
  });

  it("never gives an agent of tenant A tenant B's config", async () => {
    const bIds = await seedVip(api, b.token, '10.200.0.99');
    const eb = await enroll(api, await joinToken(api, b.token), 'host-b', '198.18.1.99');
    const ea = await enroll(api, await joinToken(api, a.token), 'host-a2', '198.18.1.98');
    const sa = await SseClient.open(url, ea.credential);
    const sb = await SseClient.open(url, eb.credential);
    streams.push(sa, sb);
    const da = await sa.waitFor(() => sa.desired()[0]);
    const db = await sb.waitFor(() => sb.desired()[0]);
    expect(da.state.agent.tenantId).toBe(a.tenantId);
    expect(db.state.agent.tenantId).toBe(b.tenantId);
    expect(db.state.vips.map((v: { id: string }) => v.id)).toEqual([bIds.vip]);
    expect(JSON.stringify(sa.events)).not.toContain(bIds.vip);
    expect(JSON.stringify(sa.events)).not.toContain(b.tenantId);
    // Different tenants, different redirect keys.
    expect(Object.values(da.state.redirect.keys)).not.toEqual(Object.values(db.state.redirect.keys));
    // A's agent cannot act on B's agent through the admin routes with its own credential either.
    expectProblem(await api.call('GET', `/v1/agents/${eb.agentId}`, { token: ea.credential }), 401);
  });

  it('pings idle streams and forgets a stream the agent closed', async () => {
    const e = await enroll(api, await joinToken(api, a.token), 'pinged');
    const hub = api.app.get(StreamHub);
    const before = hub.size;
    const s = await SseClient.open(url, e.credential);
    await s.waitFor(() => s.desired()[0]);
    expect(hub.size).toBe(before + 1);
    // AGENT_PING_MS is 200 here (15 s by default).
    await s.waitFor(() => s.events.filter((ev) => ev.event === 'ping').length >= 2, 2000);
    s.close();
    await s.waitFor(() => hub.size === before || undefined, 2000);
  });

  it('closes the stream of a revoked agent within 2 s', async () => {
    const e = await enroll(api, await joinToken(api, a.token), 'to-revoke');
    const s = await SseClient.open(url, e.credential);
    streams.push(s);
    await s.waitFor(() => s.desired()[0]);
    const t0 = Date.now();
    expect((await api.call('POST', `/v1/agents/${e.agentId}/revoke`, { token: a.token })).status).toBe(204);
    await s.waitFor(() => s.closed, 2000);
    expect(s.closedAt - t0).toBeLessThan(2000);
    expect(s.events.some((ev) => ev.event === 'revoked')).toBe(true);
  });

  it('rotates redirect keys with overlap and retires the old key once every agent applied the rotation', async () => {
    const t = await signup(api, 'rotate');
    const e1 = await enroll(api, await joinToken(api, t.token), 'rot-1');
    const e2 = await enroll(api, await joinToken(api, t.token), 'rot-2');
    const s1 = await SseClient.open(url, e1.credential);
    streams.push(s1);
    const first = await s1.waitFor(() => s1.desired()[0]);
    const oldKey = first.state.redirect.activeKeyId as string;
    const rot = await api.call('POST', '/v1/bypass-keys/rotate', { token: t.token });
    expect(rot.status, JSON.stringify(rot.body)).toBe(201);
    const newKey = rot.body.keyId as string;
    expect(newKey).not.toBe(oldKey);
    const during = await s1.waitFor(() => s1.desired().find((d) => d.state.redirect.activeKeyId === newKey));
    expect(Object.keys(during.state.redirect.keys).sort()).toEqual([newKey, oldKey].sort());
    let keys = (await api.call('GET', '/v1/bypass-keys', { token: t.token })).body.items;
    expect(keys.map((k: { keyId: string; state: string }) => [k.keyId, k.state])).toEqual([
      [newKey, 'active'],
      [oldKey, 'previous'],
    ]);
    expectProblem(await api.call('POST', '/v1/bypass-keys/rotate', { token: t.token }), 409, 'conflict');
    // Only one agent applied the rotation: the old key must stay.
    await api.call('POST', '/v1/agent/ack', {
      token: e1.credential,
      body: { revision: during.revision, applied: true },
    });
    await new Promise((r) => setTimeout(r, 1000));
    keys = (await api.call('GET', '/v1/bypass-keys', { token: t.token })).body.items;
    expect(keys.map((k: { state: string }) => k.state)).toEqual(['active', 'previous']);
    // The second agent too: the sweep retires the old key and pushes a one-key state.
    await api.call('POST', '/v1/agent/ack', {
      token: e2.credential,
      body: { revision: during.revision, applied: true },
    });
    const after = await s1.waitFor(
      () =>
        s1
          .desired()
          .find((d) => d.revision > during.revision && Object.keys(d.state.redirect.keys).length === 1),
      5000,
    );
    expect(after.state.redirect).toMatchObject({
      activeKeyId: newKey,
      keys: { [newKey]: during.state.redirect.keys[newKey] },
    });
    keys = (await api.call('GET', '/v1/bypass-keys', { token: t.token })).body.items;
    expect(keys.map((k: { state: string }) => k.state)).toEqual(['active', 'retired']);
    expect(keys[1].retiredAt).not.toBeNull();
    const audit = await api.call('GET', '/v1/audit-log', { token: t.token });
    expect(audit.body.items.map((x: { action: string }) => x.action)).toEqual(
      expect.arrayContaining(['bypassKey.rotate', 'bypassKey.retire']),
    );
    // Secrets are sealed at rest: the raw key is not in the table.
    const rows = await sql<{ secretCiphertext: string }>(
      api.databaseUrl,
      `SELECT "secretCiphertext" FROM "BypassKey" WHERE "keyId" = $1`,
      [newKey],
    );
    expect(rows[0]!.secretCiphertext).not.toContain(during.state.redirect.keys[newKey]);
  });

  it('re-sends the state to a connected agent that lags (the sweep)', async () => {
    const e = await enroll(api, await joinToken(api, a.token), 'lagger');
    const s = await SseClient.open(url, e.credential);
    streams.push(s);
    const first = await s.waitFor(() => s.desired()[0]);
    // The agent never ACKs: the sweep (every 300 ms here) sends the same revision again.
    await s.waitFor(() => s.desired().filter((d) => d.revision === first.revision).length >= 2, 3000);
  });
});

describe('two API processes', () => {
  it('pushes through the process holding the stream while another runs the job', async () => {
    const prefix = `test-two-${randomBytes(4).toString('hex')}`;
    const holder = await startApi({ ...ALLOW, WORKER: '0', REDIS_PREFIX: prefix });
    const worker = await startApi({ ...ALLOW, WORKER: '1', REDIS_PREFIX: prefix }, holder.databaseUrl);
    try {
      const url = await baseUrl(holder);
      const t = await signup(holder, 'two');
      const ids = await seedVip(holder, t.token);
      const e = await enroll(holder, await joinToken(holder, t.token), 'two-host');
      const s = await SseClient.open(url, e.credential);
      const first = await s.waitFor(() => s.desired()[0]);
      const t0 = Date.now();
      await worker.call('PATCH', `/v1/pools/${ids.pool}/backends/${ids.backend}`, {
        token: t.token,
        body: { weight: 3 },
      });
      const next = await s.waitFor(
        () => s.desired().find((d) => d.state.vips[0].backends[0].weight === 3),
        1000,
      );
      expect(next.revision).toBeGreaterThan(first.revision);
      expect(Date.now() - t0).toBeLessThan(1000);
      // Revoked through the other process: the holder closes the stream.
      await worker.call('POST', `/v1/agents/${e.agentId}/revoke`, { token: t.token });
      await s.waitFor(() => s.closed, 2000);
      s.close();
    } finally {
      await worker.close();
      await holder.close();
    }
  });
});

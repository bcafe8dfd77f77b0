// Tenant isolation and role matrices over every operation of the OpenAPI document: an operation
// added without being classified here fails the "covers every operation" tests.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTROLLERS } from '../src/app.module.js';
import { buildOpenApi } from '../src/openapi/build.js';
import { type TestApi, expectProblem, fingerprint, signup, sql, startApi } from './helpers.js';

interface Op {
  operationId: string;
  method: string;
  path: string;
  minRole?: string;
}

const doc = buildOpenApi(CONTROLLERS) as {
  paths: Record<string, Record<string, { operationId: string; 'x-min-role'?: string }>>;
};
const OPS: Op[] = Object.entries(doc.paths).flatMap(([path, ops]) =>
  Object.entries(ops).map(([method, o]) => ({
    operationId: o.operationId,
    method: method.toUpperCase(),
    path,
    minRole: o['x-min-role'],
  })),
);

/** The role model of the issue: viewers read; operators change VIPs, pools, backends; admins also members, keys, agents. */
const MIN_ROLE: Record<string, string> = {
  listPools: 'viewer',
  getPool: 'viewer',
  createPool: 'operator',
  updatePool: 'operator',
  deletePool: 'operator',
  listBackends: 'viewer',
  getBackend: 'viewer',
  createBackend: 'operator',
  updateBackend: 'operator',
  deleteBackend: 'operator',
  listVips: 'viewer',
  getVip: 'viewer',
  createVip: 'operator',
  updateVip: 'operator',
  deleteVip: 'operator',
  listMembers: 'viewer',
  getMember: 'viewer',
  addMember: 'admin',
  updateMember: 'admin',
  removeMember: 'admin',
  listApiKeys: 'admin',
  getApiKey: 'admin',
  createApiKey: 'admin',
  revokeApiKey: 'admin',
  listAgents: 'viewer',
  getAgent: 'viewer',
  listJoinTokens: 'admin',
  getJoinToken: 'admin',
  createJoinToken: 'admin',
  revokeJoinToken: 'admin',
  listAuditLog: 'viewer',
  getMe: 'viewer',
  logout: 'viewer',
  revokeAgent: 'admin',
  deleteAgent: 'admin',
  listBypassKeys: 'viewer',
  rotateBypassKey: 'admin',
  listMyTenants: 'viewer',
  getTenantStats: 'viewer',
  getVipStats: 'viewer',
  streamStats: 'viewer',
};
const PUBLIC = ['getHealth', 'getOpenApi', 'signup', 'login', 'enrollAgent'];
/** Agent-protocol calls: agent credentials only (x-min-role "agent"); every user token and API key gets 401. */
const AGENT_ONLY = ['agentStream', 'agentAck', 'agentTelemetry', 'agentLeave'];
const RANK: Record<string, number> = { viewer: 0, operator: 1, admin: 2, owner: 3 };

let seq = 0;
const uniq = () => ++seq;
const ip = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

type Ids = Record<'pool' | 'backend' | 'vip' | 'member' | 'apiKey' | 'joinToken' | 'agent', string>;

function fillPath(path: string, ids: Partial<Ids>): string {
  return (
    path
      .replace('{poolId}', ids.pool ?? 'missing')
      .replace(/\/v1\/pools\/\{id\}/, `/v1/pools/${ids.pool}`)
      .replace(/backends\/\{id\}/, `backends/${ids.backend}`)
      .replace(/vips\/\{id\}/, `vips/${ids.vip}`)
      .replace(/members\/\{id\}/, `members/${ids.member}`)
      .replace(/api-keys\/\{id\}/, `api-keys/${ids.apiKey}`)
      .replace(/join-tokens\/\{id\}/, `join-tokens/${ids.joinToken}`)
      .replace(/agents\/\{id\}/, `agents/${ids.agent}`)
      // The live stream never ends by itself; a bounded one answers like any other GET.
      .replace(/^\/v1\/stream$/, '/v1/stream?maxEvents=2')
  );
}

/** A valid body for each write, so that only tenant or role decides the answer. */
function bodyFor(op: string, ids: Partial<Ids>, extra: { email?: string } = {}): unknown {
  const i = uniq();
  switch (op) {
    case 'createPool':
      return { name: `pool-${i}` };
    case 'updatePool':
      return { healthProbe: { intervalMs: 6000 } };
    case 'createBackend':
      return { address: ip(i), port: 80 };
    case 'updateBackend':
      return { weight: 5 };
    case 'createVip':
      return { name: `vip-${i}`, address: ip(i), protocol: 'tcp', port: 80, poolId: ids.pool };
    case 'updateVip':
      return { idleTimeoutS: 60 };
    case 'addMember':
      return { email: extra.email ?? 'nobody@example.test', role: 'viewer' };
    case 'updateMember':
      return { role: 'operator' };
    case 'createApiKey':
      return { name: `key-${i}`, role: 'viewer' };
    case 'createJoinToken':
      return { name: `jt-${i}`, role: 'host' };
    default:
      return undefined;
  }
}

async function seedTenant(api: TestApi, token: string, tenantId: string): Promise<Ids> {
  const i = uniq();
  const pool = await api.call('POST', '/v1/pools', { token, body: { name: `p-${i}` } });
  const backend = await api.call('POST', `/v1/pools/${pool.body.id}/backends`, {
    token,
    body: { address: ip(i), port: 80 },
  });
  const vip = await api.call('POST', '/v1/vips', {
    token,
    body: { name: `v-${i}`, address: ip(i), protocol: 'udp', port: 53, poolId: pool.body.id },
  });
  const other = await signup(api, `member${i}`);
  const member = await api.call('POST', '/v1/members', {
    token,
    body: { email: other.email, role: 'viewer' },
  });
  const key = await api.call('POST', '/v1/api-keys', { token, body: { name: `k-${i}`, role: 'viewer' } });
  const jt = await api.call('POST', '/v1/join-tokens', { token, body: { name: `j-${i}`, role: 'host' } });
  // Agents enroll in the next issue; until then the row is written directly.
  const [agent] = await sql<{ id: string }>(
    api.databaseUrl,
    `INSERT INTO "Agent" ("tenantId", name, role) VALUES ($1, $2, 'host') RETURNING id`,
    [tenantId, `agent-${i}`],
  );
  for (const r of [pool, backend, vip, member, key, jt]) expect(r.status).toBe(201);
  return {
    pool: pool.body.id,
    backend: backend.body.id,
    vip: vip.body.id,
    member: member.body.id,
    apiKey: key.body.id,
    joinToken: jt.body.id,
    agent: agent!.id,
  };
}

describe('matrices', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startApi();
  });
  afterAll(() => api.close());

  it('covers every operation of the OpenAPI document', () => {
    const classified = new Set([...Object.keys(MIN_ROLE), ...PUBLIC, ...AGENT_ONLY]);
    expect(OPS.filter((o) => !classified.has(o.operationId)).map((o) => o.operationId)).toEqual([]);
    for (const o of OPS)
      if (!PUBLIC.includes(o.operationId))
        expect([o.operationId, o.minRole]).toEqual([
          o.operationId,
          AGENT_ONLY.includes(o.operationId) ? 'agent' : MIN_ROLE[o.operationId],
        ]);
  });

  describe('tenant isolation', () => {
    let a: Ids;
    let bToken: string;
    let aIds: string[];

    beforeAll(async () => {
      const ta = await signup(api, 'tenant-a');
      a = await seedTenant(api, ta.token, ta.tenantId);
      aIds = [...Object.values(a), ta.tenantId];
      const tb = await signup(api, 'tenant-b');
      bToken = tb.token;
      await seedTenant(api, tb.token, tb.tenantId);
    });

    // Operations that name a resource: B must get 404 on A's ids, for every method, and nothing may change.
    const scoped = OPS.filter(
      (o) => (o.path.includes('{') || o.operationId === 'createVip') && !AGENT_ONLY.includes(o.operationId),
    );
    it('has scoped operations of every method', () => {
      expect(new Set(scoped.map((o) => o.method))).toEqual(new Set(['GET', 'POST', 'PATCH', 'DELETE']));
    });

    it.each(scoped.map((o) => [o.operationId, o] as const))(
      "tenant B on tenant A's ids: %s -> 404",
      async (_, o) => {
        const before = await fingerprint(api.databaseUrl);
        const r = await api.call(o.method, fillPath(o.path, a), {
          token: bToken,
          body: bodyFor(o.operationId, a),
        });
        expectProblem(r, 404, 'not-found');
        expect(JSON.stringify(r.body)).not.toMatch(
          new RegExp(aIds.filter((id) => !r.body.instance?.includes(id)).join('|')),
        );
        expect(await fingerprint(api.databaseUrl)).toEqual(before);
      },
    );

    const lists = OPS.filter(
      (o) =>
        o.method === 'GET' &&
        !o.path.includes('{') &&
        !PUBLIC.includes(o.operationId) &&
        !AGENT_ONLY.includes(o.operationId),
    );
    it.each(lists.map((o) => [o.operationId, o] as const))(
      "tenant B's %s shows none of tenant A's data",
      async (_, o) => {
        const r = await api.call('GET', fillPath(o.path, {}), { token: bToken });
        expect(r.status).toBe(200);
        const text = JSON.stringify(r.body);
        for (const id of aIds) expect(text).not.toContain(id);
      },
    );
  });

  describe('roles', () => {
    let ownerToken: string;
    let ownerUserId: string;
    const principals: { label: string; role: string; token: string }[] = [];

    beforeAll(async () => {
      const owner = await signup(api, 'roles');
      ownerToken = owner.token;
      ownerUserId = owner.userId;
      principals.push({ label: 'owner user', role: 'owner', token: owner.token });
      for (const role of ['admin', 'operator', 'viewer']) {
        const u = await signup(api, role);
        await api.call('POST', '/v1/members', { token: owner.token, body: { email: u.email, role } });
        const login = await api.call('POST', '/v1/auth/login', {
          body: { email: u.email, password: 'correct horse battery', tenantId: owner.tenantId },
        });
        expect(login.body.role).toBe(role);
        principals.push({ label: `${role} user`, role, token: login.body.token });
      }
      for (const role of ['owner', 'admin', 'operator', 'viewer']) {
        const k = await api.call('POST', '/v1/api-keys', {
          token: owner.token,
          body: { name: `${role}-key`, role },
        });
        principals.push({ label: `${role} API key`, role, token: k.body.secret });
      }
    });

    // logout ends the caller's own session; it is covered in auth.int.test.ts.
    const ops = OPS.filter((o) => MIN_ROLE[o.operationId] && o.operationId !== 'logout');
    const roles = ['owner', 'admin', 'operator', 'viewer'];
    const cases = ops.flatMap((o) =>
      roles.flatMap((role) =>
        ['user', 'API key'].map((kind) => [o.operationId, `${role} ${kind}`, o] as const),
      ),
    );

    it.each(cases)('%s as %s', async (_, label, o) => {
      const p = principals.find((x) => x.label === label)!;
      // Fresh targets for every case, created by the owner, so an allowed DELETE does not affect the next case.
      const ids: Partial<Ids> = {};
      if (o.path.includes('/pools/') || o.operationId === 'createVip') {
        ids.pool = (
          await api.call('POST', '/v1/pools', { token: ownerToken, body: { name: `rp-${uniq()}` } })
        ).body.id;
      }
      if (o.path.includes('/backends/{id}')) {
        ids.backend = (
          await api.call('POST', `/v1/pools/${ids.pool}/backends`, {
            token: ownerToken,
            body: { address: ip(uniq()), port: 80 },
          })
        ).body.id;
      }
      if (o.path.startsWith('/v1/vips/')) {
        const pool = (
          await api.call('POST', '/v1/pools', { token: ownerToken, body: { name: `rp-${uniq()}` } })
        ).body.id;
        ids.vip = (
          await api.call('POST', '/v1/vips', {
            token: ownerToken,
            body: { name: `rv-${uniq()}`, address: ip(uniq()), protocol: 'tcp', port: 80, poolId: pool },
          })
        ).body.id;
      }
      let email: string | undefined;
      if (o.path.startsWith('/v1/members')) {
        const u = await signup(api, 'target');
        email = u.email;
        if (o.path.includes('{id}')) {
          ids.member = (
            await api.call('POST', '/v1/members', { token: ownerToken, body: { email, role: 'viewer' } })
          ).body.id;
        }
      }
      if (o.path.startsWith('/v1/api-keys/')) {
        ids.apiKey = (
          await api.call('POST', '/v1/api-keys', {
            token: ownerToken,
            body: { name: `rk-${uniq()}`, role: 'viewer' },
          })
        ).body.id;
      }
      if (o.path.startsWith('/v1/join-tokens/')) {
        ids.joinToken = (
          await api.call('POST', '/v1/join-tokens', {
            token: ownerToken,
            body: { name: `rj-${uniq()}`, role: 'mux' },
          })
        ).body.id;
      }
      if (o.path.startsWith('/v1/agents/')) {
        const me = await api.call('GET', '/v1/me', { token: ownerToken });
        ids.agent = (
          await sql<{ id: string }>(
            api.databaseUrl,
            `INSERT INTO "Agent" ("tenantId", name, role) VALUES ($1, $2, 'mux') RETURNING id`,
            [me.body.tenantId, `ra-${uniq()}`],
          )
        )[0]!.id;
      }
      // One rotation at a time per tenant: finish the previous case's rotation so this one starts clean.
      const finishRotation = () =>
        sql(
          api.databaseUrl,
          `UPDATE "BypassKey" k SET "retiredAt" = now() FROM "Membership" m
           WHERE m."userId" = $1 AND k."tenantId" = m."tenantId" AND k."retiredAt" IS NULL
             AND k."createdAt" < (SELECT max("createdAt") FROM "BypassKey" WHERE "tenantId" = m."tenantId")`,
          [ownerUserId],
        );
      if (o.operationId === 'rotateBypassKey') await finishRotation();
      const before = await fingerprint(api.databaseUrl);
      const r = await api.call(o.method, fillPath(o.path, ids), {
        token: p.token,
        body: bodyFor(o.operationId, ids, { email }),
      });
      if (o.operationId === 'rotateBypassKey') await finishRotation();
      if (RANK[p.role]! >= RANK[MIN_ROLE[o.operationId]!]!) {
        expect(r.status, JSON.stringify(r.body)).toBeGreaterThanOrEqual(200);
        expect(r.status, JSON.stringify(r.body)).toBeLessThan(300);
      } else {
        expectProblem(r, 403, 'forbidden');
        expect(await fingerprint(api.databaseUrl)).toEqual(before);
      }
    });

    const agentCases = AGENT_ONLY.flatMap((id) =>
      roles.flatMap((role) => ['user', 'API key'].map((kind) => [id, `${role} ${kind}`] as const)),
    );
    it.each(agentCases)('agent-only %s as %s -> 401', async (id, label) => {
      const o = OPS.find((x) => x.operationId === id)!;
      const p = principals.find((x) => x.label === label)!;
      const before = await fingerprint(api.databaseUrl);
      const r = await api.call(o.method, o.path, {
        token: p.token,
        body: o.method === 'POST' ? { revision: 1, applied: true } : undefined,
      });
      expectProblem(r, 401, 'unauthenticated');
      expect(await fingerprint(api.databaseUrl)).toEqual(before);
    });

    it('an admin cannot mint an owner key nor grant the owner role', async () => {
      const admin = principals.find((x) => x.label === 'admin user')!;
      expectProblem(
        await api.call('POST', '/v1/api-keys', { token: admin.token, body: { name: 'up', role: 'owner' } }),
        403,
      );
      const u = await signup(api, 'climber');
      expectProblem(
        await api.call('POST', '/v1/members', {
          token: admin.token,
          body: { email: u.email, role: 'owner' },
        }),
        403,
      );
    });

    it('no token and a made-up token are 401', async () => {
      expectProblem(await api.call('GET', '/v1/pools'), 401, 'unauthenticated');
      expectProblem(
        await api.call('GET', '/v1/pools', { token: `sls_k_${'A'.repeat(43)}` }),
        401,
        'unauthenticated',
      );
    });
  });
});

// Every Prisma model written and read back through the generated client against the hand-written
// migration: a column, type, default, index or relation that drifts from schema.prisma fails here.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrisma, prismaCode, type PrismaClient } from '../src/db/prisma.js';
import { Prisma } from '../src/generated/prisma/client.js';
import { freshDatabase } from './helpers.js';

describe('Prisma models against the migrated schema', () => {
  let prisma: PrismaClient;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const db = await freshDatabase();
    drop = db.drop;
    prisma = createPrisma(db.url);
  });
  afterAll(async () => {
    await prisma.$disconnect();
    await drop();
  });

  it('covers every model of the schema', () => {
    expect(Object.values(Prisma.ModelName).sort()).toEqual(
      [
        'Agent',
        'ApiKey',
        'AuditLog',
        'Backend',
        'IdempotencyKey',
        'JoinToken',
        'Membership',
        'Pool',
        'Session',
        'Tenant',
        'User',
        'Vip',
        // agent control (issue #4)
        'AgentConfig',
        'BypassKey',
        // telemetry (issue #4)
        'TelemetrySecond',
        'TelemetryMinute',
        'BackendHealthReport',
        'BackendHealth',
      ].sort(),
    );
  });

  it('writes and reads every model with every field', async () => {
    const at = new Date('2030-01-02T03:04:05.678Z');
    const tenant = await prisma.tenant.create({ data: { name: 'models' } });
    expect(tenant).toMatchObject({ configRevision: 0n });
    expect(tenant.id).toMatch(/^[0-9a-f-]{36}$/);
    const bumped = await prisma.tenant.update({
      where: { id: tenant.id },
      data: { configRevision: { increment: 9_007_199_254_740_993n } },
    });
    expect(bumped.configRevision).toBe(9_007_199_254_740_993n);

    const user = await prisma.user.create({
      data: { email: 'models@example.test', passwordHash: '$argon2id$x' },
    });
    const member = await prisma.membership.create({
      data: { tenantId: tenant.id, userId: user.id, role: 'operator' },
    });
    expect(member).toMatchObject({ role: 'operator', version: 1 });
    const session = await prisma.session.create({
      data: { tenantId: tenant.id, userId: user.id, tokenHash: 'h1', expiresAt: at },
    });
    expect(session.expiresAt).toEqual(at);

    const key = await prisma.apiKey.create({
      data: {
        tenantId: tenant.id,
        name: 'k',
        role: 'viewer',
        prefix: 'sls_k_abcdef',
        secretHash: 'kh',
        expiresAt: at,
        revokedAt: at,
        lastUsedAt: at,
        createdById: user.id,
      },
    });
    expect(key).toMatchObject({
      role: 'viewer',
      version: 1,
      expiresAt: at,
      revokedAt: at,
      lastUsedAt: at,
      createdById: user.id,
    });

    const pool = await prisma.pool.create({ data: { tenantId: tenant.id, name: 'p' } });
    expect(pool).toMatchObject({
      probeProtocol: 'tcp',
      probePort: null,
      probePath: null,
      probeIntervalMs: 5000,
      probeTimeoutMs: 2000,
      probeHealthyThreshold: 2,
      probeUnhealthyThreshold: 3,
      version: 1,
    });
    const pool2 = await prisma.pool.create({
      data: {
        tenantId: tenant.id,
        name: 'p2',
        probeProtocol: 'http',
        probePort: 8080,
        probePath: '/healthz',
        probeIntervalMs: 1000,
        probeTimeoutMs: 500,
        probeHealthyThreshold: 5,
        probeUnhealthyThreshold: 7,
      },
    });
    expect(pool2).toMatchObject({
      probeProtocol: 'http',
      probePort: 8080,
      probePath: '/healthz',
      probeUnhealthyThreshold: 7,
    });

    const backend = await prisma.backend.create({
      data: { tenantId: tenant.id, poolId: pool.id, address: '10.0.0.1', port: 80 },
    });
    expect(backend).toMatchObject({ weight: 100, state: 'active', version: 1 });
    await prisma.backend.create({
      data: {
        tenantId: tenant.id,
        poolId: pool.id,
        address: '10.0.0.2',
        port: 80,
        weight: 0,
        state: 'draining',
      },
    });

    const vip = await prisma.vip.create({
      data: {
        tenantId: tenant.id,
        name: 'v',
        address: '198.19.0.1',
        protocol: 'udp',
        port: 53,
        poolId: pool.id,
      },
    });
    expect(vip).toMatchObject({
      distribution: 'five_tuple',
      idleTimeoutS: 300,
      bypassEnabled: false,
      bypassSourceCidrs: [],
      bypassMaxFlowsPerHost: 65536,
      bypassIdleTimeoutS: 120,
      bypassHandshakeHoldMs: 0,
    });
    const vip2 = await prisma.vip.create({
      data: {
        tenantId: tenant.id,
        name: 'v2',
        address: '198.19.0.1',
        protocol: 'tcp',
        port: 53,
        poolId: pool.id,
        distribution: 'source_ip',
        idleTimeoutS: 30,
        bypassEnabled: true,
        bypassSourceCidrs: ['10.0.0.0/8', '192.168.0.0/16'],
        bypassMaxFlowsPerHost: 10,
        bypassIdleTimeoutS: 5,
        bypassHandshakeHoldMs: 10,
      },
    });
    expect(vip2.bypassSourceCidrs).toEqual(['10.0.0.0/8', '192.168.0.0/16']);
    expect(vip2.bypassHandshakeHoldMs).toBe(10);

    const jt = await prisma.joinToken.create({
      data: {
        tenantId: tenant.id,
        name: 'j',
        role: 'mux',
        prefix: 'sls_j_abcdef',
        secretHash: 'jh',
        expiresAt: at,
        maxUses: 3,
        createdById: user.id,
      },
    });
    expect(jt).toMatchObject({ uses: 0, maxUses: 3, revokedAt: null });
    const agent = await prisma.agent.create({
      data: {
        tenantId: tenant.id,
        name: 'a',
        role: 'host',
        status: 'online',
        hostname: 'h',
        underlayAddress: '10.1.0.1',
        agentVersion: '0.1.0',
        appliedRevision: 42n,
        lastSeenAt: at,
        joinTokenId: jt.id,
      },
    });
    expect(agent).toMatchObject({ appliedRevision: 42n, status: 'online', joinTokenId: jt.id });
    expect(
      (await prisma.agent.create({ data: { tenantId: tenant.id, name: 'b', role: 'mux' } })).status,
    ).toBe('pending');

    // agent control (issue #4)
    const enrolled = await prisma.agent.update({
      where: { id: agent.id },
      data: {
        credentialHash: 'ch',
        revokedAt: at,
        desiredRevision: 9_007_199_254_740_993n,
        lastError: 'nft: no',
      },
    });
    expect(enrolled).toMatchObject({
      credentialHash: 'ch',
      revokedAt: at,
      desiredRevision: 9_007_199_254_740_993n,
      lastError: 'nft: no',
    });
    const cfg = await prisma.agentConfig.create({
      data: { agentId: agent.id, tenantId: tenant.id, revision: 43n, state: { version: 1, vips: [] } },
    });
    expect(cfg).toMatchObject({ revision: 43n, state: { version: 1, vips: [] } });
    expect(cfg.updatedAt).toBeInstanceOf(Date);
    const bk = await prisma.bypassKey.create({
      data: { tenantId: tenant.id, keyId: 'k1', secretCiphertext: 'c', revision: 44n },
    });
    expect(bk).toMatchObject({ keyId: 'k1', secretCiphertext: 'c', revision: 44n, retiredAt: null });
    await prisma.bypassKey.create({
      data: { tenantId: tenant.id, keyId: 'k0', secretCiphertext: 'c0', revision: 1n, retiredAt: at },
    });
    expect(
      await prisma.bypassKey
        .create({ data: { tenantId: tenant.id, keyId: 'k1', secretCiphertext: 'x', revision: 1n } })
        .then(
          () => 'ok',
          (e: unknown) => prismaCode(e),
        ),
    ).toBe('P2002');
    expect(
      await prisma.agent
        .create({ data: { tenantId: tenant.id, name: 'dup-cred', role: 'host', credentialHash: 'ch' } })
        .then(
          () => 'ok',
          (e: unknown) => prismaCode(e),
        ),
    ).toBe('P2002');
    const withCfg = await prisma.agent.findUniqueOrThrow({
      where: { id: agent.id },
      include: { config: true },
    });
    expect(withCfg.config?.revision).toBe(43n);
    const tk = await prisma.tenant.findUniqueOrThrow({
      where: { id: tenant.id },
      include: { agentConfigs: true, bypassKeys: true },
    });
    expect([tk.agentConfigs.length, tk.bypassKeys.length]).toEqual([1, 2]);
    // Deleting the agent takes its stored state with it.
    const gone = await prisma.agent.create({ data: { tenantId: tenant.id, name: 'gone', role: 'host' } });
    await prisma.agentConfig.create({
      data: { agentId: gone.id, tenantId: tenant.id, revision: 1n, state: {} },
    });
    await prisma.agent.delete({ where: { id: gone.id } });
    expect(await prisma.agentConfig.count({ where: { agentId: gone.id } })).toBe(0);

    const audit = await prisma.auditLog.create({
      data: {
        tenantId: tenant.id,
        actorType: 'apiKey',
        actorId: key.id,
        action: 'x.y',
        resourceType: 'x',
        resourceId: 'r',
        before: { a: [1, 'b'] },
        after: { n: null },
        revision: 7n,
      },
    });
    expect(typeof audit.id).toBe('bigint');
    expect(audit).toMatchObject({ before: { a: [1, 'b'] }, after: { n: null }, revision: 7n });
    const idem = await prisma.idempotencyKey.create({
      data: {
        tenantId: tenant.id,
        key: 'k',
        requestHash: 'rh',
        statusCode: 201,
        responseBody: { id: 'x' },
        expiresAt: at,
      },
    });
    expect(idem.responseBody).toEqual({ id: 'x' });

    // Relations, read back in one query.
    const full = await prisma.tenant.findUniqueOrThrow({
      where: { id: tenant.id },
      include: {
        memberships: true,
        sessions: true,
        apiKeys: true,
        pools: { include: { backends: true, vips: true } },
        vips: true,
        agents: { include: { joinToken: true } },
        joinTokens: true,
        auditLogs: true,
        idempotencyKeys: true,
        backends: true,
      },
    });
    expect(full.pools.find((p) => p.id === pool.id)?.backends).toHaveLength(2);
    expect(full.pools.find((p) => p.id === pool.id)?.vips).toHaveLength(2);
    expect(full.agents.find((a) => a.name === 'a')?.joinToken?.id).toBe(jt.id);
    expect(
      [
        full.memberships,
        full.sessions,
        full.apiKeys,
        full.joinTokens,
        full.auditLogs,
        full.idempotencyKeys,
      ].map((x) => x.length),
    ).toEqual([1, 1, 1, 1, 1, 1]);
    expect(
      (
        await prisma.user.findUniqueOrThrow({
          where: { email: user.email },
          include: { memberships: true, sessions: true },
        })
      ).memberships,
    ).toHaveLength(1);
  });

  it('enforces the unique indexes, the restrict rule and the cascades', async () => {
    const t = await prisma.tenant.create({ data: { name: 'constraints' } });
    const pool = await prisma.pool.create({ data: { tenantId: t.id, name: 'p' } });
    const code = async (p: Promise<unknown>) =>
      p.then(
        () => 'ok',
        (e: unknown) => prismaCode(e) ?? String(e),
      );
    await prisma.vip.create({
      data: { tenantId: t.id, name: 'v', address: '198.19.0.1', protocol: 'tcp', port: 80, poolId: pool.id },
    });
    expect(
      await code(
        prisma.vip.create({
          data: {
            tenantId: t.id,
            name: 'w',
            address: '198.19.0.1',
            protocol: 'tcp',
            port: 80,
            poolId: pool.id,
          },
        }),
      ),
    ).toBe('P2002');
    expect(await code(prisma.pool.create({ data: { tenantId: t.id, name: 'p' } }))).toBe('P2002');
    await prisma.backend.create({ data: { tenantId: t.id, poolId: pool.id, address: '10.0.0.1', port: 80 } });
    expect(
      await code(
        prisma.backend.create({ data: { tenantId: t.id, poolId: pool.id, address: '10.0.0.1', port: 80 } }),
      ),
    ).toBe('P2002');
    expect(await code(prisma.pool.delete({ where: { id: pool.id } }))).toBe('P2003');
    // The CHECK constraints written in SQL back the API's validation.
    expect(
      await code(
        prisma.backend.create({
          data: { tenantId: t.id, poolId: pool.id, address: '10.0.0.2', port: 80, weight: 1001 },
        }),
      ),
    ).not.toBe('ok');
    await prisma.vip.deleteMany({ where: { tenantId: t.id } });
    await prisma.pool.delete({ where: { id: pool.id } });
    expect(await prisma.backend.count({ where: { tenantId: t.id } })).toBe(0);
    await prisma.tenant.delete({ where: { id: t.id } });
    expect(await prisma.pool.count({ where: { tenantId: t.id } })).toBe(0);
  });

  it('writes and reads the telemetry models (issue #4), and backend health cascades with its backend', async () => {
    const t = await prisma.tenant.create({ data: { name: 'telemetry' } });
    const pool = await prisma.pool.create({ data: { tenantId: t.id, name: 'p' } });
    const backend = await prisma.backend.create({
      data: { tenantId: t.id, poolId: pool.id, address: '10.0.0.9', port: 80 },
    });
    const at = new Date('2030-01-02T03:04:05.000Z');
    const vipId = '33333333-3333-4333-8333-333333333333';
    const counters = {
      packetsMux: 9_007_199_254_740_993n,
      packetsDirect: 2n,
      bytesMux: 3n,
      bytesDirect: 4n,
      flowsNew: 5n,
      flowsBypassed: 6n,
      redirectsSent: 7n,
      redirectsRejected: { stale: 1 },
      ttbBuckets: { '1': 2, '+Inf': 0 },
      ttbSumMs: 1.5,
      ttbCount: 2n,
      bypassEntries: 8n,
    };
    const sec = await prisma.telemetrySecond.create({
      data: { tenantId: t.id, vipId, second: at, ...counters },
    });
    expect(sec).toEqual({ tenantId: t.id, vipId, second: at, ...counters });
    const min = await prisma.telemetryMinute.create({
      data: { tenantId: t.id, vipId, minute: at, ...counters },
    });
    expect(min).toEqual({ tenantId: t.id, vipId, minute: at, ...counters });
    expect(
      await prisma.telemetrySecond.create({ data: { tenantId: t.id, vipId, second: new Date(0) } }),
    ).toMatchObject({ packetsMux: 0n, redirectsRejected: {}, ttbBuckets: {}, ttbSumMs: 0 });
    const agentId = '44444444-4444-4444-8444-444444444444';
    const report = await prisma.backendHealthReport.create({
      data: {
        backendId: backend.id,
        agentId,
        tenantId: t.id,
        healthy: false,
        reason: 'refused',
        reportedAt: at,
      },
    });
    expect(report).toMatchObject({ healthy: false, reason: 'refused', reportedAt: at });
    await prisma.backendHealth.create({
      data: { backendId: backend.id, tenantId: t.id, health: 'unhealthy', checkedAt: at, changedAt: at },
    });
    const full = await prisma.backend.findUniqueOrThrow({
      where: { id: backend.id },
      include: { healthReports: true, healthState: true },
    });
    expect(full.healthReports).toHaveLength(1);
    expect(full.healthState).toMatchObject({ health: 'unhealthy', checkedAt: at, changedAt: at });
    await prisma.backend.delete({ where: { id: backend.id } });
    expect(await prisma.backendHealthReport.count({ where: { tenantId: t.id } })).toBe(0);
    expect(await prisma.backendHealth.count({ where: { tenantId: t.id } })).toBe(0);
  });
});

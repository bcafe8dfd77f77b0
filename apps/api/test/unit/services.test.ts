import { describe, expect, it, vi } from 'vitest';
import { ErrorCode } from '../../src/common/errors.js';
import type { Principal } from '../../src/common/principal.js';
import {
  ApiKeyService,
  AuthService,
  MemberService,
  type PasswordHasher,
} from '../../src/services/account.service.js';
import { PoolService, VipService } from '../../src/services/resource.service.js';
import { fakeDb, owner } from './fakes.js';

const now = new Date('2030-01-01T00:00:00Z');
const poolRow = {
  id: 'p1',
  tenantId: owner.tenantId,
  name: 'web',
  probeProtocol: 'tcp' as const,
  probePort: null,
  probePath: null,
  probeIntervalMs: 5000,
  probeTimeoutMs: 2000,
  probeHealthyThreshold: 2,
  probeUnhealthyThreshold: 3,
  version: 3,
  createdAt: now,
  updatedAt: now,
};
const vipRow = {
  id: 'v1',
  tenantId: owner.tenantId,
  name: 'web',
  address: '198.19.0.10',
  protocol: 'tcp' as const,
  port: 80,
  poolId: 'p1',
  distribution: 'five_tuple' as const,
  idleTimeoutS: 300,
  bypassEnabled: false,
  bypassSourceCidrs: [],
  bypassMaxFlowsPerHost: 65536,
  bypassIdleTimeoutS: 120,
  bypassHandshakeHoldMs: 0,
  version: 1,
  createdAt: now,
  updatedAt: now,
};
const code = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: { code?: string }) => e.code,
  );

describe('PoolService', () => {
  it('fills http probe defaults and refuses a probe whose timeout is not below its interval', async () => {
    const create = vi.fn(async (_t: string, d: object) => ({ ...poolRow, ...d }));
    const { db, runner } = fakeDb({ pools: { create } });
    const svc = new PoolService(db, runner);
    const r = await svc.create(owner, { name: 'web', healthProbe: { protocol: 'http' } });
    expect(r.value.healthProbe).toMatchObject({
      protocol: 'http',
      path: '/',
      intervalMs: 5000,
      timeoutMs: 2000,
    });
    expect(create).toHaveBeenCalledWith(
      owner.tenantId,
      expect.objectContaining({ probeProtocol: 'http', probePath: '/' }),
    );
    expect(
      await code(svc.create(owner, { name: 'x', healthProbe: { intervalMs: 1000, timeoutMs: 1000 } })),
    ).toBe(ErrorCode.Validation);
    expect(create).toHaveBeenCalledTimes(1);
  });

  it('refuses to delete a pool a VIP uses, and a stale If-Match, before writing', async () => {
    const del = vi.fn(async () => {});
    const { db, runner } = fakeDb({
      pools: { find: vi.fn(async () => poolRow), countVipsUsing: vi.fn(async () => 1), delete: del },
    });
    const svc = new PoolService(db, runner);
    expect(await code(svc.delete(owner, 'p1'))).toBe(ErrorCode.PoolInUse);
    expect(await code(svc.delete(owner, 'p1', 2))).toBe(ErrorCode.PreconditionFailed);
    expect(del).not.toHaveBeenCalled();
  });

  it("asks the repository with the caller's tenant and answers 404 for what it does not find", async () => {
    const find = vi.fn(async () => null);
    const { db, runner } = fakeDb({ pools: { find } });
    expect(await code(new PoolService(db, runner).get(owner, 'p1'))).toBe(ErrorCode.NotFound);
    expect(find).toHaveBeenCalledWith(owner.tenantId, 'p1');
  });
});

describe('VipService', () => {
  it('refuses a second VIP on the same address, protocol and port', async () => {
    const create = vi.fn();
    const { db, runner } = fakeDb({
      pools: { find: vi.fn(async () => poolRow) },
      vips: { findByListener: vi.fn(async () => vipRow), create },
    });
    const input = {
      name: 'b',
      address: '198.19.0.10',
      protocol: 'tcp' as const,
      port: 80,
      poolId: 'p1',
      distribution: 'five-tuple' as const,
      idleTimeoutS: 300,
    };
    expect(await code(new VipService(db, runner).create(owner, input))).toBe(ErrorCode.DuplicateVip);
    expect(create).not.toHaveBeenCalled();
  });

  it('lets a VIP keep its own listener and merges the bypass block', async () => {
    const update = vi.fn(async (_t: string, _id: string, _v: number, d: object) => ({
      ...vipRow,
      ...d,
      version: 2,
    }));
    const { db, runner } = fakeDb({
      vips: { find: vi.fn(async () => vipRow), findByListener: vi.fn(async () => vipRow), update },
    });
    const r = await new VipService(db, runner).update(owner, 'v1', {
      bypass: { enabled: true, sourceCidrs: ['10.0.0.0/8'] },
    });
    expect(r.bypass).toEqual({
      enabled: true,
      sourceCidrs: ['10.0.0.0/8'],
      maxFlowsPerHost: 65536,
      idleTimeoutS: 120,
      handshakeHoldMs: 0,
    });
  });
});

describe('MemberService and ApiKeyService', () => {
  const admin: Principal = { ...owner, role: 'admin' };
  it('keeps the last owner and reserves the owner role to owners', async () => {
    const member = {
      id: 'm1',
      tenantId: owner.tenantId,
      userId: 'u',
      role: 'owner' as const,
      version: 1,
      createdAt: now,
      updatedAt: now,
      user: { email: 'o@x' },
    };
    const { db, runner } = fakeDb({
      members: {
        find: vi.fn(async () => member),
        countOwners: vi.fn(async () => 1),
        update: vi.fn(),
        delete: vi.fn(),
      },
    });
    const svc = new MemberService(db, runner);
    expect(await code(svc.update(owner, 'm1', 'admin'))).toBe(ErrorCode.Conflict);
    expect(await code(svc.delete(owner, 'm1'))).toBe(ErrorCode.Conflict);
    expect(await code(svc.update(admin, 'm1', 'viewer'))).toBe(ErrorCode.Forbidden);
    expect(await code(svc.create(admin, { email: 'x@y.test', role: 'owner' }))).toBe(ErrorCode.Forbidden);
  });

  it('never mints a key above its creator', async () => {
    const create = vi.fn();
    const { db, runner } = fakeDb({ apiKeys: { create } });
    const svc = new ApiKeyService(db, runner);
    expect(await code(svc.create({ ...owner, role: 'operator' }, { name: 'k', role: 'admin' }))).toBe(
      ErrorCode.Forbidden,
    );
    expect(create).not.toHaveBeenCalled();
  });
});

describe('AuthService', () => {
  const hasher: PasswordHasher = {
    hash: vi.fn(async (p: string) => `h:${p}`),
    verify: vi.fn(async (h: string, p: string) => h === `h:${p}`),
  };

  it('spends a hash verification on unknown emails too, and answers both failures alike', async () => {
    const { db, runner } = fakeDb({ users: { findByEmail: vi.fn(async () => null) } });
    const svc = new AuthService(db, runner, hasher, 24);
    await expect(svc.login({ email: 'ghost@x.test', password: 'pw' })).rejects.toMatchObject({
      code: ErrorCode.Unauthenticated,
    });
    expect(hasher.verify).toHaveBeenCalledTimes(1);
  });

  it('ignores tokens that are not Slipstream secrets without asking the database', async () => {
    const findValid = vi.fn();
    const { db, runner } = fakeDb({ sessions: { findValid }, apiKeys: { findValidBySecretHash: findValid } });
    const svc = new AuthService(db, runner, hasher, 24);
    for (const t of ['', 'abc', 'sls_x_' + 'A'.repeat(43), 'sls_s_short', 'sls_j_' + 'A'.repeat(43)]) {
      expect(await svc.authenticate(t)).toBeNull();
    }
    expect(findValid).not.toHaveBeenCalled();
  });
});

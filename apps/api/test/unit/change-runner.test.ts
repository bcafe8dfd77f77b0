import { describe, expect, it, vi } from 'vitest';
import { AppError, ErrorCode } from '../../src/common/errors.js';
import { fakeDb, owner } from './fakes.js';

const change = {
  value: { id: 'x' },
  action: 'pool.create',
  resourceType: 'pool',
  resourceId: 'x',
  before: null,
  after: { id: 'x' },
};

describe('ChangeRunner', () => {
  it('bumps the revision, audits with the actor and publishes after the commit', async () => {
    const { runner, repos, publisher, db } = fakeDb({});
    const r = await runner.apply(owner, async () => change);
    expect(r).toEqual({ value: { id: 'x' }, replayed: false });
    expect(db.transaction).toHaveBeenCalledTimes(1);
    expect(repos.tenants.bumpRevision).toHaveBeenCalledWith(owner.tenantId);
    expect(repos.audit.append).toHaveBeenCalledWith(owner.tenantId, {
      actorType: 'user',
      actorId: owner.actorId,
      action: 'pool.create',
      resourceType: 'pool',
      resourceId: 'x',
      before: null,
      after: { id: 'x' },
      revision: 1n,
    });
    expect(publisher.publish).toHaveBeenCalledWith({ tenantId: owner.tenantId, revision: 1n });
  });

  it('publishes nothing and audits nothing when the change fails', async () => {
    const { runner, repos, publisher } = fakeDb({});
    await expect(
      runner.apply(owner, async () => Promise.reject(AppError.notFound('pool'))),
    ).rejects.toMatchObject({
      code: ErrorCode.NotFound,
    });
    expect(repos.audit.append).not.toHaveBeenCalled();
    expect(publisher.publish).not.toHaveBeenCalled();
  });

  it('a failing publisher does not fail the committed change', async () => {
    const { runner, publisher } = fakeDb({});
    vi.mocked(publisher.publish).mockRejectedValueOnce(new Error('redis down'));
    await expect(runner.apply(owner, async () => change)).resolves.toMatchObject({ replayed: false });
  });

  it('stores the response under the idempotency key, with secrets removed by `stored`', async () => {
    const { runner, repos } = fakeDb({});
    await runner.apply(
      owner,
      async () => ({ ...change, value: { id: 'x', secret: 's' } }),
      { key: 'k', requestHash: 'h' },
      (v) => ({
        ...v,
        secret: null,
      }),
    );
    expect(repos.idempotency.store).toHaveBeenCalledWith(
      owner.tenantId,
      expect.objectContaining({
        key: 'k',
        requestHash: 'h',
        statusCode: 201,
        responseBody: { id: 'x', secret: null },
      }),
      expect.any(Date),
    );
  });

  it('replays a stored response for the same request and refuses a different one', async () => {
    const { runner, repos, db } = fakeDb({});
    const stored = {
      tenantId: owner.tenantId,
      key: 'k',
      requestHash: 'h',
      statusCode: 201,
      responseBody: { id: 'old' },
    };
    vi.mocked(repos.idempotency.find).mockResolvedValue(stored as never);
    const fn = vi.fn(async () => change);
    expect(await runner.apply(owner, fn, { key: 'k', requestHash: 'h' })).toEqual({
      value: { id: 'old' },
      replayed: true,
    });
    await expect(runner.apply(owner, fn, { key: 'k', requestHash: 'other' })).rejects.toMatchObject({
      code: ErrorCode.IdempotencyMismatch,
      status: 422,
    });
    expect(fn).not.toHaveBeenCalled();
    expect(db.transaction).not.toHaveBeenCalled();
  });
});

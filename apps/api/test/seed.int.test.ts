import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { DEMO_EMAIL, DEMO_PASSWORD, seedDemo } from '../src/db/seed.js';
import { CONFIG_QUEUE } from '../src/services/publisher.js';
import { type TestApi, startApi } from './helpers.js';

describe('demo seed', () => {
  let api: TestApi;
  const prefix = `seed-${Date.now()}`;
  beforeAll(async () => {
    api = await startApi({ REDIS_PREFIX: prefix, CONFIG_PUBLISHER: 'bullmq' });
  });
  afterAll(() => api.close());

  it('creates the lab tenant once and reports the same login on a re-run', async () => {
    const first = await seedDemo(api.databaseUrl);
    expect(first).toMatchObject({ email: DEMO_EMAIL, password: DEMO_PASSWORD, created: true });
    const second = await seedDemo(api.databaseUrl);
    expect(second).toEqual({ ...first, created: false });

    const login = await api.call('POST', '/v1/auth/login', {
      body: { email: DEMO_EMAIL, password: DEMO_PASSWORD },
    });
    expect(login.body.tenantId).toBe(first.tenantId);
    const token = login.body.token;
    const pools = await api.call('GET', '/v1/pools', { token });
    expect(pools.body.items).toHaveLength(1);
    const pool = pools.body.items[0];
    expect(pool.name).toBe('web');
    const backends = await api.call('GET', `/v1/pools/${pool.id}/backends`, { token });
    expect(
      backends.body.items.map((b: { address: string; port: number }) => `${b.address}:${b.port}`).sort(),
    ).toEqual(['198.18.0.31:80', '198.18.0.32:80', '198.18.0.33:80']);
    const vips = await api.call('GET', '/v1/vips', { token });
    expect(vips.body.items).toEqual([
      expect.objectContaining({
        name: 'web',
        address: '198.19.0.10',
        protocol: 'tcp',
        port: 80,
        poolId: pool.id,
        bypass: expect.objectContaining({ enabled: true, sourceCidrs: ['198.18.0.0/24'] }),
      }),
    ]);
  });

  it('a change enqueues one config-changed job per tenant revision', async () => {
    const login = await api.call('POST', '/v1/auth/login', {
      body: { email: DEMO_EMAIL, password: DEMO_PASSWORD },
    });
    const token = login.body.token;
    const pool = await api.call('POST', '/v1/pools', { token, body: { name: 'queued' } });
    expect(pool.status).toBe(201);
    const me = await api.call('GET', '/v1/me', { token });
    const connection = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
    const queue = new Queue(CONFIG_QUEUE, { connection, prefix: `${prefix}:bull` });
    try {
      const job = await queue.getJob(`${me.body.tenantId}-${me.body.configRevision}`);
      expect(job?.data).toEqual({ tenantId: me.body.tenantId, revision: String(me.body.configRevision) });
    } finally {
      await queue.close();
      connection.disconnect();
    }
  });
});

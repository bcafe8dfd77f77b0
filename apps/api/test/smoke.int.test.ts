import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestApi, signup, startApi } from './helpers.js';

describe('smoke', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startApi();
  });
  afterAll(() => api.close());

  it('health', async () => {
    const r = await api.call('GET', '/v1/health');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ status: 'ok', postgres: 'up', redis: 'up' });
  });

  it('pool create', async () => {
    const a = await signup(api);
    const r = await api.call('POST', '/v1/pools', { token: a.token, body: { name: 'web' } });
    expect(r.status).toBe(201);
  });
});

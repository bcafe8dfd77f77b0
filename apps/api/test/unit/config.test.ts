import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { requestHashFor } from './request-hash.js';

describe('loadConfig', () => {
  it('applies defaults', () => {
    const c = loadConfig({ DATABASE_URL: 'postgresql://u:p@h:1/db', REDIS_URL: 'redis://h:2' });
    expect(c).toMatchObject({ PORT: 3001, HOST: '0.0.0.0', LOG_LEVEL: 'info', CONFIG_PUBLISHER: 'bullmq' });
  });

  it('lists every problem at once', () => {
    try {
      loadConfig({ PORT: '70000', DATABASE_URL: 'mysql://x', LOG_LEVEL: 'loud' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems.join('\n');
      for (const v of ['PORT', 'DATABASE_URL', 'REDIS_URL', 'LOG_LEVEL']) expect(problems).toContain(v);
    }
  });
});

describe('idempotency request hash', () => {
  it('ignores key order but not values, paths or methods', () => {
    const a = requestHashFor('POST', '/v1/pools', { name: 'a', healthProbe: { port: 1, protocol: 'tcp' } });
    expect(
      requestHashFor('POST', '/v1/pools', { healthProbe: { protocol: 'tcp', port: 1 }, name: 'a' }),
    ).toBe(a);
    expect(
      requestHashFor('POST', '/v1/pools', { name: 'b', healthProbe: { port: 1, protocol: 'tcp' } }),
    ).not.toBe(a);
    expect(
      requestHashFor('POST', '/v1/vips', { name: 'a', healthProbe: { port: 1, protocol: 'tcp' } }),
    ).not.toBe(a);
  });
});

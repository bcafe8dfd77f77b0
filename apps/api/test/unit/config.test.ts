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

describe('agent-control settings', () => {
  const base = { DATABASE_URL: 'postgresql://u:p@h:1/db', REDIS_URL: 'redis://h:2' };
  const problems = (env: Record<string, string>) => {
    try {
      loadConfig({ ...base, ...env });
      return [];
    } catch (err) {
      return (err as ConfigError).problems;
    }
  };

  it('requires a 32-byte master key in production only', () => {
    expect(problems({ NODE_ENV: 'production' })).toEqual([
      'SLIPSTREAM_MASTER_KEY: is required in production',
    ]);
    expect(
      problems({ NODE_ENV: 'production', SLIPSTREAM_MASTER_KEY: Buffer.alloc(32, 1).toString('base64') }),
    ).toEqual([]);
    expect(problems({ SLIPSTREAM_MASTER_KEY: Buffer.alloc(16).toString('base64') })).toEqual([
      'SLIPSTREAM_MASTER_KEY: must be base64 of exactly 32 bytes',
    ]);
    expect(loadConfig(base).SLIPSTREAM_MASTER_KEY).toBeUndefined();
  });

  it('parses TRUST_PROXY, WORKER and the agent intervals', () => {
    expect(loadConfig(base)).toMatchObject({
      TRUST_PROXY: ['127.0.0.1', '::1'],
      WORKER: '1',
      AGENT_SWEEP_MS: 5000,
      AGENT_PING_MS: 15000,
    });
    expect(loadConfig({ ...base, TRUST_PROXY: ' 10.0.0.0/8, 192.0.2.7 ' }).TRUST_PROXY).toEqual([
      '10.0.0.0/8',
      '192.0.2.7',
    ]);
    expect(loadConfig({ ...base, TRUST_PROXY: 'none' }).TRUST_PROXY).toEqual([]);
    expect(
      problems({ TRUST_PROXY: '10.0.0.0/8,example.com', WORKER: 'yes', AGENT_SWEEP_MS: '5' }).map(
        (p) => p.split(':')[0],
      ),
    ).toEqual(['TRUST_PROXY.1', 'WORKER', 'AGENT_SWEEP_MS']);
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

// Every case must be refused with a 4xx problem+json and must write nothing (database fingerprint
// unchanged: row counts, versions and config revisions).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CallOpts, type TestApi, expectProblem, fingerprint, signup, startApi } from './helpers.js';

interface Case {
  name: string;
  method?: string;
  path: string;
  opts: CallOpts;
  status: number;
  code?: string;
}

const OK_BACKEND = { address: '10.0.0.1', port: 80 };
const vip = (over: Record<string, unknown>) => ({
  name: 'v2',
  address: '198.19.0.20',
  protocol: 'tcp',
  port: 443,
  poolId: '$pool',
  ...over,
});
const bypass = (over: Record<string, unknown>) => vip({ bypass: over });

const CASES: Case[] = [
  // pools
  { name: 'pool without name', path: '/v1/pools', opts: { body: {} }, status: 400, code: 'validation' },
  { name: 'pool name empty', path: '/v1/pools', opts: { body: { name: '' } }, status: 400 },
  { name: 'pool name with spaces', path: '/v1/pools', opts: { body: { name: 'my pool' } }, status: 400 },
  { name: 'pool name of 64 chars', path: '/v1/pools', opts: { body: { name: 'p'.repeat(64) } }, status: 400 },
  { name: 'pool name a number', path: '/v1/pools', opts: { body: { name: 42 } }, status: 400 },
  { name: 'pool unknown field', path: '/v1/pools', opts: { body: { name: 'x', color: 'red' } }, status: 400 },
  {
    name: 'probe protocol icmp',
    path: '/v1/pools',
    opts: { body: { name: 'x', healthProbe: { protocol: 'icmp' } } },
    status: 400,
  },
  {
    name: 'probe port 0',
    path: '/v1/pools',
    opts: { body: { name: 'x', healthProbe: { port: 0 } } },
    status: 400,
  },
  {
    name: 'probe port 65536',
    path: '/v1/pools',
    opts: { body: { name: 'x', healthProbe: { port: 65536 } } },
    status: 400,
  },
  {
    name: 'probe interval as string',
    path: '/v1/pools',
    opts: { body: { name: 'x', healthProbe: { intervalMs: '5000' } } },
    status: 400,
  },
  {
    name: 'probe timeout >= interval',
    path: '/v1/pools',
    opts: { body: { name: 'x', healthProbe: { intervalMs: 1000, timeoutMs: 1000 } } },
    status: 400,
  },
  {
    name: 'probe path on tcp',
    path: '/v1/pools',
    opts: { body: { name: 'x', healthProbe: { protocol: 'tcp', path: '/' } } },
    status: 400,
  },
  {
    name: 'probe unknown field',
    path: '/v1/pools',
    opts: { body: { name: 'x', healthProbe: { retries: 3 } } },
    status: 400,
  },
  {
    name: 'duplicate pool name',
    path: '/v1/pools',
    opts: { body: { name: 'web' } },
    status: 409,
    code: 'conflict',
  },
  { name: 'body is an array', path: '/v1/pools', opts: { body: [{ name: 'x' }] }, status: 400 },
  { name: 'body is null', path: '/v1/pools', opts: { raw: 'null' }, status: 400 },
  {
    name: 'malformed JSON',
    path: '/v1/pools',
    opts: { raw: '{"name": "x",' },
    status: 400,
    code: 'malformed-json',
  },
  {
    name: 'oversize body (80 KiB)',
    path: '/v1/pools',
    opts: { body: { name: 'x', pad: 'a'.repeat(80 * 1024) } },
    status: 413,
    code: 'payload-too-large',
  },
  {
    name: 'text/plain body',
    path: '/v1/pools',
    opts: { raw: 'name=x', headers: { 'content-type': 'text/plain' } },
    status: 415,
    code: 'unsupported-media-type',
  },
  // backends
  {
    name: 'backend address 256.1.1.1',
    path: '/v1/pools/$pool/backends',
    opts: { body: { ...OK_BACKEND, address: '256.1.1.1' } },
    status: 400,
  },
  {
    name: 'backend address 10.0.0',
    path: '/v1/pools/$pool/backends',
    opts: { body: { ...OK_BACKEND, address: '10.0.0' } },
    status: 400,
  },
  {
    name: 'backend address IPv6',
    path: '/v1/pools/$pool/backends',
    opts: { body: { ...OK_BACKEND, address: '::1' } },
    status: 400,
  },
  {
    name: 'backend address with prefix',
    path: '/v1/pools/$pool/backends',
    opts: { body: { ...OK_BACKEND, address: '10.0.0.1/24' } },
    status: 400,
  },
  {
    name: 'backend address with space',
    path: '/v1/pools/$pool/backends',
    opts: { body: { ...OK_BACKEND, address: ' 10.0.0.1' } },
    status: 400,
  },
  {
    name: 'backend address with a leading zero',
    path: '/v1/pools/$pool/backends',
    opts: { body: { ...OK_BACKEND, address: '010.0.0.1' } },
    status: 400,
  },
  {
    name: 'backend address hostname',
    path: '/v1/pools/$pool/backends',
    opts: { body: { ...OK_BACKEND, address: 'web1.local' } },
    status: 400,
  },
  {
    name: 'backend port 0',
    path: '/v1/pools/$pool/backends',
    opts: { body: { ...OK_BACKEND, port: 0 } },
    status: 400,
  },
  {
    name: 'backend port 65536',
    path: '/v1/pools/$pool/backends',
    opts: { body: { ...OK_BACKEND, port: 65536 } },
    status: 400,
  },
  {
    name: 'backend port 80.5',
    path: '/v1/pools/$pool/backends',
    opts: { body: { ...OK_BACKEND, port: 80.5 } },
    status: 400,
  },
  {
    name: 'backend port "80"',
    path: '/v1/pools/$pool/backends',
    opts: { body: { ...OK_BACKEND, port: '80' } },
    status: 400,
  },
  {
    name: 'backend weight -1',
    path: '/v1/pools/$pool/backends',
    opts: { body: { ...OK_BACKEND, weight: -1 } },
    status: 400,
  },
  {
    name: 'backend weight 1001',
    path: '/v1/pools/$pool/backends',
    opts: { body: { ...OK_BACKEND, weight: 1001 } },
    status: 400,
  },
  {
    name: 'backend state up',
    path: '/v1/pools/$pool/backends',
    opts: { body: { ...OK_BACKEND, state: 'up' } },
    status: 400,
  },
  {
    name: 'backend unknown field',
    path: '/v1/pools/$pool/backends',
    opts: { body: { ...OK_BACKEND, zone: 'a' } },
    status: 400,
  },
  {
    name: 'duplicate backend in pool',
    path: '/v1/pools/$pool/backends',
    opts: { body: { address: '198.18.0.21', port: 80 } },
    status: 409,
  },
  {
    name: 'backend in unknown pool',
    path: '/v1/pools/00000000-0000-4000-8000-000000000000/backends',
    opts: { body: OK_BACKEND },
    status: 404,
  },
  {
    name: 'backend weight patch 5000',
    method: 'PATCH',
    path: '/v1/pools/$pool/backends/$backend',
    opts: { body: { weight: 5000 } },
    status: 400,
  },
  // VIPs
  {
    name: 'duplicate VIP address+protocol+port',
    path: '/v1/vips',
    opts: { body: vip({ address: '198.19.0.10', port: 80 }) },
    status: 409,
    code: 'duplicate-vip',
  },
  { name: 'VIP protocol icmp', path: '/v1/vips', opts: { body: vip({ protocol: 'icmp' }) }, status: 400 },
  { name: 'VIP port 0', path: '/v1/vips', opts: { body: vip({ port: 0 }) }, status: 400 },
  { name: 'VIP port 65536', path: '/v1/vips', opts: { body: vip({ port: 65536 }) }, status: 400 },
  {
    name: 'VIP address 1.2.3.4.5',
    path: '/v1/vips',
    opts: { body: vip({ address: '1.2.3.4.5' }) },
    status: 400,
  },
  { name: 'VIP address empty', path: '/v1/vips', opts: { body: vip({ address: '' }) }, status: 400 },
  {
    name: 'VIP distribution round-robin',
    path: '/v1/vips',
    opts: { body: vip({ distribution: 'round-robin' }) },
    status: 400,
  },
  { name: 'VIP idle timeout 0', path: '/v1/vips', opts: { body: vip({ idleTimeoutS: 0 }) }, status: 400 },
  { name: 'VIP poolId not a uuid', path: '/v1/vips', opts: { body: vip({ poolId: 'web' }) }, status: 400 },
  {
    name: 'VIP poolId unknown',
    path: '/v1/vips',
    opts: { body: vip({ poolId: '00000000-0000-4000-8000-000000000000' }) },
    status: 404,
  },
  {
    name: 'VIP missing port',
    path: '/v1/vips',
    opts: { body: { ...vip({}), port: undefined } },
    status: 400,
  },
  {
    name: 'bypass CIDR /33',
    path: '/v1/vips',
    opts: { body: bypass({ sourceCidrs: ['198.18.0.0/33'] }) },
    status: 400,
  },
  {
    name: 'bypass CIDR with host bits',
    path: '/v1/vips',
    opts: { body: bypass({ sourceCidrs: ['198.18.0.5/24'] }) },
    status: 400,
  },
  {
    name: 'bypass CIDR garbage',
    path: '/v1/vips',
    opts: { body: bypass({ sourceCidrs: ['not-a-cidr'] }) },
    status: 400,
  },
  {
    name: 'bypass CIDR 300.0.0.0/8',
    path: '/v1/vips',
    opts: { body: bypass({ sourceCidrs: ['300.0.0.0/8'] }) },
    status: 400,
  },
  {
    name: 'bypass CIDRs not an array',
    path: '/v1/vips',
    opts: { body: bypass({ sourceCidrs: '198.18.0.0/24' }) },
    status: 400,
  },
  {
    name: 'bypass maxFlowsPerHost 0',
    path: '/v1/vips',
    opts: { body: bypass({ maxFlowsPerHost: 0 }) },
    status: 400,
  },
  {
    name: 'bypass handshakeHoldMs 51',
    path: '/v1/vips',
    opts: { body: bypass({ handshakeHoldMs: 51 }) },
    status: 400,
  },
  {
    name: 'bypass handshakeHoldMs -1',
    path: '/v1/vips',
    opts: { body: bypass({ handshakeHoldMs: -1 }) },
    status: 400,
  },
  { name: 'bypass enabled "yes"', path: '/v1/vips', opts: { body: bypass({ enabled: 'yes' }) }, status: 400 },
  {
    name: 'bypass unknown field',
    path: '/v1/vips',
    opts: { body: bypass({ mode: 'rewrite' }) },
    status: 400,
  },
  {
    name: 'VIP patch to port 65536',
    method: 'PATCH',
    path: '/v1/vips/$vip',
    opts: { body: { port: 65536 } },
    status: 400,
  },
  {
    name: 'VIP patch unknown field',
    method: 'PATCH',
    path: '/v1/vips/$vip',
    opts: { body: { weight: 1 } },
    status: 400,
  },
  {
    name: 'delete a pool a VIP uses',
    method: 'DELETE',
    path: '/v1/pools/$pool',
    opts: {},
    status: 409,
    code: 'pool-in-use',
  },
  // accounts, keys, lists
  {
    name: 'API key role root',
    path: '/v1/api-keys',
    opts: { body: { name: 'k', role: 'root' } },
    status: 400,
  },
  {
    name: 'API key expired at creation',
    path: '/v1/api-keys',
    opts: { body: { name: 'k', role: 'viewer', expiresAt: '2001-01-01T00:00:00Z' } },
    status: 400,
  },
  {
    name: 'API key expiresAt not a date',
    path: '/v1/api-keys',
    opts: { body: { name: 'k', role: 'viewer', expiresAt: 'tomorrow' } },
    status: 400,
  },
  {
    name: 'member role superuser',
    path: '/v1/members',
    opts: { body: { email: 'a@b.test', role: 'superuser' } },
    status: 400,
  },
  {
    name: 'member email invalid',
    path: '/v1/members',
    opts: { body: { email: 'not-an-email', role: 'viewer' } },
    status: 400,
  },
  {
    name: 'join token expiry 10 s',
    path: '/v1/join-tokens',
    opts: { body: { name: 'j', role: 'host', expiresInS: 10 } },
    status: 400,
  },
  {
    name: 'join token role client',
    path: '/v1/join-tokens',
    opts: { body: { name: 'j', role: 'client' } },
    status: 400,
  },
  {
    name: 'signup short password',
    path: '/v1/auth/signup',
    opts: { body: { email: 'n@b.test', password: 'short', tenantName: 't' } },
    status: 400,
  },
  {
    name: 'signup bad email',
    path: '/v1/auth/signup',
    opts: { body: { email: 'nope', password: 'long enough pw', tenantName: 't' } },
    status: 400,
  },
  {
    name: 'signup unknown field',
    path: '/v1/auth/signup',
    opts: { body: { email: 'n@b.test', password: 'long enough pw', tenantName: 't', admin: true } },
    status: 400,
  },
  { name: 'list limit 0', method: 'GET', path: '/v1/pools?limit=0', opts: {}, status: 400 },
  { name: 'list limit 201', method: 'GET', path: '/v1/pools?limit=201', opts: {}, status: 400 },
  { name: 'list cursor garbage', method: 'GET', path: '/v1/pools?cursor=zzz', opts: {}, status: 400 },
  { name: 'list unknown query parameter', method: 'GET', path: '/v1/vips?sort=name', opts: {}, status: 400 },
  {
    name: 'Idempotency-Key of 300 chars',
    path: '/v1/pools',
    opts: { body: { name: 'x' }, headers: { 'idempotency-key': 'k'.repeat(300) } },
    status: 400,
  },
  {
    name: 'If-Match that is not an ETag',
    method: 'PATCH',
    path: '/v1/pools/$pool',
    opts: { body: { name: 'y' }, headers: { 'if-match': 'yesterday' } },
    status: 412,
  },
];

describe('bad input', () => {
  let api: TestApi;
  let token: string;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    api = await startApi();
    token = (await signup(api)).token;
    const pool = await api.call('POST', '/v1/pools', { token, body: { name: 'web' } });
    ids.pool = pool.body.id;
    const b = await api.call('POST', `/v1/pools/${ids.pool}/backends`, {
      token,
      body: { address: '198.18.0.21', port: 80 },
    });
    ids.backend = b.body.id;
    const v = await api.call('POST', '/v1/vips', {
      token,
      body: { name: 'web', address: '198.19.0.10', protocol: 'tcp', port: 80, poolId: ids.pool },
    });
    ids.vip = v.body.id;
    expect([pool.status, b.status, v.status]).toEqual([201, 201, 201]);
  });
  afterAll(() => api.close());

  it('has at least 40 cases', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(40);
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
  });

  const fill = (s: string) => s.replace(/\$(pool|backend|vip)/g, (_, k: string) => ids[k] ?? '');

  it.each(CASES)('$name -> $status', async (c) => {
    const before = await fingerprint(api.databaseUrl);
    const body = c.opts.body === undefined ? undefined : JSON.parse(fill(JSON.stringify(c.opts.body)));
    const r = await api.call(c.method ?? 'POST', fill(c.path), { ...c.opts, body, token });
    expectProblem(r, c.status, c.code);
    if (c.status === 400 && r.body.type.endsWith('/validation')) {
      expect(r.body.errors?.length ?? 0).toBeGreaterThan(0);
    }
    expect(await fingerprint(api.databaseUrl)).toEqual(before);
  });
});

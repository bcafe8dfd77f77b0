import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSlipstreamClient, fieldErrors, problemKind, problemMessage, toProblem } from '../src/index.js';

// A real HTTP server standing in for the API, so the wrapper is exercised through openapi-fetch's real
// request path (URL building, headers, JSON and problem+json parsing).
let server: Server;
let baseUrl = '';
const seen: {
  method?: string;
  url?: string;
  auth?: string;
  ifMatch?: string;
  idem?: string;
  body?: string;
}[] = [];

async function bodyOf(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

beforeAll(async () => {
  server = createServer(async (req, res) => {
    const body = await bodyOf(req);
    seen.push({
      method: req.method,
      url: req.url,
      auth: req.headers.authorization,
      ifMatch: req.headers['if-match'] as string | undefined,
      idem: req.headers['idempotency-key'] as string | undefined,
      body,
    });
    if (req.url === '/v1/me') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ tenantId: 't', tenantName: 'Acme', configRevision: 3, role: 'viewer' }));
    } else if (req.url?.startsWith('/v1/vips/') && req.method === 'PATCH') {
      res.writeHead(412, { 'content-type': 'application/problem+json' });
      res.end(
        JSON.stringify({
          type: 'https://slipstream.dev/problems/precondition-failed',
          title: 'Resource changed since it was read',
          status: 412,
        }),
      );
    } else if (req.url === '/v1/vips' && req.method === 'POST') {
      res.writeHead(400, { 'content-type': 'application/problem+json' });
      res.end(
        JSON.stringify({
          type: 'https://slipstream.dev/problems/validation',
          title: 'Request validation failed',
          status: 400,
          errors: [
            { path: 'address', message: 'Invalid IPv4 address' },
            { path: 'bypass.sourceCidrs.1', message: 'Invalid IPv4 range' },
          ],
        }),
      );
    } else {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html>bad gateway</html>');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('createSlipstreamClient', () => {
  it('sends the bearer token and parses JSON', async () => {
    const client = createSlipstreamClient({ baseUrl, token: 'sls_abc' });
    const { data, response } = await client.GET('/v1/me');
    expect(response.status).toBe(200);
    expect(data?.tenantName).toBe('Acme');
    expect(seen.at(-1)).toMatchObject({ method: 'GET', url: '/v1/me', auth: 'Bearer sls_abc' });
  });

  it('sends no Authorization header without a token', async () => {
    await createSlipstreamClient({ baseUrl }).GET('/v1/me');
    expect(seen.at(-1)?.auth).toBeUndefined();
  });

  it('passes If-Match and returns the 412 problem', async () => {
    const client = createSlipstreamClient({ baseUrl, token: 't' });
    const { data, error, response } = await client.PATCH('/v1/vips/{id}', {
      params: { path: { id: '6f1c2a52-4a55-4c1e-8d1e-2f5b0b1f6b7a' } },
      body: { port: 8080 },
      headers: { 'if-match': 'W/"3"' },
    });
    expect(data).toBeUndefined();
    expect(seen.at(-1)).toMatchObject({
      url: '/v1/vips/6f1c2a52-4a55-4c1e-8d1e-2f5b0b1f6b7a',
      ifMatch: 'W/"3"',
    });
    expect(JSON.parse(seen.at(-1)?.body ?? '{}')).toEqual({ port: 8080 });
    const p = toProblem(error, response);
    expect(p.status).toBe(412);
    expect(problemKind(p)).toBe('precondition-failed');
  });

  it('turns field errors into per-input messages, including list items', async () => {
    const client = createSlipstreamClient({ baseUrl, token: 't' });
    const { error, response } = await client.POST('/v1/vips', {
      body: {
        name: 'web',
        address: '10.0.0.300',
        protocol: 'tcp',
        port: 80,
        poolId: '6f1c2a52-4a55-4c1e-8d1e-2f5b0b1f6b7a',
        distribution: 'five-tuple',
        idleTimeoutS: 300,
      },
      headers: { 'idempotency-key': 'k1' },
    });
    expect(seen.at(-1)?.idem).toBe('k1');
    const p = toProblem(error, response);
    expect(fieldErrors(p)).toEqual({
      address: 'Invalid IPv4 address',
      'bypass.sourceCidrs.1': 'Invalid IPv4 range',
      'bypass.sourceCidrs': 'Invalid IPv4 range',
      bypass: 'Invalid IPv4 range',
    });
  });

  it('gives a problem even when a proxy answered with HTML', async () => {
    const { error, response } = await createSlipstreamClient({ baseUrl }).GET('/v1/health');
    const p = toProblem(error, response);
    expect(p).toMatchObject({ type: 'about:blank', status: 502 });
    expect(p.detail).toContain('bad gateway');
  });
});

describe('problemMessage', () => {
  it('joins title and detail and keeps the error id', () => {
    expect(problemMessage({ type: 'x', title: 'Internal server error', status: 500, errorId: 'e-1' })).toBe(
      'Internal server error (error id e-1)',
    );
    expect(
      problemMessage({
        type: 'x',
        title: 'Conflicts with an existing resource',
        status: 409,
        detail: 'name taken',
      }),
    ).toBe('Conflicts with an existing resource: name taken');
  });
});

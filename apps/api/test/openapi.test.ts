import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { CONTROLLERS } from '../src/app.module.js';
import { buildOpenApi } from '../src/openapi/build.js';
import { CONTRACT_PATH, renderOpenApi } from '../src/openapi/write.js';
import { type TestApi, startApi } from './helpers.js';

type Doc = {
  openapi: string;
  paths: Record<string, Record<string, { operationId?: string }>>;
  components: { schemas: Record<string, unknown> };
};

describe('OpenAPI contract', () => {
  it('the committed packages/contract/openapi.json is what the code generates (run `npm run openapi -w @slipstream/api`)', async () => {
    expect(await readFile(CONTRACT_PATH, 'utf8')).toBe(await renderOpenApi());
  });

  it('is OpenAPI 3.1 with a unique operationId on every operation and no dangling $ref', () => {
    const doc = buildOpenApi(CONTROLLERS) as Doc;
    expect(doc.openapi).toMatch(/^3\.1\./);
    const ids = Object.values(doc.paths).flatMap((ops) => Object.values(ops).map((o) => o.operationId));
    expect(ids.every((id) => typeof id === 'string' && id.length > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map(
      (m) => m[1]!,
    );
    expect(refs.length).toBeGreaterThan(50);
    for (const r of new Set(refs)) expect(Object.keys(doc.components.schemas)).toContain(r);
    expect(JSON.stringify(doc.components.schemas)).not.toContain('"$id"');
  });

  it('is served at GET /v1/openapi.json without a token', async () => {
    let api: TestApi | undefined;
    try {
      api = await startApi();
      const r = await api.call('GET', '/v1/openapi.json');
      expect(r.status).toBe(200);
      expect(r.body).toEqual(buildOpenApi(CONTROLLERS, r.body.info.version));
    } finally {
      await api?.close();
    }
  });
});

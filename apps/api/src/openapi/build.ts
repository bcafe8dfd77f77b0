// Builds the OpenAPI 3.1 document from controller metadata alone (no database, no Redis), so
// `npm run openapi` can regenerate the committed copy anywhere.
import { RequestMethod, type Type } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { z } from 'zod';
import { ERROR_STATUS, type ErrorCode, PROBLEM_BASE } from '../common/errors.js';
import { requestSchemas, responseSchemas } from '../dto/common.js';
import { ENDPOINT, type EndpointSpec } from '../http/endpoint.js';

type Json = Record<string, unknown>;

const REF = (id: string) => `#/components/schemas/${id}`;

function clean(s: Json): Json {
  const { $schema: _s, $id: _d, id: _i, ...rest } = s;
  return rest;
}

function schemaRef(schema: z.ZodType, io: 'input' | 'output'): Json {
  const id = (io === 'input' ? requestSchemas : responseSchemas).get(schema)?.id;
  if (id) return { $ref: REF(id) };
  return clean(z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Json);
}

function fieldsOf(schema: z.ZodType | undefined): [string, z.ZodType][] {
  if (!schema || !(schema instanceof z.ZodObject)) return [];
  return Object.entries(schema.shape as Record<string, z.ZodType>);
}

const METHODS: Partial<Record<RequestMethod, string>> = {
  [RequestMethod.GET]: 'get',
  [RequestMethod.POST]: 'post',
  [RequestMethod.PUT]: 'put',
  [RequestMethod.PATCH]: 'patch',
  [RequestMethod.DELETE]: 'delete',
};

const ERROR_TEXT: Record<number, string> = {
  400: 'Invalid input (problem+json with `errors`)',
  401: 'Missing, unknown, expired or revoked token',
  403: "The caller's role does not allow this",
  404: "No such resource in this tenant (also for other tenants' ids)",
  409: 'Conflicts with the current state',
  412: 'If-Match names an older version',
  413: 'Body larger than 64 KiB',
  415: 'Body is not application/json',
  422: 'Idempotency-Key reused with a different request',
  429: 'Rate limited; see Retry-After',
  500: 'Unexpected error; `errorId` is in the server log',
};

function joinPath(a: string, b: string): string {
  const p = `/${[a, b]
    .map((s) => s.replace(/^\/+|\/+$/g, ''))
    .filter(Boolean)
    .join('/')}`;
  return p.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

export function buildOpenApi(controllers: Type[], version = '0.1.0'): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const ctrl of controllers) {
    const base = (Reflect.getMetadata(PATH_METADATA, ctrl) as string | undefined) ?? '';
    const proto = ctrl.prototype as Record<string, unknown>;
    for (const name of Object.getOwnPropertyNames(proto)) {
      const handler = proto[name];
      if (typeof handler !== 'function' || name === 'constructor') continue;
      const spec = Reflect.getMetadata(ENDPOINT, handler) as EndpointSpec | undefined;
      const method = METHODS[Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod];
      if (!spec || !method) continue;
      const path = joinPath(base, (Reflect.getMetadata(PATH_METADATA, handler) as string | undefined) ?? '');
      (paths[path] ??= {})[method] = operation(spec);
    }
  }
  const sorted = Object.fromEntries(Object.entries(paths).sort(([a], [b]) => a.localeCompare(b)));
  const components = {
    ...(z.toJSONSchema(requestSchemas, { io: 'input', uri: REF, unrepresentable: 'any' }).schemas as Record<
      string,
      Json
    >),
    ...(z.toJSONSchema(responseSchemas, { io: 'output', uri: REF, unrepresentable: 'any' }).schemas as Record<
      string,
      Json
    >),
  };
  return {
    openapi: '3.1.0',
    info: {
      title: 'Slipstream control-plane API',
      version,
      description:
        'Multi-tenant L4 load balancer with load-balancer bypass. Errors are RFC 9457 problem+json; `type` is ' +
        `${PROBLEM_BASE}<code>. PATCH and DELETE accept an optional If-Match with the ETag from GET (412 when stale); ` +
        'without it they apply unconditionally. POST creates accept Idempotency-Key (24 h).',
    },
    servers: [{ url: '/' }],
    tags: [
      ...new Set(
        Object.values(sorted).flatMap((ops) => Object.values(ops).map((o) => (o.tags as string[])[0])),
      ),
    ].map((name) => ({ name })),
    paths: sorted,
    components: {
      schemas: Object.fromEntries(
        Object.entries(components)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([k, v]) => [k, clean(v)]),
      ),
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'Session token (sls_s_…) or API key (sls_k_…)',
        },
      },
    },
    'x-problem-types': Object.fromEntries(
      Object.entries(ERROR_STATUS).map(([code, status]) => [PROBLEM_BASE + (code as ErrorCode), status]),
    ),
  };
}

function operation(spec: EndpointSpec): Json {
  const parameters: Json[] = [
    ...fieldsOf(spec.params).map(([name, s]) => ({
      name,
      in: 'path',
      required: true,
      schema: schemaRef(s, 'input'),
    })),
    ...fieldsOf(spec.query).map(([name, s]) => ({
      name,
      in: 'query',
      required: !s.safeParse(undefined).success,
      schema: schemaRef(s, 'input'),
    })),
  ];
  if (spec.ifMatch) {
    parameters.push({
      name: 'If-Match',
      in: 'header',
      required: false,
      description: 'ETag from GET; when it is stale the change is refused with 412. Optional.',
      schema: { type: 'string' },
    });
  }
  if (spec.idempotent) {
    parameters.push({
      name: 'Idempotency-Key',
      in: 'header',
      required: false,
      description:
        'Same key and body within 24 h replays the first response (header Idempotent-Replayed: true).',
      schema: { type: 'string', maxLength: 255 },
    });
  }
  const status = spec.status ?? 200;
  const ok: Json =
    status === 204 || !spec.response
      ? { description: 'Done' }
      : {
          description: 'Success',
          ...(spec.etag
            ? { headers: { ETag: { schema: { type: 'string' }, description: 'W/"<version>"' } } }
            : {}),
          content: { 'application/json': { schema: schemaRef(spec.response, 'output') } },
        };
  const errors = new Set<number>([500, ...(spec.errors ?? [])]);
  if (spec.body || spec.query) errors.add(400);
  if (spec.body) errors.add(413).add(415);
  if (spec.role !== 'public') errors.add(401).add(403);
  if (spec.params) errors.add(404);
  if (spec.ifMatch) errors.add(412);
  if (spec.idempotent) errors.add(422);
  const problem = { content: { 'application/problem+json': { schema: { $ref: REF('Problem') } } } };
  return {
    operationId: spec.operationId,
    summary: spec.summary,
    tags: [spec.tag],
    ...(spec.role === 'public' ? { security: [] } : { security: [{ bearer: [] }], 'x-min-role': spec.role }),
    ...(parameters.length ? { parameters } : {}),
    ...(spec.body
      ? {
          requestBody: {
            required: true,
            content: { 'application/json': { schema: schemaRef(spec.body, 'input') } },
          },
        }
      : {}),
    responses: {
      [String(status)]: ok,
      ...Object.fromEntries(
        [...errors].sort().map((s) => [String(s), { description: ERROR_TEXT[s] ?? 'Error', ...problem }]),
      ),
    },
  };
}

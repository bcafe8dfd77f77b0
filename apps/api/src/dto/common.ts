// Request and response shapes. Requests are `.strict()` (unknown fields are errors); every schema that
// appears in the OpenAPI document is registered under a name so generated clients get named types.
import { z } from 'zod';

/** Named request schemas (emitted in input mode: fields with defaults are optional). */
export const requestSchemas = z.registry<{ id: string }>();
/** Named response schemas (emitted in output mode). */
export const responseSchemas = z.registry<{ id: string }>();

export function request<T extends z.ZodType>(id: string, schema: T): T {
  requestSchemas.add(schema, { id });
  return schema;
}
export function response<T extends z.ZodType>(id: string, schema: T): T {
  responseSchemas.add(schema, { id });
  return schema;
}

export const Name = z
  .string()
  .min(1)
  .max(63)
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]*$/,
    'letters, digits, dot, dash and underscore; starts with a letter or digit',
  );
export const Ipv4 = z.ipv4();
export const Cidr4 = z.cidrv4().refine((c) => {
  const [addr, len] = c.split('/');
  const n = (addr ?? '').split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const bits = Number(len);
  return bits === 0 ? n === 0 : n % 2 ** (32 - bits) === 0;
}, 'host bits must be zero (e.g. 198.18.0.0/24)');
export const Port = z.int().min(1).max(65535);
export const Uuid = z.uuid();
export const Timestamp = z.iso.datetime({ offset: true });

export const IdParams = z.object({ id: Uuid }).strict();

export const PageQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(200).default(50),
    cursor: z.string().max(200).optional(),
  })
  .strict();
export type PageQuery = z.infer<typeof PageQuery>;

export function pageOf<T extends z.ZodType>(id: string, item: T) {
  return response(id, z.object({ items: z.array(item), nextCursor: z.string().nullable() }));
}

export const Problem = response(
  'Problem',
  z.object({
    type: z.string(),
    title: z.string(),
    status: z.int(),
    detail: z.string().optional(),
    instance: z.string().optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    errorId: z.string().optional(),
  }),
);

export const RoleEnum = z.enum(['owner', 'admin', 'operator', 'viewer']);
export type RoleName = z.infer<typeof RoleEnum>;

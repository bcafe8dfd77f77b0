import { z } from 'zod';
import type { Agent, ApiKey, AuditLog, JoinToken } from '../generated/prisma/client.js';
import type { MemberRow } from '../repositories/user.repository.js';
import { Name, PageQuery, RoleEnum, Timestamp, Uuid, pageOf, request, response } from './common.js';

const Email = z
  .email()
  .max(254)
  .transform((e) => e.toLowerCase());
const Password = z.string().min(10).max(256);

export const SignupRequest = request(
  'SignupRequest',
  z.object({ email: Email, password: Password, tenantName: z.string().trim().min(1).max(100) }).strict(),
);
export type SignupRequest = z.infer<typeof SignupRequest>;

export const LoginRequest = request(
  'LoginRequest',
  z
    .object({
      email: Email,
      password: z.string().min(1).max(256),
      /** Which of the user's tenants the session is for; the oldest membership when omitted. */
      tenantId: Uuid.optional(),
    })
    .strict(),
);
export type LoginRequest = z.infer<typeof LoginRequest>;

export const SessionDto = response(
  'Session',
  z.object({ token: z.string(), tenantId: Uuid, userId: Uuid, role: RoleEnum, expiresAt: Timestamp }),
);
export type SessionDto = z.infer<typeof SessionDto>;

export const MeDto = response(
  'Me',
  z.object({
    tenantId: Uuid,
    tenantName: z.string(),
    configRevision: z.int(),
    role: RoleEnum,
    actor: z.object({ type: z.enum(['user', 'apiKey']), id: Uuid, email: z.string().nullable() }),
  }),
);
export type MeDto = z.infer<typeof MeDto>;

export const MemberCreate = request('MemberCreate', z.object({ email: Email, role: RoleEnum }).strict());
export type MemberCreate = z.infer<typeof MemberCreate>;
export const MemberUpdate = request('MemberUpdate', z.object({ role: RoleEnum }).strict());

export const MemberDto = response(
  'Member',
  z.object({
    id: Uuid,
    userId: Uuid,
    email: z.string(),
    role: RoleEnum,
    version: z.int(),
    createdAt: Timestamp,
  }),
);
export type MemberDto = z.infer<typeof MemberDto>;
export const MemberPage = pageOf('MemberPage', MemberDto);

export function mapMember(m: MemberRow): MemberDto {
  return {
    id: m.id,
    userId: m.userId,
    email: m.user.email,
    role: m.role,
    version: m.version,
    createdAt: m.createdAt.toISOString(),
  };
}

export const ApiKeyCreate = request(
  'ApiKeyCreate',
  z
    .object({
      name: Name,
      role: RoleEnum,
      expiresAt: Timestamp.refine((t) => Date.parse(t) > Date.now(), 'must be in the future').optional(),
    })
    .strict(),
);
export type ApiKeyCreate = z.infer<typeof ApiKeyCreate>;

const ApiKeyFields = {
  id: Uuid,
  name: z.string(),
  role: RoleEnum,
  /** The first characters of the secret, to recognise a key; the secret itself is never shown again. */
  prefix: z.string(),
  expiresAt: Timestamp.nullable(),
  revokedAt: Timestamp.nullable(),
  lastUsedAt: Timestamp.nullable(),
  version: z.int(),
  createdAt: Timestamp,
};
export const ApiKeyDto = response('ApiKey', z.object(ApiKeyFields));
export type ApiKeyDto = z.infer<typeof ApiKeyDto>;
export const ApiKeyPage = pageOf('ApiKeyPage', ApiKeyDto);
export const ApiKeyCreated = response(
  'ApiKeyCreated',
  z.object({
    ...ApiKeyFields,
    /** Shown once. null when this response is an Idempotency-Key replay (only its hash is stored). */
    secret: z.string().nullable(),
  }),
);
export type ApiKeyCreated = z.infer<typeof ApiKeyCreated>;

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function mapApiKey(k: ApiKey): ApiKeyDto {
  return {
    id: k.id,
    name: k.name,
    role: k.role,
    prefix: k.prefix,
    expiresAt: iso(k.expiresAt),
    revokedAt: iso(k.revokedAt),
    lastUsedAt: iso(k.lastUsedAt),
    version: k.version,
    createdAt: k.createdAt.toISOString(),
  };
}

const AgentRole = z.enum(['host', 'mux']);

export const JoinTokenCreate = request(
  'JoinTokenCreate',
  z
    .object({
      name: Name,
      role: AgentRole,
      /** Lifetime in seconds (default 3600); or give `expiresAt` instead. */
      expiresInS: z
        .int()
        .min(60)
        .max(30 * 86_400)
        .optional(),
      /** Absolute expiry, 1 minute to 30 days ahead; exclusive with expiresInS. */
      expiresAt: Timestamp.optional(),
      maxUses: z.int().min(1).max(10_000).default(1),
    })
    .strict()
    .refine((t) => t.expiresInS === undefined || t.expiresAt === undefined, {
      message: 'give expiresInS or expiresAt, not both',
      path: ['expiresAt'],
    }),
);
export type JoinTokenCreate = z.infer<typeof JoinTokenCreate>;

const JoinTokenFields = {
  id: Uuid,
  name: z.string(),
  role: AgentRole,
  prefix: z.string(),
  expiresAt: Timestamp,
  maxUses: z.int(),
  uses: z.int(),
  revokedAt: Timestamp.nullable(),
  createdAt: Timestamp,
};
export const JoinTokenDto = response('JoinToken', z.object(JoinTokenFields));
export type JoinTokenDto = z.infer<typeof JoinTokenDto>;
export const JoinTokenPage = pageOf('JoinTokenPage', JoinTokenDto);
export const JoinTokenCreated = response(
  'JoinTokenCreated',
  z.object({ ...JoinTokenFields, secret: z.string().nullable() }),
);
export type JoinTokenCreated = z.infer<typeof JoinTokenCreated>;

export function mapJoinToken(t: JoinToken): JoinTokenDto {
  return {
    id: t.id,
    name: t.name,
    role: t.role,
    prefix: t.prefix,
    expiresAt: t.expiresAt.toISOString(),
    maxUses: t.maxUses,
    uses: t.uses,
    revokedAt: iso(t.revokedAt),
    createdAt: t.createdAt.toISOString(),
  };
}

export const AgentDto = response(
  'Agent',
  z.object({
    id: Uuid,
    name: z.string(),
    role: AgentRole,
    status: z.enum(['pending', 'online', 'offline']),
    hostname: z.string().nullable(),
    underlayAddress: z.string().nullable(),
    agentVersion: z.string().nullable(),
    appliedRevision: z.int().nullable(),
    desiredRevision: z.int().nullable(),
    /** Holds a config stream or reported within the last 45 s (shared presence in Redis). */
    connected: z.boolean(),
    lastError: z.string().nullable(),
    lastSeenAt: Timestamp.nullable(),
    revokedAt: Timestamp.nullable(),
    createdAt: Timestamp,
  }),
);
export type AgentDto = z.infer<typeof AgentDto>;
export const AgentPage = pageOf('AgentPage', AgentDto);

export function mapAgent(a: Agent, connected = false): AgentDto {
  let status: AgentDto['status'] = a.lastSeenAt ? 'offline' : 'pending';
  if (connected && !a.revokedAt) status = 'online';
  return {
    id: a.id,
    name: a.name,
    role: a.role,
    status,
    hostname: a.hostname,
    underlayAddress: a.underlayAddress,
    agentVersion: a.agentVersion,
    appliedRevision: a.appliedRevision === null ? null : Number(a.appliedRevision),
    desiredRevision: a.desiredRevision === null ? null : Number(a.desiredRevision),
    connected: connected && !a.revokedAt,
    lastError: a.lastError,
    lastSeenAt: iso(a.lastSeenAt),
    revokedAt: iso(a.revokedAt),
    createdAt: a.createdAt.toISOString(),
  };
}

export const AuditEntryDto = response(
  'AuditEntry',
  z.object({
    id: z.string(),
    at: Timestamp,
    actor: z.object({ type: z.enum(['user', 'apiKey', 'system']), id: z.string().nullable() }),
    action: z.string(),
    resourceType: z.string(),
    resourceId: z.string().nullable(),
    revision: z.int(),
    before: z.unknown().nullable(),
    after: z.unknown().nullable(),
  }),
);
export type AuditEntryDto = z.infer<typeof AuditEntryDto>;
export const AuditPage = pageOf('AuditPage', AuditEntryDto);

export const AuditQuery = PageQuery.extend({
  resourceType: z.string().min(1).max(64).optional(),
  action: z.string().min(1).max(128).optional(),
  actorId: z.string().min(1).max(128).optional(),
}).strict();
export type AuditQuery = z.infer<typeof AuditQuery>;

export const TenantListDto = response(
  'TenantList',
  z.object({
    items: z.array(
      z.object({ tenantId: Uuid, tenantName: z.string(), role: RoleEnum, current: z.boolean() }),
    ),
  }),
);
export type TenantListDto = z.infer<typeof TenantListDto>;

export function mapAudit(a: AuditLog): AuditEntryDto {
  return {
    id: a.id.toString(),
    at: a.at.toISOString(),
    actor: { type: a.actorType, id: a.actorId },
    action: a.action,
    resourceType: a.resourceType,
    resourceId: a.resourceId,
    revision: Number(a.revision),
    before: a.before ?? null,
    after: a.after ?? null,
  };
}

export const HealthDto = response(
  'Health',
  z.object({
    status: z.enum(['ok', 'degraded']),
    postgres: z.enum(['up', 'down']),
    redis: z.enum(['up', 'down']),
  }),
);
export type HealthDto = z.infer<typeof HealthDto>;

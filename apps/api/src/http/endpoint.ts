import {
  HttpCode,
  SetMetadata,
  applyDecorators,
  createParamDecorator,
  type ExecutionContext,
} from '@nestjs/common';
import type { z } from 'zod';
import type { RoleName } from '../dto/common.js';
import type { Principal } from '../common/principal.js';
import type { AgentPrincipal } from '../services/agent-control.service.js';
import type { Applied } from '../services/change-runner.js';
import { idempotencyOf, ifMatchVersion } from './request.js';

/**
 * Everything one operation declares: who may call it, what it accepts and returns. The guard, the
 * validation interceptor and the OpenAPI generator all read this, so they cannot disagree.
 */
export interface EndpointSpec {
  operationId: string;
  summary: string;
  tag: string;
  /** Minimum role; 'public' needs no token; 'agent' takes only an agent credential (sls_a_), never a user's. */
  role: RoleName | 'public' | 'agent';
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  response?: z.ZodType;
  status?: number;
  /** Accepts If-Match (optional; a stale one answers 412). */
  ifMatch?: boolean;
  /** Accepts Idempotency-Key. */
  idempotent?: boolean;
  /** Response carries an ETag. */
  etag?: boolean;
  /**
   * Counted against a per-address rate limit: `true` is the auth budget; `'enroll'` a separate one, so
   * agents enrolling from one address (a lab, a NAT) do not lock people out of logging in.
   */
  rateLimited?: boolean | 'enroll';
  /** Extra documented error statuses besides the common ones. */
  errors?: number[];
}

export const ENDPOINT = 'slipstream:endpoint';

export function Endpoint(spec: EndpointSpec) {
  return applyDecorators(SetMetadata(ENDPOINT, spec), HttpCode(spec.status ?? 200));
}

export interface RequestState {
  principal?: Principal;
  agent?: AgentPrincipal;
  input?: { params: unknown; query: unknown; body: unknown };
}

type Req = RequestState & { headers: Record<string, string | string[] | undefined> };

export const Params = createParamDecorator(
  (_: unknown, ctx: ExecutionContext) => ctx.switchToHttp().getRequest<Req>().input?.params,
);
export const Query = createParamDecorator(
  (_: unknown, ctx: ExecutionContext) => ctx.switchToHttp().getRequest<Req>().input?.query,
);
export const Body = createParamDecorator(
  (_: unknown, ctx: ExecutionContext) => ctx.switchToHttp().getRequest<Req>().input?.body,
);
export const Caller = createParamDecorator(
  (_: unknown, ctx: ExecutionContext) => ctx.switchToHttp().getRequest<Req>().principal,
);

/** The agent an agent credential belongs to (routes with role 'agent'). */
export const AgentCaller = createParamDecorator(
  (_: unknown, ctx: ExecutionContext) => ctx.switchToHttp().getRequest<Req>().agent,
);

export const IfMatch = createParamDecorator((_: unknown, ctx: ExecutionContext) =>
  ifMatchVersion(ctx.switchToHttp().getRequest<Req>().headers),
);

export const Idem = createParamDecorator((_: unknown, ctx: ExecutionContext) => {
  const req = ctx.switchToHttp().getRequest<Req & { method: string; url: string; body: unknown }>();
  return idempotencyOf(req.headers, req.method, req.url.split('?')[0] ?? '', req.body);
});

/** Marks replays so a client can tell a stored response from a fresh one. */
export function replayAware<T>(reply: { header(k: string, v: string): unknown }, applied: Applied<T>): T {
  if (applied.replayed) reply.header('idempotent-replayed', 'true');
  return applied.value;
}

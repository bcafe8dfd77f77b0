import {
  type CallHandler,
  type CanActivate,
  type ExecutionContext,
  Inject,
  Injectable,
  type NestInterceptor,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { map, type Observable } from 'rxjs';
import type { z } from 'zod';
import { AppError, ErrorCode } from '../common/errors.js';
import { roleAtLeast } from '../common/principal.js';
import { AuthService } from '../services/account.service.js';
import { AgentControlService } from '../services/agent-control.service.js';
import { APP_CONFIG, type AppConfig } from '../config.js';
import { ENDPOINT, type EndpointSpec, type RequestState } from './endpoint.js';
import { etagOf } from './request.js';
import { RateLimiter } from './rate-limit.js';

type Req = FastifyRequest & RequestState;

function specOf(reflector: Reflector, ctx: ExecutionContext): EndpointSpec | undefined {
  return reflector.get<EndpointSpec | undefined>(ENDPOINT, ctx.getHandler());
}

/** Rate limit, then authentication, then the endpoint's minimum role. */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly auth: AuthService,
    private readonly limiter: RateLimiter,
    private readonly agents: AgentControlService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const spec = specOf(this.reflector, ctx);
    if (!spec) return true;
    const req = ctx.switchToHttp().getRequest<Req>();
    if (spec.rateLimited) {
      const wait =
        spec.rateLimited === 'enroll'
          ? await this.limiter.hit(`enroll:${req.ip}`, Date.now(), this.config.ENROLL_RATE_LIMIT_PER_MIN)
          : await this.limiter.hit(`auth:${req.ip}`);
      if (wait > 0) {
        throw new AppError(ErrorCode.RateLimited, `retry in ${wait} s`, undefined, {
          'retry-after': String(wait),
        });
      }
    }
    if (spec.role === 'public') return true;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (spec.role === 'agent') {
      // Agent routes take agent credentials only; user tokens and API keys are unknown here, and the
      // tenant is the credential's, whatever the body says.
      const agent = m?.[1] ? await this.agents.authenticate(m[1]) : null;
      if (!agent) {
        throw new AppError(
          ErrorCode.Unauthenticated,
          'send Authorization: Bearer <agent credential>',
          undefined,
          {
            'www-authenticate': 'Bearer',
          },
        );
      }
      req.agent = agent;
      return true;
    }
    const principal = m?.[1] ? await this.auth.authenticate(m[1]) : null;
    if (!principal) {
      throw new AppError(
        ErrorCode.Unauthenticated,
        'send Authorization: Bearer <session token or API key>',
        undefined,
        {
          'www-authenticate': 'Bearer',
        },
      );
    }
    if (!roleAtLeast(principal.role, spec.role)) {
      throw new AppError(ErrorCode.Forbidden, `this operation needs the ${spec.role} role or higher`);
    }
    req.principal = principal;
    return true;
  }
}

function issues(where: string, err: z.ZodError) {
  return err.issues.map((i) => {
    const path = [where, ...i.path.map(String)].filter(Boolean).join('.');
    const message = i.code === 'unrecognized_keys' ? `unknown field(s): ${i.keys.join(', ')}` : i.message;
    return { path, message };
  });
}

/** Validates params, query and body against the endpoint's schemas and sets the ETag of single resources. */
@Injectable()
export class ValidationInterceptor implements NestInterceptor {
  constructor(private readonly reflector: Reflector) {}

  intercept(ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    const spec = specOf(this.reflector, ctx);
    const http = ctx.switchToHttp();
    const req = http.getRequest<Req>();
    if (spec) {
      let params: unknown = req.params;
      if (spec.params) {
        const r = spec.params.safeParse(req.params);
        // A malformed id cannot name an existing resource.
        if (!r.success) throw new AppError(ErrorCode.NotFound, 'no resource with this id');
        params = r.data;
      }
      let query: unknown = req.query;
      if (spec.query) {
        const r = spec.query.safeParse(req.query ?? {});
        if (!r.success)
          throw new AppError(ErrorCode.Validation, 'invalid query parameters', issues('query', r.error));
        query = r.data;
      }
      let body: unknown = undefined;
      if (spec.body) {
        const type = String(req.headers['content-type'] ?? '')
          .split(';')[0]
          ?.trim()
          .toLowerCase();
        if (type !== 'application/json') {
          throw new AppError(ErrorCode.UnsupportedMediaType, 'send the body as application/json');
        }
        if (req.body === undefined || req.body === null) {
          throw new AppError(ErrorCode.Validation, 'a JSON body is required', [
            { path: 'body', message: 'required' },
          ]);
        }
        const r = spec.body.safeParse(req.body);
        if (!r.success) throw new AppError(ErrorCode.Validation, 'invalid request body', issues('', r.error));
        body = r.data;
      }
      req.input = { params, query, body };
    }
    return next.handle().pipe(
      map((value: unknown) => {
        if (spec?.etag && value && typeof value === 'object' && 'version' in value) {
          http.getResponse<FastifyReply>().header('etag', etagOf((value as { version: number }).version));
        }
        return value;
      }),
    );
  }
}

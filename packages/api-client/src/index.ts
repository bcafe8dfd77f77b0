import createClient, { type Client } from 'openapi-fetch';
import type { components, paths } from './generated/schema.js';

export type { components, paths } from './generated/schema.js';

export type ApiPaths = paths;
export type Schemas = components['schemas'];
/** One sample of a VIP's (or the whole tenant's) data-plane counters: totals and per-second rates. */
export type StatPoint = Schemas['StatPoint'];
/** A VIP's series (`GET /v1/vips/{id}/stats`). */
export type VipStats = Schemas['VipStats'];
/** The tenant's series plus each VIP's current point (`GET /v1/stats`). */
export type TenantStats = Schemas['TenantStats'];
/** What the live charts draw: either series. */
export type StatsSeries = VipStats | TenantStats;
/** What an agent posts to `POST /v1/agent/telemetry`. */
export type TelemetryReport = Schemas['TelemetryReport'];
export type SlipstreamClient = Client<ApiPaths>;

export interface ClientOptions {
  /** API origin, e.g. http://127.0.0.1:3001 (the paths already start with /v1). */
  baseUrl: string;
  /** Session token or API key, sent as `Authorization: Bearer`. */
  token?: string;
  fetch?: typeof globalThis.fetch;
  headers?: Record<string, string>;
}

/** A typed client for the Slipstream API. */
export function createSlipstreamClient(opts: ClientOptions): SlipstreamClient {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  return createClient<ApiPaths>({
    baseUrl: opts.baseUrl.replace(/\/+$/, ''),
    headers,
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
  });
}

export interface FieldError {
  path: string;
  message: string;
}

/** RFC 9457 problem details as the API sends them. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  errors?: FieldError[];
  errorId?: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Normalises whatever an error response carried into a Problem, so callers branch on one shape even when
 * a proxy in between answered with HTML or an empty body.
 */
export function toProblem(error: unknown, response: Pick<Response, 'status' | 'statusText'>): Problem {
  if (isRecord(error) && typeof error.type === 'string' && typeof error.title === 'string') {
    const errors = Array.isArray(error.errors)
      ? error.errors.filter(
          (e): e is FieldError => isRecord(e) && typeof e.path === 'string' && typeof e.message === 'string',
        )
      : undefined;
    return {
      type: error.type,
      title: error.title,
      status: typeof error.status === 'number' ? error.status : response.status,
      ...(typeof error.detail === 'string' ? { detail: error.detail } : {}),
      ...(errors?.length ? { errors } : {}),
      ...(typeof error.errorId === 'string' ? { errorId: error.errorId } : {}),
    };
  }
  return {
    type: 'about:blank',
    title: response.statusText || `HTTP ${response.status}`,
    status: response.status,
    ...(typeof error === 'string' && error ? { detail: error.slice(0, 500) } : {}),
  };
}

/** The stable last segment of a problem type URL, e.g. `precondition-failed`. */
export function problemKind(p: Pick<Problem, 'type'>): string {
  return p.type.split('/').pop() ?? p.type;
}

/**
 * Field errors keyed by path as the API names it (`bypass.sourceCidrs.1`) and by every shorter prefix
 * (`bypass.sourceCidrs`, `bypass`), so a form can show the message beside the input that holds the list or
 * the group. The first message for a key wins.
 */
export function fieldErrors(p: Pick<Problem, 'errors'>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of p.errors ?? []) {
    const segments = e.path
      .replace(/^[/.]+/, '')
      .split(/[/.]/)
      .filter(Boolean);
    for (let i = segments.length; i > 0; i--) out[segments.slice(0, i).join('.')] ??= e.message;
  }
  return out;
}

/** One-line human text for a problem: its detail when present, otherwise its title. */
export function problemMessage(p: Problem): string {
  const base = p.detail && p.detail !== p.title ? `${p.title}: ${p.detail}` : p.title;
  return p.errorId ? `${base} (error id ${p.errorId})` : base;
}

// Server-side access to the API. Only the Next.js server talks to the API: it reads the bearer token from
// the httpOnly session cookie, so no token ever reaches browser JavaScript.
import { cache } from 'react';
import { headers } from 'next/headers';
import { notFound, redirect } from 'next/navigation';
import {
  createSlipstreamClient,
  fieldErrors,
  problemKind,
  problemMessage,
  toProblem,
  type Problem,
  type Schemas,
  type SlipstreamClient,
} from '@slipstream/api-client';
import { apiUrl } from './config';
import { valuesOf, type FormState } from './forms';
import { sessionToken } from './session';

export type Role = Schemas['Me']['role'];
export type Me = Schemas['Me'];

export const canOperate = (r: Role) => r !== 'viewer';
export const canAdmin = (r: Role) => r === 'owner' || r === 'admin';

/**
 * A client without credentials (sign up, log in). It passes on the browser's address (X-Forwarded-For, set by
 * the Next.js server or a proxy in front of it), so the API's per-address login limit can count each browser
 * rather than the console server as one client, once the API trusts the console as a proxy.
 */
export async function publicApi(): Promise<SlipstreamClient> {
  const forwarded = (await headers()).get('x-forwarded-for');
  return createSlipstreamClient({
    baseUrl: apiUrl(),
    ...(forwarded ? { headers: { 'x-forwarded-for': forwarded } } : {}),
  });
}

/** A client carrying the session's token. */
export async function api(): Promise<SlipstreamClient> {
  return createSlipstreamClient({ baseUrl: apiUrl(), token: await sessionToken() });
}

export class ApiProblemError extends Error {
  constructor(readonly problem: Problem) {
    super(problemMessage(problem));
  }
}

type Result = { data?: unknown; error?: unknown; response: Response };

/**
 * Unwraps a read made while rendering a page: no session or an expired one goes to the login page, a
 * missing resource to the 404 page, anything else to the error boundary with the API's own message.
 */
export async function read<R extends Result>(p: Promise<R>): Promise<NonNullable<R['data']>> {
  const r = await p;
  if (r.response.ok && r.data !== undefined) return r.data as NonNullable<R['data']>;
  if (r.response.status === 401) redirect('/login?expired=1');
  if (r.response.status === 404) notFound();
  throw new ApiProblemError(toProblem(r.error, r.response));
}

/** Like read(), but also returns the ETag the API sent, for a later If-Match. */
export async function readWithEtag<R extends Result>(
  p: Promise<R>,
): Promise<{ data: NonNullable<R['data']>; etag: string }> {
  const r = await p;
  const data = await read(Promise.resolve(r));
  return { data, etag: r.response.headers.get('etag') ?? '' };
}

/** Who is logged in, once per request (the layout and the page both ask). */
export const getMe = cache(async (): Promise<Me> => {
  const token = await sessionToken();
  if (!token) redirect('/login');
  return read((await api()).GET('/v1/me'));
});

/** Turns a failed API call into a form state: field messages, conflict flag and a toast-able message. */
export function failure(error: unknown, response: Response, fd?: FormData, idem?: string): FormState {
  if (response.status === 401) redirect('/login?expired=1');
  const p = toProblem(error, response);
  const kind = problemKind(p);
  const conflict = kind === 'precondition-failed' || response.status === 412;
  const fields = fieldErrors(p);
  const errors = p.errors ?? [];
  // The field list is repeated in the summary: a message for a field the form does not show still reaches the user.
  const listed = errors
    .slice(0, 3)
    .map((e) => `${e.path || 'body'}: ${e.message}`)
    .join('; ');
  const message = conflict
    ? 'Someone changed this since you opened it. Reload the page to see the latest version, then apply your change again.'
    : errors.length > 0
      ? `${p.title}: ${listed}${errors.length > 3 ? ` (and ${errors.length - 3} more)` : ''}`
      : problemMessage(p);
  return {
    status: 'error',
    message,
    fields,
    conflict,
    at: Date.now(),
    ...(fd ? { values: valuesOf(fd) } : {}),
    ...(idem ? { idem } : {}),
  };
}

export function success(message: string, extra: Partial<FormState> = {}): FormState {
  return { status: 'ok', message, at: Date.now(), ...extra };
}

/** What a server action hands back to its form; shared by server actions and client forms. */
export interface FormState {
  status: 'idle' | 'ok' | 'error';
  message?: string;
  /** Field path -> message, from the API's problem+json `errors`. */
  fields?: Record<string, string>;
  /** The API answered 412: the resource changed since the form was loaded. */
  conflict?: boolean;
  /** A secret shown exactly once (API key, join token). */
  secret?: string;
  /** Extra text to show with the secret (e.g. an install command). */
  extra?: string;
  /** ETag of the resource after a successful update, for the next If-Match. */
  etag?: string;
  /** Idempotency key for the next submit of this form. */
  idem?: string;
  /** What the user submitted, so a refused form comes back filled in (React resets forms after an action). */
  values?: Record<string, string>;
  /** Changes on every action result, so effects (toasts) fire even for an identical message. */
  at?: number;
}

export const IDLE: FormState = { status: 'idle' };

/** Text field from FormData; undefined when absent or blank. */
export function str(fd: FormData, name: string): string | undefined {
  const v = fd.get(name);
  if (typeof v !== 'string') return undefined;
  const t = v.trim();
  return t === '' ? undefined : t;
}

/**
 * Number field from FormData. Blank gives undefined (optional field left out); text that is not a number is
 * passed on as-is so the API, which owns validation, answers with its own field message.
 */
export function num(fd: FormData, name: string): number | string | undefined {
  const v = str(fd, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : v;
}

/** Lines or commas -> list, blanks dropped. */
export function list(fd: FormData, name: string): string[] {
  return (str(fd, name) ?? '')
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Drops undefined values so optional fields are left out of the JSON body. */
export function compact<T extends Record<string, unknown>>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** Fields that are never echoed back to the browser. */
const NOT_ECHOED = new Set(['password', 'idem', 'etag', 'version']);

/** The submitted text fields, minus secrets and bookkeeping, for FormState.values. */
export function valuesOf(fd: FormData): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of fd.entries())
    if (typeof v === 'string' && !NOT_ECHOED.has(k) && !k.startsWith('$')) out[k] = v;
  return out;
}

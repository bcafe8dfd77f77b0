import { createHash } from 'node:crypto';
import { AppError, ErrorCode } from '../common/errors.js';
import type { IdempotencyRequest } from '../services/change-runner.js';

type Headers = Record<string, string | string[] | undefined>;

const header = (h: Headers, name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

/** If-Match: W/"<version>" or "<version>"; absent means unconditional (documented in the OpenAPI). */
export function ifMatchVersion(h: Headers): number | undefined {
  const v = header(h, 'if-match');
  if (v === undefined || v.trim() === '*') return undefined;
  const m = /^\s*(?:W\/)?"(\d{1,9})"\s*$/.exec(v);
  if (!m)
    throw new AppError(ErrorCode.PreconditionFailed, 'If-Match does not name a version this API issued');
  return Number(m[1]);
}

export const etagOf = (version: number) => `W/"${version}"`;

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

export function idempotencyOf(
  h: Headers,
  method: string,
  url: string,
  body: unknown,
): IdempotencyRequest | undefined {
  const key = header(h, 'idempotency-key');
  if (key === undefined) return undefined;
  if (!/^[\x21-\x7e]{1,255}$/.test(key)) {
    throw new AppError(ErrorCode.Validation, 'invalid Idempotency-Key', [
      { path: 'Idempotency-Key', message: '1-255 visible ASCII characters' },
    ]);
  }
  const requestHash = createHash('sha256')
    .update(`${method} ${url}\n${canonical(body)}`)
    .digest('hex');
  return { key, requestHash };
}

// One error class, one code -> status table. Every error leaves the API as RFC 9457 problem+json whose
// `type` is stable per code, so clients branch on `type`, never on `detail` text.
export enum ErrorCode {
  Validation = 'validation',
  MalformedJson = 'malformed-json',
  Unauthenticated = 'unauthenticated',
  Forbidden = 'forbidden',
  NotFound = 'not-found',
  Conflict = 'conflict',
  DuplicateVip = 'duplicate-vip',
  PoolInUse = 'pool-in-use',
  PreconditionFailed = 'precondition-failed',
  IdempotencyMismatch = 'idempotency-key-reused',
  PayloadTooLarge = 'payload-too-large',
  UnsupportedMediaType = 'unsupported-media-type',
  RateLimited = 'rate-limited',
  MethodNotAllowed = 'method-not-allowed',
  Unavailable = 'service-unavailable',
  Internal = 'internal',
}

export const ERROR_STATUS: Record<ErrorCode, number> = {
  [ErrorCode.Validation]: 400,
  [ErrorCode.MalformedJson]: 400,
  [ErrorCode.Unauthenticated]: 401,
  [ErrorCode.Forbidden]: 403,
  [ErrorCode.NotFound]: 404,
  [ErrorCode.MethodNotAllowed]: 405,
  [ErrorCode.Conflict]: 409,
  [ErrorCode.DuplicateVip]: 409,
  [ErrorCode.PoolInUse]: 409,
  [ErrorCode.PreconditionFailed]: 412,
  [ErrorCode.PayloadTooLarge]: 413,
  [ErrorCode.UnsupportedMediaType]: 415,
  [ErrorCode.IdempotencyMismatch]: 422,
  [ErrorCode.RateLimited]: 429,
  [ErrorCode.Internal]: 500,
  [ErrorCode.Unavailable]: 503,
};

const TITLES: Record<ErrorCode, string> = {
  [ErrorCode.Validation]: 'Request validation failed',
  [ErrorCode.MalformedJson]: 'Malformed JSON body',
  [ErrorCode.Unauthenticated]: 'Authentication required',
  [ErrorCode.Forbidden]: 'Not allowed for this role',
  [ErrorCode.NotFound]: 'Resource not found',
  [ErrorCode.MethodNotAllowed]: 'Method not allowed',
  [ErrorCode.Conflict]: 'Conflicts with an existing resource',
  [ErrorCode.DuplicateVip]: 'A VIP already uses this address, protocol and port',
  [ErrorCode.PoolInUse]: 'Pool is used by a VIP',
  [ErrorCode.PreconditionFailed]: 'Resource changed since it was read',
  [ErrorCode.PayloadTooLarge]: 'Request body too large',
  [ErrorCode.UnsupportedMediaType]: 'Unsupported media type',
  [ErrorCode.IdempotencyMismatch]: 'Idempotency key reused with a different request',
  [ErrorCode.RateLimited]: 'Too many requests',
  [ErrorCode.Internal]: 'Internal server error',
  [ErrorCode.Unavailable]: 'Service unavailable',
};

export const PROBLEM_BASE = 'https://slipstream.dev/problems/';

export interface FieldError {
  path: string;
  message: string;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  errors?: FieldError[];
  errorId?: string;
}

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    detail?: string,
    readonly errors?: FieldError[],
    readonly headers?: Record<string, string>,
  ) {
    super(detail ?? TITLES[code]);
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }

  static notFound(what: string): AppError {
    return new AppError(ErrorCode.NotFound, `${what} not found`);
  }
}

export function problemOf(
  code: ErrorCode,
  detail: string | undefined,
  instance: string | undefined,
): Problem {
  return {
    type: PROBLEM_BASE + code,
    title: TITLES[code],
    status: ERROR_STATUS[code],
    ...(detail !== undefined ? { detail } : {}),
    ...(instance !== undefined ? { instance } : {}),
  };
}

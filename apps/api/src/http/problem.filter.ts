import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError, ErrorCode, type Problem, problemOf } from '../common/errors.js';

const STATUS_CODES: Record<number, ErrorCode> = {
  400: ErrorCode.Validation,
  401: ErrorCode.Unauthenticated,
  403: ErrorCode.Forbidden,
  404: ErrorCode.NotFound,
  405: ErrorCode.MethodNotAllowed,
  409: ErrorCode.Conflict,
  413: ErrorCode.PayloadTooLarge,
  415: ErrorCode.UnsupportedMediaType,
  429: ErrorCode.RateLimited,
  503: ErrorCode.Unavailable,
};

const log = new Logger('Problem');

/** Turns any error into problem+json; unexpected ones become 500 with an error id that is also logged. */
export function toProblem(
  err: unknown,
  instance: string,
): { problem: Problem; headers: Record<string, string> } {
  if (err instanceof AppError) {
    const problem = problemOf(err.code, err.message, instance);
    if (err.errors?.length) problem.errors = err.errors;
    return { problem, headers: err.headers ?? {} };
  }
  const message = err instanceof Error ? err.message : '';
  // Fastify's JSON parser error reaches here wrapped by Nest; its text is the only stable marker.
  if (/not valid JSON|Unexpected (token|end of JSON)|JSON at position/i.test(message)) {
    return {
      problem: problemOf(ErrorCode.MalformedJson, 'the body is not valid JSON', instance),
      headers: {},
    };
  }
  if (err instanceof HttpException) {
    const code = STATUS_CODES[err.getStatus()] ?? ErrorCode.Internal;
    if (code !== ErrorCode.Internal) return { problem: problemOf(code, err.message, instance), headers: {} };
  }
  // Fastify's own errors (body too large, bad JSON, bad content type) carry a statusCode and code.
  const fe = err as { statusCode?: number; code?: string; message?: string };
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    const code =
      fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY' ||
      fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ||
      err instanceof SyntaxError
        ? ErrorCode.MalformedJson
        : (STATUS_CODES[fe.statusCode] ?? ErrorCode.Validation);
    return { problem: problemOf(code, fe.message, instance), headers: {} };
  }
  const errorId = randomUUID();
  log.error(`errorId=${errorId} ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  const problem = problemOf(
    ErrorCode.Internal,
    `unexpected error; quote errorId ${errorId} when reporting it`,
    instance,
  );
  problem.errorId = errorId;
  return { problem, headers: {} };
}

export function sendProblem(reply: FastifyReply, err: unknown, instance: string): void {
  const { problem, headers } = toProblem(err, instance);
  void reply
    .status(problem.status)
    .headers(headers)
    .header('content-type', 'application/problem+json')
    .send(problem);
}

@Catch()
export class ProblemFilter implements ExceptionFilter {
  catch(err: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const req = http.getRequest<FastifyRequest>();
    sendProblem(http.getResponse<FastifyReply>(), err, req.url);
  }
}

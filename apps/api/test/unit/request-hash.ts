import { idempotencyOf } from '../../src/http/request.js';

export function requestHashFor(method: string, url: string, body: unknown): string {
  return idempotencyOf({ 'idempotency-key': 'k' }, method, url, body)!.requestHash;
}

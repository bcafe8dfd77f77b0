import { AppError, ErrorCode } from './errors.js';

/** Cursors are opaque to clients: base64url of the last item's id. */
export function encodeCursor(id: string | null): string | null {
  return id === null ? null : Buffer.from(id, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string | undefined, check: (id: string) => boolean): string | undefined {
  if (cursor === undefined) return undefined;
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!check(id)) {
    throw new AppError(ErrorCode.Validation, 'invalid cursor', [
      { path: 'cursor', message: 'not a cursor from this API' },
    ]);
  }
  return id;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const isUuid = (s: string) => UUID.test(s);
export const isDigits = (s: string) => /^[0-9]{1,19}$/.test(s);

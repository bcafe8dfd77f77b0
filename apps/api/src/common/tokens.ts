import { createHash, randomBytes } from 'node:crypto';

/** Opaque bearer secrets: session `sls_s_`, API key `sls_k_`, agent join token `sls_j_`, agent credential `sls_a_`. */
export type TokenKind = 's' | 'k' | 'j' | 'a';

export function newSecret(kind: TokenKind): { secret: string; hash: string; prefix: string } {
  const secret = `sls_${kind}_${randomBytes(32).toString('base64url')}`;
  return { secret, hash: hashSecret(secret), prefix: secret.slice(0, 12) };
}

/** Secrets carry 256 random bits, so a fast hash is enough (no password-style stretching needed). */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function tokenKind(secret: string): TokenKind | null {
  const m = /^sls_([skja])_[A-Za-z0-9_-]{43}$/.exec(secret);
  return m ? (m[1] as TokenKind) : null;
}

import { cookies } from 'next/headers';

/** The httpOnly cookie that holds the API bearer token; browser JavaScript can never read it. */
export const SESSION_COOKIE = 'slipstream_session';

export async function sessionToken(): Promise<string | undefined> {
  return (await cookies()).get(SESSION_COOKIE)?.value || undefined;
}

/** Secure only behind https, or a plain-http deployment (and the tests) would never get the cookie back. */
function secure(): boolean {
  const explicit = process.env.SLIPSTREAM_COOKIE_SECURE;
  if (explicit) return explicit === '1' || explicit === 'true';
  return (process.env.SLIPSTREAM_CONSOLE_URL ?? '').startsWith('https:');
}

export async function setSession(token: string, expiresAt: string): Promise<void> {
  const expires = new Date(expiresAt);
  (await cookies()).set(SESSION_COOKIE, token, {
    httpOnly: true,
    sameSite: 'lax',
    secure: secure(),
    path: '/',
    ...(Number.isNaN(expires.getTime()) ? {} : { expires }),
  });
}

export async function clearSession(): Promise<void> {
  (await cookies()).delete(SESSION_COOKIE);
}

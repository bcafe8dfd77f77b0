/** Where the console's server reaches the API (server side only; the browser never calls it directly). */
export function apiUrl(): string {
  return (process.env.SLIPSTREAM_API_URL ?? 'http://127.0.0.1:3001').replace(/\/$/, '');
}

/** The API's URL as agents' hosts reach it (the install one-liner): SLIPSTREAM_PUBLIC_URL, else the API URL. */
export function publicApiUrl(): string {
  return (process.env.SLIPSTREAM_PUBLIC_URL ?? apiUrl()).replace(/\/$/, '');
}

/**
 * The agent install one-liner, with `{token}` where the join token goes: the API's GET /install.sh piped to
 * bash. SLIPSTREAM_INSTALL_COMMAND (must contain `{token}`) replaces it, e.g. for a mirror.
 */
export function installCommandTemplate(): string {
  const t = process.env.SLIPSTREAM_INSTALL_COMMAND;
  if (t && t.includes('{token}')) return t;
  return `curl -fsSL ${publicApiUrl()}/install.sh | sudo bash -s -- --token {token}`;
}

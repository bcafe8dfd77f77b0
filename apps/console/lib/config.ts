/** Where the console's server reaches the API (server side only; the browser never calls it directly). */
export function apiUrl(): string {
  return (process.env.SLIPSTREAM_API_URL ?? 'http://127.0.0.1:3001').replace(/\/$/, '');
}

/**
 * The agent install one-liner, with `{token}` where the join token goes. The repository has no installer
 * script yet; until a deployment sets SLIPSTREAM_INSTALL_COMMAND, "Add agent" shows the token and the
 * agent's `enroll` command.
 */
export function installCommandTemplate(): string | undefined {
  const t = process.env.SLIPSTREAM_INSTALL_COMMAND;
  return t && t.includes('{token}') ? t : undefined;
}

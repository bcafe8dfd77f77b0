/** Where the console's server reaches the API (server side only; the browser never calls it directly). */
export function apiUrl(): string {
  return (process.env.SLIPSTREAM_API_URL ?? 'http://127.0.0.1:3001').replace(/\/$/, '');
}

/**
 * Minimal HTTP client for the control plane. API URLs: `http://host:port`, `https://host`, or a unix
 * socket as `unix:/path/to/api.sock` (also `http+unix://%2Fpath%2Fto%2Fapi.sock`). The socket form exists
 * because an agent inside a network namespace cannot reach the host's loopback, but can reach a socket
 * file (see infra/lab/README.md). Node's global fetch cannot speak over unix sockets, so every call
 * goes through node:http(s), one code path for both.
 */
import http from 'node:http';
import https from 'node:https';

export interface ApiTarget {
  protocol: 'http:' | 'https:';
  host?: string;
  port?: number;
  socketPath?: string;
  /** Path prefix of the API (usually empty). */
  base: string;
}

export function parseApiUrl(url: string): ApiTarget {
  if (url.startsWith('unix:')) {
    const path = url.slice('unix:'.length);
    if (!path.startsWith('/')) throw new Error(`unix API URL needs an absolute socket path: ${url}`);
    return { protocol: 'http:', socketPath: path, base: '' };
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`bad API URL ${JSON.stringify(url)}: use http(s)://host[:port] or unix:/path.sock`);
  }
  if (u.protocol === 'http+unix:') {
    const path = decodeURIComponent(u.host);
    if (!path.startsWith('/')) throw new Error(`http+unix URL needs an encoded absolute path: ${url}`);
    return { protocol: 'http:', socketPath: path, base: u.pathname.replace(/\/$/, '') };
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new Error(`bad API URL scheme ${u.protocol}: use http, https or unix`);
  return {
    protocol: u.protocol,
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80,
    base: u.pathname.replace(/\/$/, ''),
  };
}

export interface ApiResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface RequestOpts {
  method: string;
  path: string;
  token?: string;
  json?: unknown;
  timeoutMs?: number;
  signal?: AbortSignal;
}

function options(t: ApiTarget, o: RequestOpts, body: string | undefined): http.RequestOptions {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(Buffer.byteLength(body));
  }
  return {
    method: o.method,
    path: t.base + o.path,
    headers,
    ...(t.socketPath ? { socketPath: t.socketPath } : { host: t.host, port: t.port }),
    ...(o.signal ? { signal: o.signal } : {}),
  };
}

/** Opens a request and hands back the response stream (the caller reads or discards it). */
export function openRequest(t: ApiTarget, o: RequestOpts): Promise<http.IncomingMessage> {
  const body = o.json === undefined ? undefined : JSON.stringify(o.json);
  const mod = t.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(options(t, o, body), resolve);
    req.on('error', reject);
    if (o.timeoutMs) {
      req.setTimeout(o.timeoutMs, () => req.destroy(new Error(`timed out after ${o.timeoutMs} ms`)));
    }
    req.end(body);
  });
}

/** A whole request/response with a text body. */
export async function apiRequest(t: ApiTarget, o: RequestOpts): Promise<ApiResponse> {
  const res = await openRequest(t, o);
  res.setEncoding('utf8');
  let text = '';
  for await (const chunk of res) text += chunk as string;
  return { status: res.statusCode ?? 0, headers: res.headers, body: text };
}

/** A problem+json `detail`/`title`, or the raw body, for error messages. */
export function problemText(r: ApiResponse): string {
  try {
    const p = JSON.parse(r.body) as { title?: string; detail?: string };
    return `${r.status} ${p.detail ?? p.title ?? r.body}`;
  } catch {
    return `${r.status} ${r.body.slice(0, 300)}`;
  }
}

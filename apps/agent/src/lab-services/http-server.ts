/**
 * Lab HTTP backend. Every response says which backend answered and what addresses the connection has on
 * this side, so a test can check that the service saw the VIP as its local address (DSR, bypass rewrite).
 * `GET /bytes?n=N` streams N bytes for bulk-transfer workloads.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { onShutdown, parseServiceArgs, runService } from './args.js';

const MAX_BYTES = 16 * 1024 ** 3;
const CHUNK = Buffer.alloc(64 * 1024, 0x61);

function streamBytes(res: ServerResponse, n: number): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(n) });
  let left = n;
  const pump = (): void => {
    while (left > 0) {
      const len = Math.min(left, CHUNK.length);
      left -= len;
      if (!res.write(len === CHUNK.length ? CHUNK : CHUNK.subarray(0, len))) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

function handle(name: string, req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://lab');
  if (url.pathname === '/bytes') {
    const raw = url.searchParams.get('n') ?? '';
    const n = /^[0-9]{1,12}$/.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isSafeInteger(n) || n > MAX_BYTES) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: `n must be an integer 0..${MAX_BYTES}` }));
      return;
    }
    streamBytes(res, n);
    return;
  }
  // Drain any request body so keep-alive connections stay usable.
  req.resume();
  const s = req.socket;
  const body = JSON.stringify({
    backend: name,
    localAddress: s.localAddress,
    localPort: s.localPort,
    remoteAddress: s.remoteAddress,
    remotePort: s.remotePort,
  });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

runService('http-server', async () => {
  const { port, name, host } = parseServiceArgs(process.argv.slice(2), 'http-server');
  const server = createServer({ keepAlive: true, keepAliveTimeout: 65_000 }, (req, res) =>
    handle(name, req, res),
  );
  // Benchmarks open thousands of keep-alive requests per connection; Node's default cap would close them.
  server.maxRequestsPerSocket = 0;
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  console.log(`http-server ${name} listening on ${host}:${port}`);
  onShutdown(() => {
    server.close();
    server.closeAllConnections();
  });
});

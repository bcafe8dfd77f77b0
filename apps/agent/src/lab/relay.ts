/**
 * `node relay.js <socket-path> <host> <port>`: accepts connections on a unix socket and pipes each to
 * host:port. The lab runs it in the root namespace so agents inside namespaces reach an API that listens on
 * the host's loopback without any address or route added to the host (a socket file ignores namespaces).
 */
import { chmodSync, rmSync } from 'node:fs';
import net from 'node:net';

const [sockPath, host, portText] = process.argv.slice(2);
const port = Number(portText);
if (!sockPath || !host || !Number.isInteger(port) || port < 1 || port > 65535) {
  console.error('usage: relay.js <socket-path> <host> <port>');
  process.exit(2);
}
rmSync(sockPath, { force: true });
const server = net.createServer((down) => {
  const up = net.connect({ host, port });
  // An API that is down simply closes the agent's connection; the agent backs off and retries.
  up.on('error', () => down.destroy());
  down.on('error', () => up.destroy());
  down.pipe(up).pipe(down);
});
server.listen(sockPath, () => {
  chmodSync(sockPath, 0o600);
  console.log(`relay ${sockPath} -> ${host}:${port}`);
});
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    server.close();
    rmSync(sockPath, { force: true });
    process.exit(0);
  });
}

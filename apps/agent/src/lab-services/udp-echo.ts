/**
 * Lab UDP echo: answers each datagram with `<name>|<payload>`, so a test sees which backend answered.
 *
 * The reply must leave with the address the client sent to (the VIP) as its source. A socket bound to
 * 0.0.0.0 cannot guarantee that (the kernel picks the source by route, and Node has no IP_PKTINFO), so
 * besides the wildcard socket we bind one socket per local IPv4 address, rescanning the interfaces so a
 * VIP added after start is covered within a second; Linux delivers to the most specific bound socket.
 */
import { createSocket, type Socket } from 'node:dgram';
import { networkInterfaces } from 'node:os';
import { onShutdown, parseServiceArgs, runService } from './args.js';

const MAX_REPLY = 65_507;

function localIpv4(): string[] {
  const out: string[] = [];
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4') out.push(a.address);
  }
  return out;
}

runService('udp-echo', async () => {
  const { port, name, host } = parseServiceArgs(process.argv.slice(2), 'udp-echo');
  const prefix = Buffer.from(`${name}|`);
  const sockets = new Map<string, Socket>();

  const open = (addr: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const sock = createSocket({ type: 'udp4', reuseAddr: true });
      sock.on('message', (msg, rinfo) => {
        const reply = Buffer.concat([prefix, msg]);
        sock.send(reply.subarray(0, MAX_REPLY), rinfo.port, rinfo.address);
      });
      sock.once('error', (err) => {
        sockets.delete(addr);
        sock.close();
        reject(err);
      });
      sock.bind(port, addr, () => {
        sockets.set(addr, sock);
        resolve();
      });
    });

  await open(host);
  const scan = async (): Promise<void> => {
    if (host !== '0.0.0.0') return;
    for (const addr of localIpv4()) {
      if (!sockets.has(addr)) await open(addr).catch(() => undefined);
    }
  };
  await scan();
  const timer = setInterval(() => void scan(), 1000);
  console.log(`udp-echo ${name} listening on ${host}:${port} (${sockets.size} sockets)`);
  onShutdown(() => {
    clearInterval(timer);
    for (const s of sockets.values()) s.close();
  });
});

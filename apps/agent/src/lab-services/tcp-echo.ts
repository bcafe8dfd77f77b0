/** Lab TCP echo: writes back every byte it receives (request/response latency probes). */
import { createServer } from 'node:net';
import { onShutdown, parseServiceArgs, runService } from './args.js';

runService('tcp-echo', async () => {
  const { port, name, host } = parseServiceArgs(process.argv.slice(2), 'tcp-echo');
  const server = createServer((sock) => {
    // Latency probes send 64-byte messages; Nagle would add delayed-ACK stalls to them.
    sock.setNoDelay(true);
    sock.on('error', () => sock.destroy());
    sock.pipe(sock);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  console.log(`tcp-echo ${name} listening on ${host}:${port}`);
  onShutdown(() => server.close());
});

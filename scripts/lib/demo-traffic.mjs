// Gentle, bounded demo traffic for `npm run up`, run by up.mjs inside a lab client namespace
// (`ip netns exec sls-c1 node scripts/lib/demo-traffic.mjs <vip-url>`): HTTP keep-alive requests, short
// connections and now and then a bulk download, so the console shows flows, mux vs direct packets and a
// bypass ratio. It only ever talks to the lab VIP it is given, and ends when its parent (up.mjs) ends.
import http from 'node:http';

const base = process.argv[2];
if (!base || !/^http:\/\/198\.19\.\d+\.\d+(:\d+)?\/?$/.test(base)) {
  console.error('usage: demo-traffic.mjs http://198.19.x.y[:port]/  (a lab VIP only)');
  process.exit(2);
}
const parent = process.ppid;
const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 2 });
const noKeepAlive = new http.Agent({ keepAlive: false });

function get(path, agent) {
  return new Promise((resolve) => {
    const req = http.get(new URL(path, base), { agent, timeout: 5000 }, (res) => {
      res.on('data', () => {});
      res.on('end', resolve);
      res.on('error', resolve);
    });
    req.on('error', resolve);
    req.on('timeout', () => req.destroy());
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let tick = 0;
for (;;) {
  try {
    process.kill(parent, 0);
  } catch {
    process.exit(0); // up.mjs is gone
  }
  await get('/', keepAlive);
  if (tick % 5 === 0) await get('/', noKeepAlive);
  if (tick % 50 === 0) await get('/bytes?n=2000000', noKeepAlive);
  tick++;
  await sleep(200);
}

/**
 * Agents install per-flow entries with an install packet of their own (render.ts installRules) instead of
 * an nft round trip: the client a verified redirect's `ri` and `fo`, the backend an acked flow's `bo`.
 * Only root on the host itself may do that: the same packet from an unprivileged local process or from
 * another host installs nothing.
 */
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendInstall, clientInstall, installPacket, installToken } from '../../src/dataplane/kernel.js';
import { nsName, sleep } from '../../src/lab/lab.js';
import {
  client,
  isRoot,
  metric,
  nftElements,
  readHostConfig,
  startLab,
  stopLab,
  waitUntil,
} from './helpers.js';

const CLIENT = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'client.mjs');

describe.skipIf(!isRoot)('install packets', () => {
  let prefix = '';
  let tunnelPort = 0;
  let vni = 0;
  beforeAll(async () => {
    prefix = await startLab();
    const cfg = readHostConfig(prefix, 'c1');
    tunnelPort = cfg.encap.udpPort;
    vni = cfg.encap.vni;
  });
  afterAll(() => stopLab(prefix));

  const packet = (clientPort: number): string =>
    installPacket(
      vni,
      clientInstall({ backendHost: '198.18.0.31', vip: '198.19.0.10', clientPort, vipPort: 80 }),
      installToken(Buffer.alloc(8, 1)),
    ).toString('hex');
  const installed = (clientPort: number): boolean =>
    nftElements(prefix, 'c1', 'fo').includes(`198.19.0.10 . tcp . ${clientPort} . 80 `);

  it('carry the entries of real bypassed flows at both ends', async () => {
    const backends = ['b1', 'b2', 'b3'];
    const sum = (hosts: string[], labels: Record<string, string>): number =>
      hosts.reduce((n, h) => n + metric(prefix, h, 'slipstream_bypass_installs_total', labels), 0);
    const client0 = metric(prefix, 'c1', 'slipstream_bypass_installs_total', {
      side: 'client',
      via: 'packet',
    });
    const backend0 = sum(backends, { side: 'backend', via: 'packet' });
    const r = await client<{ status: number }>(prefix, 'c1', 'http', '198.19.0.10', '80');
    expect(r.status).toBe(200);
    await waitUntil(
      'the flow is bypassed',
      () =>
        metric(prefix, 'c1', 'slipstream_bypass_installs_total', { side: 'client', via: 'packet' }) >
          client0 && sum(backends, { side: 'backend', via: 'packet' }) > backend0,
    );
    expect(metric(prefix, 'c1', 'slipstream_bypass_installs_total', { via: 'nft' })).toBe(0);
    expect(sum(backends, { via: 'nft' })).toBe(0);
    // The client's kernel sent the ack on after installing; the agent sent none, and the backend took it.
    expect(metric(prefix, 'c1', 'slipstream_redirect_acks_sent_total', { by: 'kernel' })).toBeGreaterThan(0);
    expect(metric(prefix, 'c1', 'slipstream_redirect_acks_sent_total', { by: 'agent' })).toBe(0);
    expect(
      backends.reduce(
        (n, h) => n + metric(prefix, h, 'slipstream_redirect_acks_total', { result: 'accepted' }),
        0,
      ),
    ).toBeGreaterThan(0);
  });

  it('from root on a backend install bo', async () => {
    const pkt = installPacket(
      vni,
      backendInstall({ vip: '198.19.0.10', client: '198.18.0.12', vipPort: 80, clientPort: 50004 }),
      installToken(Buffer.alloc(8, 2)),
    ).toString('hex');
    await client(prefix, 'b1', 'send-hex', '127.0.0.1', String(tunnelPort), '127.0.0.1', pkt);
    expect(nftElements(prefix, 'b1', 'bo')).toContain('198.19.0.10 . 198.18.0.12 . tcp . 80 . 50004 ');
    // A backend packet never reaches the client rule: it installed no ri or fo.
    expect(nftElements(prefix, 'b1', 'fo')).not.toContain('50004');
  });

  it('from root on the host install ri and fo', async () => {
    await client(prefix, 'c1', 'send-hex', '127.0.0.1', String(tunnelPort), '127.0.0.1', packet(50001));
    expect(installed(50001)).toBe(true);
    expect(nftElements(prefix, 'c1', 'ri')).toContain('198.18.0.31 . tcp . 80 . 50001 ');
  });

  it('from an unprivileged process on the host install nothing', async () => {
    execFileSync('ip', [
      'netns',
      'exec',
      nsName(prefix, 'c1'),
      'setpriv',
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      process.execPath,
      CLIENT,
      'send-hex',
      '127.0.0.1',
      String(tunnelPort),
      '127.0.0.1',
      packet(50002),
    ]);
    await sleep(200);
    expect(installed(50002)).toBe(false);
  });

  it('from another host install nothing', async () => {
    await client(prefix, 'b1', 'send-hex', '198.18.0.11', String(tunnelPort), '198.18.0.31', packet(50003));
    await sleep(200);
    expect(installed(50003)).toBe(false);
  });
});

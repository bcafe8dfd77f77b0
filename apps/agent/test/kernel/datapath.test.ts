/**
 * Real kernel, real namespaces: traffic through each VIP, DSR with the VIP preserved, bypass with the mux
 * counter stopping, a 100 MB transfer over the switch, and the Maglev tables of both muxes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoVips } from '../../src/lab/lab.js';
import {
  client,
  echoFlow,
  isRoot,
  metric,
  nftElements,
  nsRun,
  readHostConfig,
  sleep,
  startLab,
  stopLab,
  updateConfig,
  waitUntil,
} from './helpers.js';

describe.skipIf(!isRoot)('data path in a namespace lab', () => {
  let prefix = '';
  beforeAll(async () => {
    prefix = await startLab();
  });
  afterAll(() => stopLab(prefix));

  interface HttpResult {
    status: number;
    body: { backend: string; localAddress: string; localPort: number; remoteAddress: string };
    localAddress: string;
    remoteAddress: string;
    error?: string;
  }

  it.each([
    ['198.19.0.10', 'bypass on'],
    ['198.19.0.20', 'bypass off'],
  ])(
    'TCP through VIP %s (%s): the client talks to the VIP and the service sees the VIP locally',
    async (vip) => {
      for (const host of ['c1', 'c2']) {
        const r = await client<HttpResult>(prefix, host, 'http', vip, '80');
        expect(r.error).toBeUndefined();
        expect(r.status).toBe(200);
        expect(r.remoteAddress).toBe(vip);
        expect(r.body.localAddress).toBe(vip);
        expect(r.body.remoteAddress).toBe(r.localAddress);
        expect(['b1', 'b2', 'b3']).toContain(r.body.backend);
      }
    },
  );

  it('TCP echo through both echo VIPs', async () => {
    for (const vip of ['198.19.0.10', '198.19.0.20']) {
      const f = echoFlow(prefix, 'c1', vip, 7, 0, 300);
      const end = await f.done;
      expect(end.error).toBeNull();
      expect(end.echoed).toBe(end.sent);
      expect(end.sent).toBeGreaterThan(0);
    }
  });

  it('UDP exchange through the UDP VIP: the reply comes from the VIP', async () => {
    const r = await client<{ reply: string; from: string; error?: string }>(
      prefix,
      'c2',
      'udp',
      '198.19.0.30',
      '7',
      'hello',
    );
    expect(r.error).toBeUndefined();
    expect(r.from).toBe('198.19.0.30');
    expect(r.reply).toMatch(/^b[123]\|hello$/);
  });

  it('a UDP flow is bypassed: later packets go direct and every reply still comes from the VIP', async () => {
    const before = metric(prefix, 'c1', 'slipstream_packets_total', { vip: 'udp', path: 'direct' });
    const r = await client<{ sent: number; got: number; from: string[] }>(
      prefix,
      'c1',
      'udp-flow',
      '198.19.0.30',
      '7',
      '40700',
      '50',
      '10',
    );
    expect(r.got).toBe(r.sent);
    expect(r.from).toEqual(['198.19.0.30']);
    expect(
      metric(prefix, 'c1', 'slipstream_packets_total', { vip: 'udp', path: 'direct' }) - before,
    ).toBeGreaterThan(30);
  });

  it('after the redirect the mux stops seeing the flow while data keeps flowing', async () => {
    const muxPkts = (): number =>
      metric(prefix, 'm1', 'slipstream_mux_packets_total', { vip: 'echo' }) +
      metric(prefix, 'm2', 'slipstream_mux_packets_total', { vip: 'echo' });
    const f = echoFlow(prefix, 'c2', '198.19.0.10', 7, 40123, 4000);
    await waitUntil('bypass entry on c2', () => nftElements(prefix, 'c2', 'fo').includes('40123'));
    await sleep(300);
    const mux1 = muxPkts();
    const echoed1 = f.state.latest.echoed;
    await sleep(1500);
    expect(f.state.latest.echoed).toBeGreaterThan(echoed1 + 20_000);
    expect(muxPkts()).toBe(mux1);
    const end = await f.done;
    expect(end.error).toBeNull();
    expect(end.echoed).toBe(end.sent);
    expect(metric(prefix, 'c2', 'slipstream_packets_total', { vip: 'echo', path: 'direct' })).toBeGreaterThan(
      50,
    );
    expect(metric(prefix, 'c2', 'slipstream_flows_bypassed_total', { vip: 'echo' })).toBeGreaterThanOrEqual(
      1,
    );
  });

  it('a 100 MB transfer over the bypass arrives intact with no reset', async () => {
    const n = 100 * 1024 * 1024;
    const before = metric(prefix, 'c1', 'slipstream_bytes_total', { vip: 'web', path: 'direct' });
    const r = await client<{
      bytes: number;
      bad: number;
      complete: boolean;
      error?: string;
      remoteAddress: string;
    }>(prefix, 'c1', 'bytes', '198.19.0.10', '80', String(n));
    expect(r.error).toBeUndefined();
    expect(r.complete).toBe(true);
    expect(r.bytes).toBe(n);
    expect(r.bad).toBe(0);
    expect(r.remoteAddress).toBe('198.19.0.10');
    // The request side (ACKs) went direct: at least one ACK per ~64 KB received.
    expect(
      metric(prefix, 'c1', 'slipstream_bytes_total', { vip: 'web', path: 'direct' }) - before,
    ).toBeGreaterThan(0);
    const ttb =
      metric(prefix, 'b1', 'slipstream_time_to_bypass_seconds_count') +
      metric(prefix, 'b2', 'slipstream_time_to_bypass_seconds_count') +
      metric(prefix, 'b3', 'slipstream_time_to_bypass_seconds_count');
    expect(ttb).toBeGreaterThan(0);
  });

  it('encapsulation fragments nothing: a bulk transfer through the mux and a full-size UDP datagram', async () => {
    const hosts = ['c1', 'm1', 'm2', 'b1', 'b2', 'b3'];
    /** IP fragments created and reassemblies asked for in a host's namespace, from /proc/net/snmp. */
    const frags = (host: string): number => {
      const lines = nsRun(prefix, host, ['cat', '/proc/net/snmp'])
        .split('\n')
        .filter((l) => l.startsWith('Ip:'));
      const [names, values] = lines.map((l) => l.trim().split(/\s+/));
      const at = (n: string): number => Number(values![names!.indexOf(n)]);
      return at('FragCreates') + at('ReasmReqds');
    };
    const before = hosts.map(frags);
    const { innerMtu } = readHostConfig(prefix, 'c1').encap;
    // Through the mux both ways: the client's data in the tunnel, the backend's replies to an agent host too.
    const n = 20 * 1024 * 1024;
    const r = await client<{ bytes: number; bad: number; error?: string }>(
      prefix,
      'c1',
      'bytes',
      '198.19.0.20',
      '80',
      String(n),
    );
    expect(r.error).toBeUndefined();
    expect(r.bytes).toBe(n);
    expect(r.bad).toBe(0);
    // The largest UDP datagrams the tunnel carries both ways: inner MTU - 20 (IP) - 8 (UDP); the lab's
    // echo service puts `bN|` before what it echoes.
    const payload = 'u'.repeat(innerMtu - 28 - 3);
    const u = await client<{ reply?: string; error?: string }>(
      prefix,
      'c1',
      'udp',
      '198.19.0.30',
      '7',
      payload,
    );
    expect(u.error).toBeUndefined();
    expect(u.reply).toMatch(new RegExp(`^b[123]\\|u{${payload.length}}$`));
    expect(hosts.map(frags)).toEqual(before);
    // The counters do see fragmentation: a datagram over the inner MTU is split by the client's kernel.
    await client(prefix, 'c1', 'udp', '198.19.0.30', '7', 'u'.repeat(innerMtu - 28 + 1));
    expect(frags('c1')).toBeGreaterThan(before[0]!);
  });

  it('translates the listener port 8080 to the services on port 80, through the mux and bypassed', async () => {
    for (const host of ['c1', 'c2']) {
      const r = await client<HttpResult>(prefix, host, 'http', '198.19.0.40', '8080');
      expect(r.error).toBeUndefined();
      expect(r.status).toBe(200);
      expect(r.remoteAddress).toBe('198.19.0.40');
      expect(r.body.localAddress).toBe('198.19.0.40');
      expect(r.body.localPort).toBe(80);
      expect(r.body.remoteAddress).toBe(r.localAddress);
    }
    const n = 30 * 1024 * 1024;
    const direct = () => metric(prefix, 'c2', 'slipstream_bytes_total', { vip: 'web-alt', path: 'direct' });
    const before = direct();
    const r = await client<{ bytes: number; bad: number; complete: boolean; error?: string }>(
      prefix,
      'c2',
      'bytes',
      '198.19.0.40',
      '8080',
      String(n),
    );
    expect(r.error).toBeUndefined();
    expect(r.complete).toBe(true);
    expect(r.bytes).toBe(n);
    expect(r.bad).toBe(0);
    // The switch happened mid-transfer: the client's ACKs went straight to the backend.
    expect(direct() - before).toBeGreaterThan(0);
  });

  it('counts new flows on the client, the mux and the backend', async () => {
    const flows = (hosts: string[], role: string): number =>
      hosts.reduce((n, h) => n + metric(prefix, h, 'slipstream_flows_total', { vip: 'web-mux', role }), 0);
    const before = [
      flows(['c1'], 'client'),
      flows(['m1', 'm2'], 'mux'),
      flows(['b1', 'b2', 'b3'], 'backend'),
    ];
    for (let i = 0; i < 3; i++) {
      const r = await client<HttpResult>(prefix, 'c1', 'http', '198.19.0.20', '80');
      expect(r.status).toBe(200);
    }
    expect(flows(['c1'], 'client') - before[0]!).toBe(3);
    expect(flows(['m1', 'm2'], 'mux') - before[1]!).toBe(3);
    expect(flows(['b1', 'b2', 'b3'], 'backend') - before[2]!).toBe(3);
  });

  it('mux-path replies reach listed agent hosts in the tunnel, other clients plain', async () => {
    const tunnelRx = (host: string): number =>
      (
        JSON.parse(nsRun(prefix, host, ['ip', '-j', '-s', 'link', 'show', 'slvx0'])) as {
          stats64: { rx: { packets: number } };
        }[]
      )[0]!.stats64.rx.packets;
    const get = async (host: string): Promise<void> => {
      const r = await client<HttpResult>(prefix, host, 'http', '198.19.0.20', '80');
      expect(r.status).toBe(200);
      expect(r.remoteAddress).toBe('198.19.0.20');
    };
    let before = tunnelRx('c1');
    await get('c1');
    // At least the SYN-ACK and the response came back encapsulated.
    expect(tunnelRx('c1') - before).toBeGreaterThanOrEqual(2);
    const backends = ['b1', 'b2', 'b3'];
    await updateConfig(prefix, backends, (st) => {
      st.hosts = st.hosts.filter((h) => h.address !== '198.18.0.12');
    });
    try {
      before = tunnelRx('c2');
      await get('c2');
      expect(tunnelRx('c2')).toBe(before);
    } finally {
      await updateConfig(prefix, backends, (st) => {
        st.hosts.push({ address: '198.18.0.12' });
      });
    }
    before = tunnelRx('c2');
    await get('c2');
    expect(tunnelRx('c2') - before).toBeGreaterThanOrEqual(2);
  });

  it('both muxes hold identical Maglev tables', () => {
    const maps = ['m1', 'm2'].map((m) => {
      const all = JSON.parse(nsRun(prefix, m, ['nft', '-j', 'list', 'table', 'ip', 'slipstream'])) as {
        nftables: { map?: { name: string; elem?: unknown; handle?: number } }[];
      };
      const mg = all.nftables.flatMap((x) =>
        x.map && x.map.name.startsWith('mg_') ? [{ name: x.map.name, elem: x.map.elem }] : [],
      );
      expect(mg).toHaveLength(demoVips().length);
      return JSON.stringify(mg);
    });
    expect(maps[0]!.length).toBeGreaterThan(1000);
    expect(maps[0]).toBe(maps[1]);
  });
});

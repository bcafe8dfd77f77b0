import { describe, expect, it } from 'vitest';
import { END_RULES, renderPlan, vipTag } from '../../src/dataplane/render.js';
import { sample } from './sample-state.js';

const FIVE = 'ip saddr . ip daddr . meta l4proto . th sport . th dport';

describe('kernel plan rendering', () => {
  it('renders the host ruleset (golden)', async () => {
    await expect(renderPlan(sample('host')).nft).toMatchFileSnapshot('./__snapshots__/host.nft');
  });

  it('renders the mux ruleset (golden)', async () => {
    await expect(renderPlan(sample('mux')).nft).toMatchFileSnapshot('./__snapshots__/mux.nft');
  });

  it('renders routes, rules and local VIPs for a backend host', () => {
    const s = sample('host');
    s.agent.underlay = '198.18.0.31';
    const plan = renderPlan(s);
    expect(plan.localVips).toEqual([
      '198.19.0.10',
      '198.19.0.20',
      '198.19.0.30',
      '198.19.0.40',
      '198.19.0.50',
    ]);
    expect(plan.rules).toEqual([
      { pref: 1000, fwmark: 0x5300, table: 0x5300 },
      { pref: 1001, fwmark: 0x5301, table: 0x5301 },
      { pref: 1500, fwmark: 0x5500, table: 'main', udpDport: 4790 },
      { pref: 1501, fwmark: 0x5500, table: 0x5500 },
    ]);
    expect(plan.routes.filter((r) => r.table === 'main').map((r) => r.dst)).toEqual([
      '198.19.0.10/32',
      '198.19.0.20/32',
      '198.19.0.30/32',
      '198.19.0.40/32',
      '198.19.0.50/32',
    ]);
    expect(plan.routes.every((r) => r.mtu === 1464 && r.src === '198.18.0.31')).toBe(true);
  });

  it('carries mux-path replies of a backend to the listed agent hosts in the tunnel', () => {
    const s = sample('host');
    s.agent.underlay = '198.18.0.31';
    const plan = renderPlan(s);
    const reply = plan.routes.filter((r) => r.table === 0x5500);
    // Every other agent host of the lab (clients and backends), never this host itself.
    expect(reply.map((r) => [r.dst, r.encapDst])).toEqual([
      ['198.18.0.11/32', '198.18.0.11'],
      ['198.18.0.12/32', '198.18.0.12'],
      ['198.18.0.32/32', '198.18.0.32'],
      ['198.18.0.33/32', '198.18.0.33'],
    ]);
    expect(reply.every((r) => r.src === '198.18.0.31' && r.mtu === 1464)).toBe(true);
    const lines = plan.nft.split('\n');
    const mark = lines.findIndex((l) => l.includes('meta mark set 21760'));
    expect(lines[mark]).toBe(
      'add rule ip slipstream out ip saddr { 198.19.0.10, 198.19.0.20, 198.19.0.30, 198.19.0.40, 198.19.0.50 } meta mark set 21760',
    );
    // After `bo`: a bypassed reply leaves `out` unmarked, and `rep` rewrites only unmarked replies (one
    // marked because `bo` gained the flow between the two chains stays in the tunnel with the VIP).
    expect(mark).toBeGreaterThan(lines.indexOf(`add rule ip slipstream out ${FIVE} @bo accept`));
    expect(lines).toContain(
      `add rule ip slipstream rep meta mark != 21760 ${FIVE} @bo update @bo { ${FIVE} timeout 1h } ip saddr set 198.18.0.31`,
    );
  });

  it('marks the SYN-ACKs of handshake-hold VIPs to agent hosts for the hold queue, on their backends only', () => {
    const s = sample('host');
    s.agent.underlay = '198.18.0.31';
    const hold =
      'add rule ip slipstream rep meta mark 21760 tcp flags & (syn | ack) == syn | ack ip saddr . tcp sport { 198.19.0.50 . 80 } ip daddr { 198.18.0.11, 198.18.0.12, 198.18.0.32, 198.18.0.33 } meta mark set 22272';
    let plan = renderPlan(s);
    expect(plan.holds).toEqual([{ vip: '198.19.0.50', port: 80, ms: 10 }]);
    const lines = plan.nft.split('\n');
    // After the `bo` rule, which leaves marked replies alone: a held SYN-ACK keeps the reply tunnel.
    expect(lines.indexOf(hold)).toBeGreaterThan(lines.findIndex((l) => l.includes('@bo update @bo')));
    // A second VIP with a hold joins the set; a UDP VIP, a VIP without bypass or one this host does not
    // serve (disabled here) never does.
    const web = s.vips.find((v) => v.name === 'web')!;
    web.bypass.handshakeHoldMs = 3;
    s.vips.find((v) => v.name === 'udp')!.bypass.handshakeHoldMs = 5;
    s.vips.find((v) => v.name === 'web-mux')!.bypass.handshakeHoldMs = 5;
    s.vips.find((v) => v.name === 'web-alt')!.backends.find((b) => b.address === '198.18.0.31')!.state =
      'disabled';
    s.vips.find((v) => v.name === 'web-alt')!.bypass.handshakeHoldMs = 5;
    plan = renderPlan(s);
    expect(plan.holds).toEqual([
      { vip: '198.19.0.10', port: 80, ms: 3 },
      { vip: '198.19.0.50', port: 80, ms: 10 },
    ]);
    expect(plan.nft).toContain('ip saddr . tcp sport { 198.19.0.10 . 80, 198.19.0.50 . 80 }');
    // A client host serves no VIP: nothing to hold. Without a host list there is no reply tunnel to mark.
    s.agent.underlay = '198.18.0.11';
    expect(renderPlan(s).holds).toEqual([]);
    s.agent.underlay = '198.18.0.31';
    s.hosts = [];
    plan = renderPlan(s);
    expect(plan.holds).toEqual([]);
    expect(plan.nft).not.toContain('22272');
  });

  it('renders no reply tunnel on a host that serves no VIP, or without a host list', () => {
    const client = renderPlan(sample('host'));
    expect(client.rules.some((r) => r.fwmark === 0x5500)).toBe(false);
    expect(client.nft).not.toContain('21760');
    const s = sample('host');
    s.agent.underlay = '198.18.0.31';
    s.hosts = [];
    const plan = renderPlan(s);
    expect(plan.routes.some((r) => r.table === 0x5500)).toBe(false);
    expect(plan.nft).not.toContain('21760');
  });

  it('has the kernel install bi and log new flows from a mux on a backend host', () => {
    const s = sample('host');
    s.agent.underlay = '198.18.0.31';
    const web = s.vips.find((v) => v.id === 'vip-web')!;
    web.bypass.sourceCidrs = ['198.18.0.0/24', '10.0.0.0/8'];
    const lines = renderPlan(s).nft.split('\n');
    const syn =
      'add rule ip slipstream pre iifname "slvx0" ip daddr 198.19.0.10 tcp dport 80 tcp flags & (syn | ack) == syn';
    // Added and logged in one rule: the agent redirects on the log line, which a failed add (a full map)
    // never produces, so a logged flow always has its bi.
    expect(lines).toContain(
      `${syn} ip saddr { 198.18.0.0/24, 10.0.0.0/8 } add @bi { ip saddr . meta l4proto . th sport . th dport timeout 305s : ip daddr } log group 83 queue-threshold 1`,
    );
    // Sources bypass does not cover are logged all the same (counted), without bi.
    expect(lines).toContain(
      `${syn} ip saddr != { 198.18.0.0/24, 10.0.0.0/8 } log group 83 queue-threshold 1`,
    );
    // A new connection first clears a `bo` an earlier flow on its ports may have left (its replies would
    // otherwise leave with this host's address, which a client without `ri` resets).
    expect(lines).toContain(`${syn} delete @bo { ip daddr . ip saddr . meta l4proto . th dport . th sport }`);
    expect(lines.filter((l) => l.startsWith(syn))).toHaveLength(3);
    expect(lines.findIndex((l) => l.startsWith(`${syn} delete @bo`))).toBeLessThan(
      lines.findIndex((l) => l.startsWith(`${syn} ip saddr {`)),
    );
    // Bypass off: logged (the agent counts the flow) but no bi.
    expect(lines).toContain(
      'add rule ip slipstream pre iifname "slvx0" ip daddr 198.19.0.20 tcp dport 80 tcp flags & (syn | ack) == syn log group 83 queue-threshold 1',
    );
    expect(lines.some((l) => l.includes('198.19.0.20 tcp dport 80') && l.includes('@bi'))).toBe(false);
    // UDP has no first-packet flag: every packet of a bypassable UDP VIP from a mux.
    expect(lines).toContain(
      'add rule ip slipstream pre iifname "slvx0" ip daddr 198.19.0.30 udp dport 7 ip saddr { 198.18.0.0/24 } add @bi { ip saddr . meta l4proto . th sport . th dport timeout 305s : ip daddr } log group 83 queue-threshold 1',
    );
    // Before the port translation, whose rewrite would hide the VIP port the key holds.
    expect(lines.findIndex((l) => l.includes('log group'))).toBeLessThan(
      lines.findIndex((l) => l.includes('dport set ip daddr')),
    );
    const drained = sample('host');
    drained.agent.underlay = '198.18.0.31';
    for (const v of drained.vips) v.backends[0]!.state = 'draining';
    // No new-flow logging: only the end-of-flow rules log.
    const ends = Object.values(END_RULES).map(
      (r) => (typeof r === 'string' ? r : r(['x'])).split(' log ')[0]!,
    );
    const logged = renderPlan(drained)
      .nft.split('\n')
      .filter((l) => l.includes('log group'));
    expect(logged.length).toBeGreaterThan(0);
    expect(logged.every((l) => l.includes('tcp flags & (fin | rst) != 0'))).toBe(true);
    expect(ends.length).toBe(4);
  });

  it('logs the FINs and RSTs of TCP flows that may be bypassed, both ways, at both ends', () => {
    const s = sample('host');
    s.agent.underlay = '198.18.0.31';
    const lines = renderPlan(s).nft.split('\n');
    const rule = (chain: string, body: string): number =>
      lines.indexOf(`add rule ip slipstream ${chain} ${body}`);
    const bypassTcp = s.vips.filter((v) => v.protocol === 'tcp' && v.bypass.enabled);
    // Arriving: after `ri` and `bi` restored the VIP, before the port translation.
    const clientIn = rule('pre', END_RULES.clientIn(bypassTcp.map((v) => `${v.address} . ${v.port}`).sort()));
    const backendIn = rule('pre', END_RULES.backendIn);
    expect(clientIn).toBeGreaterThan(lines.findIndex((l) => l.includes('map @ri')));
    expect(backendIn).toBeGreaterThan(lines.findIndex((l) => l.includes('map @bi')));
    expect(Math.max(clientIn, backendIn)).toBeLessThan(
      lines.findIndex((l) => l.includes('dport set ip daddr')),
    );
    // Leaving: the client's in each bypassable TCP VIP's chain before `fo` rewrites; the backend's in `rep`
    // before the source rewrite.
    for (const v of bypassTcp) {
      const chain = `v_${vipTag(v)}`;
      expect(rule(chain, END_RULES.clientOut)).toBeGreaterThan(-1);
      expect(rule(chain, END_RULES.clientOut)).toBeLessThan(
        lines.findIndex((l) => l.startsWith(`add rule ip slipstream ${chain} ip daddr set`)),
      );
    }
    expect(rule('rep', END_RULES.backendOut)).toBeGreaterThan(-1);
    expect(rule('rep', END_RULES.backendOut)).toBeLessThan(
      lines.findIndex((l) => l.includes('rep meta mark != 21760')),
    );
    // UDP VIPs and VIPs without bypass have no end rule in their chain.
    const others = s.vips.filter((x) => x.protocol === 'udp' || !x.bypass.enabled);
    expect(others.length).toBeGreaterThan(0);
    for (const v of others) expect(rule(`v_${vipTag(v)}`, END_RULES.clientOut)).toBe(-1);
  });

  it('translates ports on a backend host only, in both directions, before conntrack and before bo', () => {
    const s = sample('host');
    s.agent.underlay = '198.18.0.31';
    const nft = renderPlan(s).nft.split('\n');
    const inRule =
      'add rule ip slipstream pre tcp dport set ip daddr . tcp dport map { 198.19.0.40 . 8080 : 80 }';
    const outRule =
      'add rule ip slipstream out tcp sport set ip saddr . tcp sport map { 198.19.0.40 . 80 : 8080 }';
    expect(nft).toContain(inRule);
    expect(nft).toContain(outRule);
    expect(nft.indexOf(inRule)).toBeGreaterThan(nft.findIndex((l) => l.includes('map @bi')));
    expect(nft.indexOf(outRule)).toBeLessThan(nft.findIndex((l) => l.includes('@bo accept')));
    // No udp rule without a translated UDP VIP; no rules on a host that does not serve the VIP.
    expect(nft.some((l) => l.includes('udp dport set ip daddr'))).toBe(false);
    expect(renderPlan(sample('host')).nft).not.toContain('dport set ip daddr');
  });

  it('lets the agent install client entries with a marked packet of its own, per bypass VIP', () => {
    const s = sample('host');
    const lines = renderPlan(s).nft.split('\n');
    const mark =
      'add rule ip slipstream out oif "lo" ip daddr 127.0.0.1 udp dport 4790 meta skuid 0 meta mark set 22016';
    expect(lines).toContain(mark);
    // One rule per protocol and idle timeout; the VIPs with bypass off have none.
    const tcp =
      'add rule ip slipstream inst ip daddr . udp dport { 198.19.0.10 . 5201, 198.19.0.10 . 7, 198.19.0.10 . 80, 198.19.0.40 . 8080, 198.19.0.50 . 80 } update @ri { ip saddr . 6 . udp dport . udp sport timeout 305s : ip daddr } update @fo { ip daddr . 6 . udp sport . udp dport timeout 300s : ip saddr } ip daddr set ip saddr ip saddr set 198.18.0.11 udp sport set 4791 udp dport set 4791 dup to ip daddr ip saddr set ip daddr ip daddr set 198.18.0.11 notrack accept';
    const udp =
      'add rule ip slipstream inst ip daddr . udp dport { 198.19.0.30 . 7 } update @ri { ip saddr . 17 . udp dport . udp sport timeout 305s : ip daddr } update @fo { ip daddr . 17 . udp sport . udp dport timeout 300s : ip saddr } ip daddr set ip saddr ip saddr set 198.18.0.11 udp sport set 4791 udp dport set 4791 dup to ip daddr ip saddr set ip daddr ip daddr set 198.18.0.11 notrack accept';
    expect(lines).toContain(tcp);
    expect(lines).toContain(udp);
    expect(lines.filter((l) => l.startsWith('add rule ip slipstream inst ip daddr'))).toHaveLength(2);
    // Anything marked that no rule installed is dropped; the jump comes first in `pre`, before the rules
    // that take a backend's new flows from the tunnel.
    const drop = lines.indexOf('add rule ip slipstream inst drop');
    expect(drop).toBeGreaterThan(lines.indexOf(tcp));
    expect(drop).toBeGreaterThan(lines.indexOf(udp));
    const jump = lines.indexOf('add rule ip slipstream pre iifname "slvx0" meta mark 22016 jump inst');
    expect(jump).toBeGreaterThan(drop);
    expect(jump).toBeLessThan(
      lines.findIndex((l) => l.startsWith('add rule ip slipstream pre') && !l.includes('jump inst')),
    );
    expect(renderPlan(sample('mux')).nft).not.toContain('22016');
  });

  it('lets a backend host install bo with a marked packet of its own, for the bypass VIPs it serves', () => {
    const s = sample('host');
    s.agent.underlay = '198.18.0.31';
    const lines = renderPlan(s).nft.split('\n');
    // Keyed by where replies come from (VIP . VIP port), so a client's packet (to a VIP) never matches.
    const tcp =
      'add rule ip slipstream inst ip saddr . udp sport { 198.19.0.10 . 5201, 198.19.0.10 . 7, 198.19.0.10 . 80, 198.19.0.40 . 8080, 198.19.0.50 . 80 } update @bo { ip saddr . ip daddr . 6 . udp sport . udp dport timeout 3599s } ip saddr set ip daddr ip daddr set 198.18.0.31 udp dport set 4791 notrack accept';
    const udp =
      'add rule ip slipstream inst ip saddr . udp sport { 198.19.0.30 . 7 } update @bo { ip saddr . ip daddr . 17 . udp sport . udp dport timeout 3599s } ip saddr set ip daddr ip daddr set 198.18.0.31 udp dport set 4791 notrack accept';
    expect(lines).toContain(tcp);
    expect(lines).toContain(udp);
    expect(lines.indexOf('add rule ip slipstream inst drop')).toBeGreaterThan(lines.indexOf(udp));
    // A host that serves no VIP, and a backend that is draining, get none.
    expect(renderPlan(sample('host')).nft).not.toContain('update @bo { ip saddr . ip daddr . 6');
    for (const v of s.vips) for (const b of v.backends) if (b.address === '198.18.0.31') b.state = 'draining';
    expect(renderPlan(s).nft).not.toContain('inst ip saddr');
  });

  it('spreads over healthy muxes only, and drops a disabled backend from local VIPs', () => {
    const s = sample('host');
    s.muxes[0]!.healthy = false;
    s.agent.underlay = '198.18.0.31';
    for (const v of s.vips) v.backends[0]!.state = 'disabled';
    const plan = renderPlan(s);
    expect(plan.rules).toEqual([{ pref: 1000, fwmark: 0x5300, table: 0x5300 }]);
    expect(new Set(plan.routes.map((r) => r.encapDst))).toEqual(new Set(['198.18.0.22']));
    expect(plan.localVips).toEqual([]);
    expect(plan.nft).toContain('mod 1 seed');
  });

  it('prunes objects of VIPs that left the config and keeps the flow maps', () => {
    const s = sample('host');
    const gone = s.vips.pop()!;
    const t = vipTag(gone);
    const plan = renderPlan(s, {
      chains: ['out', 'pre', `v_${t}`],
      counters: [`m_${t}`, `d_${t}`],
      maps: ['vips', 'fo', 'ri', 'bi', 'bo', 'sync'],
    });
    expect(plan.nft).toContain(`delete chain ip slipstream v_${t}`);
    expect(plan.nft).toContain(`delete counter ip slipstream m_${t}`);
    expect(plan.nft).not.toMatch(/delete map ip slipstream (fo|ri|bi|bo)\b/);
    // The set earlier agents used as the nft session's completion token goes away.
    expect(plan.nft).toContain('delete map ip slipstream sync');
    expect(plan.nft).not.toMatch(/flush map ip slipstream (fo|ri|bi|bo)\b/);
  });

  it('gives a weight-0 backend no Maglev slot on the mux', () => {
    const s = sample('mux');
    for (const v of s.vips) v.backends[2]!.weight = 0;
    const nft = renderPlan(s).nft;
    // Backend hosts are marked 0x5400 + index in sorted order; b3 (198.18.0.33) is 21506.
    expect(nft).toMatch(/ : 21504/);
    expect(nft).not.toMatch(/ : 21506/);
  });
});

/**
 * Pure rendering of a desired state into kernel objects: the static nftables ruleset (chains, counters,
 * the VIP dispatch map, Maglev maps), policy-routing rules and routes. Per-flow bypass elements are not
 * rendered here: the agent adds them one by one through a persistent nft session.
 *
 * Data path (see DESIGN.md): VIP traffic is carried in VXLAN-GPE (collect-metadata device plus
 * lightweight-tunnel routes) from client host to mux and from mux to backend host; the backend holds the
 * VIP locally and answers directly (DSR). A bypassed flow is rewritten statelessly at both ends:
 * client `out` (route chain, after conntrack) VIP->backend host, backend `pre` (raw, before conntrack)
 * back to VIP; replies mirrored (backend `rep` VIP->backend host, client `pre` back to VIP).
 */
import { createHash } from 'node:crypto';
import { maglevSize, maglevTable } from '../core/maglev.js';
import type { DesiredState, VipSpec } from '../config/desired-state.js';

export const NFT_TABLE = 'slipstream';
export const TUNNEL_DEV = 'slvx0';
/** Label of the VIP addresses this agent holds on `lo`. */
export const VIP_LABEL = 'lo:slvip';
/** Routes this agent owns carry this protocol number, so they can be listed and removed exactly. */
export const ROUTE_PROTO = 83;
export const RULE_PREF_BASE = 1000;
export const MUX_MARK_BASE = 0x5300;
export const BACKEND_MARK_BASE = 0x5400;
/** Receive-side entries outlive send-side ones by this much, so a late packet never meets a missing rewrite. */
export const GRACE_S = 5;
/**
 * NFLOG group (per network namespace) on which the kernel reports to its agent: on a backend, new flows
 * from a mux; on both ends, the FIN and RST packets of bypassed TCP flows (END_RULES).
 */
export const NFLOG_GROUP = 83;
/** The log statement of every rule that reports to the agent: at once, one packet per message. */
const LOG_TO_AGENT = `log group ${NFLOG_GROUP} queue-threshold 1`;
/** Mark and routing table of a backend's mux-path replies to agent hosts (carried in the tunnel). */
export const REPLY_MARK = 0x5500;
/** Mark of the agent's own install packets (see installRules); only root's packets on `lo` get it. */
export const INSTALL_MARK = 0x5600;
/**
 * Mark of a SYN-ACK the kernel hands to the SYN-ACK hold helper (synack-hold.ts): set in `rep`, after
 * routing, so the packet still leaves by the reply tunnel its REPLY_MARK chose.
 */
export const HOLD_MARK = 0x5700;
/** NFQUEUE number of the SYN-ACK hold helper (per network namespace). */
export const HOLD_QUEUE = 4791;
/**
 * Timeout of a backend's `bo` elements: every reply resets it, and the agent deletes an element itself
 * when its flow idles (agent.ts check), so it only bounds an element the agent forgot (a crash).
 */
export const BO_TIMEOUT_S = 3600;
const HASH_SEED = '0x534c5053';

/** Short stable name for a VIP in nft object names (ids may contain characters nft does not accept). */
export function vipTag(vip: Pick<VipSpec, 'id'>): string {
  return createHash('sha256').update(vip.id).digest('hex').slice(0, 10);
}

export interface RouteSpec {
  table: number | 'main';
  dst: string;
  encapDst: string;
  src?: string;
  mtu: number;
}

export interface RuleSpec {
  pref: number;
  fwmark: number;
  table: number | 'main';
  /** Only UDP packets to this destination port (the tunnel's own outer packets). */
  udpDport?: number;
}

export interface KernelPlan {
  nft: string;
  /** Names of chains, counters, maps the ruleset owns (to prune stale ones). */
  objects: { chains: string[]; counters: string[]; maps: string[] };
  routes: RouteSpec[];
  rules: RuleSpec[];
  /** VIP addresses to hold locally (this host is a backend of them). */
  localVips: string[];
  sysctls: Record<string, string>;
  /** Local TCP VIPs whose SYN-ACKs to agent hosts are held (bypass.handshakeHoldMs > 0), sorted. */
  holds: HoldSpec[];
}

export interface HoldSpec {
  vip: string;
  port: number;
  ms: number;
}

export interface ExistingObjects {
  chains: string[];
  counters: string[];
  maps: string[];
}

const FIVE_TUPLE = 'ip saddr . ip daddr . meta l4proto . th sport . th dport';

/** Muxes a client host spreads over: the healthy ones, or all of them when none is healthy. */
export function activeMuxes(state: DesiredState): string[] {
  const healthy = state.muxes.filter((m) => m.healthy).map((m) => m.address);
  return healthy.length > 0 ? healthy : state.muxes.map((m) => m.address);
}

/** Backend hosts a mux forwards to, sorted so marks are stable for the same config. */
export function backendHosts(state: DesiredState): string[] {
  return [...new Set(state.vips.flatMap((v) => v.backends.map((b) => b.address)))].sort();
}

export function maglevFor(vip: VipSpec): { size: number; slots: Int32Array } {
  const size = maglevSize(vip.backends.length);
  const eligible = vip.backends.map((b) => ({ key: b.address, weight: b.state === 'active' ? b.weight : 0 }));
  return { size, slots: maglevTable(eligible, size) };
}

function sortedVips(state: DesiredState): VipSpec[] {
  return [...state.vips].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function vipKey(v: VipSpec): string {
  return `${v.address} . ${v.protocol} . ${v.port}`;
}

const FLOW_MAPS = [
  // client: VIP . proto . client port . VIP port -> backend host (also filled by installRules: the size
  // lifts the 65535 cap a map updated from the packet path would get)
  'add map ip slipstream fo { type ipv4_addr . inet_proto . inet_service . inet_service : ipv4_addr; flags timeout; size 1048576; }',
  // client: backend host . proto . VIP port . client port -> VIP
  'add map ip slipstream ri { type ipv4_addr . inet_proto . inet_service . inet_service : ipv4_addr; flags timeout; size 1048576; }',
  // backend: client . proto . client port . VIP port -> VIP; the kernel adds an element itself when a new
  // bypassable flow arrives from a mux (see newFlowRules), the agent renews and removes them.
  'add map ip slipstream bi { type ipv4_addr . inet_proto . inet_service . inet_service : ipv4_addr; flags dynamic,timeout; size 1048576; }',
  // backend: VIP . client . proto . VIP port . client port (replies leave with this host's address);
  // every reply refreshes its element, which tells the agent whether the flow is still active. A dynamic
  // set defaults to 65535 elements; the size lifts that cap.
  'add set ip slipstream bo { type ipv4_addr . ipv4_addr . inet_proto . inet_service . inet_service; flags dynamic,timeout; timeout 1h; size 1048576; }',
];

/** A request packet's `bo` key (VIP . client . proto . VIP port . client port, as its replies carry it). */
const BO_FROM_REQUEST = 'ip daddr . ip saddr . meta l4proto . th dport . th sport';

/**
 * Backend side: a flow's first packet from a mux (a TCP SYN; any UDP packet of a bypassable UDP VIP)
 * installs the flow's receive rewrite `bi` in the kernel, then is logged to the agent over NFLOG by the
 * same rule. The agent sends its redirect on that log line, so `bi` is in place before the client can
 * send a rewritten packet (the ordering rule), without a userspace round trip to nft on the critical path.
 * A TCP SYN first clears any `bo` an earlier flow on the same ports left behind.
 */
function newFlowRules(state: DesiredState, vips: VipSpec[]): string[] {
  const out: string[] = [];
  const self = state.agent.underlay;
  for (const v of vips) {
    const me = v.backends.find((b) => b.address === self);
    if (!me || me.state !== 'active') continue;
    const bypass = v.bypass.enabled;
    // Mux-only UDP stays out of userspace: with no first-packet flag, every packet would be logged.
    if (v.protocol === 'udp' && !bypass) continue;
    const first = v.protocol === 'tcp' ? ' tcp flags & (syn | ack) == syn' : '';
    const match = `iifname "${TUNNEL_DEV}" ip daddr ${v.address} ${v.protocol} dport ${v.port}${first}`;
    // A new connection on the ports of an earlier bypassed one whose `bo` is still here (its end not yet
    // acted on: the agent's deletions can run seconds behind under a flood) would have its replies
    // rewritten to this host's address, which the client, its `ri` gone, answers with a RST. Without
    // `bo` replies take the reply tunnel with the VIP as source, which is always right.
    if (v.protocol === 'tcp')
      out.push(`add rule ip slipstream pre ${match} delete @bo { ${BO_FROM_REQUEST} }`);
    if (!bypass) {
      // Logged all the same, so the agent also counts the flows it does not bypass.
      out.push(`add rule ip slipstream pre ${match} ${LOG_TO_AGENT}`);
      continue;
    }
    // The log is in the same rule as the add: when the add fails (a full map), the rule stops there and
    // the agent never hears of the flow, which stays on the mux. A separate log would have the agent
    // redirect a flow with no `bi`, and the backend reset it when its packets came straight.
    const cidrs = v.bypass.sourceCidrs.join(', ');
    const src = cidrs ? ` ip saddr { ${cidrs} }` : '';
    out.push(
      `add rule ip slipstream pre ${match}${src} add @bi { ip saddr . meta l4proto . th sport . th dport timeout ${v.bypass.idleTimeoutS + GRACE_S}s : ip daddr } ${LOG_TO_AGENT}`,
    );
    if (cidrs) out.push(`add rule ip slipstream pre ${match} ip saddr != { ${cidrs} } ${LOG_TO_AGENT}`);
  }
  return out;
}

/**
 * End of a TCP flow that is or may become bypassed: its FIN and RST packets, both ways, at both ends, are
 * logged to the agent (NFLOG_GROUP), which removes the flow's entries once both sides have sent a FIN or
 * either has sent a RST, instead of one idle timeout later. A short flow often ends before its bypass is
 * in place, so the rules do not wait for the entries: a client logs every flow of a bypassable TCP VIP
 * (and remembers the ends of flows it has no entry for yet, see Agent.onFlowEnd), a backend every flow
 * with a `bi` element (added at the flow's first packet).
 */
const END = `tcp flags & (fin | rst) != 0`;
export const END_RULES = {
  /** Client, leaving: in the chain of each bypassable TCP VIP, before `fo` rewrites the packet. */
  clientOut: `${END} ${LOG_TO_AGENT}`,
  /** Client, arriving from a bypassable TCP VIP (after `ri` restored the VIP, or through the tunnel). */
  clientIn: (vipPorts: string[]): string =>
    `ip saddr . tcp sport { ${vipPorts.join(', ')} } ${END} ${LOG_TO_AGENT}`,
  /** Backend, arriving (either way; before port translation): `bi` holds client . proto . ports. */
  backendIn: `${END} ip saddr . meta l4proto . th sport . th dport @bi ${LOG_TO_AGENT}`,
  /** Backend, leaving (in `rep`, after port translation restored the VIP port). */
  backendOut: `${END} ip daddr . meta l4proto . th dport . th sport @bi ${LOG_TO_AGENT}`,
};

/**
 * Per-flow elements the agents add without an nft round trip (~0.05 ms instead of ~0.2-1 ms of an nft
 * process, and no third process to schedule):
 * - client: a verified redirect's `ri` and `fo`;
 * - backend: an acked flow's `bo` (replies leave with this host's address from then on).
 * The agent sends itself, through `lo` to the tunnel port, a VXLAN-GPE packet whose inner UDP header
 * carries the flow (kernel.ts clientInstall, backendInstall). Only root's packets on `lo` are marked (the
 * mark survives decapsulation; packets from the wire never carry it), so only the agent can install this
 * way. A client packet goes to a VIP's port (`ip daddr . udp dport`), a backend packet comes from one of
 * this host's VIPs (`ip saddr . udp sport`), so the two never match each other's rules. The rule (one per
 * protocol and timeout) adds or refreshes the elements (`ri` first: it receives), then turns the packet
 * into a confirmation to the agent's redirect socket; a client's rule first sends the ack it carries to
 * the backend (`dup`). A packet no rule installed is dropped, and the agent, hearing nothing, falls back
 * to its nft session (and acks itself). The agent checked signature, pool and policy (client) or the
 * client's ack (backend) before sending it.
 */
function installRules(state: DesiredState, vips: VipSpec[]): string[] {
  const self = state.agent.underlay;
  const port = state.redirect.port;
  const confirm = `ip daddr set ${self} udp dport set ${port} notrack accept`;
  // The client's payload is the signed ack of the redirect: once ri and fo are in, the kernel sends it to
  // the backend host (the inner source) itself, then returns the packet to the agent as the confirmation
  // (from the backend's address: a local source would be dropped as a martian). No wait for the agent's
  // event loop between the install and the ack, and never an ack for entries the kernel did not add.
  const ackAndConfirm =
    `ip daddr set ip saddr ip saddr set ${self} udp sport set ${port} udp dport set ${port} dup to ip daddr` +
    ` ip saddr set ip daddr ip daddr set ${self} notrack accept`;
  // One rule per protocol and idle timeout (a handful), each matching its VIPs with one set lookup.
  const groups = new Map<string, { proto: number; t: number; keys: string[] }>();
  const served = new Map<number, string[]>();
  for (const v of vips) {
    if (!v.bypass.enabled) continue;
    const proto = v.protocol === 'tcp' ? 6 : 17;
    const t = v.bypass.idleTimeoutS;
    const g = groups.get(`${proto}/${t}`) ?? { proto, t, keys: [] };
    g.keys.push(`${v.address} . ${v.port}`);
    groups.set(`${proto}/${t}`, g);
    const me = v.backends.find((b) => b.address === self && b.state === 'active');
    if (me) served.set(proto, [...(served.get(proto) ?? []), `${v.address} . ${v.port}`]);
  }
  const inst: string[] = ['flush chain ip slipstream inst'];
  for (const { proto, t, keys } of groups.values()) {
    inst.push(
      `add rule ip slipstream inst ip daddr . udp dport { ${keys.join(', ')} }` +
        ` update @ri { ip saddr . ${proto} . udp dport . udp sport timeout ${t + GRACE_S}s : ip daddr }` +
        ` update @fo { ip daddr . ${proto} . udp sport . udp dport timeout ${t}s : ip saddr } ${ackAndConfirm}`,
    );
  }
  for (const [proto, keys] of [...served].sort((a, b) => a[0] - b[0])) {
    inst.push(
      `add rule ip slipstream inst ip saddr . udp sport { ${[...new Set(keys)].join(', ')} }` +
        ` update @bo { ip saddr . ip daddr . ${proto} . udp sport . udp dport timeout ${BO_TIMEOUT_S - 1}s }` +
        // A VIP is local here: a confirmation from it would be dropped as a martian on the way in.
        ` ip saddr set ip daddr ${confirm}`,
    );
  }
  inst.push('add rule ip slipstream inst drop');
  // One rule in each hooked chain, so the packets of flows pay for two mismatches and no more.
  return [
    ...inst,
    `add rule ip slipstream out oif "lo" ip daddr 127.0.0.1 udp dport ${state.encap.udpPort} meta skuid 0 meta mark set ${INSTALL_MARK}`,
    `add rule ip slipstream pre iifname "${TUNNEL_DEV}" meta mark ${INSTALL_MARK} jump inst`,
  ];
}

export function renderPlan(
  state: DesiredState,
  existing: ExistingObjects = { chains: [], counters: [], maps: [] },
): KernelPlan {
  const self = state.agent.underlay;
  const mtu = state.encap.innerMtu;
  const lines: string[] = [`add table ip ${NFT_TABLE}`];
  const chains: string[] = [];
  const counters: string[] = [];
  const maps: string[] = ['vips'];
  const rules: RuleSpec[] = [];
  const routes: RouteSpec[] = [];
  const localVips: string[] = [];
  const vips = sortedVips(state);
  // Mark tables hold only VIP routes: the tunnel's own outer lookup carries the same mark and must fall
  // through to the main table, or it would loop into the tunnel.
  const vipAddrList = [...new Set(vips.map((v) => v.address))].sort();
  lines.push('add map ip slipstream vips { type ipv4_addr . inet_proto . inet_service : verdict; }');
  const sysctls: Record<string, string> = {
    'net.ipv4.conf.all.rp_filter': '0',
    'net.ipv4.conf.default.rp_filter': '0',
    [`net.ipv4.conf.${TUNNEL_DEV}.rp_filter`]: '0',
  };
  const body: string[] = [];
  const elements: string[] = [];

  if (state.agent.role === 'mux') {
    Object.assign(sysctls, {
      'net.ipv4.ip_forward': '1',
      'net.ipv4.conf.all.send_redirects': '0',
      [`net.ipv4.conf.${TUNNEL_DEV}.send_redirects`]: '0',
    });
    const hosts = backendHosts(state);
    hosts.forEach((h, j) => {
      const mark = BACKEND_MARK_BASE + j;
      rules.push({ pref: RULE_PREF_BASE + j, fwmark: mark, table: mark });
      for (const a of vipAddrList) routes.push({ table: mark, dst: `${a}/32`, encapDst: h, mtu });
    });
    lines.push('add chain ip slipstream pre { type filter hook prerouting priority raw; policy accept; }');
    chains.push('pre');
    body.push('flush chain ip slipstream pre');
    // Mux VIP traffic is never conntracked: the mux sees one direction only (DSR) and must stay stateless.
    body.push(
      `add rule ip slipstream pre iifname "${TUNNEL_DEV}" ip daddr . meta l4proto . th dport vmap @vips`,
    );
    for (const v of vips) {
      const t = vipTag(v);
      const { size, slots } = maglevFor(v);
      lines.push(`add counter ip slipstream x_${t}`, `add counter ip slipstream n_${t}`);
      lines.push(`add chain ip slipstream v_${t}`);
      lines.push(`add map ip slipstream mg_${t} { typeof numgen inc mod 2 : meta mark; }`);
      counters.push(`x_${t}`, `n_${t}`);
      chains.push(`v_${t}`);
      maps.push(`mg_${t}`);
      const key = v.distribution === 'source-ip' ? 'ip saddr' : FIVE_TUPLE;
      body.push(`flush chain ip slipstream v_${t}`);
      // New flows: the mux keeps no connection state, so only TCP SYNs can be counted (UDP cannot).
      if (v.protocol === 'tcp')
        body.push(`add rule ip slipstream v_${t} tcp flags & (syn | ack) == syn counter name "n_${t}"`);
      body.push(
        `add rule ip slipstream v_${t} notrack counter name "x_${t}" meta mark set jhash ${key} mod ${size} seed ${HASH_SEED} map @mg_${t}`,
      );
      body.push(`flush map ip slipstream mg_${t}`);
      const els: string[] = [];
      slots.forEach((b, slot) => {
        if (b >= 0) els.push(`${slot} : ${BACKEND_MARK_BASE + hosts.indexOf(v.backends[b]!.address)}`);
      });
      for (let i = 0; i < els.length; i += 2000) {
        body.push(`add element ip slipstream mg_${t} { ${els.slice(i, i + 2000).join(', ')} }`);
      }
      elements.push(`${vipKey(v)} : goto v_${t}`);
    }
  } else {
    Object.assign(sysctls, {
      'net.ipv4.conf.all.arp_ignore': '1',
      'net.ipv4.conf.all.arp_announce': '2',
    });
    const muxes = activeMuxes(state);
    muxes.forEach((m, i) => {
      const mark = MUX_MARK_BASE + i;
      rules.push({ pref: RULE_PREF_BASE + i, fwmark: mark, table: mark });
      for (const a of vipAddrList) routes.push({ table: mark, dst: `${a}/32`, encapDst: m, src: self, mtu });
    });
    lines.push(...FLOW_MAPS);
    maps.push('fo', 'ri', 'bi', 'bo');
    lines.push('add chain ip slipstream out { type route hook output priority mangle; policy accept; }');
    // A filter chain right after `out`: changing an address here does not route the packet again.
    lines.push('add chain ip slipstream rep { type filter hook output priority mangle + 1; policy accept; }');
    lines.push('add chain ip slipstream pre { type filter hook prerouting priority raw; policy accept; }');
    lines.push('add chain ip slipstream inst');
    chains.push('out', 'rep', 'pre', 'inst');
    body.push(
      'flush chain ip slipstream out',
      'flush chain ip slipstream rep',
      'flush chain ip slipstream pre',
    );
    body.push(...installRules(state, vips));
    body.push('add rule ip slipstream out ip daddr . meta l4proto . th dport vmap @vips');
    // A bypassed flow's reply keeps the route its socket chose (plain, to the client's host): `out` only
    // lets it skip the reply-tunnel mark, and `rep` gives it this host's address. Rewriting the source in
    // `out` itself, a route chain, would cost a second route lookup per reply packet (about 0.8 us per
    // 64-byte round trip here). `bo` may change between the two lookups:
    // - added: `out` already marked the reply for the tunnel, so `rep` must leave it alone (a tunnelled
    //   reply from this host's address matches no socket at the client, whose RST would reset the flow);
    // - deleted: the reply leaves plain with the VIP as source, which the client's socket accepts.
    // (The `rep` rule itself is added below, once it is known whether replies can be marked at all.)
    body.push(`add rule ip slipstream out ${FIVE_TUPLE} @bo accept`);
    body.push(
      `add rule ip slipstream pre iifname != "${TUNNEL_DEV}" ip saddr set ip saddr . meta l4proto . th sport . th dport map @ri`,
    );
    body.push(
      `add rule ip slipstream pre iifname != "${TUNNEL_DEV}" ip daddr ${self} ip daddr set ip saddr . meta l4proto . th sport . th dport map @bi`,
    );
    const endVips = vips
      .filter((v) => v.protocol === 'tcp' && v.bypass.enabled)
      .map((v) => `${v.address} . ${v.port}`)
      .sort();
    if (endVips.length > 0) body.push(`add rule ip slipstream pre ${END_RULES.clientIn(endVips)}`);
    body.push(`add rule ip slipstream pre ${END_RULES.backendIn}`);
    body.push(...newFlowRules(state, vips));
    // Port translation (backend port != VIP port) for VIPs this host serves: stateless, before conntrack on
    // the way in (after `bi` restored the VIP), and on replies before `bo` (whose key holds the VIP port).
    for (const proto of ['tcp', 'udp'] as const) {
      const inbound: string[] = [];
      const outbound: string[] = [];
      for (const v of vips) {
        const me = v.backends.find((b) => b.address === self && b.state !== 'disabled');
        if (v.protocol !== proto || !me || me.port === v.port) continue;
        inbound.push(`${v.address} . ${v.port} : ${me.port}`);
        outbound.push(`${v.address} . ${me.port} : ${v.port}`);
      }
      if (inbound.length === 0) continue;
      body.push(
        `add rule ip slipstream pre ${proto} dport set ip daddr . ${proto} dport map { ${inbound.join(', ')} }`,
      );
      body.splice(
        body.indexOf('add rule ip slipstream out ip daddr . meta l4proto . th dport vmap @vips') + 1,
        0,
        `add rule ip slipstream out ${proto} sport set ip saddr . ${proto} sport map { ${outbound.join(', ')} }`,
      );
    }
    const muxMap = muxes.map((_m, i) => `${i} : ${MUX_MARK_BASE + i}`).join(', ');
    const vipAddrs = new Set<string>();
    for (const v of vips) {
      const t = vipTag(v);
      lines.push(
        `add counter ip slipstream m_${t}`,
        `add counter ip slipstream d_${t}`,
        `add counter ip slipstream n_${t}`,
        `add chain ip slipstream v_${t}`,
      );
      counters.push(`m_${t}`, `d_${t}`, `n_${t}`);
      chains.push(`v_${t}`);
      body.push(`flush chain ip slipstream v_${t}`);
      // Client-side new flows, counted in the kernel: conntrack runs before this (route) chain.
      body.push(`add rule ip slipstream v_${t} ct state new counter name "n_${t}"`);
      if (v.protocol === 'tcp' && v.bypass.enabled)
        body.push(`add rule ip slipstream v_${t} ${END_RULES.clientOut}`);
      body.push(
        `add rule ip slipstream v_${t} ip daddr set ip daddr . meta l4proto . th sport . th dport map @fo counter name "d_${t}" accept`,
      );
      body.push(
        muxes.length > 0
          ? `add rule ip slipstream v_${t} counter name "m_${t}" meta mark set jhash ${FIVE_TUPLE} mod ${muxes.length} seed ${HASH_SEED} map { ${muxMap} }`
          : `add rule ip slipstream v_${t} counter name "m_${t}" drop`,
      );
      elements.push(`${vipKey(v)} : goto v_${t}`);
      if (muxes[0] !== undefined && !vipAddrs.has(v.address)) {
        // Main-table route so a socket can connect before the output chain picks the mux by hash.
        routes.push({ table: 'main', dst: `${v.address}/32`, encapDst: muxes[0], src: self, mtu });
      }
      vipAddrs.add(v.address);
      if (
        v.backends.some((b) => b.address === self && b.state !== 'disabled') &&
        !localVips.includes(v.address)
      ) {
        localVips.push(v.address);
      }
    }
  }
  const replyTo = state.hosts.map((h) => h.address).filter((a) => a !== self);
  const replyTunnel = state.agent.role === 'host' && localVips.length > 0 && replyTo.length > 0;
  if (replyTunnel) {
    // Replies with a VIP source that `bo` does not hold (not bypassed; bypassed ones left `out` above and
    // get this host's address in `rep`) are marked; the mark's table holds a tunnel route to each agent
    // host only, so replies to anyone else fall through to the main table and leave plain. The tunnel's outer packet inherits the mark
    // and would match its own route again: the rule before sends UDP to the tunnel port to main.
    body.push(
      `add rule ip slipstream out ip saddr { ${[...localVips].sort().join(', ')} } meta mark set ${REPLY_MARK}`,
    );
    rules.push(
      { pref: RULE_PREF_BASE + 500, fwmark: REPLY_MARK, table: 'main', udpDport: state.encap.udpPort },
      { pref: RULE_PREF_BASE + 501, fwmark: REPLY_MARK, table: REPLY_MARK },
    );
    for (const h of [...replyTo].sort())
      routes.push({ table: REPLY_MARK, dst: `${h}/32`, encapDst: h, src: self, mtu });
  }
  const holds: HoldSpec[] = [];
  if (state.agent.role === 'host') {
    const unmarked = replyTunnel ? `meta mark != ${REPLY_MARK} ` : '';
    body.push(`add rule ip slipstream rep ${END_RULES.backendOut}`);
    body.push(
      `add rule ip slipstream rep ${unmarked}${FIVE_TUPLE} @bo update @bo { ${FIVE_TUPLE} timeout 1h } ip saddr set ${self}`,
    );
    if (replyTunnel) holds.push(...holdsOf(state, vips));
  }
  if (holds.length > 0) {
    // A new connection's SYN-ACK to an agent host, from a VIP whose policy holds handshakes: marked for
    // the hold helper's queue (the kernel rule that queues it is iptables': see synack-hold.ts). The
    // client's ACK then finds its bypass entries in place and goes straight here.
    body.push(
      `add rule ip slipstream rep meta mark ${REPLY_MARK} tcp flags & (syn | ack) == syn | ack ip saddr . tcp sport { ${holds.map((h) => `${h.vip} . ${h.port}`).join(', ')} } ip daddr { ${[...replyTo].sort().join(', ')} } meta mark set ${HOLD_MARK}`,
    );
  }
  body.push('flush map ip slipstream vips');
  if (elements.length > 0) body.push(`add element ip slipstream vips { ${elements.join(', ')} }`);
  // Prune objects of VIPs that left the config: chains first lose their references (vips flushed above).
  for (const c of existing.chains) {
    if (!chains.includes(c)) body.push(`flush chain ip slipstream ${c}`, `delete chain ip slipstream ${c}`);
  }
  for (const c of existing.counters)
    if (!counters.includes(c)) body.push(`delete counter ip slipstream ${c}`);
  for (const m of existing.maps) if (!maps.includes(m)) body.push(`delete map ip slipstream ${m}`);
  localVips.sort();
  return {
    nft: [...lines, ...body].join('\n') + '\n',
    objects: { chains, counters, maps },
    routes,
    rules,
    localVips,
    sysctls,
    holds,
  };
}

/** The TCP VIPs this host serves with bypass on and a handshake hold, by address and port. */
function holdsOf(state: DesiredState, vips: readonly VipSpec[]): HoldSpec[] {
  const self = state.agent.underlay;
  return vips
    .filter(
      (v) =>
        v.protocol === 'tcp' &&
        v.bypass.enabled &&
        (v.bypass.handshakeHoldMs ?? 0) > 0 &&
        // Only an active backend hears of new flows (newFlowRules): a draining one would hold in vain.
        v.backends.some((b) => b.address === self && b.state === 'active'),
    )
    .map((v) => ({ vip: v.address, port: v.port, ms: v.bypass.handshakeHoldMs ?? 0 }))
    .sort((a, b) => a.vip.localeCompare(b.vip) || a.port - b.port);
}

import { describe, expect, it } from 'vitest';
import { ConfigError, parseDesiredState, validateDesiredState } from '../../src/config/desired-state.js';
import { KEY, sample } from './sample-state.js';

function problems(input: unknown): string[] {
  try {
    validateDesiredState(input);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  return [];
}

describe('desired state validation', () => {
  it('accepts the lab demo config and fills defaults', () => {
    const s = sample();
    expect(validateDesiredState(JSON.parse(JSON.stringify(s)))).toEqual(s);
    const { encap: _e, ...noEncap } = s;
    expect(
      validateDesiredState({ ...noEncap, redirect: { activeKeyId: 'k1', keys: { k1: KEY } } }).encap,
    ).toEqual({
      vni: 1,
      udpPort: 4790,
      innerMtu: 1464,
    });
  });

  it('lists every problem with the path of the field', () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- deliberately breaking typed fields
    const s = sample() as unknown as Record<string, any>;
    s.revision = -1;
    s.agent.role = 'router';
    s.agent.underlay = '010.0.0.1';
    s.vips[0].protocol = 'sctp';
    s.vips[0].bypass.sourceCidrs = ['10.0.0.1/8'];
    s.vips[0].backends[0].weight = 1001;
    s.vips[1].backends[1].state = 'gone';
    s.extra = true;
    expect(problems(s)).toEqual([
      '$.extra: unknown field',
      '$.agent.role: must be one of host, mux',
      '$.agent.underlay: must be a canonical IPv4 address',
      '$.vips[0].protocol: must be one of tcp, udp',
      '$.vips[0].bypass.sourceCidrs[0]: must be an IPv4 CIDR without host bits, e.g. 10.0.0.0/8',
      '$.vips[0].backends[0].weight: must be an integer 0..1000',
      '$.vips[1].backends[1].state: must be one of active, draining, disabled',
      '$.revision: must be an integer 0..9007199254740991',
    ]);
  });

  it('rejects key sets that are empty, too large, short or not named by activeKeyId', () => {
    const s = sample();
    expect(problems({ ...s, redirect: { ...s.redirect, keys: {} } })).toContain(
      '$.redirect.keys: must hold 1 or 2 keys (2 during a rotation)',
    );
    expect(problems({ ...s, redirect: { ...s.redirect, keys: { a: KEY, b: KEY, c: KEY } } })).toContain(
      '$.redirect.keys: must hold 1 or 2 keys (2 during a rotation)',
    );
    expect(problems({ ...s, redirect: { ...s.redirect, keys: { k1: 'c2hvcnQ=' } } })).toContain(
      '$.redirect.keys.k1: must be a base64 key of at least 32 bytes',
    );
    expect(problems({ ...s, redirect: { ...s.redirect, activeKeyId: 'k2' } })).toContain(
      '$.redirect.activeKeyId: must name one of the keys',
    );
    expect(problems({ ...s, redirect: { ...s.redirect, keys: { k1: KEY, k2: KEY } } })).toEqual([]);
  });

  it('rejects duplicate VIPs, duplicate backends and ambiguous port translation', () => {
    const s = sample();
    const dup = { ...s, vips: [s.vips[0]!, { ...s.vips[0]!, id: 'other' }] };
    expect(problems(dup)).toContain('$.vips[1]: duplicate VIP 198.19.0.10/tcp/80');
    const v = s.vips[0]!;
    const badBackends = {
      ...s,
      vips: [{ ...v, backends: [v.backends[0]!, v.backends[0]!, { ...v.backends[1]!, port: 8080 }] }],
    };
    expect(problems(badBackends)).toEqual([
      '$.vips[0].backends[1].address: duplicate backend host 198.18.0.31',
    ]);
    // Two VIPs of one address whose backend ports meet on one host: replies could not be told apart.
    const web = s.vips.find((x) => x.id === 'vip-web')!;
    const alt = { ...web, id: 'alt', name: 'alt', port: 8080, backends: [{ ...web.backends[1]! }] };
    expect(problems({ ...s, vips: [web, alt] })).toEqual([
      '$.vips[1].backends[0].port: backend 198.18.0.32 already serves tcp port 80 of VIP 198.19.0.10 for $.vips[0]; replies could not be told apart',
    ]);
    expect(
      problems({ ...s, vips: [web, { ...alt, backends: [{ ...web.backends[1]!, port: 8081 }] }] }),
    ).toEqual([]);
  });

  it('accepts an optional list of agent hosts, rejecting bad or duplicate addresses', () => {
    const { hosts: _h, ...withoutHosts } = sample();
    expect(validateDesiredState(withoutHosts).hosts).toEqual([]);
    const s = sample();
    expect(validateDesiredState(s).hosts).toHaveLength(5);
    expect(
      problems({ ...s, hosts: [{ address: '10.0.0.1' }, { address: '10.0.0.1' }, { address: 'x' }, {}] }),
    ).toEqual([
      '$.hosts[1].address: duplicate host 10.0.0.1',
      '$.hosts[2].address: must be a canonical IPv4 address',
      '$.hosts[3].address: is required',
      '$.hosts[3].address: must be a canonical IPv4 address',
    ]);
    expect(problems({ ...s, hosts: {} })).toContain('$.hosts: must be an array');
  });

  it('keeps probe settings and backend health, and still accepts states without them', () => {
    const s = sample('mux');
    const web = s.vips[0]!;
    web.probe = {
      protocol: 'http',
      path: '/healthz',
      port: 8080,
      intervalMs: 500,
      timeoutMs: 200,
      healthyThreshold: 2,
      unhealthyThreshold: 3,
    };
    web.backends[1]!.healthy = false;
    web.backends[2]!.healthy = true;
    const out = validateDesiredState(JSON.parse(JSON.stringify(s)));
    expect(out.vips[0]!.probe).toEqual(web.probe);
    expect(out.vips[0]!.backends.map((b) => b.healthy)).toEqual([undefined, false, true]);
    // A state from before health existed: no probe, no health flag.
    expect(out.vips[1]!.probe).toBeUndefined();
    expect('healthy' in out.vips[1]!.backends[0]!).toBe(false);
  });

  it('refuses bad probe settings and health flags', () => {
    const s = sample('mux');
    const web = s.vips[0]!;
    const bad = {
      ...web,
      probe: {
        protocol: 'udp',
        port: 0,
        path: 'healthz',
        intervalMs: 100,
        timeoutMs: 100,
        healthyThreshold: 0,
        unhealthyThreshold: 21,
        extra: 1,
      },
      backends: [{ ...web.backends[0]!, healthy: 'yes' }],
    };
    expect(problems({ ...s, vips: [bad] })).toEqual([
      '$.vips[0].backends[0].healthy: must be true or false',
      '$.vips[0].probe.extra: unknown field',
      '$.vips[0].probe.protocol: must be one of tcp, http',
      '$.vips[0].probe.healthyThreshold: must be an integer 1..20',
      '$.vips[0].probe.unhealthyThreshold: must be an integer 1..20',
      '$.vips[0].probe.port: must be an integer 1..65535',
      '$.vips[0].probe.path: must be an absolute path of printable ASCII, 1..1024',
      '$.vips[0].probe.timeoutMs: must be lower than intervalMs',
    ]);
    const tcpWithPath = {
      ...web,
      probe: {
        protocol: 'tcp',
        path: '/',
        intervalMs: 1000,
        timeoutMs: 500,
        healthyThreshold: 1,
        unhealthyThreshold: 1,
      },
    };
    expect(problems({ ...s, vips: [tcpWithPath] })).toEqual([
      '$.vips[0].probe.path: only http probes take a path',
    ]);
  });

  it('keeps an optional handshake hold per bypass policy and refuses one out of range', () => {
    const s = sample('host');
    const web = s.vips[0]!;
    web.bypass.handshakeHoldMs = 10;
    const out = validateDesiredState(JSON.parse(JSON.stringify(s)));
    expect(out.vips[0]!.bypass.handshakeHoldMs).toBe(10);
    expect('handshakeHoldMs' in out.vips[1]!.bypass).toBe(false);
    for (const bad of [-1, 51, 2.5, '5']) {
      web.bypass.handshakeHoldMs = bad as number;
      expect(problems(JSON.parse(JSON.stringify(s)))).toEqual([
        expect.stringMatching(/^\$\.vips\[0\]\.bypass\.handshakeHoldMs: /),
      ]);
    }
  });

  it('reports non-JSON text clearly', () => {
    expect(() => parseDesiredState('{ nope')).toThrow(/not JSON/);
    expect(() => parseDesiredState('[]')).toThrow(/\$: must be an object/);
  });
});

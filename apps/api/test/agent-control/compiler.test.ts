import { validateDesiredState } from '@slipstream/agent-protocol';
import { describe, expect, it } from 'vitest';
import { compileTenant } from '../../src/agent-control/compiler.js';
import { twoVipTenant } from './fixtures.js';

const HOST = 'b0000000-0000-4000-8000-000000000001';
const MUX = 'a0000000-0000-4000-8000-000000000001';

describe('config compiler', () => {
  it('compiles one state per enrolled, non-revoked agent', () => {
    const { states } = compileTenant(twoVipTenant());
    expect([...states.keys()].sort()).toEqual([
      'a0000000-0000-4000-8000-000000000001',
      'a0000000-0000-4000-8000-000000000002',
      'b0000000-0000-4000-8000-000000000001',
      'b0000000-0000-4000-8000-000000000002',
    ]);
  });

  it('gives a host its identity, the live keys, the muxes and every VIP', () => {
    const s = compileTenant(twoVipTenant()).states.get(HOST)!;
    expect(s).toMatchObject({
      version: 1,
      revision: 7,
      agent: {
        tenantId: '11111111-1111-4111-8111-111111111111',
        agentId: HOST,
        role: 'host',
        underlay: '198.18.0.21',
      },
      encap: { vni: 1, udpPort: 4790, innerMtu: 1464 },
    });
    expect(s.redirect.activeKeyId).toBe('k-new');
    expect(Object.keys(s.redirect.keys).sort()).toEqual(['k-new', 'k-old']);
    expect(s.redirect.keys['k-new']).toBe(Buffer.alloc(32, 2).toString('base64'));
    // The revoked mux is gone; the unconnected one is listed unhealthy.
    expect(s.muxes).toEqual([
      { address: '198.18.0.11', healthy: true },
      { address: '198.18.0.12', healthy: false },
    ]);
    expect(s.vips.map((v) => v.name)).toEqual(['web', 'dns', 'web-alt']);
    expect(s.hosts).toEqual([{ address: '198.18.0.21' }, { address: '198.18.0.22' }]);
  });

  it('maps VIP fields, keeps backend states and weights, and leaves out what the agent cannot use', () => {
    const { states, warnings } = compileTenant(twoVipTenant());
    const [web, dns, alt] = states.get(MUX)!.vips;
    expect(web).toEqual({
      id: 'c0000000-0000-4000-8000-000000000001',
      name: 'web',
      address: '10.100.0.1',
      protocol: 'tcp',
      port: 80,
      poolId: 'd0000000-0000-4000-8000-000000000001',
      distribution: 'five-tuple',
      idleTimeoutS: 300,
      bypass: {
        enabled: true,
        sourceCidrs: ['198.18.0.0/24'],
        maxFlowsPerHost: 65_536,
        idleTimeoutS: 120,
        handshakeHoldMs: 7,
      },
      backends: [
        { address: '198.18.0.21', port: 80, weight: 100, state: 'active', healthy: true },
        { address: '198.18.0.22', port: 80, weight: 0, state: 'draining', healthy: true },
        // Unknown health (no mux reported yet) is not a failure.
        { address: '198.18.0.23', port: 80, weight: 50, state: 'disabled', healthy: true },
        { address: '198.18.0.24', port: 8080, weight: 10, state: 'active', healthy: false },
      ],
      probe: {
        protocol: 'tcp',
        intervalMs: 5000,
        timeoutMs: 2000,
        healthyThreshold: 2,
        unhealthyThreshold: 3,
      },
    });
    expect(alt!.backends).toEqual([
      { address: '198.18.0.22', port: 8443, weight: 100, state: 'active', healthy: true },
    ]);
    expect(dns!.distribution).toBe('source-ip');
    // Clamped into the agent's ranges.
    expect(dns!.idleTimeoutS).toBe(5);
    expect(dns!.bypass.maxFlowsPerHost).toBe(1_000_000);
    // No hold: the field stays out (a state without it means none).
    expect('handshakeHoldMs' in dns!.bypass).toBe(false);
    expect(warnings).toEqual([
      'vip c0000000-0000-4000-8000-000000000001: backend 198.18.0.21:80 skipped (host already in the pool)',
      'vip c0000000-0000-4000-8000-000000000003: backend 198.18.0.21:80 skipped (already serves tcp 10.100.0.1 for vip c0000000-0000-4000-8000-000000000001)',
    ]);
  });

  it('carries the pool probe: a fixed port when set, a path for http only, timeouts below the interval', () => {
    const t = twoVipTenant();
    t.vips[0]!.probe = {
      protocol: 'http',
      port: 8081,
      path: null,
      intervalMs: 1000,
      timeoutMs: 500,
      healthyThreshold: 1,
      unhealthyThreshold: 20,
    };
    // A row that breaks the cross-field rule (the API refuses it at write time) is clamped, not sent.
    t.vips[1]!.probe = { ...t.vips[1]!.probe, intervalMs: 100, timeoutMs: 2000 };
    const [web, dns, alt] = compileTenant(t).states.get(MUX)!.vips;
    expect(alt!.probe).toEqual({
      protocol: 'http',
      port: 8081,
      path: '/',
      intervalMs: 1000,
      timeoutMs: 500,
      healthyThreshold: 1,
      unhealthyThreshold: 20,
    });
    expect(dns!.probe).toMatchObject({ intervalMs: 100, timeoutMs: 99 });
    expect(web!.probe).not.toHaveProperty('port');
    expect(web!.probe).not.toHaveProperty('path');
  });

  it('tells hosts and muxes the same backend health', () => {
    const { states } = compileTenant(twoVipTenant());
    const down = (id: string) =>
      states
        .get(id)!
        .vips.flatMap((v) =>
          v.backends.filter((b) => b.healthy === false).map((b) => `${v.name} ${b.address}`),
        );
    expect(down(HOST)).toEqual(['web 198.18.0.24']);
    expect(down(MUX)).toEqual(['web 198.18.0.24']);
  });

  it('gives muxes no mux list', () => {
    expect(compileTenant(twoVipTenant()).states.get(MUX)!.muxes).toEqual([]);
  });

  it('uses the single live key after a retirement', () => {
    const t = twoVipTenant();
    t.keys = t.keys.map((k) => (k.keyId === 'k-old' ? { ...k, retired: true } : k));
    const s = compileTenant(t).states.get(HOST)!;
    expect(s.redirect).toEqual({
      port: 4791,
      activeKeyId: 'k-new',
      keys: { 'k-new': Buffer.alloc(32, 2).toString('base64') },
      windowMs: 5000,
    });
  });

  it('compiles nothing without a live key and says why', () => {
    const t = twoVipTenant();
    t.keys = [];
    const r = compileTenant(t);
    expect(r.states.size).toBe(0);
    expect(r.warnings).toEqual([
      'tenant 11111111-1111-4111-8111-111111111111: no redirect key; nothing compiled',
    ]);
  });

  it('leaves out agents without an underlay address', () => {
    const t = twoVipTenant();
    t.agents.push({
      id: 'e0000000-0000-4000-8000-000000000001',
      role: 'host',
      underlay: null,
      revoked: false,
    });
    expect(compileTenant(t).states.has('e0000000-0000-4000-8000-000000000001')).toBe(false);
  });
});

// The agent's own validator (shared through @slipstream/agent-protocol) is the contract.
describe('compiled states against the agent validator', () => {
  it('accepts every state of the fixture tenant, unchanged', () => {
    const { states } = compileTenant(twoVipTenant());
    expect(states.size).toBe(4);
    for (const s of states.values()) {
      // JSON round trip: the state travels as JSON over the stream.
      const wire = JSON.parse(JSON.stringify(s)) as unknown;
      expect(validateDesiredState(wire)).toEqual(wire);
      expect((wire as { hosts: unknown[] }).hosts.length).toBeGreaterThan(0);
    }
  });

  it('accepts an empty tenant and a single-key tenant', () => {
    const t = twoVipTenant();
    t.vips = [];
    t.keys = t.keys.slice(1);
    for (const s of compileTenant(t).states.values())
      expect(() => validateDesiredState(JSON.parse(JSON.stringify(s)))).not.toThrow();
  });

  it('really is the agent validator (it refuses a broken state)', () => {
    const s = compileTenant(twoVipTenant()).states.values().next().value!;
    expect(() =>
      validateDesiredState({ ...s, vips: [{ ...s.vips[0], distribution: 'five_tuple' }] }),
    ).toThrow(/distribution/);
  });
});

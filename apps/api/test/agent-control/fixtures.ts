import type { CompileProbe, TenantConfig } from '../../src/agent-control/compiler.js';

/** The API's default probe (PROBE_DEFAULTS). */
export const TCP_PROBE: CompileProbe = {
  protocol: 'tcp',
  port: null,
  path: null,
  intervalMs: 5000,
  timeoutMs: 2000,
  healthyThreshold: 2,
  unhealthyThreshold: 3,
};

const key = (n: number) => Buffer.alloc(32, n).toString('base64');

/** A tenant with two muxes (one connected), two hosts, a revoked mux and two VIPs. */
export function twoVipTenant(): TenantConfig {
  return {
    tenantId: '11111111-1111-4111-8111-111111111111',
    revision: 7,
    connectedMuxIds: new Set(['a0000000-0000-4000-8000-000000000001']),
    keys: [
      { keyId: 'k-old', secret: key(1), createdAt: new Date('2026-11-01T00:00:00Z'), retired: false },
      { keyId: 'k-new', secret: key(2), createdAt: new Date('2026-11-20T00:00:00Z'), retired: false },
      { keyId: 'k-gone', secret: key(3), createdAt: new Date('2026-10-01T00:00:00Z'), retired: true },
    ],
    agents: [
      { id: 'a0000000-0000-4000-8000-000000000001', role: 'mux', underlay: '198.18.0.11', revoked: false },
      { id: 'a0000000-0000-4000-8000-000000000002', role: 'mux', underlay: '198.18.0.12', revoked: false },
      { id: 'a0000000-0000-4000-8000-000000000003', role: 'mux', underlay: '198.18.0.13', revoked: true },
      { id: 'b0000000-0000-4000-8000-000000000001', role: 'host', underlay: '198.18.0.21', revoked: false },
      { id: 'b0000000-0000-4000-8000-000000000002', role: 'host', underlay: '198.18.0.22', revoked: false },
    ],
    vips: [
      {
        id: 'c0000000-0000-4000-8000-000000000003',
        name: 'web-alt',
        address: '10.100.0.1',
        protocol: 'tcp',
        port: 8443,
        poolId: 'd0000000-0000-4000-8000-000000000003',
        distribution: 'five_tuple',
        idleTimeoutS: 300,
        bypassEnabled: false,
        bypassSourceCidrs: [],
        bypassMaxFlowsPerHost: 1000,
        bypassIdleTimeoutS: 120,
        probe: TCP_PROBE,
        backends: [
          { address: '198.18.0.21', port: 80, weight: 100, state: 'active', health: 'healthy' },
          { address: '198.18.0.22', port: 8443, weight: 100, state: 'active', health: 'healthy' },
        ],
      },
      {
        id: 'c0000000-0000-4000-8000-000000000002',
        name: 'dns',
        address: '10.100.0.2',
        protocol: 'udp',
        port: 53,
        poolId: 'd0000000-0000-4000-8000-000000000002',
        distribution: 'source_ip',
        idleTimeoutS: 1,
        bypassEnabled: false,
        bypassSourceCidrs: [],
        bypassMaxFlowsPerHost: 5_000_000,
        bypassIdleTimeoutS: 120,
        probe: TCP_PROBE,
        backends: [],
      },
      {
        id: 'c0000000-0000-4000-8000-000000000001',
        name: 'web',
        address: '10.100.0.1',
        protocol: 'tcp',
        port: 80,
        poolId: 'd0000000-0000-4000-8000-000000000001',
        distribution: 'five_tuple',
        idleTimeoutS: 300,
        bypassEnabled: true,
        bypassSourceCidrs: ['198.18.0.0/24'],
        bypassMaxFlowsPerHost: 65_536,
        bypassIdleTimeoutS: 120,
        bypassHandshakeHoldMs: 7,
        probe: TCP_PROBE,
        backends: [
          { address: '198.18.0.21', port: 80, weight: 100, state: 'active', health: 'healthy' },
          { address: '198.18.0.22', port: 80, weight: 0, state: 'draining', health: 'healthy' },
          { address: '198.18.0.23', port: 80, weight: 50, state: 'disabled', health: 'unknown' },
          { address: '198.18.0.21', port: 80, weight: 10, state: 'active', health: 'healthy' },
          { address: '198.18.0.24', port: 8080, weight: 10, state: 'active', health: 'unhealthy' },
        ],
      },
    ],
  };
}

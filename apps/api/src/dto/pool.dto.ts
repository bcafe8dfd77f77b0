import { z } from 'zod';
import type { Backend, Pool } from '../generated/prisma/client.js';
import { Ipv4, Name, Port, Timestamp, Uuid, pageOf, request, response } from './common.js';

const ProbeFields = {
  protocol: z.enum(['tcp', 'http']),
  /** null: probe each backend on its own port. */
  port: Port.nullable(),
  /** HTTP probes only; defaults to "/". */
  path: z.string().startsWith('/').max(1024).nullable(),
  intervalMs: z.int().min(100).max(3_600_000),
  timeoutMs: z.int().min(50).max(60_000),
  healthyThreshold: z.int().min(1).max(20),
  unhealthyThreshold: z.int().min(1).max(20),
};

export const PROBE_DEFAULTS = {
  protocol: 'tcp' as const,
  port: null,
  path: null,
  intervalMs: 5000,
  timeoutMs: 2000,
  healthyThreshold: 2,
  unhealthyThreshold: 3,
};

export type Probe = { [K in keyof typeof ProbeFields]: z.infer<(typeof ProbeFields)[K]> };

export const HealthProbeInput = request('HealthProbeInput', z.object(ProbeFields).partial().strict());

export const PoolCreate = request(
  'PoolCreate',
  z.object({ name: Name, healthProbe: HealthProbeInput.optional() }).strict(),
);
export type PoolCreate = z.infer<typeof PoolCreate>;

export const PoolUpdate = request(
  'PoolUpdate',
  z.object({ name: Name.optional(), healthProbe: HealthProbeInput.optional() }).strict(),
);
export type PoolUpdate = z.infer<typeof PoolUpdate>;

/** Merges a partial probe onto a base and checks the rules that span fields. */
export function resolveProbe(base: Probe, patch: Partial<Probe> | undefined): Probe | string {
  const p: Probe = { ...base, ...patch };
  if (p.protocol === 'http' && p.path === null) p.path = '/';
  if (p.protocol === 'tcp' && p.path !== null) return 'healthProbe.path: only http probes take a path';
  if (p.timeoutMs >= p.intervalMs) return 'healthProbe.timeoutMs: must be lower than intervalMs';
  return p;
}

export const HealthProbe = response('HealthProbe', z.object(ProbeFields));

export const PoolDto = response(
  'Pool',
  z.object({
    id: Uuid,
    name: z.string(),
    healthProbe: HealthProbe,
    version: z.int(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  }),
);
export type PoolDto = z.infer<typeof PoolDto>;
export const PoolPage = pageOf('PoolPage', PoolDto);

export function mapPool(p: Pool): PoolDto {
  return {
    id: p.id,
    name: p.name,
    healthProbe: {
      protocol: p.probeProtocol,
      port: p.probePort,
      path: p.probePath,
      intervalMs: p.probeIntervalMs,
      timeoutMs: p.probeTimeoutMs,
      healthyThreshold: p.probeHealthyThreshold,
      unhealthyThreshold: p.probeUnhealthyThreshold,
    },
    version: p.version,
    createdAt: p.createdAt.toISOString(),
    updatedAt: p.updatedAt.toISOString(),
  };
}

export function probeColumns(p: Probe) {
  return {
    probeProtocol: p.protocol,
    probePort: p.port,
    probePath: p.path,
    probeIntervalMs: p.intervalMs,
    probeTimeoutMs: p.timeoutMs,
    probeHealthyThreshold: p.healthyThreshold,
    probeUnhealthyThreshold: p.unhealthyThreshold,
  };
}

const BackendState = z.enum(['active', 'draining', 'disabled']);
const Weight = z.int().min(0).max(1000);

export const BackendCreate = request(
  'BackendCreate',
  z
    .object({
      address: Ipv4,
      port: Port,
      weight: Weight.default(100),
      state: BackendState.default('active'),
    })
    .strict(),
);
export type BackendCreate = z.infer<typeof BackendCreate>;

export const BackendUpdate = request(
  'BackendUpdate',
  z
    .object({
      address: Ipv4.optional(),
      port: Port.optional(),
      weight: Weight.optional(),
      state: BackendState.optional(),
    })
    .strict(),
);
export type BackendUpdate = z.infer<typeof BackendUpdate>;

export const BackendParams = z.object({ poolId: Uuid }).strict();
export const BackendItemParams = z.object({ poolId: Uuid, id: Uuid }).strict();

export const BackendDto = response(
  'Backend',
  z.object({
    id: Uuid,
    poolId: Uuid,
    address: z.string(),
    port: z.int(),
    weight: z.int(),
    state: BackendState,
    /** Derived from the muxes' probes: unhealthy when most muxes that reported in the last 10 s say so. */
    health: z.enum(['healthy', 'unhealthy', 'unknown']),
    /** When the health was last derived; null before any mux reported this backend. */
    healthCheckedAt: Timestamp.nullable(),
    version: z.int(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  }),
);
export type BackendDto = z.infer<typeof BackendDto>;
export const BackendPage = pageOf('BackendPage', BackendDto);

type Health = BackendDto['health'];

export function mapBackend(
  b: Backend & { healthState?: { health: string; checkedAt: Date } | null },
): BackendDto {
  return {
    id: b.id,
    poolId: b.poolId,
    address: b.address,
    port: b.port,
    weight: b.weight,
    state: b.state,
    health: (b.healthState?.health ?? 'unknown') as Health,
    healthCheckedAt: b.healthState?.checkedAt.toISOString() ?? null,
    version: b.version,
    createdAt: b.createdAt.toISOString(),
    updatedAt: b.updatedAt.toISOString(),
  };
}

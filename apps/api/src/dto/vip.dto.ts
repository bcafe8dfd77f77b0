import { MAX_HANDSHAKE_HOLD_MS } from '@slipstream/agent-protocol';
import { z } from 'zod';
import type { Vip } from '../generated/prisma/client.js';
import { Cidr4, Ipv4, Name, Port, Timestamp, Uuid, pageOf, request, response } from './common.js';

const Distribution = z.enum(['five-tuple', 'source-ip']);
const IdleTimeout = z.int().min(1).max(86_400);

const BypassFields = {
  enabled: z.boolean(),
  /** Client source ranges allowed to be redirected straight to backends. Empty: any source. */
  sourceCidrs: z.array(Cidr4).max(256),
  maxFlowsPerHost: z.int().min(1).max(10_000_000),
  idleTimeoutS: IdleTimeout,
  /**
   * TCP: backends hold a new connection's SYN-ACK to an agent host up to this long (ms), until the client
   * is bypassed, so the mux carries only the SYN; costs up to this much connection setup. 0: off.
   */
  handshakeHoldMs: z.int().min(0).max(MAX_HANDSHAKE_HOLD_MS),
};

export const BYPASS_DEFAULTS = {
  enabled: false,
  sourceCidrs: [],
  maxFlowsPerHost: 65_536,
  idleTimeoutS: 120,
  handshakeHoldMs: 0,
};

export const BypassInput = request('BypassInput', z.object(BypassFields).partial().strict());

export const VipCreate = request(
  'VipCreate',
  z
    .object({
      name: Name,
      address: Ipv4,
      protocol: z.enum(['tcp', 'udp']),
      port: Port,
      poolId: Uuid,
      distribution: Distribution.default('five-tuple'),
      idleTimeoutS: IdleTimeout.default(300),
      bypass: BypassInput.optional(),
    })
    .strict(),
);
export type VipCreate = z.infer<typeof VipCreate>;

export const VipUpdate = request(
  'VipUpdate',
  z
    .object({
      name: Name.optional(),
      address: Ipv4.optional(),
      protocol: z.enum(['tcp', 'udp']).optional(),
      port: Port.optional(),
      poolId: Uuid.optional(),
      distribution: Distribution.optional(),
      idleTimeoutS: IdleTimeout.optional(),
      bypass: BypassInput.optional(),
    })
    .strict(),
);
export type VipUpdate = z.infer<typeof VipUpdate>;

export const Bypass = response('Bypass', z.object(BypassFields));
export type Bypass = z.infer<typeof Bypass>;

export const VipDto = response(
  'Vip',
  z.object({
    id: Uuid,
    name: z.string(),
    address: z.string(),
    protocol: z.enum(['tcp', 'udp']),
    port: z.int(),
    poolId: Uuid,
    distribution: Distribution,
    idleTimeoutS: z.int(),
    bypass: Bypass,
    version: z.int(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  }),
);
export type VipDto = z.infer<typeof VipDto>;
export const VipPage = pageOf('VipPage', VipDto);

export const distributionToDb = (d: 'five-tuple' | 'source-ip') =>
  d === 'five-tuple' ? 'five_tuple' : 'source_ip';

export function mapVip(v: Vip): VipDto {
  return {
    id: v.id,
    name: v.name,
    address: v.address,
    protocol: v.protocol,
    port: v.port,
    poolId: v.poolId,
    distribution: v.distribution === 'five_tuple' ? 'five-tuple' : 'source-ip',
    idleTimeoutS: v.idleTimeoutS,
    bypass: {
      enabled: v.bypassEnabled,
      sourceCidrs: v.bypassSourceCidrs,
      maxFlowsPerHost: v.bypassMaxFlowsPerHost,
      idleTimeoutS: v.bypassIdleTimeoutS,
      handshakeHoldMs: v.bypassHandshakeHoldMs,
    },
    version: v.version,
    createdAt: v.createdAt.toISOString(),
    updatedAt: v.updatedAt.toISOString(),
  };
}

export function bypassColumns(b: Bypass) {
  return {
    bypassEnabled: b.enabled,
    bypassSourceCidrs: b.sourceCidrs,
    bypassMaxFlowsPerHost: b.maxFlowsPerHost,
    bypassIdleTimeoutS: b.idleTimeoutS,
    bypassHandshakeHoldMs: b.handshakeHoldMs,
  };
}

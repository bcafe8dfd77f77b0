import { z } from 'zod';
import type { BypassKey } from '../generated/prisma/client.js';
import { Ipv4, Name, Timestamp, Uuid, request, response } from './common.js';

export const EnrollRequest = request(
  'AgentEnrollRequest',
  z
    .object({
      joinToken: z.string().regex(/^sls_j_[A-Za-z0-9_-]{43}$/, 'must be a join token (sls_j_…)'),
      name: Name,
      underlay: Ipv4,
      version: z.string().min(1).max(64),
      hostname: z.string().min(1).max(253),
    })
    .strict(),
);
export type EnrollRequest = z.infer<typeof EnrollRequest>;

export const EnrollResponse = response(
  'AgentEnrolled',
  z.object({
    agentId: Uuid,
    tenantId: Uuid,
    role: z.enum(['host', 'mux']),
    /** The agent's bearer credential (sls_a_…); shown once. */
    credential: z.string(),
  }),
);
export type EnrollResponse = z.infer<typeof EnrollResponse>;

export const AckRequest = request(
  'AgentAck',
  z
    .object({
      revision: z.int().min(0),
      applied: z.boolean(),
      error: z.string().max(2000).optional(),
    })
    .strict(),
);
export type AckRequest = z.infer<typeof AckRequest>;

export const BypassKeyDto = response(
  'BypassKey',
  z.object({
    keyId: z.string(),
    /** active signs new redirects; previous is still accepted during a rotation; retired is gone. */
    state: z.enum(['active', 'previous', 'retired']),
    revision: z.int(),
    createdAt: Timestamp,
    retiredAt: Timestamp.nullable(),
  }),
);
export type BypassKeyDto = z.infer<typeof BypassKeyDto>;
export const BypassKeyList = response('BypassKeyList', z.object({ items: z.array(BypassKeyDto) }));

/** Keys newest first; the first live key is active, any other live key is the one being rotated out. */
export function mapBypassKeys(keys: BypassKey[]): BypassKeyDto[] {
  let activeSeen = false;
  return keys.map((k) => {
    let state: BypassKeyDto['state'] = 'retired';
    if (!k.retiredAt) {
      state = activeSeen ? 'previous' : 'active';
      activeSeen = true;
    }
    return {
      keyId: k.keyId,
      state,
      revision: Number(k.revision),
      createdAt: k.createdAt.toISOString(),
      retiredAt: k.retiredAt ? k.retiredAt.toISOString() : null,
    };
  });
}

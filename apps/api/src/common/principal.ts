import type { RoleName } from '../dto/common.js';

export const ROLE_RANK: Record<RoleName, number> = { viewer: 0, operator: 1, admin: 2, owner: 3 };

export function roleAtLeast(role: RoleName, min: RoleName): boolean {
  return ROLE_RANK[role] >= ROLE_RANK[min];
}

/** Who is calling, resolved from the bearer token; every service call carries it. */
export interface Principal {
  tenantId: string;
  role: RoleName;
  actorType: 'user' | 'apiKey' | 'system';
  /** User id for sessions, API key id for keys. */
  actorId: string;
  email: string | null;
  /** Set for session tokens, so logout can delete exactly this session. */
  sessionTokenHash?: string;
}

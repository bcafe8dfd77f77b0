import type { DesiredState } from '../../src/config/desired-state.js';
import { demoConfig } from '../../src/lab/lab.js';

export const KEY = Buffer.alloc(32, 7).toString('base64');

/** The lab's demo state with a fixed key, as the agent c1 (or a mux) would get it. */
export function sample(role: 'host' | 'mux' = 'host'): DesiredState {
  return { ...demoConfig(KEY), agent: { tenantId: 'lab', agentId: 'c1', role, underlay: '198.18.0.11' } };
}

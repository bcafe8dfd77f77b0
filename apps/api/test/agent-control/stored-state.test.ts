// Compact storage of compiled states (one full state per group of equal ones, references for the rest)
// gives every agent back exactly the state the compiler made for it.
import { describe, expect, it } from 'vitest';
import { compileTenant } from '../../src/agent-control/compiler.js';
import { type StoredRow, compactStates, expandState } from '../../src/agent-control/stored-state.js';
import { twoVipTenant } from './fixtures.js';

const TENANT = '11111111-1111-4111-8111-111111111111';

/** What PostgreSQL gives back for the stored rows (findConfigs' columns). */
function rows(stored: [string, unknown][], revision = 7n): Map<string, StoredRow> {
  return new Map(
    stored.map(([agentId, s]) => {
      const ref = (s as { $base?: string }).$base;
      const row: StoredRow = {
        agentId,
        tenantId: TENANT,
        revision,
        state: ref ? null : JSON.stringify(s),
        base: ref ?? null,
        agent: ref ? JSON.stringify((s as { agent: unknown }).agent) : null,
      };
      return [agentId, row];
    }),
  );
}

describe('compact stored states', () => {
  it('stores one full state per role and expands every agent to its own compiled state', () => {
    const { states } = compileTenant(twoVipTenant());
    const stored = compactStates(states);
    expect(stored.map(([id]) => id)).toEqual([...states.keys()].sort());
    const full = stored.filter(([, s]) => !('$base' in s));
    // One mux base and one host base: the roles differ in `muxes`.
    expect(full.map(([id]) => id)).toEqual([
      'a0000000-0000-4000-8000-000000000001',
      'b0000000-0000-4000-8000-000000000001',
    ]);
    const byId = rows(stored);
    for (const [id, state] of states) {
      const text = expandState(byId.get(id)!, byId);
      expect(JSON.parse(text!)).toEqual(state);
    }
  });

  it('keeps a state that differs in more than its agent block in full', () => {
    const { states } = compileTenant(twoVipTenant());
    const odd = 'b0000000-0000-4000-8000-000000000002';
    const s = states.get(odd)!;
    states.set(odd, { ...s, hosts: [...s.hosts, { address: '198.18.0.99' }] });
    const stored = new Map(compactStates(states));
    expect(stored.get(odd)).toEqual(states.get(odd));
    const byId = rows([...stored]);
    expect(JSON.parse(expandState(byId.get(odd)!, byId)!)).toEqual(states.get(odd));
  });

  it('gives nothing for a reference whose base is gone or of another revision', () => {
    const stored = compactStates(compileTenant(twoVipTenant()).states);
    const byId = rows(stored);
    const ref = [...byId.values()].find((r) => r.base)!;
    const base = byId.get(ref.base!)!;
    expect(expandState(ref, new Map([...byId].filter(([id]) => id !== base.agentId)))).toBeNull();
    byId.set(base.agentId, { ...base, revision: 8n });
    expect(expandState(ref, byId)).toBeNull();
  });
});

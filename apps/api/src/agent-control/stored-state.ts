// How compiled desired states are kept in AgentConfig.state without storing one tenant-sized document per
// agent. The states of one compile differ only in their `agent` block (and, between roles, in `muxes`),
// while `hosts` and `vips` grow with the tenant: stored in full for each of 1000 agents they made one
// revision ~25 MB of JSON to write and read back. So one agent per group of equal states (the group's
// base) keeps the full state, the others keep a reference to it and their own `agent` block. Pure.

/** What a non-base agent's row holds. */
export interface StateRef {
  $base: string;
  agent: unknown;
}

/** A stored row as read back: `state` is the full JSON text, or null when the row refers to `base`. */
export interface StoredRow {
  agentId: string;
  tenantId: string;
  revision: bigint;
  state: string | null;
  base: string | null;
  agent: string | null;
}

type State = Record<string, unknown>;

/** Equal apart from `agent`: shared parts are the same objects (a cheap check), others compare as JSON. */
function sameExceptAgent(a: State, b: State): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every(
    (k) => k === 'agent' || (k in b && (a[k] === b[k] || JSON.stringify(a[k]) === JSON.stringify(b[k]))),
  );
}

/**
 * The rows to store for one compile, in agent-id order: the first agent of each group of equal states
 * stores its full state, every other one a StateRef to it. A state unlike all others is stored in full.
 */
export function compactStates(states: Map<string, object>): [string, State | StateRef][] {
  const bases: [string, State][] = [];
  const out: [string, State | StateRef][] = [];
  for (const id of [...states.keys()].sort()) {
    const s = states.get(id) as State;
    const base = bases.find(([, b]) => sameExceptAgent(b, s));
    if (base) {
      out.push([id, { $base: base[0], agent: s.agent }]);
    } else {
      bases.push([id, s]);
      out.push([id, s]);
    }
  }
  return out;
}

/**
 * The full state text of `row`, given the rows it may refer to (by agent id). Null when its base is gone
 * or belongs to another revision or tenant (a newer compile replaces both in one statement).
 */
export function expandState(
  row: StoredRow,
  bases: Map<string, StoredRow>,
  cache = new Map<string, string>(),
): string | null {
  if (row.state !== null) return row.state;
  const b = row.base === null ? undefined : bases.get(row.base);
  if (
    !b ||
    b.state === null ||
    b.revision !== row.revision ||
    b.tenantId !== row.tenantId ||
    row.agent === null
  )
    return null;
  // The base without its own `agent`, serialised once per base: `,"k":v,...}`.
  let rest = cache.get(b.agentId);
  if (rest === undefined) {
    const { agent: _own, ...others } = JSON.parse(b.state) as State;
    const text = JSON.stringify(others);
    rest = text === '{}' ? '}' : `,${text.slice(1)}`;
    cache.set(b.agentId, rest);
  }
  return `{"agent":${row.agent}${rest}`;
}

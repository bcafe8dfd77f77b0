// The compiler's output must pass the agent's own validator: a drift between the copied types and the
// agent fails here. The agent's build output is imported by path (the root test run builds every
// workspace first) so the API needs no build-time dependency on the agent.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileTenant } from '../../src/agent-control/compiler.js';
import { twoVipTenant } from './fixtures.js';

const AGENT_JS = fileURLToPath(new URL('../../../agent/dist/config/desired-state.js', import.meta.url));

type Validate = (input: unknown) => unknown;
let validate: Validate;

beforeAll(async () => {
  if (!existsSync(AGENT_JS)) {
    throw new Error(`${AGENT_JS} is missing: run \`npm run build -w @slipstream/agent\` first`);
  }
  ({ validateDesiredState: validate } = (await import(pathToFileURL(AGENT_JS).href)) as {
    validateDesiredState: Validate;
  });
});

describe('compiled states against the agent validator', () => {
  it('accepts every state of the fixture tenant, unchanged', () => {
    const { states } = compileTenant(twoVipTenant());
    expect(states.size).toBe(4);
    for (const s of states.values()) {
      // JSON round trip: the state travels as JSON over the stream.
      const wire = JSON.parse(JSON.stringify(s)) as unknown;
      expect(validate(wire)).toEqual(wire);
      expect((wire as { hosts: unknown[] }).hosts.length).toBeGreaterThan(0);
    }
  });

  it('accepts an empty tenant and a single-key tenant', () => {
    const t = twoVipTenant();
    t.vips = [];
    t.keys = t.keys.slice(1);
    for (const s of compileTenant(t).states.values())
      expect(() => validate(JSON.parse(JSON.stringify(s)))).not.toThrow();
  });

  it('really is the agent validator (it refuses a broken state)', () => {
    const s = compileTenant(twoVipTenant()).states.values().next().value!;
    expect(() => validate({ ...s, vips: [{ ...s.vips[0], distribution: 'five_tuple' }] })).toThrow(
      /distribution/,
    );
  });
});

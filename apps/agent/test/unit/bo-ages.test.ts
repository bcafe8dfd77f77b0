import { describe, expect, it } from 'vitest';
import { parseBoAges } from '../../src/agent/agent.js';

// As nft 1.0.6 prints `list set ip slipstream bo`: agent-added elements carry `timeout 59m59s`, elements a
// reply refreshed carry the rule's `timeout 1h`.
const LISTING = `table ip slipstream {
\tset bo {
\t\ttype ipv4_addr . ipv4_addr . inet_proto . inet_service . inet_service
\t\tsize 1048576
\t\tflags dynamic,timeout
\t\ttimeout 1h
\t\telements = { 198.19.0.10 . 198.18.0.11 . tcp . 80 . 51806 timeout 59m59s expires 59m58s848ms,
\t\t\t     198.19.0.30 . 198.18.0.12 . udp . 7 . 40000 timeout 1h expires 59m30s,
\t\t\t     198.19.0.10 . 198.18.0.11 . tcp . 80 . 51822 timeout 1h expires 1h }
\t}
}`;

describe('bo activity ages', () => {
  it('gives every element its time since the last refresh, keyed like the agent keys bo', () => {
    const ages = parseBoAges(LISTING);
    expect(ages).toEqual(
      new Map([
        ['198.19.0.10 . 198.18.0.11 . tcp . 80 . 51806', 1152],
        ['198.19.0.30 . 198.18.0.12 . udp . 7 . 40000', 30_000],
        ['198.19.0.10 . 198.18.0.11 . tcp . 80 . 51822', 0],
      ]),
    );
  });

  it('is empty for an empty set', () => {
    expect(parseBoAges('table ip slipstream {\n\tset bo {\n\t\ttimeout 1h\n\t}\n}').size).toBe(0);
  });
});

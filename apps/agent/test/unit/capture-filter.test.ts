import { describe, expect, it } from 'vitest';
import { Agent, parseNftDurationMs } from '../../src/agent/agent.js';
import { sample } from './sample-state.js';

describe('new-flow capture filter', () => {
  it('takes TCP SYNs and UDP only toward bypass-enabled UDP VIPs this backend serves', () => {
    const s = sample('host');
    s.agent.underlay = '198.18.0.31';
    expect(Agent.captureFilter(s)).toBe(
      'ip and ((tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn) or (udp and ((dst host 198.19.0.30 and dst port 7))))',
    );
  });

  it('drops UDP from the filter when this host is drained or bypass is off', () => {
    const s = sample('host');
    s.agent.underlay = '198.18.0.31';
    s.vips.find((v) => v.protocol === 'udp')!.backends[0]!.state = 'draining';
    expect(Agent.captureFilter(s)).toBe('ip and tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn');
    const t = sample('host');
    t.agent.underlay = '198.18.0.31';
    t.vips.find((v) => v.protocol === 'udp')!.bypass.enabled = false;
    expect(Agent.captureFilter(t)).toBe('ip and tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn');
  });
});

describe('nft durations', () => {
  it('parses the units nft prints', () => {
    expect(parseNftDurationMs('59m59s996ms')).toBe(3_599_996);
    expect(parseNftDurationMs('1d2h')).toBe(93_600_000);
    expect(parseNftDurationMs('850ms')).toBe(850);
  });
});

import { describe, expect, it } from 'vitest';
import { parseNflogLine } from '../../src/agent/agent.js';

describe('NFLOG line parsing (tcpdump -n -tt)', () => {
  it('reads a TCP SYN, a FIN and a RST with their flags', () => {
    expect(
      parseNflogLine(
        '1700000000.123456 IP 198.18.0.11.40000 > 198.19.0.10.80: Flags [S], seq 1, win 64240, options [mss 1424], length 0',
      ),
    ).toEqual({
      seenMs: 1700000000123.456,
      src: '198.18.0.11',
      sport: 40000,
      dst: '198.19.0.10',
      dport: 80,
      proto: 'tcp',
      flags: 'S',
    });
    expect(
      parseNflogLine('1.5 IP 198.19.0.10.80 > 198.18.0.11.40000: Flags [F.], seq 9, ack 3, length 0'),
    ).toMatchObject({
      src: '198.19.0.10',
      sport: 80,
      dst: '198.18.0.11',
      dport: 40000,
      proto: 'tcp',
      flags: 'F.',
    });
    expect(
      parseNflogLine('1.5 IP 198.18.0.11.40000 > 198.19.0.10.80: Flags [R], seq 3, win 0, length 0')?.flags,
    ).toBe('R');
  });

  it('reads a UDP datagram without flags', () => {
    expect(
      parseNflogLine('1700000000.000001 IP 198.18.0.12.5000 > 198.19.0.30.7: UDP, length 5'),
    ).toMatchObject({
      proto: 'udp',
      flags: '',
      sport: 5000,
      dport: 7,
    });
  });

  it('ignores what it does not know', () => {
    expect(parseNflogLine('tcpdump: listening on nflog:83, link-type NFLOG')).toBeNull();
    expect(parseNflogLine('1.0 IP6 ::1.1 > ::1.2: Flags [S], length 0')).toBeNull();
    expect(
      parseNflogLine('1.0 IP 198.18.0.11 > 198.18.0.12: ICMP echo request, id 1, seq 1, length 64'),
    ).toBeNull();
  });
});

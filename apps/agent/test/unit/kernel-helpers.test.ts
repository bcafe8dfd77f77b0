import { describe, expect, it } from 'vitest';
import {
  backendInstall,
  clientInstall,
  installPacket,
  installToken,
  INSTALL_MAGIC,
  parseCounters,
} from '../../src/dataplane/kernel.js';

describe('parseCounters', () => {
  it('reads every named counter of a `list counters` listing', () => {
    const text = [
      'table ip slipstream {',
      '\tcounter m_42f89b95f4 {',
      '\t\tpackets 12 bytes 3400',
      '\t}',
      '\tcounter d_42f89b95f4 {',
      '\t\tpackets 9007199254740 bytes 0',
      '\t}',
      '}',
      '',
    ].join('\n');
    expect([...parseCounters(text)]).toEqual([
      ['m_42f89b95f4', { packets: 12, bytes: 3400 }],
      ['d_42f89b95f4', { packets: 9007199254740, bytes: 0 }],
    ]);
  });

  it('returns nothing for a table without counters', () => {
    expect(parseCounters('table ip slipstream {\n}\n').size).toBe(0);
  });
});

describe('installPacket', () => {
  it('carries the flow in an IPv4/UDP packet inside VXLAN-GPE, with a valid header checksum', () => {
    const token = Buffer.from('0102030405060708', 'hex');
    const b = installPacket(
      0x123456,
      clientInstall({ backendHost: '198.18.0.31', vip: '198.19.0.10', clientPort: 40000, vipPort: 80 }),
      installToken(token),
    );
    expect(b.length).toBe(8 + 20 + 8 + 12);
    expect([...b.subarray(0, 8)]).toEqual([0x0c, 0, 0, 0x01, 0x12, 0x34, 0x56, 0]);
    const ip = b.subarray(8, 28);
    expect(ip[0]).toBe(0x45);
    expect(ip.readUInt16BE(2)).toBe(40);
    expect(ip[9]).toBe(17);
    expect([...ip.subarray(12, 16)]).toEqual([198, 18, 0, 31]);
    expect([...ip.subarray(16, 20)]).toEqual([198, 19, 0, 10]);
    // The one's-complement sum of a header with its checksum in place is 0xffff.
    let sum = 0;
    for (let i = 0; i < 20; i += 2) sum += ip.readUInt16BE(i);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    expect(sum).toBe(0xffff);
    expect(b.readUInt16BE(28)).toBe(40000);
    expect(b.readUInt16BE(30)).toBe(80);
    expect(b.readUInt16BE(32)).toBe(20);
    expect(b.readUInt16BE(34)).toBe(0);
    expect(b.subarray(36, 40)).toEqual(INSTALL_MAGIC);
    expect(b.subarray(40)).toEqual(token);
  });

  it('carries any payload, such as the signed ack a client rule sends on, with lengths to match', () => {
    const ack = Buffer.from('a signed ack of 29 bytes......', 'ascii');
    const b = installPacket(
      1,
      clientInstall({ backendHost: '198.18.0.31', vip: '198.19.0.10', clientPort: 40000, vipPort: 80 }),
      ack,
    );
    expect(b.length).toBe(8 + 20 + 8 + ack.length);
    expect(b.readUInt16BE(8 + 2)).toBe(20 + 8 + ack.length);
    expect(b.readUInt16BE(32)).toBe(8 + ack.length);
    expect(b.subarray(36)).toEqual(ack);
  });
});

describe('install headers', () => {
  it('put a client flow as backend host -> VIP and a backend flow as its replies, VIP -> client', () => {
    expect(
      clientInstall({ backendHost: '198.18.0.31', vip: '198.19.0.10', clientPort: 40000, vipPort: 80 }),
    ).toEqual({ src: '198.18.0.31', dst: '198.19.0.10', sport: 40000, dport: 80 });
    expect(
      backendInstall({ vip: '198.19.0.10', client: '198.18.0.11', vipPort: 80, clientPort: 40000 }),
    ).toEqual({
      src: '198.19.0.10',
      dst: '198.18.0.11',
      sport: 80,
      dport: 40000,
    });
  });
});

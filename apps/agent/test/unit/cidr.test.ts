import { describe, expect, it } from 'vitest';
import { cidrContains, ipv4ToString, parseCidr, parseIpv4, prefixMask } from '../../src/core/cidr.js';

describe('parseIpv4', () => {
  it('parses canonical dotted quads to unsigned numbers', () => {
    expect(parseIpv4('0.0.0.0')).toBe(0);
    expect(parseIpv4('255.255.255.255')).toBe(0xffffffff);
    expect(parseIpv4('198.18.0.1')).toBe(((198 << 24) >>> 0) + (18 << 16) + 1);
    expect(parseIpv4('10.0.0.0')).toBe(0x0a000000);
  });

  it.each([
    '256.0.0.1',
    '1.2.3',
    '1.2.3.4.5',
    '01.2.3.4',
    '1.2.3.04',
    '1.2.3.00',
    ' 1.2.3.4',
    '1.2.3.4 ',
    '1.2.3.-1',
    '1.2.3.+1',
    '1.2.3.0x1',
    '1..3.4',
    '',
    '1.2.3.4/32',
    '::1',
    '1e2.0.0.1',
  ])('rejects %j', (s) => {
    expect(parseIpv4(s)).toBeNull();
  });

  it('round-trips through ipv4ToString', () => {
    for (const s of ['0.0.0.0', '1.2.3.4', '198.19.0.10', '255.255.255.255', '128.0.0.1']) {
      expect(ipv4ToString(parseIpv4(s)!)).toBe(s);
    }
    expect(() => ipv4ToString(-1)).toThrow(RangeError);
    expect(() => ipv4ToString(2 ** 32)).toThrow(RangeError);
  });
});

describe('parseCidr / cidrContains', () => {
  it('parses prefixes 0..32', () => {
    expect(parseCidr('0.0.0.0/0')).toEqual({ base: 0, prefix: 0 });
    expect(parseCidr('10.0.0.0/8')).toEqual({ base: 0x0a000000, prefix: 8 });
    expect(parseCidr('1.2.3.4/32')).toEqual({ base: 0x01020304, prefix: 32 });
    expect(prefixMask(0)).toBe(0);
    expect(prefixMask(32)).toBe(0xffffffff);
    expect(prefixMask(24)).toBe(0xffffff00);
  });

  it.each([
    '10.0.0.0',
    '10.0.0.0/33',
    '10.0.0.0/08',
    '10.0.0.0/',
    '10.0.0.1/8',
    '10.0.0.0/8/8',
    '300.0.0.0/8',
    '10.0.0.0/-1',
  ])('rejects %j', (s) => {
    expect(parseCidr(s)).toBeNull();
  });

  it('0.0.0.0/0 contains everything', () => {
    expect(cidrContains('0.0.0.0/0', '0.0.0.0')).toBe(true);
    expect(cidrContains('0.0.0.0/0', '255.255.255.255')).toBe(true);
    expect(cidrContains('0.0.0.0/0', '198.18.0.7')).toBe(true);
  });

  it('/32 contains only its address', () => {
    expect(cidrContains('198.18.0.7/32', '198.18.0.7')).toBe(true);
    expect(cidrContains('198.18.0.7/32', '198.18.0.8')).toBe(false);
    expect(cidrContains('198.18.0.7/32', '198.18.0.6')).toBe(false);
  });

  it('checks boundaries of a /24 and works with parsed forms', () => {
    const c = parseCidr('192.168.1.0/24')!;
    expect(cidrContains(c, parseIpv4('192.168.1.0')!)).toBe(true);
    expect(cidrContains(c, parseIpv4('192.168.1.255')!)).toBe(true);
    expect(cidrContains(c, parseIpv4('192.168.2.0')!)).toBe(false);
    expect(cidrContains(c, parseIpv4('192.168.0.255')!)).toBe(false);
    expect(cidrContains('128.0.0.0/1', '200.0.0.1')).toBe(true);
    expect(cidrContains('128.0.0.0/1', '127.255.255.255')).toBe(false);
  });

  it('treats unparsable arguments as not contained', () => {
    expect(cidrContains('10.0.0.0/8', '10.0.0.01')).toBe(false);
    expect(cidrContains('garbage', '10.0.0.1')).toBe(false);
    expect(cidrContains({ base: 0, prefix: 40 }, 1)).toBe(false);
    expect(cidrContains('0.0.0.0/0', -1)).toBe(false);
  });
});

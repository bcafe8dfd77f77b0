/**
 * Strict IPv4 and CIDR parsing. Strict because these strings come from tenant policy (sourceCidrs) and
 * from the wire: "010.0.0.1" means octal to some parsers and decimal to others, so leading zeros,
 * whitespace, shorthand forms ("10.1") and host bits in a prefix are all rejected rather than guessed.
 * Addresses are unsigned 32-bit numbers (0 .. 2^32-1).
 */

export interface Cidr {
  base: number;
  prefix: number;
}

const OCTET = /^(0|[1-9][0-9]{0,2})$/;

/** Dotted-quad IPv4 to an unsigned 32-bit number; null for anything that is not exactly canonical. */
export function parseIpv4(s: string): number | null {
  if (typeof s !== 'string' || s.length > 15) return null;
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  let n = 0;
  for (const p of parts) {
    if (!OCTET.test(p)) return null;
    const v = Number(p);
    if (v > 255) return null;
    n = n * 256 + v;
  }
  return n;
}

export function ipv4ToString(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`not an IPv4 address: ${n}`);
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join('.');
}

/** Netmask of a prefix length as an unsigned 32-bit number (/0 -> 0, /32 -> 0xffffffff). */
export function prefixMask(prefix: number): number {
  // A shift by 32 is a shift by 0 in JS, hence the special case.
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

const PREFIX = /^(0|[1-9][0-9]?)$/;

/** "a.b.c.d/p"; null when malformed or when host bits are set below the prefix. */
export function parseCidr(s: string): Cidr | null {
  if (typeof s !== 'string') return null;
  const slash = s.indexOf('/');
  if (slash < 0 || slash !== s.lastIndexOf('/')) return null;
  const base = parseIpv4(s.slice(0, slash));
  const p = s.slice(slash + 1);
  if (base === null || !PREFIX.test(p)) return null;
  const prefix = Number(p);
  if (prefix > 32) return null;
  if ((base & ~prefixMask(prefix)) >>> 0 !== 0) return null;
  return { base, prefix };
}

/** True when ip lies in cidr; false for any unparsable argument (a bad policy never widens access). */
export function cidrContains(cidr: Cidr | string, ip: number | string): boolean {
  const c = typeof cidr === 'string' ? parseCidr(cidr) : cidr;
  const a = typeof ip === 'string' ? parseIpv4(ip) : ip;
  if (c === null || a === null) return false;
  if (!Number.isInteger(c.prefix) || c.prefix < 0 || c.prefix > 32) return false;
  if (!Number.isInteger(a) || a < 0 || a > 0xffffffff) return false;
  const mask = prefixMask(c.prefix);
  return (a & mask) >>> 0 === (c.base & mask) >>> 0;
}

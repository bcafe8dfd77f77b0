/**
 * The redirect message (backend host -> client host, UDP) and its ack (client host -> backend host).
 *
 * A forged redirect hijacks a flow, so every message is authenticated with HMAC-SHA256 under a
 * per-tenant key. Parsing is strict and total: any truncation, trailing byte, unknown version/type,
 * reserved bit or out-of-range field yields `malformed`, never an exception, because these bytes come
 * straight off the network.
 *
 * Wire format, version 1 (all integers big-endian, addresses are IPv4 as 4 raw bytes):
 *
 *   Redirect, type 0x01                      Ack, type 0x02
 *   off  len  field                          off  len  field
 *   0    4    magic "SLR1" (ASCII)           0    4    magic "SLR1"
 *   4    1    type = 0x01                    4    1    type = 0x02
 *   5    1    flags, must be 0               5    1    flags: bit 0 = accepted, others 0
 *   6    8    timestampMs (uint64, <=2^53-1) 6    16   nonce
 *   14   16   nonce (128 random bits)        22   1+T  tenantId (u8 length T, UTF-8)
 *   30   1    protocol: 6 tcp, 17 udp        ..   1+K  keyId (u8 length K, UTF-8)
 *   31   4    clientAddr                     ..   1+R  reason (u8 length R, 0..64, printable ASCII)
 *   35   2    clientPort                     ..   32   HMAC-SHA256(key, every preceding byte)
 *   37   4    vip
 *   41   2    vipPort
 *   43   4    backendHost (underlay address the client sends bypassed packets to)
 *   47   4    backendAddr
 *   51   2    backendPort
 *   53   1+T  tenantId (u8 length T, 1..64, UTF-8, no control characters)
 *   ..   1+K  keyId (u8 length K, 1..64, same rules)
 *   ..   32   HMAC-SHA256(key, every preceding byte)
 *
 * Release, type 0x03 (client host -> backend host): the redirect's layout and fields, signed by the client
 * with its tenant key, saying the client has stopped sending that flow straight to backendHost (its `fo`
 * is gone, the flow ended). The backend can then drop its receive rewrite (`bi`) at once instead of at its
 * timeout. No ack: a lost release only leaves `bi` to expire as before.
 *
 * The MAC covers the magic and type byte, so a redirect's MAC is never valid as an ack's or a release's,
 * or vice versa. Redirect and release sizes are 89..215 bytes, well under any MTU.
 *
 * Keys are looked up by `keyRef(tenantId, keyId)`, not by key id alone: a host can hold keys of several
 * tenants, and binding the key to the tenant named in the message stops a holder of tenant A's key from
 * signing redirects that claim to be from tenant B. Two keys of a tenant are simply two map entries,
 * which is how rotation with overlap works.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ipv4ToString, parseIpv4 } from './cidr.js';
import type { ReplayCache } from './replay-cache.js';

export const REDIRECT_MAGIC = Buffer.from('SLR1', 'ascii');
export const REDIRECT_DEFAULT_PORT = 4791;
export const REDIRECT_DEFAULT_WINDOW_MS = 5000;
export const MSG_TYPE_REDIRECT = 0x01;
export const MSG_TYPE_ACK = 0x02;
export const MSG_TYPE_RELEASE = 0x03;
export const MAX_ID_BYTES = 64;
export const MAX_REASON_BYTES = 64;
const MAC_LEN = 32;
const NONCE_LEN = 16;
const REDIRECT_FIXED_LEN = 53;
const ACK_FIXED_LEN = 22;

export interface RedirectFlow {
  protocol: 'tcp' | 'udp';
  clientAddr: string;
  clientPort: number;
  vip: string;
  vipPort: number;
}

export interface Redirect {
  tenantId: string;
  keyId: string;
  flow: RedirectFlow;
  /** Backend host's underlay IPv4: where the client sends the flow's bypassed packets. */
  backendHost: string;
  backendAddr: string;
  backendPort: number;
  timestampMs: number;
  /** 32 hex characters (128 bits); parsed messages always carry it in lower case. */
  nonce: string;
}

export type VerifyResult =
  | { ok: true; redirect: Redirect }
  | { ok: false; reason: 'malformed' | 'unknown_key' | 'bad_signature' | 'stale' | 'replay' };

export interface AckInput {
  tenantId: string;
  keyId: string;
  nonce: string;
  accepted: boolean;
  reason?: string;
}

export type AckVerifyResult =
  | { ok: true; nonce: string; accepted: boolean; reason?: string }
  | { ok: false; reason: 'malformed' | 'unknown_key' | 'bad_signature' };

/** Map key under which a tenant's key is stored in the `keys` map given to the verify functions. */
export function keyRef(tenantId: string, keyId: string): string {
  // NUL cannot occur in a valid id, so distinct (tenant, key) pairs never collide.
  return `${tenantId}\0${keyId}`;
}

/** A fresh random nonce in the format the message expects. */
export function newNonce(): string {
  return randomBytes(NONCE_LEN).toString('hex');
}

// ---------------------------------------------------------------------------------------------
// Encoding (throws on invalid input: that is a bug in the caller, never network input)

const PROTO_NUM = { tcp: 6, udp: 17 } as const;
const NONCE_RE = /^[0-9a-fA-F]{32}$/;
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f]/;
const REASON_RE = /^[\x20-\x7e]*$/;

function idBytes(what: string, s: string): Buffer {
  if (typeof s !== 'string' || CONTROL_RE.test(s))
    throw new TypeError(`${what} must be a string without control characters`);
  const b = Buffer.from(s, 'utf8');
  if (b.length < 1 || b.length > MAX_ID_BYTES)
    throw new RangeError(`${what} must be 1..${MAX_ID_BYTES} UTF-8 bytes`);
  return b;
}

function addrBytes(what: string, s: string): Buffer {
  const n = parseIpv4(s);
  if (n === null) throw new TypeError(`${what} is not an IPv4 address: ${String(s)}`);
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function portBytes(what: string, p: number): Buffer {
  if (!Number.isInteger(p) || p < 1 || p > 65535) throw new RangeError(`${what} must be 1..65535, got ${p}`);
  const b = Buffer.alloc(2);
  b.writeUInt16BE(p);
  return b;
}

function nonceBytes(s: string): Buffer {
  if (typeof s !== 'string' || !NONCE_RE.test(s)) throw new TypeError('nonce must be 32 hex characters');
  return Buffer.from(s, 'hex');
}

function lenPrefixed(b: Buffer): Buffer {
  return Buffer.concat([Buffer.from([b.length]), b]);
}

function mac(key: Buffer, body: Buffer): Buffer {
  return createHmac('sha256', key).update(body).digest();
}

function checkKey(key: Buffer): void {
  if (!Buffer.isBuffer(key) || key.length < 16)
    throw new RangeError('HMAC key must be a Buffer of at least 16 bytes');
}

export function signRedirect(r: Redirect, key: Buffer): Buffer {
  return signFlowMessage(MSG_TYPE_REDIRECT, r, key);
}

/** A release of the flow `r` names (same fields as the redirect it undoes). */
export function signRelease(r: Redirect, key: Buffer): Buffer {
  return signFlowMessage(MSG_TYPE_RELEASE, r, key);
}

function signFlowMessage(type: number, r: Redirect, key: Buffer): Buffer {
  checkKey(key);
  if (!Number.isSafeInteger(r.timestampMs) || r.timestampMs < 0)
    throw new RangeError('timestampMs must be a non-negative safe integer');
  const proto = PROTO_NUM[r.flow.protocol];
  if (proto === undefined) throw new TypeError(`protocol must be tcp or udp, got ${String(r.flow.protocol)}`);
  const head = Buffer.alloc(14);
  REDIRECT_MAGIC.copy(head, 0);
  head[4] = type;
  head[5] = 0;
  head.writeBigUInt64BE(BigInt(r.timestampMs), 6);
  const body = Buffer.concat([
    head,
    nonceBytes(r.nonce),
    Buffer.from([proto]),
    addrBytes('flow.clientAddr', r.flow.clientAddr),
    portBytes('flow.clientPort', r.flow.clientPort),
    addrBytes('flow.vip', r.flow.vip),
    portBytes('flow.vipPort', r.flow.vipPort),
    addrBytes('backendHost', r.backendHost),
    addrBytes('backendAddr', r.backendAddr),
    portBytes('backendPort', r.backendPort),
    lenPrefixed(idBytes('tenantId', r.tenantId)),
    lenPrefixed(idBytes('keyId', r.keyId)),
  ]);
  return Buffer.concat([body, mac(key, body)]);
}

export function signAck(a: AckInput, key: Buffer): Buffer {
  checkKey(key);
  const reason = a.reason ?? '';
  if (typeof reason !== 'string' || !REASON_RE.test(reason) || reason.length > MAX_REASON_BYTES) {
    throw new RangeError(`reason must be 0..${MAX_REASON_BYTES} printable ASCII characters`);
  }
  const head = Buffer.alloc(6);
  REDIRECT_MAGIC.copy(head, 0);
  head[4] = MSG_TYPE_ACK;
  head[5] = a.accepted ? 1 : 0;
  const body = Buffer.concat([
    head,
    nonceBytes(a.nonce),
    lenPrefixed(idBytes('tenantId', a.tenantId)),
    lenPrefixed(idBytes('keyId', a.keyId)),
    lenPrefixed(Buffer.from(reason, 'ascii')),
  ]);
  return Buffer.concat([body, mac(key, body)]);
}

// ---------------------------------------------------------------------------------------------
// Decoding (total: returns null on anything unexpected)

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Reads a u8-length-prefixed id at `off`; null when out of bounds or not a valid id. */
function readId(buf: Buffer, off: number, end: number): { value: string; next: number } | null {
  if (off >= end) return null;
  const len = buf[off]!;
  const next = off + 1 + len;
  if (len < 1 || len > MAX_ID_BYTES || next > end) return null;
  let value: string;
  try {
    value = utf8.decode(buf.subarray(off + 1, next));
  } catch {
    return null;
  }
  if (CONTROL_RE.test(value)) return null;
  return { value, next };
}

interface Parsed<T> {
  msg: T;
  tenantId: string;
  keyId: string;
  body: Buffer;
  tag: Buffer;
}

function hasHeader(buf: unknown, type: number, minLen: number): buf is Buffer {
  return (
    Buffer.isBuffer(buf) &&
    buf.length >= minLen &&
    buf.subarray(0, 4).equals(REDIRECT_MAGIC) &&
    buf[4] === type
  );
}

function parseFlowMessage(buf: unknown, type: number): Parsed<Redirect> | null {
  if (!hasHeader(buf, type, REDIRECT_FIXED_LEN + 2 + 2 + MAC_LEN)) return null;
  if (buf[5] !== 0) return null;
  const end = buf.length - MAC_LEN;
  const ts = buf.readBigUInt64BE(6);
  if (ts > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  const protoNum = buf[30];
  const protocol = protoNum === 6 ? 'tcp' : protoNum === 17 ? 'udp' : null;
  if (protocol === null) return null;
  const clientPort = buf.readUInt16BE(35);
  const vipPort = buf.readUInt16BE(41);
  const backendPort = buf.readUInt16BE(51);
  if (clientPort === 0 || vipPort === 0 || backendPort === 0) return null;
  const tenant = readId(buf, REDIRECT_FIXED_LEN, end);
  if (tenant === null) return null;
  const keyId = readId(buf, tenant.next, end);
  if (keyId === null || keyId.next !== end) return null;
  return {
    msg: {
      tenantId: tenant.value,
      keyId: keyId.value,
      flow: {
        protocol,
        clientAddr: ipv4ToString(buf.readUInt32BE(31)),
        clientPort,
        vip: ipv4ToString(buf.readUInt32BE(37)),
        vipPort,
      },
      backendHost: ipv4ToString(buf.readUInt32BE(43)),
      backendAddr: ipv4ToString(buf.readUInt32BE(47)),
      backendPort,
      timestampMs: Number(ts),
      nonce: buf.subarray(14, 30).toString('hex'),
    },
    tenantId: tenant.value,
    keyId: keyId.value,
    body: buf.subarray(0, end),
    tag: buf.subarray(end),
  };
}

interface AckMsg {
  nonce: string;
  accepted: boolean;
  reason: string;
}

function parseAck(buf: unknown): Parsed<AckMsg> | null {
  if (!hasHeader(buf, MSG_TYPE_ACK, ACK_FIXED_LEN + 2 + 2 + 1 + MAC_LEN)) return null;
  const flags = buf[5]!;
  if ((flags & ~1) !== 0) return null;
  const end = buf.length - MAC_LEN;
  const tenant = readId(buf, ACK_FIXED_LEN, end);
  if (tenant === null) return null;
  const keyId = readId(buf, tenant.next, end);
  if (keyId === null || keyId.next >= end) return null;
  const rlen = buf[keyId.next]!;
  const rstart = keyId.next + 1;
  if (rlen > MAX_REASON_BYTES || rstart + rlen !== end) return null;
  const reason = buf.subarray(rstart, end).toString('latin1');
  if (!REASON_RE.test(reason)) return null;
  return {
    msg: { nonce: buf.subarray(6, 22).toString('hex'), accepted: (flags & 1) === 1, reason },
    tenantId: tenant.value,
    keyId: keyId.value,
    body: buf.subarray(0, end),
    tag: buf.subarray(end),
  };
}

function macMatches(key: Buffer, body: Buffer, tag: Buffer): boolean {
  const expected = mac(key, body);
  return tag.length === expected.length && timingSafeEqual(tag, expected);
}

/** What verifyRedirect and verifyRelease take: the message, the keys by keyRef, now, the replay cache, the window. */
type FlowVerifyArgs = [
  buf: Buffer,
  keys: ReadonlyMap<string, Buffer>,
  nowMs: number,
  replay: ReplayCache,
  windowMs?: number,
];

/**
 * Checks, in this order: format, key known for (tenantId, keyId), MAC (constant time), timestamp within
 * +-windowMs of nowMs, nonce unseen. The replay cache is fed only after the MAC is good, so forged
 * traffic cannot fill it.
 */
export function verifyRedirect(...args: FlowVerifyArgs): VerifyResult {
  return verifyFlowMessage(MSG_TYPE_REDIRECT, ...args);
}

/** A release, checked exactly like a redirect (format, key, MAC, time, nonce). */
export function verifyRelease(...args: FlowVerifyArgs): VerifyResult {
  return verifyFlowMessage(MSG_TYPE_RELEASE, ...args);
}

function verifyFlowMessage(
  type: number,
  ...[buf, keys, nowMs, replay, windowMs = REDIRECT_DEFAULT_WINDOW_MS]: FlowVerifyArgs
): VerifyResult {
  const p = parseFlowMessage(buf, type);
  if (p === null) return { ok: false, reason: 'malformed' };
  const key = keys.get(keyRef(p.tenantId, p.keyId));
  if (key === undefined) return { ok: false, reason: 'unknown_key' };
  if (!macMatches(key, p.body, p.tag)) return { ok: false, reason: 'bad_signature' };
  if (Math.abs(nowMs - p.msg.timestampMs) > windowMs) return { ok: false, reason: 'stale' };
  if (!replay.checkAndAdd(p.msg.nonce, p.msg.timestampMs, nowMs)) return { ok: false, reason: 'replay' };
  return { ok: true, redirect: p.msg };
}

/**
 * Acks carry no timestamp: the sender matches the nonce against its own pending redirects, so a replayed
 * ack can at most stop retries of a redirect that was already answered.
 */
export function verifyAck(buf: Buffer, keys: ReadonlyMap<string, Buffer>): AckVerifyResult {
  const p = parseAck(buf);
  if (p === null) return { ok: false, reason: 'malformed' };
  const key = keys.get(keyRef(p.tenantId, p.keyId));
  if (key === undefined) return { ok: false, reason: 'unknown_key' };
  if (!macMatches(key, p.body, p.tag)) return { ok: false, reason: 'bad_signature' };
  const { nonce, accepted, reason } = p.msg;
  return reason === '' ? { ok: true, nonce, accepted } : { ok: true, nonce, accepted, reason };
}

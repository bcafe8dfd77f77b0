import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  keyRef,
  newNonce,
  signAck,
  signRedirect,
  signRelease,
  verifyAck,
  verifyRedirect,
  verifyRelease,
  type Redirect,
} from '../../src/core/redirect-message.js';
import { ReplayCache } from '../../src/core/replay-cache.js';

const K1 = Buffer.alloc(32, 1);
const K2 = Buffer.alloc(32, 2);
const OTHER_TENANT_KEY = Buffer.alloc(32, 3);
const NOW = 1_764_000_000_000;

function keys(): Map<string, Buffer> {
  return new Map([
    [keyRef('tenant-a', 'k1'), K1],
    [keyRef('tenant-a', 'k2'), K2],
    [keyRef('tenant-b', 'kb'), OTHER_TENANT_KEY],
  ]);
}

function redirect(over: Partial<Redirect> = {}): Redirect {
  return {
    tenantId: 'tenant-a',
    keyId: 'k1',
    flow: { protocol: 'tcp', clientAddr: '198.19.0.5', clientPort: 40123, vip: '198.19.0.10', vipPort: 80 },
    backendHost: '198.18.0.21',
    backendAddr: '198.18.0.21',
    backendPort: 8080,
    timestampMs: NOW,
    nonce: '00112233445566778899aabbccddeeff',
    ...over,
  };
}

const cache = () => new ReplayCache({ windowMs: 5000, maxEntries: 1000 });

describe('redirect message', () => {
  it('round-trips', () => {
    const r = redirect({
      flow: { protocol: 'udp', clientAddr: '10.1.2.3', clientPort: 1, vip: '10.9.9.9', vipPort: 65535 },
    });
    const buf = signRedirect(r, K1);
    expect(buf.subarray(0, 4).toString()).toBe('SLR1');
    expect(buf.length).toBe(53 + 1 + 8 + 1 + 2 + 32);
    expect(verifyRedirect(buf, keys(), NOW, cache())).toEqual({ ok: true, redirect: r });
  });

  it('round-trips multi-byte UTF-8 ids and normalises the nonce to lower case', () => {
    const r = redirect({ tenantId: 'tënant-ü', keyId: 'ключ', nonce: 'AABBCCDDEEFF00112233445566778899' });
    const m = new Map([[keyRef('tënant-ü', 'ключ'), K1]]);
    const res = verifyRedirect(signRedirect(r, K1), m, NOW, cache());
    expect(res).toEqual({ ok: true, redirect: { ...r, nonce: r.nonce.toLowerCase() } });
  });

  it('rejects every single-bit flip of a signed message', () => {
    const buf = signRedirect(redirect(), K1);
    const reasons = new Set<string>();
    for (let bit = 0; bit < buf.length * 8; bit++) {
      const b = Buffer.from(buf);
      b[bit >> 3]! ^= 1 << (bit & 7);
      const res = verifyRedirect(b, keys(), NOW, cache());
      expect(res.ok, `bit ${bit}`).toBe(false);
      if (!res.ok) reasons.add(res.reason);
    }
    expect([...reasons].sort()).toEqual(['bad_signature', 'malformed', 'unknown_key']);
  });

  it('rejects a message signed with the wrong key', () => {
    const buf = signRedirect(redirect(), Buffer.alloc(32, 9));
    expect(verifyRedirect(buf, keys(), NOW, cache())).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('rejects an unknown key id', () => {
    const buf = signRedirect(redirect({ keyId: 'k3' }), K1);
    expect(verifyRedirect(buf, keys(), NOW, cache())).toEqual({ ok: false, reason: 'unknown_key' });
  });

  it("binds the key to its tenant: tenant B's key cannot sign for tenant A", () => {
    const forged = signRedirect(redirect({ keyId: 'kb' }), OTHER_TENANT_KEY);
    expect(verifyRedirect(forged, keys(), NOW, cache())).toEqual({ ok: false, reason: 'unknown_key' });
    const wrongTenantKey = signRedirect(redirect({ keyId: 'k1' }), OTHER_TENANT_KEY);
    expect(verifyRedirect(wrongTenantKey, keys(), NOW, cache())).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
  });

  it('accepts both keys of a tenant during rotation', () => {
    const c = cache();
    const a = verifyRedirect(signRedirect(redirect({ keyId: 'k1', nonce: newNonce() }), K1), keys(), NOW, c);
    const b = verifyRedirect(signRedirect(redirect({ keyId: 'k2', nonce: newNonce() }), K2), keys(), NOW, c);
    expect(a.ok && b.ok).toBe(true);
    // ... and not one key under the other's id.
    const swapped = signRedirect(redirect({ keyId: 'k2', nonce: newNonce() }), K1);
    expect(verifyRedirect(swapped, keys(), NOW, c)).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('rejects stale timestamps in the past and the future, accepts the window edges', () => {
    const c = cache();
    const at = (ts: number) =>
      verifyRedirect(signRedirect(redirect({ timestampMs: ts, nonce: newNonce() }), K1), keys(), NOW, c);
    expect(at(NOW - 5001)).toEqual({ ok: false, reason: 'stale' });
    expect(at(NOW + 5001)).toEqual({ ok: false, reason: 'stale' });
    expect(at(0)).toEqual({ ok: false, reason: 'stale' });
    expect(at(NOW - 5000).ok).toBe(true);
    expect(at(NOW + 5000).ok).toBe(true);
    const custom = verifyRedirect(
      signRedirect(redirect({ timestampMs: NOW - 1500 }), K1),
      keys(),
      NOW,
      c,
      1000,
    );
    expect(custom).toEqual({ ok: false, reason: 'stale' });
  });

  it('rejects a replayed nonce, but only feeds the cache after the signature is good', () => {
    const c = cache();
    const good = signRedirect(redirect(), K1);
    const forged = signRedirect(redirect(), Buffer.alloc(32, 7));
    expect(verifyRedirect(forged, keys(), NOW, c)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(c.size).toBe(0);
    expect(verifyRedirect(good, keys(), NOW, c).ok).toBe(true);
    expect(verifyRedirect(good, keys(), NOW + 10, c)).toEqual({ ok: false, reason: 'replay' });
    expect(c.size).toBe(1);
  });

  it('rejects truncations and trailing bytes as malformed', () => {
    const buf = signRedirect(redirect(), K1);
    for (let len = 0; len < buf.length; len++) {
      expect(verifyRedirect(buf.subarray(0, len), keys(), NOW, cache()).ok).toBe(false);
    }
    expect(verifyRedirect(Buffer.concat([buf, Buffer.from([0])]), keys(), NOW, cache())).toEqual({
      ok: false,
      reason: 'malformed',
    });
  });

  it('never throws on random or mutated buffers', () => {
    const base = signRedirect(redirect(), K1);
    const ack = signAck({ tenantId: 'tenant-a', keyId: 'k1', nonce: newNonce(), accepted: true }, K1);
    let rejected = 0;
    for (let i = 0; i < 5000; i++) {
      let b: Buffer;
      if (i % 3 === 0) b = randomBytes(i % 300);
      else {
        b = Buffer.from(i % 3 === 1 ? base : ack);
        for (let k = 0; k < 1 + (i % 4); k++) b[(i * 31 + k * 17) % b.length] = (i * 7 + k) & 0xff;
        if (i % 5 === 0) b = b.subarray(0, i % b.length);
      }
      // Keep the magic on some inputs so parsing goes deeper than the first check.
      if (i % 2 === 0 && b.length >= 5) b.write('SLR1', 0, 'ascii');
      const r = verifyRedirect(b, keys(), NOW, cache());
      const a = verifyAck(b, keys());
      if (!r.ok) rejected++;
      expect(typeof a.ok).toBe('boolean');
    }
    expect(rejected).toBeGreaterThan(4900);
    expect(verifyRedirect(undefined as unknown as Buffer, keys(), NOW, cache())).toEqual({
      ok: false,
      reason: 'malformed',
    });
  });

  it('refuses to sign invalid input with a clear error', () => {
    expect(() => signRedirect(redirect({ nonce: 'abc' }), K1)).toThrow(/nonce/);
    expect(() => signRedirect(redirect({ backendHost: '1.2.3' }), K1)).toThrow(/backendHost/);
    expect(() => signRedirect(redirect({ backendPort: 0 }), K1)).toThrow(/backendPort/);
    expect(() => signRedirect(redirect({ tenantId: '' }), K1)).toThrow(/tenantId/);
    expect(() => signRedirect(redirect({ tenantId: 'x'.repeat(65) }), K1)).toThrow(/tenantId/);
    expect(() => signRedirect(redirect({ keyId: 'a\0b' }), K1)).toThrow(/keyId/);
    expect(() => signRedirect(redirect({ timestampMs: -1 }), K1)).toThrow(/timestampMs/);
    expect(() => signRedirect(redirect(), Buffer.alloc(8))).toThrow(/key/);
  });
});

describe('ack message', () => {
  const nonce = '0123456789abcdef0123456789abcdef';

  it('round-trips accepted and rejected acks', () => {
    const a = signAck({ tenantId: 'tenant-a', keyId: 'k2', nonce, accepted: true }, K2);
    expect(verifyAck(a, keys())).toEqual({ ok: true, nonce, accepted: true });
    const r = signAck(
      { tenantId: 'tenant-a', keyId: 'k1', nonce, accepted: false, reason: 'table_full' },
      K1,
    );
    expect(verifyAck(r, keys())).toEqual({ ok: true, nonce, accepted: false, reason: 'table_full' });
  });

  it('rejects every single-bit flip, wrong keys and unknown keys', () => {
    const buf = signAck({ tenantId: 'tenant-a', keyId: 'k1', nonce, accepted: false, reason: 'stale' }, K1);
    for (let bit = 0; bit < buf.length * 8; bit++) {
      const b = Buffer.from(buf);
      b[bit >> 3]! ^= 1 << (bit & 7);
      expect(verifyAck(b, keys()).ok, `bit ${bit}`).toBe(false);
    }
    expect(
      verifyAck(signAck({ tenantId: 'tenant-a', keyId: 'k1', nonce, accepted: true }, K2), keys()),
    ).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    expect(
      verifyAck(signAck({ tenantId: 'tenant-a', keyId: 'zz', nonce, accepted: true }, K1), keys()),
    ).toEqual({
      ok: false,
      reason: 'unknown_key',
    });
  });

  it('is never valid as a redirect and vice versa', () => {
    const ack = signAck({ tenantId: 'tenant-a', keyId: 'k1', nonce, accepted: true }, K1);
    expect(verifyRedirect(ack, keys(), NOW, cache())).toEqual({ ok: false, reason: 'malformed' });
    expect(verifyAck(signRedirect(redirect(), K1), keys())).toEqual({ ok: false, reason: 'malformed' });
  });

  it('refuses a non-ASCII or overlong reason', () => {
    expect(() => signAck({ tenantId: 't', keyId: 'k', nonce, accepted: false, reason: 'ü' }, K1)).toThrow(
      /reason/,
    );
    expect(() =>
      signAck({ tenantId: 't', keyId: 'k', nonce, accepted: false, reason: 'x'.repeat(65) }, K1),
    ).toThrow(/reason/);
  });
});

describe('release message', () => {
  it('round-trips, and is checked like a redirect: key, signature, time and nonce', () => {
    const r = redirect();
    const buf = signRelease(r, K1);
    expect(buf.length).toBe(signRedirect(r, K1).length);
    expect(buf[4]).toBe(0x03);
    const replay = cache();
    expect(verifyRelease(buf, keys(), NOW, replay)).toEqual({ ok: true, redirect: r });
    expect(verifyRelease(buf, keys(), NOW, replay)).toEqual({ ok: false, reason: 'replay' });
    expect(verifyRelease(signRelease(r, K2), keys(), NOW, cache())).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    expect(verifyRelease(signRelease({ ...r, keyId: 'nope' }, K1), keys(), NOW, cache())).toEqual({
      ok: false,
      reason: 'unknown_key',
    });
    expect(verifyRelease(buf, keys(), NOW + 5001, cache())).toEqual({ ok: false, reason: 'stale' });
  });

  it('is never valid as a redirect or an ack, and neither is valid as a release', () => {
    const r = redirect();
    expect(verifyRedirect(signRelease(r, K1), keys(), NOW, cache())).toEqual({
      ok: false,
      reason: 'malformed',
    });
    expect(verifyAck(signRelease(r, K1), keys())).toEqual({ ok: false, reason: 'malformed' });
    expect(verifyRelease(signRedirect(r, K1), keys(), NOW, cache())).toEqual({
      ok: false,
      reason: 'malformed',
    });
    const ack = signAck({ tenantId: 'tenant-a', keyId: 'k1', nonce: r.nonce, accepted: true }, K1);
    expect(verifyRelease(ack, keys(), NOW, cache())).toEqual({ ok: false, reason: 'malformed' });
    // Only the type byte differs; rewriting it breaks the signature.
    const forged = Buffer.from(signRedirect(r, K1));
    forged[4] = 0x03;
    expect(verifyRelease(forged, keys(), NOW, cache())).toEqual({ ok: false, reason: 'bad_signature' });
  });
});

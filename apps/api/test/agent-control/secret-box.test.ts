import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SecretBox } from '../../src/agent-control/secret-box.js';

describe('SecretBox (redirect keys at rest)', () => {
  const box = new SecretBox(randomBytes(32));
  const secret = randomBytes(32);

  it('round-trips, with a fresh IV every time', () => {
    const a = box.seal(secret, 'tenant-a');
    expect(box.open(a, 'tenant-a')).toEqual(secret);
    expect(box.seal(secret, 'tenant-a')).not.toBe(a);
    expect(a).not.toContain(secret.toString('base64'));
  });

  it("refuses another tenant's row, a tampered ciphertext and another master key", () => {
    const a = box.seal(secret, 'tenant-a');
    expect(() => box.open(a, 'tenant-b')).toThrow();
    const raw = Buffer.from(a, 'base64');
    raw.writeUInt8(raw.readUInt8(raw.length - 1) ^ 1, raw.length - 1);
    expect(() => box.open(raw.toString('base64'), 'tenant-a')).toThrow();
    expect(() => new SecretBox(randomBytes(32)).open(a, 'tenant-a')).toThrow();
    expect(() => new SecretBox(randomBytes(16))).toThrow(/32 bytes/);
  });
});

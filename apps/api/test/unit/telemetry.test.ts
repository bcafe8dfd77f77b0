import { describe, expect, it } from 'vitest';
import type { TelemetryReport } from '../../src/dto/telemetry.dto.js';
import { TENANT_ROW } from '../../src/repositories/telemetry.repository.js';
import { computeDeltas } from '../../src/services/telemetry.service.js';

const VIP_A = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
const VIP_B = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';
const BOOT1 = '11111111-1111-4111-8111-111111111111';
const BOOT2 = '22222222-2222-4222-8222-222222222222';
const BUCKETS = [1, 5, 10];

function vip(vipId: string, n: number, extra: Partial<TelemetryReport['vips'][number]> = {}) {
  return {
    vipId,
    packetsMux: n,
    packetsDirect: 10 * n,
    bytesMux: 100 * n,
    bytesDirect: 1000 * n,
    flowsNew: n,
    flowsBypassed: n,
    bypassEntries: n,
    redirectsSent: 0,
    muxPackets: 0,
    ...extra,
  };
}

function report(
  bootId: string,
  vips: TelemetryReport['vips'],
  opts: { rejected?: Record<string, number>; counts?: number[]; sumMs?: number } = {},
): TelemetryReport {
  const counts = opts.counts ?? [0, 0, 0, 0];
  return {
    bootId,
    at: '2026-11-26T15:00:00.000Z',
    appliedRevision: 1,
    vips,
    redirectsReceived: { accepted: 0, rejected: opts.rejected ?? {} },
    timeToBypass: {
      bucketsMs: BUCKETS,
      counts,
      sumMs: opts.sumMs ?? 0,
      count: counts.reduce((a, b) => a + b, 0),
    },
    backendHealth: [],
  };
}

const row = (rows: { vipId: string }[], vipId: string) => rows.find((r) => r.vipId === vipId);

describe('computeDeltas', () => {
  it('counts a first report of a boot from zero', () => {
    const { rows } = computeDeltas(null, report(BOOT1, [vip(VIP_A, 3)]), 100);
    expect(row(rows, VIP_A)).toMatchObject({
      packetsMux: 3,
      packetsDirect: 30,
      bytesDirect: 3000,
      flowsNew: 3,
    });
  });

  it('takes a report as a baseline when its predecessor was accepted but is gone (Redis lost its data)', () => {
    const lost = { ...report(BOOT1, [vip(VIP_A, 50)], { counts: [2, 0, 0, 0] }), previousAccepted: true };
    const first = computeDeltas(null, lost, 100);
    // Counting since boot again would add 50 packets that were already stored; the gauge is a level and stays.
    expect(first.baseline).toBe(true);
    expect(first.rows).toEqual([
      { ...row(first.rows, VIP_A), bypassEntries: 50, packetsMux: 0, flowsNew: 0 },
    ]);
    expect(row(first.rows, TENANT_ROW)).toBeUndefined();
    const { rows, baseline } = computeDeltas(first.next, { ...lost, vips: [vip(VIP_A, 53)] }, 100);
    expect(baseline).toBe(false);
    // Same second: the gauge moves by 3 on top of the 50 the baseline stored.
    expect(row(rows, VIP_A)).toMatchObject({ packetsMux: 3, flowsNew: 3, bypassEntries: 3 });
    // Redis came back with a snapshot of an older boot: still a baseline for a boot already reporting.
    const older = computeDeltas(
      first.next,
      { ...report(BOOT2, [vip(VIP_A, 4)]), previousAccepted: true },
      102,
    );
    expect(older.baseline).toBe(true);
    expect(row(older.rows, VIP_A)).toMatchObject({ packetsMux: 0, bypassEntries: 4 });
    // A restarted agent's first report (nothing of this boot accepted yet) counts from zero.
    const restarted = computeDeltas(
      first.next,
      { ...report(BOOT2, [vip(VIP_A, 4)]), previousAccepted: false },
      102,
    );
    expect(restarted.baseline).toBe(false);
    expect(row(restarted.rows, VIP_A)).toMatchObject({ packetsMux: 4 });
  });

  it('stores the difference between consecutive reports of one boot', () => {
    const first = computeDeltas(null, report(BOOT1, [vip(VIP_A, 3)]), 100);
    const { rows } = computeDeltas(first.next, report(BOOT1, [vip(VIP_A, 8)]), 101);
    expect(row(rows, VIP_A)).toMatchObject({
      packetsMux: 5,
      packetsDirect: 50,
      flowsNew: 5,
      bypassEntries: 8,
    });
  });

  it('starts from zero when the agent restarted (new bootId), even with lower counters', () => {
    const first = computeDeltas(null, report(BOOT1, [vip(VIP_A, 50)]), 100);
    const { rows } = computeDeltas(first.next, report(BOOT2, [vip(VIP_A, 2)]), 101);
    expect(row(rows, VIP_A)).toMatchObject({ packetsMux: 2, packetsDirect: 20, flowsNew: 2 });
  });

  it('treats a counter that went backwards within one boot as reset', () => {
    const first = computeDeltas(null, report(BOOT1, [vip(VIP_A, 50)]), 100);
    const { rows } = computeDeltas(first.next, report(BOOT1, [vip(VIP_A, 60, { packetsMux: 4 })]), 101);
    // packetsMux went 50 -> 4: reset, so 4 are new; the others advanced normally.
    expect(row(rows, VIP_A)).toMatchObject({ packetsMux: 4, packetsDirect: 100, flowsNew: 10 });
  });

  it('keeps only the latest gauge of an agent within one second', () => {
    const first = computeDeltas(null, report(BOOT1, [vip(VIP_A, 5), vip(VIP_B, 2)]), 100);
    const second = computeDeltas(first.next, report(BOOT1, [vip(VIP_A, 7)]), 100);
    // Same second: VIP A's gauge moves from 5 to 7 (+2); VIP B vanished from the report and takes its 2 back.
    expect(row(second.rows, VIP_A)).toMatchObject({ bypassEntries: 2 });
    expect(row(second.rows, VIP_B)).toMatchObject({ bypassEntries: -2, packetsMux: 0 });
    const third = computeDeltas(second.next, report(BOOT1, [vip(VIP_A, 7)]), 101);
    // A new second starts the gauge afresh, though no counter moved.
    expect(row(third.rows, VIP_A)).toMatchObject({ bypassEntries: 7, packetsMux: 0 });
  });

  it('drops rows where nothing moved and the gauge is zero', () => {
    const zero = vip(VIP_A, 0);
    const first = computeDeltas(null, report(BOOT1, [zero]), 100);
    expect(first.rows).toEqual([]);
  });

  it('puts histogram and rejection deltas on the tenant row and on the only active VIP', () => {
    const first = computeDeltas(
      null,
      report(BOOT1, [vip(VIP_A, 1)], { counts: [1, 0, 0, 0], sumMs: 0.5, rejected: { stale: 1 } }),
      100,
    );
    const { rows } = computeDeltas(
      first.next,
      report(BOOT1, [vip(VIP_A, 2), vip(VIP_B, 0)], {
        counts: [1, 2, 0, 1],
        sumMs: 20,
        rejected: { stale: 1, bad_signature: 3 },
      }),
      101,
    );
    const expected = {
      ttbBuckets: { '5': 2, '+Inf': 1 },
      ttbCount: 3,
      ttbSumMs: 19.5,
      redirectsRejected: { bad_signature: 3 },
    };
    expect(row(rows, TENANT_ROW)).toMatchObject(expected);
    expect(row(rows, VIP_A)).toMatchObject(expected);
    expect(row(rows, VIP_B)).toBeUndefined();
  });

  it('does not attribute agent-level figures when several VIPs moved', () => {
    const { rows } = computeDeltas(
      null,
      report(BOOT1, [vip(VIP_A, 1), vip(VIP_B, 1)], { counts: [0, 1, 0, 0], sumMs: 3 }),
      100,
    );
    expect(row(rows, TENANT_ROW)).toMatchObject({ ttbBuckets: { '5': 1 }, ttbCount: 1 });
    expect(row(rows, VIP_A)).toMatchObject({ ttbBuckets: {}, ttbCount: 0 });
  });

  it('resets the histogram as a whole when its count went backwards', () => {
    const first = computeDeltas(null, report(BOOT1, [], { counts: [5, 5, 0, 0], sumMs: 30 }), 100);
    const { rows } = computeDeltas(first.next, report(BOOT1, [], { counts: [1, 0, 0, 0], sumMs: 0.7 }), 101);
    expect(row(rows, TENANT_ROW)).toMatchObject({ ttbBuckets: { '1': 1 }, ttbCount: 1, ttbSumMs: 0.7 });
  });

  it("stores every bucket, empty ones too, so quantiles know each bucket's lower edge", () => {
    const { rows } = computeDeltas(null, report(BOOT1, [], { counts: [0, 0, 4, 0], sumMs: 28 }), 100);
    const buckets = rows.find((r) => r.vipId === TENANT_ROW)?.ttbBuckets ?? {};
    expect(Object.keys(buckets).sort()).toEqual([...BUCKETS.map(String), '+Inf'].sort());
    expect(Object.values(buckets).reduce((a, b) => a + b, 0)).toBe(4);
  });
});

/**
 * The API the control-plane client builds on: Agent.applyState() and Agent.telemetry(), exercised on a
 * real kernel inside a lab namespace (the lab's agent there is replaced by one driven in-process).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostConfigFile, nsName, stopAgent } from '../../src/lab/lab.js';
import type { TelemetryReport } from '../../src/agent/telemetry.js';
import { client, isRoot, metric, nsRun, startLab, stopLab } from './helpers.js';

const DIST = join(import.meta.dirname, '..', '..', 'dist');
const FIXTURE = join(import.meta.dirname, 'fixtures', 'agent-api.mjs');

interface FixtureResult {
  beforeApply: string;
  applyGood: string;
  revisionAfterGood: number;
  applyBad: string;
  applyRoleChange: string;
  revisionAfterBad: number;
  applyNext: string;
  revisionAfterNext: number;
  applyAgain: string;
  sent: number;
  echoed: number;
  telemetry: TelemetryReport;
  clientEntriesAfterClose: number;
}

function runFixture(prefix: string, host: string): Promise<FixtureResult> {
  return new Promise((resolve, reject) => {
    execFile(
      'ip',
      [
        'netns',
        'exec',
        nsName(prefix, host),
        process.execPath,
        FIXTURE,
        DIST,
        hostConfigFile(prefix, host),
        '198.19.0.10',
        '7',
      ],
      { encoding: 'utf8', timeout: 60_000 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`${err.message}\n${stderr}`));
        resolve(JSON.parse(stdout.trim().split('\n').pop()!) as FixtureResult);
      },
    );
  });
}

function backendTelemetry(prefix: string, host: string): TelemetryReport {
  return JSON.parse(
    nsRun(prefix, host, ['curl', '-s', '-m', '3', 'http://127.0.0.1:9464/telemetry']),
  ) as TelemetryReport;
}

describe.skipIf(!isRoot)('agent control API (applyState, telemetry)', () => {
  let prefix = '';
  let r: FixtureResult;
  let webPacketsBefore = 0;
  const backendsBefore = new Map<string, TelemetryReport>();

  beforeAll(async () => {
    prefix = await startLab();
    // Traffic from the lab's agent on c2, so the kernel counters the new agent inherits are not zero.
    const w = await client<{ status: number }>(prefix, 'c2', 'http', '198.19.0.10', '80');
    expect(w.status).toBe(200);
    webPacketsBefore = metric(prefix, 'c2', 'slipstream_packets_total', { vip: 'web' });
    for (const b of ['b1', 'b2', 'b3']) backendsBefore.set(b, backendTelemetry(prefix, b));
    await stopAgent(prefix, 'c2');
    r = await runFixture(prefix, 'c2');
  });
  afterAll(() => stopLab(prefix));

  it('applies pushed states, rejects bad ones with the error and keeps the last good revision', () => {
    expect(r.beforeApply).toMatch(/no desired state applied/);
    expect(r.applyGood).toBe('ok');
    expect(r.revisionAfterGood).toBe(1);
    expect(r.applyBad).toMatch(/\$\.vips\[0\]\.port: must be an integer 1\.\.65535/);
    expect(r.applyRoleChange).toMatch(/agent identity \(role, underlay\) cannot change/);
    expect(r.revisionAfterBad).toBe(1);
    expect(r.applyNext).toBe('ok');
    expect(r.revisionAfterNext).toBe(6);
    expect(r.applyAgain).toBe('ok');
    // The failed role change was rolled back: the kernel still holds the host ruleset.
    const rules = nsRun(prefix, 'c2', ['nft', 'list', 'chain', 'ip', 'slipstream', 'out']);
    expect(rules).toContain('vmap @vips');
  });

  it('a bypassed flow keeps working after the states were pushed, and loses its entry when it closes', () => {
    expect(r.sent).toBeGreaterThanOrEqual(2000);
    expect(r.echoed).toBe(r.sent);
    expect(r.clientEntriesAfterClose).toBe(0);
  });

  it('reports cumulative client counters since its own start, keyed by VIP id', () => {
    const t = r.telemetry;
    expect(t.bootId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(t.appliedRevision).toBe(6);
    expect(Date.now() - Date.parse(t.at)).toBeLessThan(60_000);
    const echo = t.vips.find((v) => v.vipId === 'vip-echo')!;
    expect(echo.flowsNew).toBe(1); // the kernel's conntrack-new counter on the client
    expect(echo.flowsBypassed).toBe(1);
    expect(echo.bypassEntries).toBe(1);
    expect(echo.packetsMux).toBeGreaterThan(0);
    expect(echo.packetsDirect).toBeGreaterThan(0);
    expect(echo.bytesDirect).toBeGreaterThan(echo.packetsDirect * 40);
    expect(echo.redirectsSent).toBe(0);
    expect(echo.muxPackets).toBe(0);
    // Traffic the previous agent process counted is not reported again.
    expect(webPacketsBefore).toBeGreaterThan(0);
    const web = t.vips.find((v) => v.vipId === 'vip-web')!;
    expect(web.packetsMux + web.packetsDirect).toBe(0);
    expect(t.vips.map((v) => v.vipId).sort()).toEqual(
      [
        'vip-bulk',
        'vip-bulk-mux',
        'vip-echo',
        'vip-echo-mux',
        'vip-udp',
        'vip-web',
        'vip-web-alt',
        'vip-web-hold',
        'vip-web-mux',
      ].sort(),
    );
    expect(t.redirectsReceived.accepted).toBeGreaterThanOrEqual(1);
    expect(t.timeToBypass.count).toBe(0); // measured where the ack arrives: on the backend
    expect(t.timeToBypass.counts).toHaveLength(t.timeToBypass.bucketsMs.length + 1);
    expect(t.backendHealth).toEqual([]);
  });

  it('the backend that sent the redirect reports it and its time-to-bypass', () => {
    let sent = 0;
    let ttb = 0;
    let flows = 0;
    for (const b of ['b1', 'b2', 'b3']) {
      const before = backendsBefore.get(b)!;
      const now = backendTelemetry(prefix, b);
      expect(now.bootId).toBe(before.bootId);
      const id = (x: TelemetryReport) => x.vips.find((v) => v.vipId === 'vip-echo')!;
      sent += id(now).redirectsSent - id(before).redirectsSent;
      flows += id(now).flowsNew - id(before).flowsNew;
      ttb += now.timeToBypass.count - before.timeToBypass.count;
      const sum = now.timeToBypass.counts.reduce((a, b) => a + b, 0);
      expect(sum).toBe(now.timeToBypass.count);
    }
    expect(flows).toBe(1);
    expect(sent).toBe(1);
    expect(ttb).toBe(1);
  });

  it('the backend kernel installs the receive rewrite of a new flow itself, before its agent hears of it', async () => {
    // With every backend agent stopped nothing in userspace can add it.
    for (const b of ['b1', 'b2', 'b3']) await stopAgent(prefix, b);
    const r = await client<{ status: number }>(prefix, 'c1', 'http', '198.19.0.10', '80');
    expect(r.status).toBe(200);
    const bi = ['b1', 'b2', 'b3']
      .map((b) => nsRun(prefix, b, ['nft', 'list', 'map', 'ip', 'slipstream', 'bi']))
      .join('\n');
    expect(bi).toMatch(/198\.18\.0\.11 \. tcp \. \d+ \. 80 timeout 5m5s expires [^:]+: 198\.19\.0\.10/);
  });
});

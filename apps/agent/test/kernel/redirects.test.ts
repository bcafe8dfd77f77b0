/**
 * Every kind of bad redirect is rejected, counted by reason, and the flow it names keeps working through
 * the mux. Crafted messages are sent from a backend host's namespace; policy rejections use real flows.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newNonce, signRedirect, type Redirect } from '../../src/core/redirect-message.js';
import {
  client,
  echoFlow,
  isRoot,
  metric,
  nftElements,
  readHostConfig,
  startLab,
  stopLab,
  updateConfig,
  waitUntil,
} from './helpers.js';

describe.skipIf(!isRoot)('redirect rejections', () => {
  let prefix = '';
  let key: Buffer;
  beforeAll(async () => {
    prefix = await startLab();
    const cfg = readHostConfig(prefix, 'c1');
    key = Buffer.from(cfg.redirect.keys.k1!, 'base64');
  });
  afterAll(() => stopLab(prefix));

  const rejected = (reason: string): number =>
    metric(prefix, 'c1', 'slipstream_redirects_received_total', { result: 'rejected', reason });

  function redirectFor(port: number, vip: string, vipPort: number, over: Partial<Redirect> = {}): Redirect {
    return {
      tenantId: 'lab',
      keyId: 'k1',
      flow: { protocol: 'tcp', clientAddr: '198.18.0.11', clientPort: port, vip, vipPort },
      backendHost: '198.18.0.31',
      backendAddr: '198.18.0.31',
      backendPort: vipPort,
      timestampMs: Date.now(),
      nonce: newNonce(),
      ...over,
    };
  }

  async function send(...msgs: Buffer[]): Promise<void> {
    await client(
      prefix,
      'b1',
      'send-hex',
      '198.18.0.11',
      '4791',
      '198.18.0.31',
      ...msgs.map((m) => m.toString('hex')),
    );
  }

  it('forged, wrong-key, stale, replayed, out-of-pool and bypass-disabled redirects are rejected; the flow stays on the mux', async () => {
    // A live flow through the mux-only VIP; the crafted redirects all name it.
    const flow = echoFlow(prefix, 'c1', '198.19.0.20', 7, 40800, 5000);
    await waitUntil('flow connected', () => flow.state.latest.echoed > 10_000);
    const before = Object.fromEntries(
      ['bad_signature', 'unknown_key', 'stale', 'replay', 'backend_not_in_pool', 'bypass_disabled'].map(
        (r) => [r, rejected(r)],
      ),
    );

    const forged = signRedirect(redirectFor(40800, '198.19.0.20', 7), key);
    forged[forged.length - 1]! ^= 0xff;
    const wrongKey = signRedirect(redirectFor(40800, '198.19.0.20', 7), randomBytes(32));
    const otherTenant = signRedirect(redirectFor(40800, '198.19.0.20', 7, { tenantId: 'someone-else' }), key);
    const stale = signRedirect(
      redirectFor(40800, '198.19.0.20', 7, { timestampMs: Date.now() - 60_000 }),
      key,
    );
    const notInPool = signRedirect(
      redirectFor(40800, '198.19.0.20', 7, { backendHost: '198.18.0.99', backendAddr: '198.18.0.99' }),
      key,
    );
    const disabled = signRedirect(redirectFor(40800, '198.19.0.20', 7), key);
    await send(forged, wrongKey, otherTenant, stale, notInPool, disabled);
    // The same valid bytes again: the nonce is already known.
    await send(disabled);

    await waitUntil('all rejections counted', () => rejected('replay') > before.replay!);
    expect(rejected('bad_signature') - before.bad_signature!).toBe(2);
    expect(rejected('unknown_key') - before.unknown_key!).toBe(1);
    expect(rejected('stale') - before.stale!).toBe(1);
    expect(rejected('backend_not_in_pool') - before.backend_not_in_pool!).toBe(1);
    expect(rejected('bypass_disabled') - before.bypass_disabled!).toBe(1);
    expect(rejected('replay') - before.replay!).toBe(1);
    expect(nftElements(prefix, 'c1', 'fo')).not.toContain('40800');
    const end = await flow.done;
    expect(end.error).toBeNull();
    expect(end.echoed).toBe(end.sent);
  });

  async function realFlowStaysOnMux(port: number, reason: string): Promise<void> {
    const before = rejected(reason);
    // Long enough that its redirect comes while it lives even on a loaded machine (retries back off from
    // 150 ms): one that came after its end would be refused as flow_ended instead.
    const flow = echoFlow(prefix, 'c1', '198.19.0.10', 7, port, 4000);
    await waitUntil(`rejection ${reason}`, () => rejected(reason) > before);
    const end = await flow.done;
    expect(end.error).toBeNull();
    expect(end.echoed).toBe(end.sent);
    expect(nftElements(prefix, 'c1', 'fo')).not.toContain(String(port));
  }

  it('a source outside sourceCidrs is rejected and the flow keeps working through the mux', async () => {
    await updateConfig(prefix, ['c1'], (s) => {
      s.vips.find((v) => v.name === 'echo')!.bypass.sourceCidrs = ['10.0.0.0/8'];
    });
    await realFlowStaysOnMux(40811, 'source_not_allowed');
  });

  it('a full flow table is rejected and the flow keeps working through the mux', async () => {
    await updateConfig(prefix, ['c1'], (s) => {
      const v = s.vips.find((x) => x.name === 'echo')!;
      v.bypass.sourceCidrs = [];
      v.bypass.maxFlowsPerHost = 0;
    });
    await realFlowStaysOnMux(40812, 'table_full');
  });

  it('a bad config file is rejected and the last good state stays', async () => {
    const rev = metric(prefix, 'c1', 'slipstream_config_revision');
    const errors = metric(prefix, 'c1', 'slipstream_config_errors_total');
    const { writeFileSync } = await import('node:fs');
    const { hostConfigFile } = await import('../../src/lab/lab.js');
    writeFileSync(hostConfigFile(prefix, 'c1'), '{"version": 1, "revision": "x"}');
    await waitUntil(
      'config error counted',
      () => metric(prefix, 'c1', 'slipstream_config_errors_total') > errors,
    );
    expect(metric(prefix, 'c1', 'slipstream_config_revision')).toBe(rev);
    const r = await client<{ status: number }>(prefix, 'c1', 'http', '198.19.0.10', '80');
    expect(r.status).toBe(200);
  });
});

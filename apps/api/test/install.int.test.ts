// GET /install.sh and the downloads it verifies: the rendered script names this API and embeds the sha256
// of exactly the bytes the bundle and Node endpoints serve. Needs the agent's build (apps/agent/dist/bundle).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_BUNDLE_DIR, HOLD_HELPER_FILE } from '../src/install/artifacts.js';
import { type TestApi, expectProblem, startApi } from './helpers.js';

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const embedded = (script: string, name: string) => new RegExp(`^${name}='([^']*)'$`, 'm').exec(script)?.[1];

describe('agent install endpoints', () => {
  let api: TestApi;
  let derived: TestApi;
  beforeAll(async () => {
    api = await startApi({
      CONFIG_PUBLISHER: 'none',
      SLIPSTREAM_PUBLIC_URL: 'https://lb.example.com:8443/',
    });
    derived = await startApi({ CONFIG_PUBLISHER: 'none' }, api.databaseUrl);
  });
  afterAll(async () => {
    await derived?.close();
    await api?.close();
  });

  const get = (a: TestApi, url: string, headers: Record<string, string> = {}) =>
    a.app.inject({ method: 'GET', url, headers });

  it('renders install.sh with the public URL and the checksum of the bundle it serves', async () => {
    const script = await get(api, '/install.sh');
    expect(script.statusCode).toBe(200);
    expect(script.headers['content-type']).toMatch(/^text\/x-shellscript/);
    const text = script.body;
    expect(text).not.toContain('@@');
    expect(embedded(text, 'API_URL')).toBe('https://lb.example.com:8443');
    const bundle = await get(api, '/agent/slipstream-agent.mjs');
    expect(bundle.statusCode).toBe(200);
    const bytes = bundle.rawPayload;
    expect(bytes.length).toBeGreaterThan(10_000);
    expect(bytes.toString('utf8')).toMatch(/^\/\/ slipstream-agent \d+\.\d+\.\d+/);
    const sum = sha256(bytes);
    expect(embedded(text, 'BUNDLE_SHA256')).toBe(sum);
    expect(bundle.headers.etag).toBe(`"${sum}"`);
    expect(bundle.headers['x-checksum-sha256']).toBe(sum);
    expect(bundle.headers['repr-digest']).toBe(`sha-256=:${Buffer.from(sum, 'hex').toString('base64')}:`);
    // The bytes are the agent build's own bundle, and its published sum agrees.
    expect(sum).toBe(sha256(readFileSync(join(DEFAULT_BUNDLE_DIR, 'slipstream-agent.mjs'))));
    expect(readFileSync(join(DEFAULT_BUNDLE_DIR, 'slipstream-agent.mjs.sha256'), 'utf8')).toContain(sum);
    expect(embedded(text, 'AGENT_VERSION')).toMatch(/^\d+\.\d+\.\d+/);
    const again = await get(api, '/agent/slipstream-agent.mjs', { 'if-none-match': `"${sum}"` });
    expect(again.statusCode).toBe(304);
    expect(again.rawPayload.length).toBe(0);
    // What bash would run parses.
    const dir = mkdtempSync(join(tmpdir(), 'install-sh-'));
    try {
      writeFileSync(join(dir, 'install.sh'), text);
      execFileSync('bash', ['-n', join(dir, 'install.sh')]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // The agent's build makes the helper when a C compiler is there (npm test installs one as root).
  it.skipIf(!existsSync(join(DEFAULT_BUNDLE_DIR, HOLD_HELPER_FILE)))(
    "serves the agent build's SYN-ACK hold helper with the checksum the script embeds",
    async () => {
      const text = (await get(api, '/install.sh')).body;
      const res = await get(api, '/agent/slipstream-synack-hold');
      expect(res.statusCode).toBe(200);
      const sum = sha256(res.rawPayload);
      expect(sum).toBe(sha256(readFileSync(join(DEFAULT_BUNDLE_DIR, HOLD_HELPER_FILE))));
      expect(res.headers.etag).toBe(`"${sum}"`);
      expect(embedded(text, 'HOLD_SHA256')).toBe(sum);
      // An ELF executable, as built by the agent's build for this machine.
      expect(res.rawPayload.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    },
  );

  it('without a hold helper in the build: the script fetches none and the route says so', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'no-helper-'));
    cpSync(DEFAULT_BUNDLE_DIR, dir, { recursive: true });
    rmSync(join(dir, HOLD_HELPER_FILE), { force: true });
    const bare = await startApi(
      { CONFIG_PUBLISHER: 'none', SLIPSTREAM_AGENT_BUNDLE_DIR: dir },
      api.databaseUrl,
    );
    try {
      const text = String((await bare.call('GET', '/install.sh')).body);
      expect(embedded(text, 'HOLD_SHA256')).toBe('');
      expect(embedded(text, 'BUNDLE_SHA256')).toMatch(/^[0-9a-f]{64}$/);
      expectProblem(await bare.call('GET', '/agent/slipstream-synack-hold'), 404, 'not-found');
    } finally {
      await bare.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('serves the Node runtime it runs on with the checksum the script embeds', async () => {
    const text = (await get(api, '/install.sh')).body;
    const node = await get(api, '/agent/node');
    expect(node.statusCode).toBe(200);
    const sum = sha256(node.rawPayload);
    expect(sum).toBe(sha256(readFileSync(process.execPath)));
    expect(node.headers.etag).toBe(`"${sum}"`);
    expect(embedded(text, 'NODE_SHA256')).toBe(sum);
    expect(embedded(text, 'NODE_VERSION')).toBe(process.versions.node);
    expect(embedded(text, 'NODE_ARCH')).toBe(process.arch === 'x64' ? 'x86_64' : process.arch);
  });

  it('derives the URL from the request without SLIPSTREAM_PUBLIC_URL, and refuses a hostile Host', async () => {
    const plain = await get(derived, '/install.sh', { host: 'api.internal:3001' });
    expect(embedded(plain.body, 'API_URL')).toBe('http://api.internal:3001');
    const v6 = await get(derived, '/install.sh', { host: '[fd00::1]:3001' });
    expect(embedded(v6.body, 'API_URL')).toBe('http://[fd00::1]:3001');
    for (const host of ["x';reboot;'", 'a b', 'evil.com/$(id)']) {
      const r = await derived.call('GET', '/install.sh', { headers: { host } });
      expectProblem(r, 400, 'validation');
    }
  });

  it('answers 503 problem+json when the agent bundle is not built', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'no-bundle-'));
    const bare = await startApi(
      { CONFIG_PUBLISHER: 'none', SLIPSTREAM_AGENT_BUNDLE_DIR: empty },
      api.databaseUrl,
    );
    try {
      for (const url of ['/install.sh', '/agent/slipstream-agent.mjs']) {
        const r = await bare.call('GET', url);
        expectProblem(r, 503, 'service-unavailable');
        expect(r.body.detail).toContain('npm run build -w @slipstream/agent');
      }
    } finally {
      await bare.close();
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('rejects a SLIPSTREAM_PUBLIC_URL that is not a plain http(s) URL at boot', async () => {
    await expect(startApi({ SLIPSTREAM_PUBLIC_URL: "https://x/'$(id)'" }, api.databaseUrl)).rejects.toThrow(
      /SLIPSTREAM_PUBLIC_URL/,
    );
  });
});

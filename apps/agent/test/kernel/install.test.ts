/**
 * The real install path: the API's `GET /install.sh` installs every lab agent into a staging root
 * (`--root`, `--no-systemd`), the launcher it wrote enrolls with the join token and the agents converge and
 * forward; a re-run upgrades in place keeping the credential; `--uninstall` removes the files and the
 * agent's kernel state in its namespace and revokes its credential in the API; a bundle whose checksum does not match installs nothing.
 * Needs root and built `apps/api`, `apps/agent` (its bundle) and `packages/devstack`.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  HOSTS,
  agentPid,
  fetchInstaller,
  installLabAgent,
  installRoot,
  installedStateFile,
  labDir,
  labDown,
  labUpWithControl,
  metricsText,
  nsName,
  startInstalledAgent,
} from '../../src/lab/lab.js';
import { NFT_TABLE, TUNNEL_DEV } from '../../src/dataplane/render.js';
import { client, isRoot, newPrefix, nsRun, waitUntil } from './helpers.js';
import { ApiHarness, type AgentRow } from './api-harness.js';

const api = new ApiHarness();
let prefix = '';
// The API serves a copy of the agent's build, so the upgrade test can publish a new bundle.
const bundleDir = mkdtempSync(join(tmpdir(), 'sls-bundle-'));
cpSync(join(import.meta.dirname, '..', '..', 'dist', 'bundle'), bundleDir, { recursive: true });

process.on('exit', () => {
  // Safety net for a crashed run; afterAll does the orderly cleanup (the harness kills the API).
  if (prefix) labDown(prefix);
});

/** Waits until every lab agent is connected and has ACKed the tenant's current revision. */
async function converged(timeoutMs: number): Promise<AgentRow[]> {
  await api.converged(await api.revision(), timeoutMs);
  return api.agents();
}

const mode = (f: string) => statSync(f).mode & 0o777;
const b1 = HOSTS.find((h) => h.name === 'b1')!;

function inNs(host: string, cmd: string[]): { status: number | null; out: string } {
  const r = spawnSync('ip', ['netns', 'exec', nsName(prefix, host), ...cmd], { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe.skipIf(!isRoot)('install.sh from the real API into lab namespaces', () => {
  let script = '';

  beforeAll(async () => {
    await api.start({ bundleDir });
    await api.signup('install e2e');
    const pool = await api.ok<{ id: string }>('POST', '/v1/pools', { name: 'web' });
    for (const h of HOSTS.filter((x) => x.kind === 'backend'))
      await api.ok('POST', `/v1/pools/${pool.id}/backends`, { address: h.underlay, port: 80 });
    await api.ok('POST', '/v1/vips', {
      name: 'web',
      address: '198.19.0.10',
      protocol: 'tcp',
      port: 80,
      poolId: pool.id,
      bypass: { enabled: true, sourceCidrs: ['198.18.0.0/24'] },
    });
    script = await fetchInstaller(api.url);
  });

  afterAll(async () => {
    if (prefix) labDown(prefix);
    await api.stop();
    rmSync(bundleDir, { recursive: true, force: true });
  });

  it('refuses unknown flags and a first install without a token with one line and a non-zero exit', () => {
    for (const [args, msg] of [
      [['--bogus'], 'unknown option --bogus'],
      [['--token'], '--token needs a value'],
      [['--token', 'nope'], '--token is not a join token'],
      [['--underlay', '300.1.1.1'], 'is not an IPv4 address'],
      [['--root', '/tmp/x'], 'add --no-systemd'],
      [
        ['--root', `/tmp/sls-install-${randomBytes(3).toString('hex')}`, '--no-systemd'],
        '--token <join token> is required',
      ],
    ] as [string[], string][]) {
      const r = spawnSync('bash', ['-s', '--', ...args], { input: script, encoding: 'utf8' });
      expect(r.status, args.join(' ')).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(msg);
    }
  });

  it('installs, enrolls and converges every lab agent, which then forwards through the VIP', async () => {
    const tokens = await api.labJoinTokens();
    prefix = newPrefix();
    api.prefix = prefix;
    const t0 = Date.now();
    await labUpWithControl(prefix, {
      apiUrl: api.url,
      ...tokens,
      install: true,
    });
    const rows = await converged(20_000);
    console.log(`7 agents installed by install.sh, enrolled and converged in ${Date.now() - t0} ms`);
    const version = readFileSync(join(import.meta.dirname, '..', '..', 'dist', 'bundle', 'version'), 'utf8');
    expect(rows.every((a) => a.agentVersion === version.trim())).toBe(true);
    for (const h of HOSTS) {
      const root = installRoot(prefix, h.name);
      const env = join(root, 'etc', 'slipstream', 'agent.env');
      expect(mode(env)).toBe(0o600);
      expect(mode(installedStateFile(prefix, h.name))).toBe(0o600);
      expect(readFileSync(env, 'utf8')).toContain(`SLIPSTREAM_AGENT_NAME=${prefix}-${h.name}\n`);
      // Enrolled: the join token is no longer kept on the host.
      expect(readFileSync(env, 'utf8')).toContain('SLIPSTREAM_JOIN_TOKEN=\n');
      // The process is the installed bundle, not this checkout's dist.
      const cmdline = readFileSync(`/proc/${agentPid(prefix, h.name)}/cmdline`, 'utf8');
      expect(cmdline).toContain(join(root, 'opt', 'slipstream', 'lib', 'slipstream-agent.mjs'));
      // The SYN-ACK hold helper this checkout built, next to the bundle (where the agent looks for it).
      const helper = join(root, 'opt', 'slipstream', 'lib', 'slipstream-synack-hold');
      expect(mode(helper)).toBe(0o755);
      expect(readFileSync(helper).equals(readFileSync(join(bundleDir, 'slipstream-synack-hold')))).toBe(true);
    }
    const r = await client<{ status: number }>(prefix, 'c1', 'http', '198.19.0.10', '80');
    expect(r.status).toBe(200);
  });

  it('re-running upgrades in place: new bundle, restart, same credential and agent', async () => {
    const state = readFileSync(installedStateFile(prefix, 'b1'), 'utf8');
    const before = (await api.agents()).find((a) => a.name === `${prefix}-b1`)!;
    expect(agentPid(prefix, 'b1')).not.toBeNull();
    // A new release: the API serves changed bytes and the script it renders now names their checksum.
    appendFileSync(join(bundleDir, 'slipstream-agent.mjs'), '\n// release 2 (install test)\n');
    const next = await fetchInstaller(api.url);
    const sum = (t: string) => /^BUNDLE_SHA256='([0-9a-f]{64})'$/m.exec(t)?.[1];
    expect(sum(next)).not.toBe(sum(script));
    const out = installLabAgent(prefix, b1, next, []);
    expect(out).toContain('already enrolled: kept the credential');
    expect(out).toContain('--no-systemd: would run: systemctl daemon-reload && systemctl enable --now');
    expect(agentPid(prefix, 'b1')).toBeNull();
    const installed = join(installRoot(prefix, 'b1'), 'opt', 'slipstream', 'lib', 'slipstream-agent.mjs');
    expect(readFileSync(installed, 'utf8')).toContain('// release 2 (install test)');
    expect(readFileSync(installedStateFile(prefix, 'b1'), 'utf8')).toBe(state);
    startInstalledAgent(prefix, 'b1');
    // Presence outlives the old process for a while: wait for the new one's own metrics listener.
    await waitUntil('the upgraded b1 agent serving metrics', () =>
      metricsText(prefix, 'b1').includes('slipstream_config_revision'),
    );
    const rows = await converged(20_000);
    expect(rows.find((a) => a.name === `${prefix}-b1`)!.id).toBe(before.id);
    expect(rows).toHaveLength(HOSTS.length);
    script = next;
  });

  it('--uninstall stops the agent, removes its files and kernel state in its namespace, revokes it', async () => {
    expect(inNs('b1', ['nft', 'list', 'table', 'ip', NFT_TABLE]).status).toBe(0);
    const row = (await api.agents()).find((a) => a.name === `${prefix}-b1`)!;
    const root = installRoot(prefix, 'b1');
    const file = join(labDir(prefix), 'install.sh');
    // Inside the namespace: the kernel cleanup acts on the namespace the script runs in.
    const out = nsRun(prefix, 'b1', ['bash', file, '--uninstall', '--root', root, '--no-systemd']);
    expect(out).toContain(`left: agent ${row.id} is revoked in the API`);
    expect(out).toContain("uninstalled; the agent's credential is revoked in the API");
    expect(agentPid(prefix, 'b1')).toBeNull();
    const after = await api.ok<{ revokedAt: string | null }>('GET', `/v1/agents/${row.id}`);
    expect(after.revokedAt).not.toBeNull();
    for (const p of ['etc/slipstream', 'var/lib/slipstream', 'opt/slipstream', 'run/slipstream'])
      expect(existsSync(join(root, p)), p).toBe(false);
    expect(inNs('b1', ['nft', 'list', 'table', 'ip', NFT_TABLE]).status).not.toBe(0);
    expect(inNs('b1', ['ip', 'link', 'show', TUNNEL_DEV]).status).not.toBe(0);
    expect(inNs('b1', ['ip', '-4', 'addr', 'show', 'dev', 'lo']).out).not.toContain('198.19.0.10');
    // The other agents are untouched.
    expect(inNs('b2', ['nft', 'list', 'table', 'ip', NFT_TABLE]).status).toBe(0);
  });

  it('installs nothing when the bundle does not match the checksum in the script', () => {
    const tampered = script.replace(/^BUNDLE_SHA256='[0-9a-f]{64}'$/m, `BUNDLE_SHA256='${'0'.repeat(64)}'`);
    expect(tampered).not.toBe(script);
    const x = { name: 'x1', kind: 'backend' as const, underlay: '198.18.0.99' };
    const token = `sls_j_${'A'.repeat(43)}`;
    expect(() => installLabAgent(prefix, x, tampered, ['--token', token])).toThrow(
      /checksum mismatch for the agent bundle: got [0-9a-f]{64}, expected 0{64}; nothing was installed/,
    );
    expect(existsSync(installRoot(prefix, 'x1'))).toBe(false);
    // The untampered script, for contrast, does install there.
    installLabAgent(prefix, x, script, ['--token', token]);
    expect(
      existsSync(join(installRoot(prefix, 'x1'), 'opt', 'slipstream', 'lib', 'slipstream-agent.mjs')),
    ).toBe(true);
  });

  it("installs the API's own Node runtime, checked, with --download-node; refuses a --node below 20", () => {
    const root = mkdtempSync(join(tmpdir(), 'sls-install-node-'));
    const token = `sls_j_${'B'.repeat(43)}`;
    const run = (...args: string[]) =>
      spawnSync('bash', ['-s', '--', '--root', root, '--no-systemd', '--token', token, ...args], {
        input: script,
        encoding: 'utf8',
      });
    try {
      // A Node that is too old (here: not Node at all) is refused before anything is written.
      const old = run('--node', '/bin/false');
      expect(old.status).toBe(1);
      expect(old.stderr).toContain('--node /bin/false is not Node >= 20');
      expect(existsSync(join(root, 'opt'))).toBe(false);
      const r = run('--download-node');
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain(`fetching Node ${process.versions.node} from the API`);
      const node = join(root, 'opt', 'slipstream', 'node', 'bin', 'node');
      expect(mode(node)).toBe(0o755);
      expect(spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim()).toBe(process.version);
      expect(readFileSync(join(root, 'etc', 'slipstream', 'agent.env'), 'utf8')).toContain(
        `SLIPSTREAM_NODE=${node}\n`,
      );
      // The installed bundle runs on it.
      const bundle = join(root, 'opt', 'slipstream', 'lib', 'slipstream-agent.mjs');
      const help = spawnSync(node, [bundle, 'nonsense'], { encoding: 'utf8' });
      expect(help.stderr).toContain('unknown command nonsense');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

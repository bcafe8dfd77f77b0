// What a fresh Debian/Ubuntu machine with only Node 20 and npm needs before Slipstream builds:
// Debian packages (when root) and the npm dependencies. Built-in modules only: this runs before `npm ci`.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { step, fail } from './progress.mjs';

export const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');

export const TELEMETRY_OFF = {
  NEXT_TELEMETRY_DISABLED: '1',
  TURBO_TELEMETRY_DISABLED: '1',
  CHECKPOINT_DISABLE: '1',
  PRISMA_SCHEMA_ENGINE_BINARY: '/bin/false',
  DO_NOT_TRACK: '1',
};
Object.assign(process.env, TELEMETRY_OFF);

/** command -> Debian package that provides it */
const APT = {
  'redis-server': 'redis-server',
  nft: 'nftables',
  ip: 'iproute2',
  conntrack: 'conntrack',
  iperf3: 'iperf3',
  chromium: 'chromium',
  tcpdump: 'tcpdump',
  iptables: 'iptables',
  // The agent's SYN-ACK hold helper is C (apps/agent/native); libc6-dev brings the kernel's uapi headers.
  cc: 'gcc libc6-dev',
};

export const isRoot = () => process.getuid?.() === 0;

export function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Installs the Debian packages behind `commands` that are missing; needs root and apt-get. */
export function ensureAptPackages(commands) {
  const missing = commands.filter((c) => !have(c)).flatMap((c) => APT[c].split(' '));
  if (missing.length === 0) return;
  if (!isRoot() || !have('apt-get')) {
    fail(
      `missing ${missing.join(', ')}: install them (apt-get install -y ${missing.join(' ')}) or run as root so this script can`,
    );
  }
  step(`installing Debian packages: ${missing.join(' ')}`);
  run('apt-get', ['update', '-qq']);
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

/** `npm ci` when node_modules is missing or older than package-lock.json. */
export function ensureNodeModules() {
  const marker = join(ROOT, 'node_modules', '.package-lock.json');
  const lock = join(ROOT, 'package-lock.json');
  if (existsSync(marker) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs) return;
  step('installing npm dependencies (npm ci)');
  run('npm', ['ci', '--no-audit', '--no-fund'], { cwd: ROOT });
}

export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: ROOT, ...opts });
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
}

export function output(cmd, args) {
  return execFileSync(cmd, args, { encoding: 'utf8', cwd: ROOT }).trim();
}

export function checkNode() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < 20 || (major === 20 && minor < 19))
    fail(`Node ${process.versions.node} is too old: need >= 20.19`);
  if (process.platform !== 'linux') fail(`Slipstream runs on Linux (this is ${process.platform})`);
}

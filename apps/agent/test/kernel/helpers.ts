/** Shared helpers of the kernel tests: a lab with a unique prefix, traffic clients, metrics, config edits. */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { DesiredState } from '../../src/config/desired-state.js';
import { agentPid, hostConfigFile, labDown, labUp, metricsText, nsName, sleep } from '../../src/lab/lab.js';

const CLIENT = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'client.mjs');

export const isRoot = process.getuid?.() === 0;

export function newPrefix(): string {
  return `slt${randomBytes(3).toString('hex')}`;
}

const active = new Set<string>();
process.on('exit', () => {
  // Safety net: a crashed test run must not leave namespaces behind.
  for (const p of active) {
    try {
      labDown(p);
    } catch {
      // best effort
    }
  }
});

export async function startLab(): Promise<string> {
  const prefix = newPrefix();
  active.add(prefix);
  await labUp(prefix);
  return prefix;
}

export function stopLab(prefix: string): void {
  labDown(prefix);
  active.delete(prefix);
}

export function nsRun(prefix: string, host: string, cmd: string[]): string {
  return execFileSync('ip', ['netns', 'exec', nsName(prefix, host), ...cmd], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Runs the traffic client to completion and returns its last JSON line. */
export function client<T = Record<string, unknown>>(
  prefix: string,
  host: string,
  ...args: string[]
): Promise<T> {
  return new Promise((resolve, reject) => {
    execFile(
      'ip',
      ['netns', 'exec', nsName(prefix, host), process.execPath, CLIENT, ...args],
      { encoding: 'utf8', timeout: 90_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout) => {
        if (err) return reject(err);
        const lines = stdout.trim().split('\n');
        resolve(JSON.parse(lines[lines.length - 1]!) as T);
      },
    );
  });
}

export interface FlowProgress {
  sent: number;
  echoed: number;
  error: string | null;
  done?: boolean;
}

/** The traffic fixture in a lab namespace, in the background, its stdout piped. */
function spawnClient(prefix: string, host: string, args: string[]) {
  return spawn('ip', ['netns', 'exec', nsName(prefix, host), process.execPath, CLIENT, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

/** Starts a long TCP echo flow in the background; `latest` follows its progress lines. */
export function echoFlow(
  prefix: string,
  host: string,
  vip: string,
  port: number,
  localPort: number,
  durationMs: number,
  endWith: 'fin' | 'rst' = 'fin',
) {
  const p = spawnClient(prefix, host, [
    'echo-flow',
    vip,
    String(port),
    String(localPort),
    String(durationMs),
    '20',
    endWith,
  ]);
  const state = { latest: { sent: 0, echoed: 0, error: null } as FlowProgress, connected: false };
  const done = new Promise<FlowProgress>((resolve) => {
    createInterface({ input: p.stdout }).on('line', (l) => {
      const o = JSON.parse(l) as FlowProgress & { connected?: boolean };
      if (o.connected) state.connected = true;
      else state.latest = o;
      if (o.done) resolve(o);
    });
    p.on('exit', () => resolve(state.latest));
  });
  return { state, done, kill: () => p.kill() };
}

/** An idle TCP connection from `host` to `vip:port`, held open until killed; resolves its local port. */
export function holdFlow(prefix: string, host: string, vip: string, port: number, holdMs = 60_000) {
  const p = spawnClient(prefix, host, ['tcp-hold', vip, String(port), String(holdMs)]);
  const localPort = new Promise<number>((resolve, reject) => {
    createInterface({ input: p.stdout }).on('line', (l) => {
      const o = JSON.parse(l) as { localPort?: number; error?: string };
      if (o.localPort) resolve(o.localPort);
      else reject(new Error(`tcp-hold to ${vip}:${port} from ${host}: ${o.error ?? l}`));
    });
    p.on('exit', () => reject(new Error(`tcp-hold from ${host} exited`)));
  });
  return { localPort, kill: () => p.kill() };
}

export function metric(
  prefix: string,
  host: string,
  name: string,
  labels: Record<string, string> = {},
): number {
  const text = metricsText(prefix, host);
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const ls = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => ls.includes(`${k}="${v}"`))) total += Number(m[3]);
  }
  return total;
}

export function readHostConfig(prefix: string, host: string): DesiredState {
  return JSON.parse(readFileSync(hostConfigFile(prefix, host), 'utf8')) as DesiredState;
}

/** Edits agents' desired state as the control plane would, and waits until each agent applied it. */
export async function updateConfig(
  prefix: string,
  hosts: string[],
  mutate: (s: DesiredState) => void,
): Promise<void> {
  for (const h of hosts) {
    const s = readHostConfig(prefix, h);
    mutate(s);
    s.revision += 1;
    const f = hostConfigFile(prefix, h);
    writeFileSync(`${f}.tmp`, JSON.stringify(s, null, 2));
    renameSync(`${f}.tmp`, f);
    const pid = agentPid(prefix, h);
    // `ip netns exec` execs the agent in place, so the recorded pid is the agent itself.
    if (pid !== null) process.kill(pid, 'SIGHUP');
    await waitUntil(
      `${h} applies revision ${s.revision}`,
      () => metric(prefix, h, 'slipstream_config_revision') === s.revision,
    );
  }
}

export async function waitUntil(what: string, fn: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (fn()) return;
    await sleep(50);
  }
  throw new Error(`timed out: ${what}`);
}

export function nftElements(prefix: string, host: string, map: string): string {
  return nsRun(prefix, host, ['nft', 'list', map === 'bo' ? 'set' : 'map', 'ip', 'slipstream', map]);
}

export { sleep };

/** Stops, freezes and restarts one lab backend's HTTP service, and reads a mux's Maglev table: health tests. */
import { execFileSync, spawn } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { labDir, nsName } from '../../src/lab/lab.js';
import { backendHosts, BACKEND_MARK_BASE, vipTag } from '../../src/dataplane/render.js';
import type { DesiredState } from '../../src/config/desired-state.js';
import { nsRun } from './helpers.js';

const HTTP_SERVER = join(import.meta.dirname, '..', '..', 'dist', 'lab-services', 'http-server.js');

/** Pids of the lab HTTP service in a backend's namespace (found by its command line). */
export function httpServerPids(prefix: string, host: string): number[] {
  let pids: string[];
  try {
    pids = execFileSync('ip', ['netns', 'pids', nsName(prefix, host)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean);
  } catch {
    return [];
  }
  return pids.map(Number).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(HTTP_SERVER);
    } catch {
      return false;
    }
  });
}

export function stopHttpServer(prefix: string, host: string): void {
  const pids = httpServerPids(prefix, host);
  if (pids.length === 0) throw new Error(`no HTTP service running on ${host}`);
  for (const pid of pids) process.kill(pid, 'SIGKILL');
}

/**
 * Freezes (SIGSTOP) or thaws (SIGCONT) one backend's HTTP service: a hung backend. The kernel still
 * completes handshakes and keeps established connections open, but no request is answered.
 */
export function pauseHttpServer(prefix: string, host: string, paused: boolean): void {
  const pids = httpServerPids(prefix, host);
  if (pids.length === 0) throw new Error(`no HTTP service running on ${host}`);
  for (const pid of pids) process.kill(pid, paused ? 'SIGSTOP' : 'SIGCONT');
}

/** Starts the service as the lab does (labDown removes it with the namespace's other processes). */
export function startHttpServer(prefix: string, host: string): void {
  const log = openSync(join(labDir(prefix), `http-server-${host}.log`), 'a');
  const p = spawn(
    'ip',
    ['netns', 'exec', nsName(prefix, host), process.execPath, HTTP_SERVER, '--port', '80', '--name', host],
    { detached: true, stdio: ['ignore', log, log] },
  );
  p.unref();
}

/** The backend hosts that own at least one slot of a VIP's Maglev table on a mux. */
export function maglevBackends(prefix: string, mux: string, state: DesiredState, vipName: string): string[] {
  const vip = state.vips.find((v) => v.name === vipName);
  if (!vip) throw new Error(`no VIP ${vipName}`);
  const out = JSON.parse(
    nsRun(prefix, mux, ['nft', '-j', 'list', 'map', 'ip', 'slipstream', `mg_${vipTag(vip)}`]),
  ) as { nftables: { map?: { elem?: [number, number][] } }[] };
  const marks = new Set(out.nftables.flatMap((x) => x.map?.elem ?? []).map((e) => e[1]));
  return backendHosts(state).filter((_h, j) => marks.has(BACKEND_MARK_BASE + j));
}

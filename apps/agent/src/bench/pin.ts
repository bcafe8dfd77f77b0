/**
 * CPU pinning for the benchmark's throughput and latency runs. On a small VM, whether the traffic
 * generator and the server share a CPU or sit on two decides a 64-byte round trip more than the path
 * does (measured on the 2-vCPU lab machine: about 26 us on one CPU, 70 us across two, and each run lands
 * on either at random). Pinning both ends of every path to the same CPU leaves the path as the only
 * difference between direct, mux and bypass. Uses util-linux `taskset`; affinity is restored afterwards.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** The CPU every measured process is pinned to. */
export const PIN_CPU = 0;

/** Prefix for a command run in a namespace so it starts on PIN_CPU. */
export const pinnedCommand = (cmd: string, args: readonly string[]): [string, string[]] => [
  'taskset',
  ['-c', String(PIN_CPU), cmd, ...args],
];

/** Parses `taskset -p PID` ("pid 123's current affinity mask: 3") into the hex mask. */
export function parseAffinityMask(out: string): string {
  const m = /current affinity mask:\s*([0-9a-f,]+)\s*$/i.exec(out.trim());
  if (!m) throw new Error(`unexpected taskset output: ${out.trim().slice(0, 120)}`);
  return m[1]!.replace(/,/g, '');
}

/** Processes of a network namespace whose command line matches `match`. */
export function namespacePids(netns: string, match: (cmdline: string) => boolean): number[] {
  const out = execFileSync('ip', ['netns', 'pids', netns], { encoding: 'utf8' });
  const pids: number[] = [];
  for (const line of out.split('\n')) {
    const pid = Number(line.trim());
    if (!Number.isInteger(pid) || pid <= 0) continue;
    try {
      if (match(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '))) pids.push(pid);
    } catch {
      // gone since `ip netns pids` listed it
    }
  }
  return pids;
}

/**
 * Pins every thread of each process to PIN_CPU and returns a function that puts the original masks
 * back. Any failure undoes what was done and throws.
 */
export function pinProcesses(pids: readonly number[]): () => void {
  const saved: { pid: number; mask: string }[] = [];
  const restore = (): void => {
    for (const { pid, mask } of saved) {
      try {
        execFileSync('taskset', ['-a', '-p', mask, String(pid)], { stdio: 'ignore' });
      } catch {
        // exited: nothing to restore
      }
    }
  };
  try {
    for (const pid of pids) {
      const mask = parseAffinityMask(execFileSync('taskset', ['-p', String(pid)], { encoding: 'utf8' }));
      execFileSync('taskset', ['-a', '-p', '-c', String(PIN_CPU), String(pid)], { stdio: 'ignore' });
      saved.push({ pid, mask });
    }
  } catch (err) {
    restore();
    throw err;
  }
  return restore;
}

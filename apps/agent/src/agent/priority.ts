/**
 * Scheduling priority of the agent. Its redirect path is latency-bound: a flow's packets go through the
 * mux until the client's agent has read, checked and installed the redirect, so on a busy host every
 * millisecond the agent waits for a CPU is mux traffic. The agent therefore runs at a raised priority
 * (nice -10 by default). It needs little CPU (about 0.3 ms per bypassed flow), so it rarely takes much
 * from the host's own work. Linux keeps a nice value per thread: every thread that exists is set, and
 * threads and child processes (tcpdump, nft) started later inherit it from the main thread.
 */
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';

export const DEFAULT_NICE = -10;

/** Parses a nice value (-20..19); throws a one-line error for anything else. */
export function parseNice(raw: string): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(n) || n < -20 || n > 19)
    throw new Error(`--nice must be an integer from -20 to 19, got "${raw}"`);
  return n;
}

/** Sets every thread of this process to `nice`; returns how many threads were set, or the error. */
export function setProcessNice(nice: number): { threads: number } | { error: string } {
  let threads = 0;
  try {
    for (const tid of readdirSync('/proc/self/task')) {
      try {
        setPriority(Number(tid), nice);
        threads++;
      } catch (err) {
        // A thread that exited between the listing and the call is no failure.
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
    }
  } catch (err) {
    return { error: (err as Error).message };
  }
  return { threads };
}

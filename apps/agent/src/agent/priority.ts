/**
 * Scheduling priority of the agent. Its redirect path is latency-bound: a flow's packets go through the
 * mux until the client's agent has read, checked and installed the redirect, so on a busy host every
 * millisecond the agent waits for a CPU is mux traffic. The agent therefore runs at a raised priority
 * (nice -10 by default). It needs little CPU (about 0.3 ms per bypassed flow), so it rarely takes much
 * from the host's own work. Linux keeps a nice value per thread: every thread that exists is set, and
 * threads and child processes (tcpdump, nft) started later inherit it from the main thread.
 *
 * With autogroup scheduling (kernel.sched_autogroup_enabled, on by default in many kernels) a thread's nice
 * only weighs against its own session's threads: the CPU is first shared equally between sessions, and an
 * agent started in a session of its own (a daemon, the lab's agents) gained nothing from nice -10. The
 * session's group gets the same value (/proc/self/autogroup). In the lab's flat-out time-to-bypass run this
 * took the p99 from 8.7-15.8 ms to 4.3-8.9 ms (see the closing note of stop 11).
 */
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';
import { setAutogroupNice } from '../dataplane/kernel.js';

export const DEFAULT_NICE = -10;

/** Parses a nice value (-20..19); throws a one-line error for anything else. */
export function parseNice(raw: string): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(n) || n < -20 || n > 19)
    throw new Error(`--nice must be an integer from -20 to 19, got "${raw}"`);
  return n;
}

/**
 * Sets every thread of this process to `nice`, and its autogroup too where the kernel has one. Returns how
 * many threads were set and what became of the autogroup ('set', 'none', or why it could not be set: the
 * threads' priority holds either way), or the error that stopped the threads being set.
 */
export function setProcessNice(nice: number): { threads: number; autogroup: string } | { error: string } {
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
  return { threads, autogroup: setAutogroupNice('self', nice) };
}

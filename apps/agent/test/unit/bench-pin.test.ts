import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAffinityMask, PIN_CPU, pinnedCommand, pinProcesses } from '../../src/bench/pin.js';

const allowed = (pid: number): string =>
  /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]!;

/** Runs `fn` with a live process (`sleep`) and its CPU list before anything was pinned. */
async function withProcess(fn: (pid: number, before: string) => void): Promise<void> {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    await new Promise((r) => child.once('spawn', r));
    fn(child.pid!, allowed(child.pid!));
  } finally {
    child.kill();
  }
}

describe('bench CPU pinning', () => {
  it('parses taskset -p output', () => {
    expect(parseAffinityMask("pid 4242's current affinity mask: 3\n")).toBe('3');
    expect(parseAffinityMask("pid 1's current affinity mask: ffffffff,ffffffff")).toBe('ffffffffffffffff');
    expect(() => parseAffinityMask('taskset: failed to get pid 9 affinity')).toThrow(/unexpected/);
  });

  it('prefixes a command with taskset', () => {
    expect(pinnedCommand('iperf3', ['-c', 'x'])).toEqual([
      'taskset',
      ['-c', String(PIN_CPU), 'iperf3', '-c', 'x'],
    ]);
  });

  it('pins a live process and puts its mask back', () =>
    withProcess((pid, before) => {
      const restore = pinProcesses([pid]);
      expect(allowed(pid)).toBe(String(PIN_CPU));
      restore();
      expect(allowed(pid)).toBe(before);
    }));

  it('undoes what it pinned when a later process cannot be pinned', () =>
    withProcess((pid, before) => {
      expect(() => pinProcesses([pid, 2 ** 22 + 7])).toThrow();
      expect(allowed(pid)).toBe(before);
    }));
});

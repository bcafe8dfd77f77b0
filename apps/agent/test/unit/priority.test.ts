import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseNice } from '../../src/agent/priority.js';

const PRIORITY = join(dirname(fileURLToPath(import.meta.url)), '../../dist/agent/priority.js');

describe('agent priority', () => {
  it('accepts nice values from -20 to 19 and rejects anything else with a clear message', () => {
    expect(parseNice('-10')).toBe(-10);
    expect(parseNice('19')).toBe(19);
    expect(parseNice('0')).toBe(0);
    for (const bad of ['', ' ', '-21', '20', '1.5', 'high'])
      expect(() => parseNice(bad)).toThrow(/--nice must be an integer from -20 to 19/);
  });

  it('sets every thread of the process and its autogroup, and child processes (tcpdump, nft) inherit it', () => {
    // A child process in a session of its own (setsid), so this test changes neither its own priority nor
    // its session's autogroup; 7 is allowed without root.
    const script = `
      import { existsSync, readdirSync, readFileSync } from 'node:fs';
      import { setProcessNice } from ${JSON.stringify(PRIORITY)};
      const r = setProcessNice(7);
      const { execFileSync } = await import('node:child_process');
      const child = Number(execFileSync('sh', ['-c', 'cat /proc/$$/stat'], { encoding: 'utf8' }).split(') ')[1].split(' ')[16]);
      const nice = readdirSync('/proc/self/task').map((t) =>
        Number(readFileSync('/proc/self/task/' + t + '/stat', 'utf8').split(') ')[1].split(' ')[16]));
      const group = existsSync('/proc/self/autogroup') ? readFileSync('/proc/self/autogroup', 'utf8') : null;
      console.log(JSON.stringify({ r, nice, child, group }));`;
    const out = JSON.parse(
      execFileSync('setsid', ['--wait', process.execPath, '--input-type=module', '-e', script], {
        encoding: 'utf8',
      }),
    ) as { r: { threads: number; autogroup: string }; nice: number[]; child: number; group: string | null };
    expect(out.r.threads).toBeGreaterThan(1);
    expect(out.nice).toHaveLength(out.r.threads);
    expect(new Set(out.nice)).toEqual(new Set([7]));
    expect(out.child).toBe(7);
    // A kernel without autogroup support has no such file; then there is nothing to set.
    if (out.group === null) expect(out.r.autogroup).toBe('none');
    else {
      expect(out.r.autogroup).toBe('set');
      expect(out.group).toMatch(/^\/autogroup-\d+ nice 7$/m);
    }
  });
});

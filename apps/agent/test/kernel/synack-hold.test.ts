/**
 * The SYN-ACK hold helper (native/synack-hold.c) against the real kernel, in a namespace of the test's own:
 * the agent's iptables rule (kernel.ts HOLD_RULE) queues marked SYN-ACKs to it; it holds them for the
 * source's hold time, lets one go at once when told the flow is bypassed, and never keeps a packet when it
 * is not there to: stdin closed or the helper killed, handshakes complete unheld.
 */
import { execFile, execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultHelperPath, parseHoldStats, type HoldStats } from '../../src/agent/synack-hold.js';
import { HOLD_RULE } from '../../src/dataplane/kernel.js';
import { HOLD_MARK, HOLD_QUEUE } from '../../src/dataplane/render.js';
import { isRoot, sleep } from './helpers.js';

const NS = `slh${randomBytes(3).toString('hex')}`;
const HELPER = defaultHelperPath();
const ns = (...cmd: string[]): string =>
  execFileSync('ip', ['netns', 'exec', NS, ...cmd], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** Connects from `localPort` to 127.0.0.1:`port` inside the namespace; resolves the connect time in ms. */
async function connectMs(port: number, localPort: number): Promise<number> {
  const script = `const s=require('net').connect({host:'127.0.0.1',port:${port},localPort:${localPort}});const t=performance.now();s.on('connect',()=>{console.log(performance.now()-t);s.destroy()});s.on('error',e=>{console.error(e.message);process.exit(1)})`;
  const { stdout } = await promisify(execFile)('ip', ['netns', 'exec', NS, process.execPath, '-e', script]);
  return Number(stdout.trim());
}

function startHelper(): { child: ChildProcessWithoutNullStreams; lines: string[]; bound: Promise<void> } {
  const child = spawn('ip', ['netns', 'exec', NS, HELPER, String(HOLD_QUEUE)], { stdio: 'pipe' });
  const lines: string[] = [];
  createInterface({ input: child.stdout }).on('line', (l) => lines.push(l));
  const bound = new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stderr }).on('line', (l) => {
      if (l.includes('bound to queue')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`helper exited ${code}`)));
  });
  return { child, lines, bound };
}

/** Asks the helper for its counts and waits for the answer. */
async function stats(h: ReturnType<typeof startHelper>): Promise<HoldStats> {
  const n = h.lines.length;
  h.child.stdin.write('s\n');
  for (let i = 0; i < 200 && h.lines.length === n; i++) await sleep(5);
  const s = parseHoldStats(h.lines.at(-1) ?? '');
  if (!s) throw new Error(`no stats from the helper: ${h.lines.at(-1)}`);
  return s;
}

describe.skipIf(!isRoot || !existsSync(HELPER))('SYN-ACK hold helper', () => {
  let server: ChildProcessWithoutNullStreams | null = null;
  beforeAll(async () => {
    execFileSync('ip', ['netns', 'add', NS]);
    ns('ip', 'link', 'set', 'lo', 'up');
    // SYN-ACKs from port 5601 get the hold mark (the agent's `rep` rule does this for its VIPs); 5602 not.
    ns('nft', `add table ip t; add chain ip t o { type filter hook output priority 0; }`);
    ns(
      'nft',
      `add rule ip t o tcp sport 5601 tcp flags & (syn | ack) == syn | ack meta mark set ${HOLD_MARK}`,
    );
    ns('iptables', '-t', 'mangle', '-A', 'POSTROUTING', ...HOLD_RULE);
    server = spawn(
      'ip',
      [
        'netns',
        'exec',
        NS,
        process.execPath,
        '-e',
        `for (const p of [5601, 5602]) require('net').createServer((s) => s.destroy()).listen(p, '127.0.0.1', () => console.log(p))`,
      ],
      { stdio: 'pipe' },
    );
    let up = 0;
    await new Promise<void>((resolve) =>
      createInterface({ input: server!.stdout }).on('line', () => ++up === 2 && resolve()),
    );
  });
  afterAll(() => {
    server?.kill();
    execFileSync('ip', ['netns', 'del', NS]);
  });

  it('holds marked SYN-ACKs for their source hold time, lets a released flow go at once, passes the rest', async () => {
    const h = startHelper();
    await h.bound;
    try {
      h.child.stdin.write('cap 127.0.0.1 5601 300\n');
      // Unmarked: never queued.
      expect(await connectMs(5602, 42001)).toBeLessThan(100);
      // Marked: held the whole 300 ms (nobody releases it).
      expect(await connectMs(5601, 42002)).toBeGreaterThanOrEqual(290);
      // Released before its SYN-ACK was even queued: the helper remembers it briefly.
      h.child.stdin.write('r 127.0.0.1 42003\n');
      await new Promise((r) => setTimeout(r, 20));
      expect(await connectMs(5601, 42003)).toBeLessThan(100);
      // Released while held (once the helper says it holds it).
      const held = connectMs(5601, 42004);
      const before = (await stats(h)).held;
      for (let i = 0; i < 100 && (await stats(h)).held === before; i++) await sleep(10);
      h.child.stdin.write('r 127.0.0.1 42004\n');
      expect(await held).toBeLessThan(250);
      // No hold time for a source: passes.
      h.child.stdin.write('cap 127.0.0.1 5601 0\n');
      expect(await connectMs(5601, 42005)).toBeLessThan(100);
      expect(await stats(h)).toEqual({ held: 2, released: 1, expired: 1, early: 1, passed: 1 });
    } finally {
      h.child.kill();
    }
  });

  it('lets held SYN-ACKs go on SIGTERM (a service stop signals every process of the agent)', async () => {
    const h = startHelper();
    await h.bound;
    h.child.stdin.write('cap 127.0.0.1 5601 5000\n');
    const held = connectMs(5601, 42021);
    const before = (await stats(h)).held;
    for (let i = 0; i < 100 && (await stats(h)).held === before; i++) await sleep(10);
    h.child.kill('SIGTERM');
    // Held 5 s unless let go; a dropped SYN-ACK would come again only with the server's retransmit (1 s).
    expect(await held).toBeLessThan(900);
    await new Promise<void>((resolve) =>
      h.child.exitCode !== null ? resolve() : h.child.on('exit', () => resolve()),
    );
    expect(h.child.exitCode).toBe(0);
  });

  it('lets held SYN-ACKs go when its stdin closes, and the kernel passes them when it is gone', async () => {
    const h = startHelper();
    await h.bound;
    h.child.stdin.write('cap 127.0.0.1 5601 5000\n');
    const held = connectMs(5601, 42011);
    setTimeout(() => h.child.stdin.end(), 100);
    expect(await held).toBeLessThan(1000);
    await new Promise<void>((resolve) =>
      h.child.exitCode !== null ? resolve() : h.child.on('exit', () => resolve()),
    );
    // No helper bound to the queue: `--queue-bypass` lets the packet through.
    expect(await connectMs(5601, 42012)).toBeLessThan(100);
  });
});

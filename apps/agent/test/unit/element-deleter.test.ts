import { describe, expect, it } from 'vitest';
import { ElementDeleter } from '../../src/agent/element-deleter.js';

function recorder(failWhen: (cmd: string) => boolean = () => false) {
  const cmds: string[] = [];
  const exec = (cmd: string): Promise<void> => {
    cmds.push(cmd);
    return failWhen(cmd) ? Promise.reject(new Error('No such file or directory')) : Promise.resolve();
  };
  return { cmds, exec };
}

describe('ElementDeleter', () => {
  it('sends the deletions of one period as one command, one clause per set, each key once', async () => {
    const r = recorder();
    const d = new ElementDeleter(r.exec, 'slipstream', 20);
    const yes = (): boolean => true;
    const done = [
      d.delete({ set: 'fo', key: '198.19.0.10 . tcp . 40000 . 80', stillWanted: yes }),
      d.delete({ set: 'bo', key: '198.19.0.10 . 198.18.0.11 . tcp . 80 . 40001', stillWanted: yes }),
      d.delete({ set: 'fo', key: '198.19.0.10 . tcp . 40002 . 80', stillWanted: yes }),
      d.delete({ set: 'fo', key: '198.19.0.10 . tcp . 40002 . 80', stillWanted: yes }),
    ];
    expect(r.cmds).toEqual([]);
    await Promise.all(done);
    expect(r.cmds).toEqual([
      'delete element ip slipstream fo { 198.19.0.10 . tcp . 40000 . 80, 198.19.0.10 . tcp . 40002 . 80 }; ' +
        'delete element ip slipstream bo { 198.19.0.10 . 198.18.0.11 . tcp . 80 . 40001 }',
    ]);
  });

  it('asks each guard when the batch is sent, not when the deletion was queued', async () => {
    const r = recorder();
    const d = new ElementDeleter(r.exec, 't', 20);
    let reinstalled = false;
    const p = d.delete({ set: 'ri', key: 'a', stillWanted: () => !reinstalled });
    const q = d.delete({ set: 'ri', key: 'b', stillWanted: () => true });
    reinstalled = true; // the flow came back before the flush: its new element must stay
    expect(await Promise.all([p, q])).toEqual([false, true]);
    expect(r.cmds).toEqual(['delete element ip t ri { b }']);
  });

  it('retries a failed batch in halves, so only the part holding what is already gone is split further', async () => {
    const r = recorder((cmd) => cmd.includes('gone'));
    const d = new ElementDeleter(r.exec, 't', 5);
    const keys = ['a', 'b', 'c', 'd', 'e', 'gone', 'g', 'h'];
    const sent = await Promise.all(keys.map((key) => d.delete({ set: 'fo', key, stillWanted: () => true })));
    expect(sent.every(Boolean)).toBe(true);
    expect(r.cmds).toEqual([
      'delete element ip t fo { a, b, c, d, e, gone, g, h }',
      'delete element ip t fo { a, b, c, d }',
      'delete element ip t fo { e, gone, g, h }',
      'delete element ip t fo { e, gone }',
      'delete element ip t fo { e }',
      'delete element ip t fo { gone }',
      'delete element ip t fo { g, h }',
    ]);
  });

  it('flushes at once when a batch is full, and on demand', async () => {
    const r = recorder();
    const d = new ElementDeleter(r.exec, 't', 60_000, 2);
    const a = d.delete({ set: 'fo', key: '1', stillWanted: () => true });
    const b = d.delete({ set: 'fo', key: '2', stillWanted: () => true });
    await Promise.all([a, b]);
    expect(r.cmds).toEqual(['delete element ip t fo { 1, 2 }']);
    const c = d.delete({ set: 'bo', key: '3', stillWanted: () => true });
    await d.flush();
    await c;
    expect(r.cmds).toEqual(['delete element ip t fo { 1, 2 }', 'delete element ip t bo { 3 }']);
  });

  it('tells an install when a deletion of its element that already passed its guard has reached the kernel', async () => {
    let release = (): void => undefined;
    const cmds: string[] = [];
    const exec = (cmd: string): Promise<void> => {
      cmds.push(cmd);
      return new Promise((r) => (release = r));
    };
    const d = new ElementDeleter(exec, 't', 60_000);
    const del = d.delete({ set: 'ri', key: 'x', stillWanted: () => true });
    await expect(Promise.race([d.settled('ri', 'x'), 'idle'])).resolves.toBeUndefined(); // not flushed yet
    void d.flush();
    await new Promise((r) => setImmediate(r));
    expect(cmds).toEqual(['delete element ip t ri { x }']);
    let settled = false;
    void d.settled('ri', 'x').then(() => (settled = true));
    await new Promise((r) => setImmediate(r));
    expect(settled).toBe(false); // the command is still with nft
    expect(await Promise.race([d.settled('ri', 'y'), 'waiting'])).toBeUndefined(); // another element: no wait
    release();
    expect(await del).toBe(true);
    await new Promise((r) => setImmediate(r));
    expect(settled).toBe(true);
  });
});

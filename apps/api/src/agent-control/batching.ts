// Two small in-process tools that keep per-agent work from turning into per-agent round trips.

/**
 * Runs one job per key at a time; calls that arrive while one runs share a single follow-up run, which
 * starts after it and so sees everything committed before those calls. A burst of config changes of one
 * tenant costs two compiles, not one per change.
 */
export class Coalescer<T> {
  private readonly queued = new Map<string, Promise<T>>();
  private readonly running = new Map<string, Promise<T>>();

  run(key: string, fn: () => Promise<T>): Promise<T> {
    const waiting = this.queued.get(key);
    if (waiting) return waiting;
    const before = this.running.get(key);
    const p: Promise<T> = (before ? before.then(noop, noop) : Promise.resolve())
      .then(() => {
        this.queued.delete(key);
        this.running.set(key, p);
        return fn();
      })
      .finally(() => {
        if (this.running.get(key) === p) this.running.delete(key);
      });
    this.queued.set(key, p);
    return p;
  }
}

const noop = () => undefined;

/**
 * Collects items added while a write is in flight and writes them together next: no added delay when
 * idle, one write per round under load. Each add settles with the write that carried its item.
 */
export class Batcher<I> {
  private items: I[] = [];
  private waiters: { ok: () => void; fail: (e: unknown) => void }[] = [];
  private busy = false;

  constructor(
    private readonly write: (items: I[]) => Promise<void>,
    private readonly max = 1000,
  ) {}

  add(item: I): Promise<void> {
    return new Promise<void>((ok, fail) => {
      this.items.push(item);
      this.waiters.push({ ok, fail });
      this.kick();
    });
  }

  private kick(): void {
    if (this.busy || this.items.length === 0) return;
    this.busy = true;
    // After the current I/O callbacks: requests that arrived in the same turn share the write.
    setImmediate(() => {
      const items = this.items.splice(0, this.max);
      const waiters = this.waiters.splice(0, items.length);
      this.write(items)
        .then(
          () => waiters.forEach((w) => w.ok()),
          (err: unknown) => waiters.forEach((w) => w.fail(err)),
        )
        .finally(() => {
          this.busy = false;
          this.kick();
        });
    });
  }
}

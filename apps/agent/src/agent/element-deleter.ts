/**
 * Deletes per-flow set and map elements in batches: one nft command per flush instead of one per
 * element. Every short TCP flow that ends costs its hosts a few deletions, and nft's fixed cost per
 * command (~0.4 ms of CPU here) would otherwise dominate a burst of new flows.
 *
 * Each deletion carries a guard, asked again right before the command is built: an element the agent has
 * installed again since (a flow reusing the same ports) must not be deleted by a stale request. A batch
 * that fails (an element that expired on its own meanwhile makes the whole transaction fail) is retried
 * in halves down to single elements, and those failures are ignored: the element is gone either way.
 */
export interface Deletion {
  set: string;
  key: string;
  stillWanted: () => boolean;
}

export class ElementDeleter {
  private pending: (Deletion & { sent: boolean })[] = [];
  private timer: NodeJS.Timeout | null = null;
  private next: { done: Promise<void>; resolve: () => void } | null = null;
  private flushing: Promise<void> = Promise.resolve();
  /** Elements whose deletion passed its guard and is on its way to the kernel, by `set key`. */
  private readonly sending = new Map<string, Promise<void>>();

  constructor(
    private readonly exec: (cmd: string) => Promise<unknown>,
    private readonly table: string,
    private readonly delayMs = 50,
    private readonly maxBatch = 512,
  ) {}

  /**
   * Queues a deletion; resolves once the batch holding it was sent, with true, or with false when its
   * guard dropped it.
   */
  delete(d: Deletion): Promise<boolean> {
    const item = { ...d, sent: false };
    this.pending.push(item);
    if (!this.next) {
      let resolve = (): void => undefined;
      const done = new Promise<void>((r) => (resolve = r));
      this.next = { done, resolve };
    }
    const { done } = this.next;
    if (this.pending.length >= this.maxBatch) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.delayMs);
    return done.then(() => item.sent);
  }

  /** Sends what is queued, after any batch still being sent; the guards are asked then. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const items = this.pending;
    const next = this.next;
    this.pending = [];
    this.next = null;
    this.flushing = this.flushing
      .then(() => {
        const batch = items.filter((d) => {
          d.sent = d.stillWanted();
          return d.sent;
        });
        const sending = this.send(batch);
        const ids = batch.map((d) => `${d.set} ${d.key}`);
        for (const id of ids) this.sending.set(id, sending);
        return sending.finally(() => {
          for (const id of ids) if (this.sending.get(id) === sending) this.sending.delete(id);
        });
      })
      .finally(() => next?.resolve());
    return this.flushing;
  }

  /**
   * Resolves once no deletion of this element is on its way to the kernel. A guard is asked when its batch
   * is flushed, but the command can wait behind others in the nft session for a while (seconds under a
   * flood): an install of the same element in that time must wait for it, or the deletion lands after the
   * install and takes a live flow's element.
   */
  settled(set: string, key: string): Promise<void> {
    return this.sending.get(`${set} ${key}`) ?? Promise.resolve();
  }

  private async send(batch: Deletion[]): Promise<void> {
    if (batch.length === 0) return;
    // One key twice in a command would fail the whole transaction.
    const bySet = new Map<string, Set<string>>();
    for (const d of batch) {
      const keys = bySet.get(d.set) ?? new Set<string>();
      keys.add(d.key);
      bySet.set(d.set, keys);
    }
    const cmd = [...bySet]
      .map(([set, keys]) => `delete element ip ${this.table} ${set} { ${[...keys].join(', ')} }`)
      .join('; ');
    try {
      await this.exec(cmd);
    } catch {
      // One element already gone fails the whole transaction. Halving until each failure stands alone
      // costs a few commands per bad element instead of one per element: 18,000 short connections at
      // 8 at a time cost c1's nft session 8,717 transactions, most of them single-element retries.
      if (batch.length === 1) return;
      const half = Math.ceil(batch.length / 2);
      await this.send(batch.slice(0, half));
      await this.send(batch.slice(half));
    }
  }
}

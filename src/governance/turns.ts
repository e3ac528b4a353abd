// Whose turn it is for the next upstream slot. Waiting calls queue per caller (first come, first
// served within one caller); a free slot goes to the waiting caller that was served longest ago.
// That is round robin between the callers waiting, with one refinement: a caller that joins while
// others are waiting is served next (it was served longest ago, or never), instead of after the
// turn of whoever happened to be served just before it arrived. Pure: no clock, no I/O.
import { LRUCache } from 'lru-cache';

export class Turns<T> {
  /** Waiting items per caller; Map order is the order in which callers began waiting (ties). */
  private readonly queues = new Map<string, T[]>();
  /** When each caller was last served, counted in slots handed out. Bounded: a forgotten caller counts as never served. */
  private readonly lastServed: LRUCache<string, number>;
  private served = 0;
  private total = 0;

  constructor(rememberCallers = 10_000) {
    this.lastServed = new LRUCache({ max: rememberCallers });
  }

  /** Items waiting, all callers together. */
  get size(): number {
    return this.total;
  }

  /** Items one caller has waiting. */
  count(caller: string): number {
    return this.queues.get(caller)?.length ?? 0;
  }

  push(caller: string, item: T): void {
    const q = this.queues.get(caller);
    if (q) q.push(item);
    else this.queues.set(caller, [item]);
    this.total++;
  }

  /** Takes one item out of the queue (it gave up); false when it was not there. */
  remove(caller: string, item: T): boolean {
    const q = this.queues.get(caller);
    const i = q ? q.indexOf(item) : -1;
    if (!q || i < 0) return false;
    q.splice(i, 1);
    if (q.length === 0) this.queues.delete(caller);
    this.total--;
    return true;
  }

  /** The item whose turn it is (removed from the queue), or undefined when nobody waits. */
  next(): T | undefined {
    let pick: string | undefined;
    let oldest = Number.POSITIVE_INFINITY;
    for (const caller of this.queues.keys()) {
      const at = this.lastServed.get(caller) ?? 0;
      if (at < oldest) {
        oldest = at;
        pick = caller;
      }
    }
    if (pick === undefined) return undefined;
    const q = this.queues.get(pick)!;
    const item = q.shift();
    if (q.length === 0) this.queues.delete(pick);
    this.total--;
    this.lastServed.set(pick, ++this.served);
    return item;
  }

  /** Every waiting item, callers in waiting order. */
  *all(): IterableIterator<[string, T]> {
    for (const [caller, q] of this.queues) for (const item of q) yield [caller, item];
  }
}

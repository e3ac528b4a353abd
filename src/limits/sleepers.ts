// Budget waits that shutdown can cut short. One shared AbortSignal passed to every timers/promises
// sleep gets one 'abort' listener per waiter, and past 10 concurrent waits Node warns
// (MaxListenersExceededWarning) on every busy instance. Here each sleeper is one entry in a set,
// removed when it wakes; close ends them all.

export class Sleepers {
  private readonly waiting = new Set<(err: Error) => void>();
  private closedWith: Error | null = null;

  /** Resolves after `ms`, or rejects with close()'s error (at once if already closed). */
  sleep(ms: number): Promise<void> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(stop);
        resolve();
      }, ms);
      const stop = (err: Error) => {
        clearTimeout(timer);
        this.waiting.delete(stop);
        reject(err);
      };
      this.waiting.add(stop);
    });
  }

  get size(): number {
    return this.waiting.size;
  }

  /** Ends every sleep now and any later one at once, with `err`. */
  close(err: Error): void {
    this.closedWith = err;
    for (const stop of [...this.waiting]) stop(err);
  }
}

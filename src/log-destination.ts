// Where the production logs go: stdout, without ever blocking the process on it. pino's default
// destination writes fd 1 from libuv's thread pool and flushes synchronously on exit; when stdout is
// a pipe nobody reads (a stalled log shipper) that write blocks for good, and when the reader is
// gone its exit flush retries EPIPE every 100 ms forever: SIGTERM then never ends the process.
// Here lines go through process.stdout (a non-blocking stream on a pipe), at most a bounded amount
// waits in memory, and past that, or once stdout is broken, lines are dropped and counted.
// Lines written in one turn of the event loop go out in one write at its end (a write per line
// was a syscall per request at LOG_LEVEL=info); a crash loses at most the lines of that turn.
import { hostname } from 'node:os';
import type { Writable } from 'node:stream';

/** Destinations holding lines of this turn: written at exit too (an exit ends the turn early). */
const holding = new Set<LogDestination>();
let exitHooked = false;

/** Bytes of log lines that may wait for a slow stdout before further lines are dropped. */
export const MAX_BUFFERED_LOG_BYTES = 4 * 1024 * 1024;

type Out = Pick<Writable, 'write' | 'on' | 'writableLength'>;

export class LogDestination {
  private dropped = 0;
  private broken = false;
  /** Lines of this turn, written together when it ends. */
  private pending = '';
  private flushing: NodeJS.Immediate | null = null;

  constructor(
    private readonly out: Out = process.stdout,
    private readonly maxBufferedBytes = MAX_BUFFERED_LOG_BYTES,
  ) {
    // EPIPE and the like: the reader is gone for good; without a listener it would crash the process.
    out.on('error', () => {
      this.broken = true;
    });
    out.on('drain', () => this.reportDropped());
  }

  /** Lines dropped since the last report (tests). */
  get droppedLines(): number {
    return this.dropped;
  }

  write(line: string): boolean {
    if (this.broken || this.out.writableLength + this.pending.length > this.maxBufferedBytes) {
      this.dropped++;
      return true;
    }
    this.pending += line;
    if (this.flushing === null) {
      this.flushing = setImmediate(() => this.flush());
      holding.add(this);
      if (!exitHooked) {
        exitHooked = true;
        process.once('exit', () => {
          for (const d of holding) d.flush();
        });
      }
    }
    return true;
  }

  /** Hands the lines of this turn to stdout (pino's logger.flush() calls it too). */
  flush(cb?: (err?: Error) => void): void {
    if (this.flushing) clearImmediate(this.flushing);
    this.flushing = null;
    holding.delete(this);
    const text = this.pending;
    this.pending = '';
    if (text !== '' && !this.broken) this.out.write(text);
    cb?.();
  }

  /** Once stdout takes lines again, one warning says how many were lost (pino's line format). */
  private reportDropped(): void {
    if (this.dropped === 0 || this.broken) return;
    const line = {
      level: 40,
      time: Date.now(),
      pid: process.pid,
      hostname: hostname(),
      droppedLines: this.dropped,
      msg: 'log output stalled; lines were dropped',
    };
    this.dropped = 0;
    this.out.write(`${JSON.stringify(line)}\n`);
  }
}

// Where the production logs go: stdout, without ever blocking the process on it. pino's default
// destination writes fd 1 from libuv's thread pool and flushes synchronously on exit; when stdout is
// a pipe nobody reads (a stalled log shipper) that write blocks for good, and when the reader is
// gone its exit flush retries EPIPE every 100 ms forever: SIGTERM then never ends the process.
// Here lines go through process.stdout (a non-blocking stream on a pipe), at most a bounded amount
// waits in memory, and past that, or once stdout is broken, lines are dropped and counted.
// Lines go out together, at most FLUSH_MS after they were logged or once 64 KiB wait (a write per
// line was a syscall per request at LOG_LEVEL=info, ~10% of a cache hit); an exit writes what
// waits, and a crash loses at most the last FLUSH_MS of lines.
import { hostname } from 'node:os';
import type { Writable } from 'node:stream';

/** How long a line may wait to be written with others. */
export const FLUSH_MS = 10;
const FLUSH_BYTES = 64 * 1024;

/** Destinations holding lines: written at exit too. */
const holding = new Set<LogDestination>();
let exitHooked = false;

/** Bytes of log lines that may wait for a slow stdout before further lines are dropped. */
const MAX_BUFFERED_LOG_BYTES = 4 * 1024 * 1024;

type Out = Pick<Writable, 'write' | 'on' | 'writableLength'>;

export class LogDestination {
  private dropped = 0;
  private broken = false;
  /** Lines not yet written, written together. */
  private pending = '';
  private flushing: NodeJS.Timeout | null = null;

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
    if (this.pending.length >= FLUSH_BYTES) this.flush();
    else if (this.flushing === null) {
      this.flushing = setTimeout(() => this.flush(), FLUSH_MS);
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

  /** Hands the waiting lines to stdout (pino's logger.flush() calls it too). */
  flush(cb?: (err?: Error) => void): void {
    if (this.flushing) clearTimeout(this.flushing);
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

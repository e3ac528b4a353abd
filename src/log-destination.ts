// Where the production logs go: stdout, without ever blocking the process on it. pino's default
// destination writes fd 1 from libuv's thread pool and flushes synchronously on exit; when stdout is
// a pipe nobody reads (a stalled log shipper) that write blocks for good, and when the reader is
// gone its exit flush retries EPIPE every 100 ms forever: SIGTERM then never ends the process.
// Here lines go through process.stdout (a non-blocking stream on a pipe), at most a bounded amount
// waits in memory, and past that, or once stdout is broken, lines are dropped and counted.
import { hostname } from 'node:os';
import type { Writable } from 'node:stream';

/** Bytes of log lines that may wait for a slow stdout before further lines are dropped. */
const MAX_BUFFERED_LOG_BYTES = 4 * 1024 * 1024;

type Out = Pick<Writable, 'write' | 'on' | 'writableLength'>;

export class LogDestination {
  private dropped = 0;
  private broken = false;

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
    if (this.broken || this.out.writableLength > this.maxBufferedBytes) {
      this.dropped++;
      return true;
    }
    this.out.write(line);
    return true;
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

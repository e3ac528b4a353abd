import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LogDestination } from '../../src/log-destination.js';

/** A stream whose writes complete only when `release()` is called: a stalled stdout. */
function stalledOut() {
  const written: string[] = [];
  const held: Array<() => void> = [];
  const out = new Writable({
    highWaterMark: 100,
    write(chunk, _enc, cb) {
      written.push(String(chunk));
      held.push(cb);
    },
  });
  const release = () => {
    while (held.length) held.shift()!();
  };
  return { out, written, release };
}

describe('LogDestination', () => {
  it('drops lines past the buffered bound instead of growing, and says how many once stdout drains', async () => {
    const { out, written, release } = stalledOut();
    const dest = new LogDestination(out, 1000);
    for (let i = 0; i < 100; i++) dest.write(`${JSON.stringify({ i, pad: 'x'.repeat(80) })}\n`);
    expect(out.writableLength).toBeLessThan(1200);
    expect(dest.droppedLines).toBeGreaterThan(80);
    const dropped = dest.droppedLines;
    for (let i = 0; i < 20; i++) {
      release();
      await new Promise((r) => setImmediate(r));
    }
    // Lines of one turn go out in one write: what counts is the stream's lines.
    const lines = written.join('').split('\n').filter(Boolean);
    const report = lines.map((l) => JSON.parse(l)).find((l) => l.droppedLines !== undefined);
    expect(report).toMatchObject({
      level: 40,
      droppedLines: dropped,
      msg: 'log output stalled; lines were dropped',
    });
    expect(dest.droppedLines).toBe(0);
  });

  it('stops writing once stdout has failed (EPIPE), without throwing', () => {
    const out = new Writable({
      write(_chunk, _enc, cb) {
        cb(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      },
    });
    const dest = new LogDestination(out);
    dest.write('first\n');
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        expect(() => dest.write('second\n')).not.toThrow();
        expect(dest.droppedLines).toBe(1);
        resolve();
      }),
    );
  });
});

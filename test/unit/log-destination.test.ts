import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { FLUSH_MS, LogDestination } from '../../src/log-destination.js';

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
    dest.flush(); // what the FLUSH_MS timer does
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

  it('writes lines together: one write within FLUSH_MS, or at once past 64 KiB', async () => {
    const writes: string[] = [];
    const out = new Writable({
      write(chunk, _enc, cb) {
        writes.push(String(chunk));
        cb();
      },
    });
    const dest = new LogDestination(out);
    for (let i = 0; i < 3; i++) dest.write(`{"i":${i}}\n`);
    expect(writes).toEqual([]);
    await new Promise((r) => setTimeout(r, FLUSH_MS + 50));
    expect(writes).toEqual(['{"i":0}\n{"i":1}\n{"i":2}\n']);
    const big = `{"pad":"${'x'.repeat(70 * 1024)}"}\n`;
    dest.write(big);
    expect(writes).toHaveLength(2);
    expect(writes[1]).toBe(big);
  });

  it('stops writing once stdout has failed (EPIPE), without throwing', () => {
    const out = new Writable({
      write(_chunk, _enc, cb) {
        cb(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      },
    });
    const dest = new LogDestination(out);
    dest.write('first\n');
    dest.flush(); // what the FLUSH_MS timer does
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        expect(() => dest.write('second\n')).not.toThrow();
        expect(dest.droppedLines).toBe(1);
        resolve();
      }),
    );
  });
});

import { describe, expect, it } from 'vitest';
import { gcraReserve, intervalFor } from '../../src/governance/gcra.js';

/** Reserves `n` calls all asked for at `now`, as a queue of simultaneous requests would. */
function schedule(n: number, now: number, rate: number, burst: number, maxWaitMs = Number.POSITIVE_INFINITY) {
  let tat = 0;
  const starts: Array<number | null> = [];
  for (let i = 0; i < n; i++) {
    const v = gcraReserve(tat, now, { intervalMs: intervalFor(rate), burst }, maxWaitMs);
    if (v.ok) {
      tat = v.tat;
      starts.push(now + v.waitMs);
    } else starts.push(null);
  }
  return starts;
}

describe('GCRA reservation', () => {
  it('spaces simultaneous calls 1/rate apart, first come first served', () => {
    expect(schedule(5, 10_000, 2, 1)).toEqual([10_000, 10_500, 11_000, 11_500, 12_000]);
  });

  it('lets `burst` calls start at once after an idle spell, then the sustained rate', () => {
    expect(schedule(5, 0, 2, 3)).toEqual([0, 0, 0, 500, 1000]);
  });

  it('never puts more than rate + burst - 1 starts in any one-second window', () => {
    for (const [rate, burst] of [
      [2, 1],
      [5, 1],
      [5, 5],
      [3, 2],
    ] as const) {
      const starts = schedule(50, 0, rate, burst) as number[];
      const most = Math.max(...starts.map((s) => starts.filter((t) => t >= s && t < s + 1000).length));
      expect(most).toBe(rate + burst - 1);
    }
  });

  it('refuses without reserving when the slot is later than the caller may wait', () => {
    const p = { intervalMs: 500, burst: 1 };
    const tat = 3000; // two calls already queued ahead at now = 2000
    expect(gcraReserve(tat, 2000, p, 999)).toEqual({ ok: false, waitMs: 1000 });
    expect(gcraReserve(tat, 2000, p, 1000)).toEqual({ ok: true, waitMs: 1000, tat: 3500 });
  });

  it('forgets an old backlog: after idling, a call goes at once', () => {
    expect(gcraReserve(5000, 60_000, { intervalMs: 200, burst: 1 }, 0)).toEqual({
      ok: true,
      waitMs: 0,
      tat: 60_200,
    });
  });

  it('queues the same way at fractional intervals (rate 3/s)', () => {
    const starts = schedule(4, 0, 3, 1) as number[];
    expect(starts[3]).toBeCloseTo(1000, 6);
  });
});

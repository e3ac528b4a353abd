// GCRA ("virtual scheduling"): each call reserves the next free slot on a timeline spaced
// 1/rate apart, so waiting callers are served first come, first served. Pure; the Lua in
// redis-scripts.ts does the same arithmetic atomically for all instances.

export interface GcraParams {
  /** Milliseconds between calls at the sustained rate (1000 / rate). */
  intervalMs: number;
  /** Calls that may start at the same instant after an idle spell (1: strictly spaced). */
  burst: number;
}

export type GcraVerdict =
  /** Reserved: start after `waitMs`; store `tat` for the next caller. */
  | { ok: true; waitMs: number; tat: number }
  /** Not reserved: the first free slot is `waitMs` away, later than the caller may wait. */
  | { ok: false; waitMs: number };

/**
 * `tat` is the theoretical arrival time of the next call at the sustained rate (0 when unused).
 * A call may start `(burst - 1)` intervals before it; nothing is reserved when that start is more
 * than `maxWaitMs` away, so a refused caller costs the others nothing.
 */
export function gcraReserve(tat: number, nowMs: number, p: GcraParams, maxWaitMs: number): GcraVerdict {
  const base = Math.max(tat, nowMs);
  const start = Math.max(nowMs, base - (p.burst - 1) * p.intervalMs);
  const waitMs = start - nowMs;
  if (waitMs > maxWaitMs) return { ok: false, waitMs };
  return { ok: true, waitMs, tat: base + p.intervalMs };
}

export function intervalFor(ratePerSecond: number): number {
  return 1000 / ratePerSecond;
}

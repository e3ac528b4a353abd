// The upstream's day: it starts at midnight in UPSTREAM_QUOTA_TZ. Pure functions over an instant,
// so DST days (23 h, 25 h, or a midnight that does not exist) are unit-tested without a clock.

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' });
    formatters.set(tz, f);
  }
  return f;
}

/** The local calendar date of `nowMs` in `tz`, as `YYYY-MM-DD` (used in Redis key names). */
export function quotaDayId(nowMs: number, tz: string): string {
  const parts: Record<string, string> = {};
  for (const p of formatter(tz).formatToParts(nowMs)) parts[p.type] = p.value;
  return `${parts['year']}-${parts['month']}-${parts['day']}`;
}

// Longer than any civil day (25 h at a DST change), shorter than two.
const SEARCH_SPAN_MS = 27 * 3_600_000;

/**
 * The first instant after `nowMs` whose local date in `tz` differs from today's. A binary search
 * over Intl rather than offset arithmetic: it needs no knowledge of when or how far clocks jump,
 * and a zone whose midnight is skipped by DST gets the instant its new day really begins.
 */
export function nextDayStart(nowMs: number, tz: string): number {
  const today = quotaDayId(nowMs, tz);
  let lo = nowMs; // still today
  let hi = nowMs + SEARCH_SPAN_MS; // certainly a later day
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (quotaDayId(mid, tz) === today) lo = mid;
    else hi = mid;
  }
  return hi;
}

export function msUntilNextDay(nowMs: number, tz: string): number {
  return nextDayStart(nowMs, tz) - nowMs;
}

/** Which upstream day an instant is in, and how long that day has left. */
export interface DayClock {
  at(nowMs: number): { dayId: string; msLeft: number };
}

/** Remembers the current day and its end, so the hot path formats a date once per day, not per call. */
export class QuotaCalendar implements DayClock {
  private dayId = '';
  private endsAt = 0;

  constructor(readonly tz: string) {}

  at(nowMs: number): { dayId: string; msLeft: number } {
    if (nowMs >= this.endsAt || nowMs < this.endsAt - SEARCH_SPAN_MS) {
      this.dayId = quotaDayId(nowMs, this.tz);
      this.endsAt = nextDayStart(nowMs, this.tz);
    }
    return { dayId: this.dayId, msLeft: this.endsAt - nowMs };
  }
}

/**
 * Days of a fixed length counted from the epoch, named by the instant they start. The demo's are a
 * minute long: a simulated upstream 303 ("today's quota is spent") then pauses it for at most a
 * minute instead of until the real upstream's midnight.
 */
export class FixedLengthDays implements DayClock {
  constructor(readonly lengthMs: number) {}

  at(nowMs: number): { dayId: string; msLeft: number } {
    const start = nowMs - (nowMs % this.lengthMs);
    return { dayId: new Date(start).toISOString(), msLeft: start + this.lengthMs - nowMs };
  }
}

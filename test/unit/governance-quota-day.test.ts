import { describe, expect, it } from 'vitest';
import {
  FixedLengthDays,
  msUntilNextDay,
  nextDayStart,
  QuotaCalendar,
  quotaDayId,
} from '../../src/governance/quota-day.js';

const at = (iso: string) => Date.parse(iso);
const H = 3_600_000;

describe('upstream day in Asia/Shanghai (UTC+8, no DST)', () => {
  const tz = 'Asia/Shanghai';

  it('changes day at 16:00 UTC', () => {
    expect(quotaDayId(at('2026-03-08T15:59:59.999Z'), tz)).toBe('2026-03-08');
    expect(quotaDayId(at('2026-03-08T16:00:00.000Z'), tz)).toBe('2026-03-09');
  });

  it('counts the milliseconds to the next local midnight', () => {
    expect(msUntilNextDay(at('2026-03-08T15:59:59.000Z'), tz)).toBe(1000);
    expect(msUntilNextDay(at('2026-03-08T16:00:00.000Z'), tz)).toBe(24 * H);
    expect(nextDayStart(at('2026-12-31T20:00:00Z'), tz)).toBe(at('2027-01-01T16:00:00Z'));
  });
});

describe('upstream day in America/New_York (DST)', () => {
  const tz = 'America/New_York';

  it('has a 23-hour day when clocks spring forward', () => {
    const midnight = at('2026-03-08T05:00:00Z'); // 00:00 EST
    expect(quotaDayId(midnight, tz)).toBe('2026-03-08');
    expect(msUntilNextDay(midnight, tz)).toBe(23 * H);
    expect(nextDayStart(midnight, tz)).toBe(at('2026-03-09T04:00:00Z')); // 00:00 EDT
  });

  it('has a 25-hour day when clocks fall back', () => {
    const midnight = at('2026-11-01T04:00:00Z'); // 00:00 EDT
    expect(msUntilNextDay(midnight, tz)).toBe(25 * H);
    expect(quotaDayId(at('2026-11-02T04:59:59Z'), tz)).toBe('2026-11-01');
  });

  it('is not fooled by the repeated hour', () => {
    // 01:30 occurs twice on 2026-11-01; both are still that day.
    expect(nextDayStart(at('2026-11-01T05:30:00Z'), tz)).toBe(at('2026-11-02T05:00:00Z'));
    expect(nextDayStart(at('2026-11-01T06:30:00Z'), tz)).toBe(at('2026-11-02T05:00:00Z'));
  });
});

describe('a zone whose midnight does not exist', () => {
  it('starts the day at the first local instant of the new date (America/Santiago, 00:00 -> 01:00)', () => {
    // Chile springs forward at local midnight on 2026-09-06: the day begins at 01:00 -03.
    const start = nextDayStart(at('2026-09-05T12:00:00Z'), 'America/Santiago');
    expect(start).toBe(at('2026-09-06T04:00:00Z')); // 01:00 -03, an hour after 00:00 -04 would have been
    expect(quotaDayId(start - 1, 'America/Santiago')).toBe('2026-09-05');
    // Saturday still lasts 24 h (00:00 -04 to 01:00 -03); it is Sunday that is short.
    expect(msUntilNextDay(at('2026-09-05T04:00:00Z'), 'America/Santiago')).toBe(24 * H);
    expect(msUntilNextDay(start, 'America/Santiago')).toBe(23 * H);
  });
});

describe('QuotaCalendar', () => {
  it('answers the same as the pure functions and rolls over at the day end', () => {
    const cal = new QuotaCalendar('Asia/Shanghai');
    const t = at('2026-03-08T15:59:59.000Z');
    expect(cal.at(t)).toEqual({ dayId: '2026-03-08', msLeft: 1000 });
    expect(cal.at(t + 999)).toEqual({ dayId: '2026-03-08', msLeft: 1 });
    expect(cal.at(t + 1000)).toEqual({ dayId: '2026-03-09', msLeft: 24 * H });
  });
});

describe('FixedLengthDays (the demo)', () => {
  it('names each day by its start and counts down to the next', () => {
    const days = new FixedLengthDays(60_000);
    const t = Date.parse('2026-12-04T21:30:15.500Z');
    expect(days.at(t)).toEqual({ dayId: '2026-12-04T21:30:00.000Z', msLeft: 44_500 });
    expect(days.at(t + 44_499).dayId).toBe('2026-12-04T21:30:00.000Z');
    expect(days.at(t + 44_500)).toEqual({ dayId: '2026-12-04T21:31:00.000Z', msLeft: 60_000 });
  });
});

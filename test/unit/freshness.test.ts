// Fresh windows per freshness class of the catalogue and ENDPOINT_FRESH_SECONDS overrides; the clock
// is passed in, so "a range wholly in the past" is tested without waiting for days to pass.
import { describe, expect, it } from 'vitest';
import { endpointCall } from '../../src/catalogue/call.js';
import { freshnessFor } from '../../src/catalogue/freshness.js';
import { CATALOGUE } from '../../src/catalogue/index.js';
import { parseQuery } from '../../src/catalogue/params.js';
import { loadConfig } from '../../src/config.js';

const base = { freshMs: 43_200_000, staleMs: 604_800_000, notFoundMs: 3_600_000 };
const call = (name: string, query: Record<string, string>) => {
  const spec = CATALOGUE.get(name);
  const r = parseQuery(spec, query);
  if (!r.ok) throw new Error(r.problem);
  return endpointCall(spec, r.tuple);
};
// 2026-12-04 10:00 in Asia/Shanghai.
const now = () => Date.UTC(2026, 11, 4, 2, 0, 0);

describe('freshness per class', () => {
  const windowsFor = freshnessFor({ base, overrides: new Map(), tz: 'Asia/Shanghai', now });

  it('keeps CACHE_FRESH_SECONDS for profiles and shortens search and per-video reports', () => {
    expect(windowsFor(call('get_author_base_info', { oAuthorId: 'a' }))).toBe(base);
    expect(windowsFor(call('search_for_author_square', { keyword: '美妆' })).freshMs).toBe(300_000);
    expect(windowsFor(call('item_report_trend', { itemId: '7' })).freshMs).toBe(6 * 3_600_000);
    expect(windowsFor(call('search_for_author_square', {})).staleMs).toBe(base.staleMs);
  });

  it('keeps a daily-fans range that ended before today (in the quota zone) for 30 days, not one that reaches today', () => {
    const past = call('get_author_daily_fans', {
      oAuthorId: 'a',
      startDate: '2026-11-01',
      endDate: '2026-12-03',
    });
    expect(windowsFor(past).freshMs).toBe(30 * 86_400_000);
    const today = call('get_author_daily_fans', {
      oAuthorId: 'a',
      startDate: '2026-11-01',
      endDate: '2026-12-04',
    });
    expect(windowsFor(today)).toBe(base);
    const kol = call('get-kol-daily-fans', { kolId: 'a', startDate: '20261101', endDate: '20261130' });
    expect(windowsFor(kol).freshMs).toBe(30 * 86_400_000);
  });

  it('lets ENDPOINT_FRESH_SECONDS override any class, and refuses a name the catalogue lacks', () => {
    const config = loadConfig({
      ENDPOINT_FRESH_SECONDS: 'search_for_author_square=60, get_author_daily_fans=10',
    });
    const w = freshnessFor({ base, overrides: config.ENDPOINT_FRESH_SECONDS, tz: 'Asia/Shanghai', now });
    expect(w(call('search_for_author_square', {})).freshMs).toBe(60_000);
    const past = call('get_author_daily_fans', {
      oAuthorId: 'a',
      startDate: '2026-11-01',
      endDate: '2026-11-02',
    });
    expect(w(past).freshMs).toBe(10_000);
    expect(() => loadConfig({ ENDPOINT_FRESH_SECONDS: 'get_author_spred_info=60' })).toThrow(
      /ENDPOINT_FRESH_SECONDS: "get_author_spred_info" is not a catalogued endpoint name/,
    );
    expect(() => loadConfig({ ENDPOINT_FRESH_SECONDS: 'search_for_author_square=soon' })).toThrow(
      /ENDPOINT_FRESH_SECONDS: expected name=seconds pairs/,
    );
  });
});

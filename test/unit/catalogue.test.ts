// The catalogue as data: the SDK's 53 paths, unique names and paths, lookups, parameter checks with
// the SDK's own request shapes (raw-code defaults, a Chinese keyword), and the cache keys (spread-info
// byte-identical to its pre-catalogue format).
import { describe, expect, it } from 'vitest';
import { tupleKey } from '../../src/cache/keys.js';
import { endpointCall, spreadInfoCall } from '../../src/catalogue/call.js';
import { CATALOGUE, Catalogue, FAMILY_PREFIX, SPREAD_INFO } from '../../src/catalogue/index.js';
import { authorIndexKey, cacheKey, spreadParamsOf } from '../../src/catalogue/keys.js';
import { checkValue, parseQuery, upstreamQuery } from '../../src/catalogue/params.js';
import { upstreamSearchParams } from '../../src/upstream/params.js';

const parsed = (name: string, query: Record<string, unknown>) => {
  const r = parseQuery(CATALOGUE.get(name), query);
  if (!r.ok) throw new Error(`${r.param} ${r.problem}`);
  return r;
};

describe('catalogue', () => {
  it('holds the 53 SDK paths under /api/douyin-xingtu/, 20 of them deprecated', () => {
    expect(CATALOGUE.size).toBe(53);
    expect(CATALOGUE.endpoints.filter((e) => e.deprecated)).toHaveLength(20);
    for (const e of CATALOGUE.endpoints) {
      expect(CATALOGUE.byPath(e.upstreamPath)).toBe(e);
      expect(CATALOGUE.byName(e.name)).toBe(e);
      expect(e.upstreamPath.startsWith(FAMILY_PREFIX)).toBe(true);
    }
  });

  it('names an endpoint by its last segment before the version', () => {
    expect(CATALOGUE.byPath('/api/douyin-xingtu/gw/api/author/get_author_base_info/v1')?.name).toBe(
      'get_author_base_info',
    );
    expect(CATALOGUE.byPath('/api/douyin-xingtu/get-kol-info/v1')?.name).toBe('get-kol-info');
    expect(CATALOGUE.byPath('/api/douyin-xingtu/gw/api/aggregator/get_author_contract_base_info')?.name).toBe(
      'get_author_contract_base_info',
    );
  });

  it('refuses a catalogue with a name or a path twice', () => {
    const one = CATALOGUE.get(SPREAD_INFO);
    expect(() => new Catalogue([one, { ...one, upstreamPath: `${one.upstreamPath}x` }])).toThrow(/twice/);
    expect(() => new Catalogue([one, { ...one, name: 'other' }])).toThrow(/twice/);
  });

  it('fills defaults, keeps the raw codes the SDK sends as its defaults, sets unknown params aside', () => {
    const live = parsed('get_author_live_statistics', {
      oAuthorId: '7012345678901234567',
      liveType: '1',
      period: '30',
      onlyStarOrder: 'false',
      flowType: '0',
      acceptCache: 'true',
      token: 'k',
    });
    expect(live.tuple).toEqual({
      oAuthorId: '7012345678901234567',
      liveType: '1',
      period: '30',
      onlyStarOrder: 'false',
      flowType: '0',
    });
    expect(live.ignored).toEqual(['acceptCache']);
    expect(parsed('get_author_live_statistics', { oAuthorId: 'a' }).tuple).toEqual({
      ...live.tuple,
      oAuthorId: 'a',
    });
    expect(parsed('get_author_live_statistics', { oAuthorId: 'a', liveType: 'GAME' }).tuple.liveType).toBe(
      'GAME',
    );
    const bad = parseQuery(CATALOGUE.get('get_author_live_statistics'), {
      oAuthorId: 'a',
      liveType: 'SPORTS',
    });
    expect(bad).toMatchObject({ ok: false, param: 'liveType' });
  });

  it('takes a Chinese keyword as sent and refuses control characters and overlong text', () => {
    const search = parsed('search_for_author_square', { keyword: '美妆 博主', page: '2' });
    expect(search.tuple.keyword).toBe('美妆 博主');
    expect(search.tuple.sort).toBe('FANS');
    expect(upstreamQuery(CATALOGUE.get('search_for_author_square'), search.tuple).get('keyword')).toBe(
      '美妆 博主',
    );
    const spec = CATALOGUE.get('search_for_author_square');
    expect(parseQuery(spec, { keyword: 'a\u0000b' })).toMatchObject({ ok: false, param: 'keyword' });
    expect(parseQuery(spec, { keyword: '字'.repeat(101) })).toMatchObject({ ok: false, param: 'keyword' });
    expect(parseQuery(spec, { keyword: ['a', 'b'] })).toMatchObject({ ok: false, param: 'keyword' });
    expect(parseQuery(CATALOGUE.get('item_report_trend'), { itemId: '../x' })).toMatchObject({
      ok: false,
      param: 'itemId',
    });
    const page = CATALOGUE.get('search_for_author_square').params.find((p) => p.name === 'page')!;
    expect(checkValue(page, '3')).toBeUndefined();
    expect(checkValue(page, '-3')).toMatch(/whole number/);
    expect(parseQuery(CATALOGUE.get('item_report_trend'), {})).toMatchObject({ ok: false, param: 'itemId' });
  });

  it('takes real calendar dates in both SDK spellings and refuses impossible ones, naming the parameter', () => {
    const fans = CATALOGUE.get('get_author_daily_fans');
    const ask = (startDate: string, endDate = '2026-10-31') =>
      parseQuery(fans, { oAuthorId: '1', startDate, endDate });
    for (const good of ['2026-10-01', '20261001', '2024-02-29', '20240229', '2026-12-31'])
      expect(ask(good), good).toMatchObject({ ok: true });
    for (const bad of [
      '1000-5000',
      '10005000',
      '2026-50-01',
      '2026-13-01',
      '2026-00-10',
      '2026-02-29',
      '20260229',
      '2026-04-31',
      '2026-10-00',
      '2026-10-32',
      '0000-01-01',
      '2026-1001',
      '202610-01',
    ])
      expect(ask(bad), bad).toMatchObject({
        ok: false,
        param: 'startDate',
        problem: expect.stringMatching(/date/),
      });
    expect(
      parseQuery(fans, { oAuthorId: '1', startDate: '2026-10-01', endDate: '2026-02-30' }),
    ).toMatchObject({
      ok: false,
      param: 'endDate',
    });
    const videos = CATALOGUE.get('get_author_homepage_videos');
    expect(parseQuery(videos, { oAuthorId: '1', startDate: '20261001' })).toMatchObject({ ok: true });
    expect(parseQuery(videos, { oAuthorId: '1', startDate: '20265001' })).toMatchObject({
      ok: false,
      param: 'startDate',
    });
  });

  it("keeps spread-info's key and upstream query exactly as before the catalogue", () => {
    const spec = CATALOGUE.get(SPREAD_INFO);
    const { tuple } = parsed(SPREAD_INFO, { oAuthorId: '70123', range: 'DAY_90', onlyAssign: 'true' });
    const old = {
      oAuthorId: '70123',
      platform: 'SHORT_VIDEO',
      range: 'DAY_90',
      type: 'PERSONAL_VIDEO',
      onlyAssign: true,
      flowType: 'EXCLUDE',
    } as const;
    expect(spreadParamsOf(tuple)).toEqual(old);
    expect(endpointCall(spec, tuple)).toEqual(spreadInfoCall(old));
    expect(cacheKey(spec, tuple)).toBe(tupleKey(old));
    expect(upstreamQuery(spec, tuple).toString()).toBe(upstreamSearchParams(old).toString());
  });

  it('keys by endpoint and known params after defaults; an author on every endpoint shares one hash tag', () => {
    const base = CATALOGUE.get('get_author_base_info');
    const a = cacheKey(base, parsed('get_author_base_info', { oAuthorId: 'x1' }).tuple);
    const b = cacheKey(
      base,
      parsed('get_author_base_info', { oAuthorId: 'x1', platform: 'SHORT_VIDEO', z: '1' }).tuple,
    );
    expect(a).toBe(b);
    const market = CATALOGUE.get('get_author_marketing_info');
    const c = cacheKey(market, parsed('get_author_marketing_info', { oAuthorId: 'x1' }).tuple);
    expect(c).not.toBe(a);
    const tag = (k: string) => /\{[^}]*\}/.exec(k)?.[0];
    expect(tag(a)).toBe(tag(c));
    expect(tag(authorIndexKey('x1'))).toBe(tag(a));
    const search = CATALOGUE.get('search_for_author_square');
    const s = cacheKey(search, parsed('search_for_author_square', { keyword: 'a}b{c' }).tuple);
    expect(s.match(/[{}]/g)).toHaveLength(2);
  });
});

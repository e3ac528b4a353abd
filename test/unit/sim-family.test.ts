// The simulated upstream serves every catalogued path of the family: code 0 with data that names the
// endpoint and the parameters received, a shape per kind, 400 for what the real one would refuse, the
// special subject ids and limits per endpoint, calls counted per endpoint and parameters, and the
// 404 of a path the upstream does not have (recorded, so a test sees a leak). Spread-info's own
// behaviour is in sim-upstream.test.ts.
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CATALOGUE } from '../../src/catalogue/index.js';
import type { EndpointSpec } from '../../src/catalogue/types.js';
import { kindOf, MAX_RANGE_DAYS, simFamilyData } from '../../src/sim/family-data.js';
import { type SimUpstream, startSimUpstream } from '../../src/sim/upstream-server.js';

const TOKEN = 'sim-family-token-81c2';
const AUTHOR = '7012345678901234567';
const BASE_INFO = '/api/douyin-xingtu/gw/api/author/get_author_base_info/v1';
const LIVE = '/api/douyin-xingtu/gw/api/aggregator/get_author_live_statistics/v1';
const SEARCH = '/api/douyin-xingtu/gw/api/gsearch/search_for_author_square/v1';
const DAILY = '/api/douyin-xingtu/gw/api/data_sp/get_author_daily_fans/v1';

interface Envelope {
  code: number;
  message: string;
  data: Record<string, unknown> | null;
}

const agent = new Agent({ keepAliveTimeout: 10_000 });
let sim: SimUpstream;

async function call(s: SimUpstream, path: string, query: Record<string, string>) {
  const res = await request(`${s.url}${path}?${new URLSearchParams(query)}`, { dispatcher: agent });
  const text = await res.body.text();
  return { status: res.statusCode, text, env: () => JSON.parse(text) as Envelope };
}
const get = async (path: string, query: Record<string, string>) =>
  (await call(sim, path, { token: TOKEN, ...query })).env();

/** A query the SDK could send: each required parameter with a value of its kind. */
function minimalQuery(e: EndpointSpec, subject = AUTHOR): Record<string, string> {
  const q: Record<string, string> = {};
  for (const p of e.params) {
    if (!p.required) continue;
    q[p.name] =
      p.kind === 'author-id' || p.kind === 'id'
        ? subject
        : p.kind === 'date'
          ? p.name === 'startDate'
            ? '2024-11-01'
            : '2024-11-07'
          : p.kind === 'enum'
            ? (p.values?.[0] ?? p.default ?? '')
            : p.kind === 'integer'
              ? '1'
              : p.kind === 'boolean'
                ? 'false'
                : p.kind === 'range'
                  ? '1000-2000'
                  : '美食';
  }
  return q;
}

beforeAll(async () => {
  sim = await startSimUpstream({ token: TOKEN, endpointLimits: { get_author_tags: { maxRps: 2 } } });
});
beforeEach(() => sim.reset());
afterAll(async () => {
  await sim.close();
  await agent.close();
});

describe('every catalogued path', () => {
  it('answers code 0 naming its endpoint, path and the parameters received', async () => {
    expect(CATALOGUE.endpoints).toHaveLength(53);
    for (const e of CATALOGUE.endpoints) {
      if (e.name === 'get_author_spread_info') continue;
      const query = minimalQuery(e);
      const env = await get(e.upstreamPath, query);
      expect(env.code, e.name).toBe(0);
      expect(env.data).toMatchObject({ endpoint: e.name, path: e.upstreamPath, params: query });
      expect(sim.callsTo(e.name, query), e.name).toHaveLength(1);
    }
    expect(sim.callCount).toBe(52);
    expect(sim.billedCount).toBe(52);
    expect(sim.calls.every((c) => c.tokenSeen && !JSON.stringify(c).includes(TOKEN))).toBe(true);
  });

  it('records spread-info calls under its catalogue name', async () => {
    const spread = CATALOGUE.get('get_author_spread_info');
    expect((await get(spread.upstreamPath, { oAuthorId: AUTHOR })).code).toBe(0);
    expect(sim.callsTo('get_author_spread_info', { oAuthorId: AUTHOR })).toHaveLength(1);
  });

  it('gives each kind its shape', async () => {
    const kinds = new Set(CATALOGUE.endpoints.map((e) => kindOf(e)));
    expect([...kinds].sort()).toEqual(['daily-fans', 'distribution', 'list', 'profile', 'search', 'video']);

    const search = (await get(SEARCH, { keyword: '美食', page: '2' })).data as {
      authors: unknown[];
      pagination: { page: number; limit: number; total_count: number; has_more: boolean };
    };
    expect(search.pagination.page).toBe(2);
    expect(search.authors.length).toBe(Math.max(0, Math.min(10, search.pagination.total_count - 10)));
    for (const author of search.authors)
      expect(author).toMatchObject({ nick_name: expect.any(String), follower: expect.any(Number) });

    const daily = (await get(DAILY, { oAuthorId: AUTHOR, startDate: '2024-02-27', endDate: '2024-03-02' }))
      .data as { daily: Array<{ date: string; fans_cnt: number; fans_incr: number }> };
    expect(daily.daily.map((d) => d.date)).toEqual([
      '2024-02-27',
      '2024-02-28',
      '2024-02-29',
      '2024-03-01',
      '2024-03-02',
    ]);
    expect(daily.daily[1]?.fans_cnt).toBe((daily.daily[0]?.fans_cnt ?? 0) + (daily.daily[1]?.fans_incr ?? 0));

    const video = (await get('/api/douyin-xingtu/gw/api/data_sp/item_report_trend/v1', { itemId: '73001' }))
      .data as { item_id: string; trend: unknown[] };
    expect(video.item_id).toBe('73001');
    expect(video.trend).toHaveLength(7);

    const list = (
      await get('/api/douyin-xingtu/gw/api/aggregator/get_author_homepage_videos/v1', {
        oAuthorId: AUTHOR,
        page: '1',
      })
    ).data as { list: Array<{ item_id: string }>; page: number; total: number };
    expect(list.page).toBe(1);
    expect(list.list.length).toBe(Math.min(10, list.total));

    const audience = (
      await get('/api/douyin-xingtu/gw/api/data_sp/author_audience_distribution/v1', { oAuthorId: AUTHOR })
    ).data as { distributions: Array<{ distribution_list: Array<{ distribution_value: number }> }> };
    const shares = audience.distributions[0]?.distribution_list.map((d) => d.distribution_value) ?? [];
    expect(Math.abs(shares.reduce((a, b) => a + b, 0) - 10_000)).toBeLessThanOrEqual(5);

    const profile = (await get(BASE_INFO, { oAuthorId: AUTHOR })).data;
    expect(profile).toMatchObject({
      id: AUTHOR,
      nick_name: expect.any(String),
      follower: expect.any(Number),
    });
  });
});

describe('parameters', () => {
  it('fills defaults like the real one: absent and default give the same data', async () => {
    const implicit = await get(BASE_INFO, { oAuthorId: AUTHOR });
    const explicit = await get(BASE_INFO, { oAuthorId: AUTHOR, platform: 'SHORT_VIDEO' });
    const other = await get(BASE_INFO, { oAuthorId: AUTHOR, platform: 'LIVE_STREAMING' });
    const body = (d: Envelope['data']) => JSON.stringify({ ...d, params: undefined });
    expect(body(explicit.data)).toBe(body(implicit.data));
    expect(body(other.data)).not.toBe(body(implicit.data));
    expect(implicit.data?.['params']).toEqual({ oAuthorId: AUTHOR });
  });

  it("accepts the SDK's raw-code defaults (live statistics) and Chinese search keywords", async () => {
    const live = await get(LIVE, { oAuthorId: AUTHOR, liveType: '1', period: '30', flowType: '0' });
    expect(live.code).toBe(0);
    expect(live.data?.['params']).toMatchObject({ liveType: '1', period: '30' });
    const search = await get(SEARCH, { keyword: '美妆 博主', sort: 'FANS' });
    expect(search).toMatchObject({ code: 0, data: { params: { keyword: '美妆 博主' } } });
  });

  it('answers 400 naming what is missing or not accepted', async () => {
    const bad: Array<[string, Record<string, string>, string]> = [
      [BASE_INFO, {}, 'oAuthorId'],
      [BASE_INFO, { oAuthorId: AUTHOR, platform: 'TV' }, 'platform'],
      [LIVE, { oAuthorId: AUTHOR, onlyStarOrder: 'yes' }, 'onlyStarOrder'],
      [SEARCH, { page: 'two' }, 'page'],
      [DAILY, { oAuthorId: AUTHOR, startDate: '2024-11-01' }, 'endDate'],
      [DAILY, { oAuthorId: AUTHOR, startDate: '2024-11-08', endDate: '2024-11-01' }, 'endDate'],
      [DAILY, { oAuthorId: AUTHOR, startDate: '2024-02-30', endDate: '2024-03-01' }, 'startDate'],
      [DAILY, { oAuthorId: AUTHOR, startDate: '2020-01-01', endDate: '2024-01-01' }, 'endDate'],
    ];
    for (const [path, query, param] of bad) {
      const env = await get(path, query);
      expect(env, JSON.stringify(query)).toMatchObject({ code: 400, data: null });
      expect(env.message).toContain(param);
    }
    expect(sim.billedCount).toBe(0);
    expect(MAX_RANGE_DAYS).toBeLessThan(4 * 365);
  });

  it('ignores parameters it does not take, and echoes them (a test sees what was forwarded)', async () => {
    const env = await get(BASE_INFO, { oAuthorId: AUTHOR, acceptCache: 'true' });
    expect(env.code).toBe(0);
    expect(env.data?.['params']).toEqual({ oAuthorId: AUTHOR, acceptCache: 'true' });
    expect(sim.callsTo('get_author_base_info', { acceptCache: 'true' })).toHaveLength(1);
  });

  it('is deterministic per endpoint and query', () => {
    const e = CATALOGUE.get('get_author_base_info');
    const a = JSON.stringify(simFamilyData(e, { oAuthorId: AUTHOR }));
    expect(JSON.stringify(simFamilyData(e, { oAuthorId: AUTHOR }))).toBe(a);
    expect(JSON.stringify(simFamilyData(e, { oAuthorId: 'other' }))).not.toBe(a);
    // Another endpoint's answer for the same author differs beyond the names.
    const marketing = CATALOGUE.get('get_author_marketing_info');
    const unnamed = (d: Record<string, unknown>) => JSON.stringify({ ...d, endpoint: '', path: '' });
    expect(unnamed(simFamilyData(marketing, { oAuthorId: AUTHOR }))).not.toBe(
      unnamed(simFamilyData(e, { oAuthorId: AUTHOR })),
    );
  });
});

describe('outcomes', () => {
  it('serves the special subject ids on any subject parameter', async () => {
    const kol = '/api/douyin-xingtu/get-kol-info/v1';
    expect(await get(kol, { kolId: 'notfound7' })).toMatchObject({ code: 201, data: null });
    expect((await get(kol, { kolId: 'code302x' })).code).toBe(302);
    expect((await get(SEARCH, { keyword: 'code601' })).code).toBe(601);
    expect((await get(BASE_INFO, { oAuthorId: 'flaky301b' })).code).toBe(301);
    expect((await get(BASE_INFO, { oAuthorId: 'flaky301b' })).code).toBe(0);
    const malformed = await call(sim, BASE_INFO, { token: TOKEN, oAuthorId: 'malformed1' });
    expect(() => malformed.env()).toThrow();
    const html = await call(sim, BASE_INFO, { token: TOKEN, oAuthorId: 'http503' });
    expect(html.status).toBe(503);
    expect(sim.callsFor('notfound7').map((c) => [c.endpoint, c.code, c.billed])).toEqual([
      ['get-kol-info', 201, true],
    ]);
    expect((await get(BASE_INFO, { oAuthorId: AUTHOR, token: 'wrong' })).code).toBe(100);
  });

  it('echoes the token and nests deep for echotoken/deep subjects (leak and depth tests)', async () => {
    const echo = await call(sim, BASE_INFO, { token: TOKEN, oAuthorId: 'echotoken1' });
    expect(echo.text.split(TOKEN).length).toBeGreaterThan(4);
    const deep = await call(sim, BASE_INFO, { token: TOKEN, oAuthorId: 'deep50x' });
    expect(deep.text).toContain(`"nested":${'['.repeat(50)}1`);
    expect(deep.env().data).toMatchObject({ endpoint: 'get_author_base_info' });
  });

  it('scripts behaviours per endpoint, before the global ones', async () => {
    sim.script([{ code: 500 }], 'get_author_base_info');
    sim.setBehaviour({ code: 303 }, 'get-kol-info');
    expect((await get(LIVE, { oAuthorId: AUTHOR })).code).toBe(0);
    expect((await get(BASE_INFO, { oAuthorId: AUTHOR })).code).toBe(500);
    expect((await get(BASE_INFO, { oAuthorId: AUTHOR })).code).toBe(0);
    expect((await get('/api/douyin-xingtu/get-kol-info/v1', { kolId: AUTHOR })).code).toBe(303);
    expect((await get('/api/douyin-xingtu/get-kol-info/v1', { kolId: AUTHOR })).code).toBe(303);
    sim.setBehaviour(null, 'get-kol-info');
    expect((await get('/api/douyin-xingtu/get-kol-info/v1', { kolId: AUTHOR })).code).toBe(0);
  });

  it("limits one endpoint's rate without touching the others", async () => {
    const tags = '/api/douyin-xingtu/gw/api/aggregator/get_author_tags/v1';
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push((await get(tags, { starAuthorId: AUTHOR })).code);
    expect(codes).toEqual([0, 0, 302, 302]);
    expect((await get(BASE_INFO, { oAuthorId: AUTHOR })).code).toBe(0);
  });
});

describe('paths the upstream does not have', () => {
  it('answers 404 without an envelope the SDK calls success, and records the call', async () => {
    const crafted = [
      '/api/douyin-xingtu/gw/api/author/get_author_nothing/v1',
      '/api/douyin-xingtu/gw/api/author/GET_AUTHOR_BASE_INFO/v1',
      '/api/douyin-xingtu/gw/api/author%2fget_author_base_info/v1',
      '/api/other',
    ];
    for (const path of crafted) {
      const res = await call(sim, path, { token: TOKEN, oAuthorId: AUTHOR });
      expect(res.status, path).toBe(404);
      expect(res.env()).toMatchObject({ code: 404 });
    }
    expect(sim.calls.map((c) => [c.path, c.endpoint, c.billed])).toEqual(
      crafted.map((p) => [p, null, false]),
    );
    expect(sim.billedCount).toBe(0);
  });
});

describe('docs/family.md', () => {
  it('lists every catalogued endpoint with the fake shape the sim answers it with', () => {
    const md = readFileSync(new URL('../../docs/family.md', import.meta.url), 'utf8');
    const rows = new Map<string, string[]>();
    for (const line of md.split('\n')) {
      const cells = line.split('|').map((c) => c.trim());
      const name = /^`([^`]+)`$/.exec(cells[1] ?? '')?.[1];
      if (name && cells.length >= 8) rows.set(name, cells);
    }
    expect([...rows.keys()].sort()).toEqual(CATALOGUE.endpoints.map((e) => e.name).sort());
    for (const e of CATALOGUE.endpoints) {
      const cells = rows.get(e.name) ?? [];
      expect(cells[2], e.name).toBe(`\`${e.upstreamPath.replace('/api/douyin-xingtu/', '')}\``);
      expect(cells[4], e.name).toBe(e.freshness);
      if (e.name !== 'get_author_spread_info') expect(cells[5], e.name).toBe(kindOf(e));
      expect(cells[6], e.name).toBe(e.deprecated ? 'yes' : '');
    }
  });
});

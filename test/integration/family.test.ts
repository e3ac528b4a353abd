// The whole Xingtu family through the gateway, with the official SDK's own request shapes (its
// transport sends every default, booleans as "true"/"false", None left out) against the simulated
// upstream over loopback, which serves every catalogued path and names in `data` the path and the
// parameters it received. Two instances on one real Redis (and on a Cluster when one is configured).
import { request as httpRequest } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CATALOGUE } from '../../src/catalogue/index.js';
import { type SimUpstream, startSimUpstream } from '../../src/sim/upstream-server.js';
import { ADMIN_KEY, CALLER_KEY, type Gateway, startGateway, TEST_TOKEN } from '../helpers/gateway.js';
import { testClusterNodes, uniquePrefix } from '../helpers/redis.js';

const KEYS = { API_KEYS: `svc:${CALLER_KEY}`, ADMIN_API_KEYS: `ops:${ADMIN_KEY}` };
const admin = { 'x-api-key': ADMIN_KEY };
const modes = testClusterNodes() ? (['single', 'cluster'] as const) : (['single'] as const);

/** The SDK's transport: defaults sent, booleans lowercased, None omitted; its token is the gateway key. */
function sdkUrl(path: string, params: Record<string, string | number | boolean | null>): string {
  const q = new URLSearchParams({ token: CALLER_KEY });
  for (const [k, v] of Object.entries(params))
    if (v !== null) q.append(k, typeof v === 'boolean' ? String(v) : String(v));
  return `${path}?${q}`;
}

const P = (name: string) => CATALOGUE.get(name).upstreamPath;

/** The `svc` caller's row of /v1/usage (today's counts, as written to Redis by every instance). */
async function svcUsage(gw: Gateway) {
  const usage = await gw.get('/v1/usage', admin);
  const rows = (usage.json as { callers: Array<{ caller: string; requests: number; endpoints: object }> })
    .callers;
  return rows.find((c) => c.caller === 'svc') ?? { requests: 0, endpoints: {} };
}

/** Calls as the SDK's generated methods make them with their defaults (douyin_xingtu.py). */
const SDK_CALLS: Array<{ name: string; params: Record<string, string | number | boolean | null> }> = [
  {
    name: 'search_for_author_square',
    params: {
      keyword: '美妆博主',
      page: 1,
      sort: 'FANS',
      searchType: 'NICKNAME',
      marketingTarget: null,
      industry: 'ALL',
      isSuperstar: false,
      isCuratedAuthor: false,
    },
  },
  {
    name: 'get_author_live_statistics',
    params: {
      oAuthorId: '7100000000000000001',
      liveType: '1',
      period: '30',
      onlyStarOrder: false,
      flowType: '0',
    },
  },
  { name: 'get-kol-info', params: { kolId: '7100000000000000001', platformChannel: '_1' } },
  { name: 'get_author_base_info', params: { oAuthorId: '7100000000000000001', platform: 'SHORT_VIDEO' } },
  {
    name: 'author_audience_distribution',
    params: { oAuthorId: '7100000000000000001', platform: 'SHORT_VIDEO', linkType: 'CONNECTED' },
  },
  {
    name: 'get_author_daily_fans',
    params: { oAuthorId: '7100000000000000001', startDate: '2026-10-01', endDate: '2026-10-31' },
  },
  { name: 'item_report_trend', params: { itemId: '7300000000000000009' } },
  { name: 'get_author_contract_base_info', params: { oAuthorId: '7100000000000000001', range: '90' } },
  { name: 'get_author_tags', params: { starAuthorId: '7100000000000000001' } },
  {
    name: 'get_author_homepage_videos',
    params: {
      oAuthorId: '7100000000000000001',
      page: 1,
      keyword: null,
      videoType: 'ALL',
      onlyAssign: false,
      startDate: null,
      endDate: null,
    },
  },
];

/** A GET with the path sent byte for byte (fetch would resolve `..` and `%2e%2e` before sending). */
function rawGet(base: string, path: string): Promise<{ status: number; body: string }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: u.hostname, port: u.port, path, method: 'GET', headers: { 'x-api-key': CALLER_KEY } },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => {
          body += c.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe.each(modes)('the Xingtu family through the gateway (%s)', (mode) => {
  let up: SimUpstream;
  const open: Gateway[] = [];
  /** The upstream calls made: path and query (the token is never recorded). */
  const seen = () => up.calls.map((c) => ({ path: c.path, query: c.query }));
  const pair = async (env: Record<string, string> = {}) => {
    const prefix = uniquePrefix('family');
    const sim = up;
    const a = await startGateway({ sim, prefix, redis: mode, env: { ...KEYS, ...env } });
    const b = await startGateway({ sim, prefix, redis: mode, env: { ...KEYS, ...env } });
    open.push(a, b);
    return [a, b] as const;
  };
  beforeAll(async () => {
    up = await startSimUpstream({ token: TEST_TOKEN, delayMs: 50 });
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((g) => g.close()));
    up.reset();
  });
  afterAll(() => up.close());

  it("serves the SDK's own calls on 10 endpoints with code 0 and that endpoint's data; a second instance's repeat costs no call", async () => {
    const [a, b] = await pair();
    for (const { name, params } of SDK_CALLS) {
      const res = await a.get(sdkUrl(P(name), params));
      const body = res.json as { code: number; data: { path: string; params: Record<string, string> } };
      expect(res.status, name).toBe(200);
      expect(body.code, `${name}: ${res.body}`).toBe(0);
      expect(body.data.path).toBe(P(name));
      const sent = Object.fromEntries(
        Object.entries(params)
          .filter(([, v]) => v !== null)
          .map(([k, v]) => [k, String(v)]),
      );
      expect(body.data.params, name).toEqual(sent); // as sent, the caller's key not among them
      expect(res.headers.get('x-cache')).toBe('MISS');
    }
    expect(up.calls).toHaveLength(SDK_CALLS.length);
    for (const { name, params } of SDK_CALLS) {
      const res = await b.get(sdkUrl(P(name), params));
      expect((res.json as { code: number }).code).toBe(0);
      expect(res.headers.get('x-cache'), name).toBe('HIT');
    }
    expect(up.calls).toHaveLength(SDK_CALLS.length);
    // Seen per endpoint: catalogue names on request, cache and upstream series.
    const metrics = (await b.get('/metrics')).body;
    expect(metrics).toMatch(
      /gateway_cache_outcomes_total\{[^}]*outcome="hit"[^}]*endpoint="get-kol-info"[^}]*\} 1/,
    );
    const scraped = (await a.get('/metrics')).body;
    expect(scraped).toMatch(
      /gateway_upstream_calls_total\{[^}]*endpoint="search_for_author_square"[^}]*\} 1/,
    );
    expect(scraped).toMatch(
      /gateway_http_requests_total\{[^}]*endpoint="get_author_live_statistics"[^}]*\} 1/,
    );
    // The search keyword is logged as sent, never as [REDACTED]; the caller's key never.
    const lines = a.logs.join('\n');
    expect(lines).toContain(encodeURIComponent('美妆博主'));
    expect(lines).not.toContain(CALLER_KEY);
  });

  it('fills defaults before keying: no parameter and the default are one entry; the deprecated ones too', async () => {
    const [a, b] = await pair();
    await a.get(sdkUrl(P('get-kol-info'), { kolId: '7100000000000000002' }));
    const again = await b.get(
      sdkUrl(P('get-kol-info'), { kolId: '7100000000000000002', platformChannel: '_1' }),
    );
    expect(again.headers.get('x-cache')).toBe('HIT');
    expect(seen()).toEqual([
      { path: P('get-kol-info'), query: { kolId: '7100000000000000002', platformChannel: '_1' } },
    ]);
  });

  it('costs one upstream call for 40 concurrent identical asks over two instances', async () => {
    const [a, b] = await pair();
    const url = sdkUrl(P('get_author_live_statistics'), {
      oAuthorId: '7100000000000000003',
      liveType: '1',
      period: '30',
      onlyStarOrder: false,
      flowType: '0',
    });
    const all = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).get(url)));
    for (const r of all) expect((r.json as { code: number }).code).toBe(0);
    expect(up.calls).toHaveLength(1);
  });

  it('accepts unknown parameters without forwarding or keying them, and names them in x-ignored-params', async () => {
    const [a, b] = await pair();
    const base = { oAuthorId: '7100000000000000004', platform: 'SHORT_VIDEO' };
    const first = await a.get(sdkUrl(P('get_author_base_info'), { ...base, acceptCache: true }));
    expect((first.json as { code: number }).code).toBe(0);
    expect(first.headers.get('x-ignored-params')).toBe('acceptCache');
    const second = await b.get(sdkUrl(P('get_author_base_info'), { ...base, utm: 'x', acceptCache: false }));
    expect(second.headers.get('x-cache')).toBe('HIT');
    expect(second.headers.get('x-ignored-params')).toBe('utm, acceptCache');
    expect(seen()).toEqual([{ path: P('get_author_base_info'), query: base }]);
    // /v1/usage breaks the caller's figures down by endpoint (both instances' counts).
    // Each instance writes its counts once a second: poll until both have.
    await expect
      .poll(async () => (await svcUsage(a)).endpoints, { timeout: 5000, interval: 250 })
      .toEqual({
        get_author_base_info: { requests: 2, cacheHits: 1, upstreamCalls: 1, billedCalls: 1 },
      });
  });

  it('answers bad parameters with code 400 naming them, and a 201 as code 201, remembered', async () => {
    const [a, b] = await pair();
    const long = await a.get(sdkUrl(P('search_for_author_square'), { keyword: '字'.repeat(101) }));
    expect(long.json).toMatchObject({ code: 400, data: null, error: { code: 'INVALID_REQUEST' } });
    expect((long.json as { message: string }).message).toMatch(/keyword/);
    const badId = await a.get(sdkUrl(P('item_report_detail'), { itemId: '7/../1' }));
    expect(badId.json).toMatchObject({ code: 400 });
    const badEnum = await a.get(
      sdkUrl(P('get_author_live_statistics'), { oAuthorId: '1', liveType: 'SPORTS' }),
    );
    expect((badEnum.json as { message: string }).message).toMatch(/liveType/);
    expect(up.calls).toHaveLength(0);
    const none = await a.get(sdkUrl(P('item_report_trend'), { itemId: 'notfound7300' }));
    expect(none.json).toMatchObject({ code: 201, data: null });
    const noneAgain = await b.get(sdkUrl(P('item_report_trend'), { itemId: 'notfound7300' }));
    expect(noneAgain.json).toMatchObject({ code: 201 });
    expect(up.calls).toHaveLength(1);
  });

  it('answers a list (or any JSON) data as the upstream sent it, on a family path and on spread-info; /v1 normalises it to nulls', async () => {
    const [a, b] = await pair();
    const url = sdkUrl(P('get_author_base_info'), { oAuthorId: 'listdata1' });
    const first = await a.get(url);
    const body = first.json as { code: number; data: Array<{ endpoint: string; params: object }> };
    expect(first.status).toBe(200);
    expect(body.code, first.body).toBe(0);
    expect(Array.isArray(body.data)).toBe(true);
    expect(body.data).toMatchObject([
      { endpoint: 'get_author_base_info', params: { oAuthorId: 'listdata1' } },
    ]);
    const again = await b.get(url);
    expect(again.headers.get('x-cache')).toBe('HIT');
    expect((again.json as { data: unknown }).data).toEqual(body.data);
    const spread = await a.get(sdkUrl(P('get_author_spread_info'), { oAuthorId: 'listdata2' }));
    expect(spread.json).toMatchObject({ code: 0, data: [{ play_mid: expect.anything() }] });
    // The normalised route needs an object: a list gives its metrics as nulls (the call was billed).
    const v1 = await b.get('/v1/authors/listdata2/spread-info', { 'x-api-key': CALLER_KEY });
    expect(v1.status).toBe(200);
    expect((v1.json as { metrics: Record<string, unknown> }).metrics).toMatchObject({
      avgDuration: null,
      playMedian: null,
    });
    expect(up.callsTo('get_author_spread_info', { oAuthorId: 'listdata2' })).toHaveLength(1);
    expect(up.calls).toHaveLength(2);
  });

  it('says in the 201 message what had no data: the author, the video or the search', async () => {
    const [a] = await pair();
    const ask = async (name: string, params: Record<string, string>) => {
      const res = await a.get(sdkUrl(P(name), params));
      expect(res.json, name).toMatchObject({ code: 201, data: null });
      return (res.json as { message: string }).message;
    };
    expect(await ask('item_report_trend', { itemId: 'notfound7301' })).toMatch(/no data for this itemId and/);
    expect(await ask('get-video-detail', { detailId: 'notfound7302' })).toMatch(
      /no data for this detailId and/,
    );
    expect(await ask('search_for_author_square', { keyword: 'notfound美妆' })).toMatch(
      /no data for this keyword and/,
    );
    expect(await ask('get_author_base_info', { oAuthorId: 'notfound7303' })).toMatch(
      /no data for this author and/,
    );
    expect(await ask('get_author_spread_info', { oAuthorId: 'notfound7304' })).toMatch(
      /no data for this author and/,
    );
  });

  it('counts a bad parameter on a family path in /v1/usage as a request on that endpoint, as on spread-info', async () => {
    const [a] = await pair();
    const badFamily = await a.get(
      sdkUrl(P('get_author_daily_fans'), { oAuthorId: '1', startDate: '2026-50-01', endDate: '2026-10-31' }),
    );
    expect(badFamily.json).toMatchObject({ code: 400 });
    expect((badFamily.json as { message: string }).message).toMatch(/startDate/);
    const badSpread = await a.get(sdkUrl(P('get_author_spread_info'), { oAuthorId: '1', range: 'x' }));
    expect(badSpread.json).toMatchObject({ code: 400 });
    const badV1 = await a.get('/v1/authors/1/spread-info?range=x', { 'x-api-key': CALLER_KEY });
    expect(badV1.status).toBe(400);
    expect(up.calls).toHaveLength(0);
    await a.get(
      sdkUrl(P('get_author_daily_fans'), { oAuthorId: '1', startDate: '2026-10-01', endDate: '2026-10-02' }),
    );
    await expect
      .poll(async () => svcUsage(a), { timeout: 5000, interval: 250 })
      .toMatchObject({
        requests: 4,
        endpoints: {
          get_author_daily_fans: { requests: 2, cacheHits: 0, upstreamCalls: 1, billedCalls: 1 },
          get_author_spread_info: { requests: 2, cacheHits: 0, upstreamCalls: 0, billedCalls: 0 },
        },
      });
    expect(Object.keys((await svcUsage(a)).endpoints).sort()).toEqual([
      'get_author_daily_fans',
      'get_author_spread_info',
    ]);
  });

  it('never forwards an unknown or crafted path: HTTP 404 with the envelope and code 404', async () => {
    const [a] = await pair();
    const real = '/api/douyin-xingtu/gw/api/author/get_author_base_info/v1';
    const q = `?oAuthorId=7100000000000000005&token=${CALLER_KEY}`;
    const crafted = [
      '/api/douyin-xingtu/gw/api/author/x/../get_author_base_info/v1',
      '/api/douyin-xingtu/gw/api/author/x/%2e%2e/get_author_base_info/v1',
      '/api/douyin-xingtu/gw/api/author%2fget_author_base_info/v1',
      '/api/douyin-xingtu/gw/api/author%2Fget_author_base_info/v1',
      '/api/douyin-xingtu/gw/api//author/get_author_base_info/v1',
      '/api/douyin-xingtu//gw/api/author/get_author_base_info/v1',
      '/api/douyin-xingtu/GW/api/author/get_author_base_info/v1',
      '/API/douyin-xingtu/gw/api/author/get_author_base_info/v1',
      '/api/douyin-xingtu/gw/api/author/get_author_base_info/v1/',
      '/api/douyin-xingtu/gw/api/author/get_author_base_info/v2',
      '/api/douyin-xingtu/gw/api/author/get_author_base_info%252fv1',
      '/api/douyin-xingtu/gw/api/admin/delete_everything/v1',
      '/api/other-family/get-user/v1',
    ];
    for (const path of crafted) {
      const res = await rawGet(a.url, path + q);
      expect(res.status, path).toBe(404);
      expect(JSON.parse(res.body), path).toMatchObject({
        code: 404,
        data: null,
        error: { code: 'NOT_FOUND' },
      });
    }
    expect(up.calls).toHaveLength(0);
    expect((await rawGet(a.url, real + q)).status).toBe(200);
    expect(up.calls).toHaveLength(1);
  });

  it('purges an author on every endpoint and every instance', async () => {
    const [a, b] = await pair();
    const x = '7100000000000000006';
    const asks = [
      sdkUrl(P('get_author_base_info'), { oAuthorId: x }),
      sdkUrl(P('get-kol-info'), { kolId: x }),
      sdkUrl(P('get_author_tags'), { starAuthorId: x }),
      sdkUrl(P('get_author_homepage_videos'), { oAuthorId: x, keyword: '旅行', page: 2 }),
      sdkUrl(P('get_author_spread_info'), { oAuthorId: x }),
    ];
    const other = sdkUrl(P('get_author_base_info'), { oAuthorId: '7100000000000000007' });
    for (const u of [...asks, other]) expect((await a.get(u)).headers.get('x-cache')).toBe('MISS');
    for (const u of [...asks, other]) expect((await b.get(u)).headers.get('x-cache')).toBe('HIT'); // b holds copies
    expect(up.calls).toHaveLength(asks.length + 1);
    const refused = await a.get(`/v1/authors/${x}/cache`, { 'x-api-key': CALLER_KEY });
    expect(refused.status).toBe(404); // GET: no such route; DELETE below
    const del = await fetch(`${a.url}/v1/authors/${x}/cache`, {
      method: 'DELETE',
      headers: { 'x-api-key': CALLER_KEY },
    });
    expect(del.status).toBe(403);
    const purge = await fetch(`${a.url}/v1/authors/${x}/cache`, { method: 'DELETE', headers: admin });
    expect(purge.status).toBe(200);
    expect(await purge.json()).toEqual({ deleted: asks.length });
    await new Promise((r) => setTimeout(r, 100)); // the invalidation reaches b
    for (const u of asks) expect((await b.get(u)).headers.get('x-cache'), u).toBe('MISS');
    expect((await b.get(other)).headers.get('x-cache')).toBe('HIT');
    expect(up.calls).toHaveLength(2 * asks.length + 1);
  });
});

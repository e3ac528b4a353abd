// The real server over loopback, in front of the simulated upstream, on the in-process store.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { normalizeSpreadInfo } from '../../src/normalize/spread-info.js';
import type { ErrorBody } from '../../src/plugins/error-handler.js';
import { spreadInfoResponseSchema } from '../../src/routes/schemas.js';
import { simSpreadData } from '../../src/sim/upstream-server.js';
import type { UpstreamGate } from '../../src/upstream/client.js';
import { QUERY_DEFAULTS, type SpreadParams } from '../../src/upstream/params.js';
import { type Gateway, startGateway } from '../helpers/gateway.js';

/**
 * Upstream governance (limits/) backs off after 302/303/credential codes, which would turn later
 * cases into local refusals; these tests are about the core, so every call goes through.
 */
const openGate: UpstreamGate = { beforeCall: async () => {}, afterCall: () => {} };

const path = (id: string, query = '') => `/v1/authors/${id}/spread-info${query}`;
const EXPLICIT_DEFAULTS =
  '?platform=SHORT_VIDEO&range=DAY_30&type=PERSONAL_VIDEO&onlyAssign=false&flowType=EXCLUDE';

type ErrorJson = ErrorBody;
interface UpstreamLine {
  reqId?: string;
  msg: string;
  upstream: {
    authorId: string;
    attempt: number;
    code: number | null;
    latencyMs: number;
    billed: boolean;
    requestId: string | null;
    outcome: string;
  };
}

let gw: Gateway;
let seq = 0;
/** A fresh author id per test, so no test sees another's cache entries. */
const fresh = (prefix = 'author') => `${prefix}${Date.now().toString(36)}x${++seq}`;

function upstreamLines(g: Gateway, authorId: string): UpstreamLine[] {
  return g.logs
    .flatMap((l) => l.split('\n'))
    .filter((l) => l.includes('"upstream call"'))
    .map((l) => JSON.parse(l) as UpstreamLine)
    .filter((l) => l.upstream.authorId === authorId);
}

beforeAll(async () => {
  gw = await startGateway({ redis: 'none', overrides: { upstreamGate: openGate } });
});
beforeEach(() => gw.sim.reset());
afterAll(async () => {
  await gw?.close();
});

describe('cache', () => {
  it('answers MISS, then HIT from the store, with age, etag and cache-control; 304 on a matching etag', async () => {
    const id = fresh();
    const first = await gw.get(path(id));
    expect(first.status).toBe(200);
    expect(first.headers.get('x-cache')).toBe('MISS');
    expect(first.headers.get('age')).toBe('0');
    const etag = first.headers.get('etag') ?? '';
    expect(etag).toMatch(/^W\/"[^"]+"$/);
    const maxAge = Number(/^private, max-age=(\d+)$/.exec(first.headers.get('cache-control') ?? '')?.[1]);
    expect(maxAge).toBeGreaterThan(43_200 - 60);
    expect(maxAge).toBeLessThanOrEqual(43_200);

    const second = await gw.get(path(id));
    expect(second.status).toBe(200);
    expect(second.headers.get('x-cache')).toBe('HIT');
    expect(second.headers.get('etag')).toBe(etag);
    expect(Number(second.headers.get('age'))).toBeGreaterThanOrEqual(0);
    expect(second.headers.get('cache-control')).toMatch(/^private, max-age=\d+$/);
    expect((second.json as { meta: { cache: string } }).meta.cache).toBe('HIT');
    expect((second.json as { metrics: unknown }).metrics).toEqual(
      (first.json as { metrics: unknown }).metrics,
    );

    const notModified = await gw.get(path(id), { 'if-none-match': etag });
    expect(notModified.status).toBe(304);
    expect(notModified.body).toBe('');
    expect(notModified.headers.get('etag')).toBe(etag);
    const other = await gw.get(path(id), { 'if-none-match': 'W/"something-else"' });
    expect(other.status).toBe(200);
    expect(gw.sim.callCount).toBe(1);
  });

  it('gives omitted parameters and explicit defaults one entry and one upstream call', async () => {
    const id = fresh();
    const implicit = await gw.get(path(id));
    const explicit = await gw.get(path(id, EXPLICIT_DEFAULTS));
    expect(implicit.headers.get('x-cache')).toBe('MISS');
    expect(explicit.headers.get('x-cache')).toBe('HIT');
    expect(gw.sim.callCount).toBe(1);
    const other = await gw.get(path(id, '?range=DAY_90'));
    expect(other.headers.get('x-cache')).toBe('MISS');
    expect(gw.sim.callCount).toBe(2);
  });

  it('lets 50 concurrent identical misses share one upstream call', async () => {
    const id = fresh();
    gw.sim.setDelay(200);
    const all = await Promise.all(Array.from({ length: 50 }, () => gw.get(path(id))));
    expect(all.map((r) => r.status)).toEqual(Array(50).fill(200));
    expect(gw.sim.callCount).toBe(1);
    const metrics = new Set(all.map((r) => JSON.stringify((r.json as { metrics: unknown }).metrics)));
    expect(metrics.size).toBe(1);
  });

  it('remembers a 201 "no content" as 404 AUTHOR_NOT_FOUND without asking again', async () => {
    const id = fresh('notfound');
    for (let i = 0; i < 2; i++) {
      const res = await gw.get(path(id));
      expect(res.status).toBe(404);
      expect((res.json as ErrorJson).error).toMatchObject({ code: 'AUTHOR_NOT_FOUND', upstreamCode: 201 });
    }
    expect(gw.sim.callCount).toBe(1);
    expect(gw.sim.billedCount).toBe(1);
  });

  it('does not remember an upstream failure: the next request asks again', async () => {
    const id = fresh();
    gw.sim.script([{ code: 500 }]);
    expect((await gw.get(path(id))).status).toBe(502);
    const again = await gw.get(path(id));
    expect(again.status).toBe(200);
    expect(again.headers.get('x-cache')).toBe('MISS');
    expect(gw.sim.callCount).toBe(2);
  });
});

describe('request log', () => {
  it("names the cache outcome on the request's completion line", async () => {
    const id = fresh();
    await gw.get(path(id), { 'x-request-id': `log-miss-${id}` });
    await gw.get(path(id), { 'x-request-id': `log-hit-${id}` });
    await gw.get('/v1/authors/bad!id/spread-info', { 'x-request-id': `log-bad-${id}` });
    const completed = (reqId: string) =>
      gw.logs
        .flatMap((l) => l.split('\n'))
        .filter((l) => l.includes('"request completed"') && l.includes(`"reqId":"${reqId}"`))
        .map((l) => JSON.parse(l) as { cache?: string; res: { statusCode: number } });
    expect(completed(`log-miss-${id}`)).toMatchObject([{ cache: 'MISS', res: { statusCode: 200 } }]);
    expect(completed(`log-hit-${id}`)).toMatchObject([{ cache: 'HIT', res: { statusCode: 200 } }]);
    const [bad] = completed(`log-bad-${id}`);
    expect(bad?.res.statusCode).toBe(400);
    expect(bad?.cache).toBeUndefined();
  });
});

describe('body', () => {
  it('is the contract shape and equals the normalised upstream data', async () => {
    const id = fresh();
    const res = await gw.get(path(id, '?platform=LIVE_STREAMING&onlyAssign=true&flowType=INCLUDE'), {
      'x-request-id': 'core-body-1',
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const body = spreadInfoResponseSchema.parse(res.json);
    const tuple: SpreadParams = {
      ...QUERY_DEFAULTS,
      oAuthorId: id,
      platform: 'LIVE_STREAMING',
      onlyAssign: true,
      flowType: 'INCLUDE',
    };
    expect(body.authorId).toBe(id);
    expect(body.query).toEqual({
      platform: 'LIVE_STREAMING',
      range: 'DAY_30',
      type: 'PERSONAL_VIDEO',
      onlyAssign: true,
      flowType: 'INCLUDE',
    });
    expect(body.metrics).toEqual(normalizeSpreadInfo(simSpreadData(tuple)));
    expect(body.metrics.avgDuration).toBe(Number(simSpreadData(tuple)['avg_duration']));
    expect(body.meta).toMatchObject({ cache: 'MISS', stale: false, ageSeconds: 0 });
    expect(Math.abs(Date.parse(body.meta.fetchedAt) - Date.now())).toBeLessThan(60_000);
    const [line] = upstreamLines(gw, id);
    expect(body.meta.upstreamRequestId).toBe(line?.upstream.requestId);
    expect(body.meta.upstreamRequestId).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('upstream failures', () => {
  const cases: Array<[string, string, number, string, number | undefined, number]> = [
    // [what, author id, status, error.code, upstreamCode, upstream calls]
    ['301 three times', 'code301', 502, 'UPSTREAM_ERROR', 301, 3],
    ['302 rate limit', 'code302', 503, 'UPSTREAM_UNAVAILABLE', 302, 1],
    ['303 daily quota', 'code303', 503, 'UPSTREAM_UNAVAILABLE', 303, 1],
    ['100 token', 'code100', 503, 'UPSTREAM_CREDENTIALS', 100, 1],
    ['600 permission', 'code600', 503, 'UPSTREAM_CREDENTIALS', 600, 1],
    ['601 balance', 'code601', 503, 'UPSTREAM_CREDENTIALS', 601, 1],
    ['602 credentials', 'code602', 503, 'UPSTREAM_CREDENTIALS', 602, 1],
    ['500 internal', 'code500', 502, 'UPSTREAM_ERROR', 500, 1],
    ['unknown code', 'code999', 502, 'UPSTREAM_ERROR', 999, 1],
    ['HTTP 500', 'http500', 502, 'UPSTREAM_ERROR', undefined, 1],
    ['HTTP 404', 'http404', 502, 'UPSTREAM_ERROR', undefined, 1],
    ['malformed body', 'malformed', 502, 'UPSTREAM_ERROR', undefined, 1],
    ['connection reset', 'reset', 502, 'UPSTREAM_ERROR', undefined, 1],
  ];

  it.each(cases)('%s (author %s) gives %i', async (_what, prefix, status, code, upstreamCode, calls) => {
    const id = fresh(prefix);
    const res = await gw.get(path(id), { 'x-request-id': `fail-${id}` });
    expect(res.status).toBe(status);
    const { error } = res.json as ErrorJson;
    expect(error.code).toBe(code);
    expect(error.upstreamCode).toBe(upstreamCode);
    expect(error.requestId).toBe(`fail-${id}`);
    expect(res.headers.get('x-request-id')).toBe(`fail-${id}`);
    if (code === 'UPSTREAM_UNAVAILABLE') {
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(error.retryAfterSeconds).toBe(Number(res.headers.get('retry-after')));
    } else {
      expect(res.headers.get('retry-after')).toBeNull();
    }
    expect(gw.sim.callsFor(id)).toHaveLength(calls);
    expect(upstreamLines(gw, id)).toHaveLength(calls);
  });

  it('logs one structured line per upstream call, with the request id', async () => {
    const id = fresh('code301');
    const res = await gw.get(path(id), { 'x-request-id': 'core-log-301' });
    expect(res.status).toBe(502);
    const lines = upstreamLines(gw, id);
    expect(lines.map((l) => [l.upstream.attempt, l.upstream.code, l.upstream.billed])).toEqual([
      [1, 301, false],
      [2, 301, false],
      [3, 301, false],
    ]);
    for (const l of lines) {
      expect(l.reqId).toBe('core-log-301');
      expect(typeof l.upstream.latencyMs).toBe('number');
      expect(l.upstream.requestId).toMatch(/^[0-9a-f-]{36}$/);
    }

    const ok = fresh();
    await gw.get(path(ok), { 'x-request-id': 'core-log-ok' });
    expect(upstreamLines(gw, ok)).toMatchObject([
      { reqId: 'core-log-ok', upstream: { authorId: ok, attempt: 1, code: 0, billed: true, outcome: 'ok' } },
    ]);
  });

  it('answers a hanging upstream with 504 once UPSTREAM_TIMEOUT_MS has passed, without retrying', async () => {
    const short = await startGateway({
      redis: 'none',
      sim: gw.sim,
      env: { UPSTREAM_TIMEOUT_MS: '500' },
      overrides: { upstreamGate: openGate },
    });
    try {
      const id = fresh('hang');
      // When the timeout fires is the client's rule (unit-tested); here: the answer and the call count.
      const res = await short.get(path(id));
      expect(res.status).toBe(504);
      expect((res.json as ErrorJson).error.code).toBe('UPSTREAM_TIMEOUT');
      expect((res.json as ErrorJson).error.message).toContain('500 ms');
      expect(gw.sim.callsFor(id)).toHaveLength(1);
      expect(upstreamLines(short, id)).toMatchObject([
        { upstream: { outcome: 'timeout', attempt: 1, billed: false } },
      ]);
    } finally {
      await short.close();
    }
  });
});

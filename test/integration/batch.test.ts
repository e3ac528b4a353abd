// The batch route: per-item answers in order, duplicates fetched once, bounded concurrency, limits.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BATCH_CONCURRENCY, BATCH_PATH } from '../../src/routes/batch.js';
import { type SimUpstream, startSimUpstream } from '../../src/sim/upstream-server.js';
import type { UpstreamGate } from '../../src/upstream/client.js';
import { CALLER_KEY, type Gateway, startGateway, TEST_TOKEN } from '../helpers/gateway.js';
import { until } from '../helpers/prometheus.js';

interface Result {
  status: number;
  body?: { authorId: string; query: Record<string, unknown>; metrics: unknown; meta: { cache: string } };
  error?: {
    code: string;
    message: string;
    requestId: string;
    upstreamCode?: number;
    retryAfterSeconds?: number;
  };
}

/**
 * No governance: the governor's back-off after an upstream 302 would (rightly) turn the batch's later
 * items into 503s, and which ones depends on timing. These tests are about the batch's own mapping.
 */
const openGate: UpstreamGate = { beforeCall: async () => {}, afterCall: () => {} };

describe('batch route', () => {
  let sim: SimUpstream;
  let gw: Gateway;
  const post = async (body: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(gw.url + BATCH_PATH, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      json: JSON.parse(text) as { results: Result[]; error?: Result['error'] },
    };
  };

  beforeAll(async () => {
    sim = await startSimUpstream({ token: TEST_TOKEN });
  });
  afterEach(async () => {
    await gw.close();
    sim.reset();
  });
  afterAll(() => sim.close());

  it('answers every item in order, as the single route would, and fetches duplicates once', async () => {
    gw = await startGateway({ sim, overrides: { upstreamGate: openGate } });
    const items = [
      { oAuthorId: 'b-ok1' },
      { oAuthorId: 'notfound9' },
      { oAuthorId: 'code302b' },
      { oAuthorId: 'b-ok1', platform: 'SHORT_VIDEO', range: 'DAY_30', onlyAssign: false }, // b-ok1 again, spelled out
      { oAuthorId: 'b-ok2', platform: 'LIVE_STREAMING', onlyAssign: true },
      { oAuthorId: 'malformed3' },
      { oAuthorId: 'code601c' },
      { oAuthorId: 'b-ok1' },
    ];
    const res = await post({ items });
    expect(res.status).toBe(200);
    const { results } = res.json;
    expect(results.map((r) => r.status)).toEqual([200, 404, 503, 200, 200, 502, 503, 200]);
    expect(results.map((r) => r.body?.authorId ?? r.error?.code)).toEqual([
      'b-ok1',
      'AUTHOR_NOT_FOUND',
      'UPSTREAM_UNAVAILABLE',
      'b-ok1',
      'b-ok2',
      'UPSTREAM_ERROR',
      'UPSTREAM_CREDENTIALS',
      'b-ok1',
    ]);
    expect(results[2]?.error).toMatchObject({ upstreamCode: 302, retryAfterSeconds: expect.any(Number) });
    expect(results[2]?.error?.requestId).toEqual(expect.any(String));
    expect(results[4]?.body?.query).toMatchObject({
      platform: 'LIVE_STREAMING',
      onlyAssign: true,
      range: 'DAY_30',
    });
    expect(sim.callsFor('b-ok1')).toHaveLength(1);
    expect(sim.callsFor('notfound9')).toHaveLength(1);

    // Same cache as the single route: it now hits, with the same metrics.
    const single = await gw.get('/v1/authors/b-ok2/spread-info?platform=LIVE_STREAMING&onlyAssign=true');
    expect(single.headers.get('x-cache')).toBe('HIT');
    const { meta: _m1, ...singleBody } = single.json as NonNullable<Result['body']>;
    const { meta: _m2, ...batchBody } = results[4]?.body ?? ({} as NonNullable<Result['body']>);
    expect(batchBody).toEqual(singleBody);
    expect(sim.callsFor('b-ok2')).toHaveLength(1);
  });

  it(`keeps at most ${BATCH_CONCURRENCY} upstream calls in flight`, async () => {
    gw = await startGateway({ sim, overrides: { upstreamGate: openGate } });
    sim.setDelay(150);
    const items = Array.from({ length: 30 }, (_, i) => ({ oAuthorId: `conc${i}` }));
    const res = await post({ items });
    expect(res.json.results.every((r) => r.status === 200)).toBe(true);
    const spans = sim.calls.map((c) => [c.at, c.at + (c.latencyMs ?? 0)] as const);
    const peak = Math.max(
      ...spans.map(([start]) => spans.filter(([s, e]) => s <= start && start < e).length),
    );
    expect(sim.callCount).toBe(30);
    expect(peak).toBeLessThanOrEqual(BATCH_CONCURRENCY);
    expect(peak).toBeGreaterThan(1);
  });

  it('stops starting upstream calls for a caller that hung up', async () => {
    gw = await startGateway({ sim, overrides: { upstreamGate: openGate } });
    sim.setDelay(300);
    const ac = new AbortController();
    const items = Array.from({ length: 40 }, (_, i) => ({ oAuthorId: `gone${i}` }));
    const sent = fetch(gw.url + BATCH_PATH, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ items }),
      signal: ac.signal,
    }).catch(() => 'aborted');
    expect(await until(async () => sim.callCount >= BATCH_CONCURRENCY, 5000)).toBe(true);
    ac.abort();
    expect(await sent).toBe('aborted');
    // Long enough for all 40 to have been asked (5 waves of 300 ms) had the batch carried on.
    await new Promise((r) => setTimeout(r, 2500));
    expect(sim.callCount).toBeLessThanOrEqual(2 * BATCH_CONCURRENCY);
  });

  it('answers a string body sent as fetch sends it (text/plain) with 415 naming application/json', async () => {
    gw = await startGateway({ sim, overrides: { upstreamGate: openGate } });
    const body = JSON.stringify({ items: [{ oAuthorId: 'plain1' }] });
    // No content-type given: fetch (a browser's, or Node's) sends a string as text/plain;charset=UTF-8.
    for (const headers of [{}, { 'content-type': 'text/plain' }, { 'content-type': 'application/xml' }]) {
      const res = await fetch(gw.url + BATCH_PATH, { method: 'POST', headers, body });
      const json = (await res.json()) as { error: NonNullable<Result['error']> };
      expect(res.status).toBe(415);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(json.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
      expect(json.error.message).toContain('application/json');
      expect(json.error.requestId).toBe(res.headers.get('x-request-id'));
    }
    expect(sim.callCount).toBe(0);
    // The same text as application/json is a batch.
    expect((await post(body)).status).toBe(200);
  });

  it('goes through the real governance too', async () => {
    gw = await startGateway({ sim });
    const res = await post({
      items: [{ oAuthorId: 'gov1' }, { oAuthorId: 'notfound2' }, { oAuthorId: 'gov1' }],
    });
    expect(res.json.results.map((r) => r.status)).toEqual([200, 404, 200]);
    expect(sim.callCount).toBe(2);
  });

  it('refuses 0 and 101 items, and names the bad field of a bad item', async () => {
    gw = await startGateway({ sim, redis: 'none' });
    const none = await post({ items: [] });
    expect(none.status).toBe(400);
    expect(none.json.error).toMatchObject({
      code: 'INVALID_REQUEST',
      message: expect.stringContaining('items'),
    });
    const many = await post({ items: Array.from({ length: 101 }, (_, i) => ({ oAuthorId: `m${i}` })) });
    expect(many.status).toBe(400);
    expect(many.json.error?.code).toBe('INVALID_REQUEST');
    const badEnum = await post({
      items: [{ oAuthorId: 'a' }, { oAuthorId: 'b' }, { oAuthorId: 'c', platform: 'TV' }],
    });
    expect(badEnum.status).toBe(400);
    expect(badEnum.json.error?.message).toContain('items.2.platform');
    const badId = await post({ items: [{ oAuthorId: 'a/../b' }] });
    expect(badId.json.error?.message).toContain('items.0.oAuthorId');
    const unknownField = await post({ items: [{ oAuthorId: 'a', token: 'x' }] });
    expect(unknownField.status).toBe(400);
    expect(unknownField.json.error?.message).toContain('token');
    const stringBool = await post({ items: [{ oAuthorId: 'a', onlyAssign: 'true' }] });
    expect(stringBool.json.error?.message).toContain('items.0.onlyAssign');
    expect(sim.callCount).toBe(0);
  });

  it('answers 400 to broken JSON and 413 to an oversized body, with the contract error body', async () => {
    gw = await startGateway({ sim, redis: 'none' });
    const broken = await post('{"items":[{"oAuthorId":"a"}');
    expect(broken.status).toBe(400);
    expect(broken.json.error).toMatchObject({ code: 'INVALID_REQUEST', requestId: expect.any(String) });
    const huge = await post({ items: [{ oAuthorId: 'a' }], pad: 'x'.repeat(70 * 1024) });
    expect(huge.status).toBe(413);
    expect(huge.json.error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', requestId: expect.any(String) });
    expect(sim.callCount).toBe(0);
  });

  it('needs a key when keys are configured', async () => {
    gw = await startGateway({ sim, redis: 'none', env: { API_KEYS: `svc:${CALLER_KEY}` } });
    expect((await post({ items: [{ oAuthorId: 'k1' }] })).status).toBe(401);
    const ok = await post({ items: [{ oAuthorId: 'k1' }] }, { 'x-api-key': CALLER_KEY });
    expect(ok.json.results[0]?.status).toBe(200);
    expect(ok.headers.get('ratelimit-limit')).toBe('600');
  });
});

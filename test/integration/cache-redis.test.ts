// Cache tier against a real Redis: two gateway instances (two app objects on one Redis, one
// simulated upstream) share entries, coalesce misses and see each other's purges.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorBody } from '../../src/plugins/error-handler.js';
import { type SimUpstream, startSimUpstream } from '../../src/sim/upstream-server.js';
import { ADMIN_KEY, CALLER_KEY, type Gateway, startGateway, TEST_TOKEN } from '../helpers/gateway.js';
import { redisClient, redisClusterClient, testClusterNodes, uniquePrefix } from '../helpers/redis.js';

const KEYS = { API_KEYS: `svc:${CALLER_KEY}`, ADMIN_API_KEYS: `ops:${ADMIN_KEY}` };
const auth = { 'x-api-key': CALLER_KEY };
const admin = { 'x-api-key': ADMIN_KEY };

const modes = testClusterNodes() ? (['single', 'cluster'] as const) : (['single'] as const);

describe.each(modes)('cache tier on Redis (%s)', (mode) => {
  let sim: SimUpstream;
  const open: Gateway[] = [];
  const pair = async (env: Record<string, string> = {}) => {
    const prefix = uniquePrefix('cache');
    const a = await startGateway({ sim, prefix, redis: mode, env: { ...KEYS, ...env } });
    const b = await startGateway({ sim, prefix, redis: mode, env: { ...KEYS, ...env } });
    open.push(a, b);
    return [a, b] as const;
  };

  beforeAll(async () => {
    sim = await startSimUpstream({ token: TEST_TOKEN });
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((g) => g.close()));
    sim.reset();
  });
  afterAll(async () => {
    await sim.close();
  });

  it('answers MISS then HIT, and the other instance HITs from Redis', async () => {
    const [a, b] = await pair();
    const first = await a.get('/v1/authors/7001/spread-info', auth);
    expect(first.status).toBe(200);
    expect(first.headers.get('x-cache')).toBe('MISS');
    const second = await a.get('/v1/authors/7001/spread-info', auth);
    expect(second.headers.get('x-cache')).toBe('HIT');
    const other = await b.get('/v1/authors/7001/spread-info', auth);
    expect(other.headers.get('x-cache')).toBe('HIT');
    expect((other.json as { metrics: unknown }).metrics).toEqual(
      (first.json as { metrics: unknown }).metrics,
    );
    expect(sim.callCount).toBe(1);
  });

  it('gives defaults and explicit defaults one key', async () => {
    const [a, b] = await pair();
    await a.get('/v1/authors/7002/spread-info', auth);
    const explicit = await b.get(
      '/v1/authors/7002/spread-info?platform=SHORT_VIDEO&range=DAY_30&type=PERSONAL_VIDEO&onlyAssign=false&flowType=EXCLUDE',
      auth,
    );
    expect(explicit.headers.get('x-cache')).toBe('HIT');
    expect(sim.callCount).toBe(1);
  });

  it('costs one upstream call for 200 concurrent identical misses over two instances', async () => {
    const [a, b] = await pair();
    sim.setDelay(300);
    const asks = Array.from({ length: 200 }, (_, i) =>
      (i % 2 ? a : b).get('/v1/authors/7003/spread-info', auth),
    );
    const answers = await Promise.all(asks);
    expect(answers.every((r) => r.status === 200)).toBe(true);
    expect(sim.callsFor('7003')).toHaveLength(1);
    const bodies = new Set(answers.map((r) => JSON.stringify((r.json as { metrics: unknown }).metrics)));
    expect(bodies.size).toBe(1);
  });

  it('remembers a 201 "no content" as 404 without a new upstream call', async () => {
    const [a, b] = await pair();
    expect((await a.get('/v1/authors/notfound7004/spread-info', auth)).status).toBe(404);
    const again = await b.get('/v1/authors/notfound7004/spread-info', auth);
    expect(again.status).toBe(404);
    expect((again.json as ErrorBody).error.code).toBe('AUTHOR_NOT_FOUND');
    expect(sim.callCount).toBe(1);
  });

  it('serves stale at once and refreshes once across instances (SWR)', async () => {
    const [a, b] = await pair({ CACHE_FRESH_SECONDS: '1', CACHE_L1_SECONDS: '0' });
    await a.get('/v1/authors/7005/spread-info', auth);
    await new Promise((r) => setTimeout(r, 1100));
    sim.setDelay(1500);
    // That stale answers do not wait for the refresh is a unit-tested rule; here: one refresh in all.
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).get('/v1/authors/7005/spread-info', auth)),
    );
    expect(answers.every((r) => r.headers.get('x-cache') === 'STALE')).toBe(true);
    expect(answers.every((r) => (r.json as { meta: { stale: boolean } }).meta.stale)).toBe(true);
    await new Promise((r) => setTimeout(r, 1800));
    expect(sim.callsFor('7005')).toHaveLength(2);
    const after = await b.get('/v1/authors/7005/spread-info', auth);
    expect(after.headers.get('x-cache')).toBe('HIT');
  });

  it('answers HIT after another instance refreshed: a copy past fresh never answers while Redis is up', async () => {
    // The in-process copies may answer alone for a minute, far longer than the entry stays fresh.
    const [a, b] = await pair({ CACHE_FRESH_SECONDS: '1', CACHE_L1_SECONDS: '60' });
    const path = '/v1/authors/7012/spread-info';
    expect((await a.get(path, auth)).headers.get('x-cache')).toBe('MISS');
    expect((await b.get(path, auth)).headers.get('x-cache')).toBe('HIT');
    await new Promise((r) => setTimeout(r, 1100));
    // b finds the entry stale and refreshes it in Redis (in the background, after answering).
    expect((await b.get(path, auth)).headers.get('x-cache')).toBe('STALE');
    await expect.poll(() => sim.callsFor('7012').length, { timeout: 3000 }).toBe(2);
    await expect.poll(async () => (await b.get(path, auth)).headers.get('x-cache')).toBe('HIT');
    // a's copy is past fresh too, but Redis holds the newer answer: a answers from it.
    const fromA = await a.get(path, auth);
    expect(fromA.headers.get('x-cache')).toBe('HIT');
    expect((fromA.json as { meta: { stale: boolean } }).meta.stale).toBe(false);
    expect(sim.callsFor('7012')).toHaveLength(2);
  });

  it.each([
    ['HTTP 500', { httpStatus: 500 }],
    ['code 500', { code: 500 }],
    ['code 301 (after retries)', { code: 301 }],
    ['code 302', { code: 302 }],
    ['code 303', { code: 303 }],
    ['malformed body', { malformed: true as const }],
    ['timeout', { hang: true as const }],
  ])('answers stale when the upstream fails: %s', async (_name, behaviour) => {
    const [a, b] = await pair({
      CACHE_FRESH_SECONDS: '1',
      CACHE_L1_SECONDS: '0',
      UPSTREAM_TIMEOUT_MS: '500',
    });
    await a.get('/v1/authors/7006/spread-info', auth);
    await new Promise((r) => setTimeout(r, 1100));
    sim.setBehaviour(behaviour);
    // A forced refresh waits for the upstream, so the failure is what decides the answer.
    const r = await b.get('/v1/authors/7006/spread-info', { ...admin, 'cache-control': 'no-cache' });
    expect(r.status).toBe(200);
    expect(r.headers.get('x-cache')).toBe('STALE');
    expect((r.json as { meta: { stale: boolean } }).meta.stale).toBe(true);
  });

  it('purges every variant, and the purge reaches the other instance L1', async () => {
    const [a, b] = await pair({ CACHE_L1_SECONDS: '60' });
    await a.get('/v1/authors/7007/spread-info', auth);
    await a.get('/v1/authors/7007/spread-info?range=DAY_90', auth);
    expect((await b.get('/v1/authors/7007/spread-info', auth)).headers.get('x-cache')).toBe('HIT');
    const res = await fetch(`${a.url}/v1/authors/7007/spread-info/cache`, {
      method: 'DELETE',
      headers: admin,
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ deleted: 2 });
    await new Promise((r) => setTimeout(r, 100));
    expect((await b.get('/v1/authors/7007/spread-info', auth)).headers.get('x-cache')).toBe('MISS');
    expect(sim.callsFor('7007')).toHaveLength(3);
  });

  it('forces a refresh only for admin keys', async () => {
    const [a] = await pair();
    await a.get('/v1/authors/7008/spread-info', auth);
    const ignored = await a.get('/v1/authors/7008/spread-info', { ...auth, 'cache-control': 'no-cache' });
    expect(ignored.headers.get('x-cache')).toBe('HIT');
    const forced = await a.get('/v1/authors/7008/spread-info', { ...admin, 'cache-control': 'no-cache' });
    expect(forced.headers.get('x-cache')).toBe('BYPASS');
    expect(sim.callsFor('7008')).toHaveLength(2);
  });

  it('keys entries by a versioned, encoded tuple with fresh+stale TTL', async () => {
    const [a] = await pair({ CACHE_FRESH_SECONDS: '100', CACHE_STALE_SECONDS: '50' });
    await a.get('/v1/authors/7009/spread-info', auth);
    const r = mode === 'cluster' ? redisClusterClient() : redisClient();
    try {
      const key = `${a.prefix}v1:{a:${Buffer.from('7009').toString('base64url')}}:SHORT_VIDEO:DAY_30:PERSONAL_VIDEO:0:EXCLUDE`;
      const keys = (await r.exists(key)) ? [key] : [];
      expect(keys).toEqual([
        `${a.prefix}v1:{a:${Buffer.from('7009').toString('base64url')}}:SHORT_VIDEO:DAY_30:PERSONAL_VIDEO:0:EXCLUDE`,
      ]);
      const ttl = await r.ttl(keys[0]!);
      expect(ttl).toBeGreaterThan(140);
      expect(ttl).toBeLessThanOrEqual(150);
      const stored = JSON.parse((await r.get(keys[0]!))!);
      expect(stored).toMatchObject({
        kind: 'ok',
        requestId: expect.any(String),
        fetchedAt: expect.any(Number),
      });
    } finally {
      r.disconnect();
    }
  });
});

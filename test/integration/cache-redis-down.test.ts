// Redis stopped mid-test: cached answers keep coming, nothing hangs, the outage shows in /readyz
// and is logged once; Redis restarted: the gateway uses it again by itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SimUpstream, startSimUpstream } from '../../src/sim/upstream-server.js';
import { type Gateway, startGateway, TEST_TOKEN } from '../helpers/gateway.js';
import { redisClient, uniquePrefix } from '../helpers/redis.js';
import { type RedisProcess, startRedisServer } from '../helpers/redis-server.js';

const until = async (what: () => Promise<boolean>, ms = 8000) => {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await what()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
};

describe('cache tier while Redis is down', () => {
  let redis: RedisProcess;
  let sim: SimUpstream;
  let gw: Gateway;

  beforeAll(async () => {
    redis = await startRedisServer();
    sim = await startSimUpstream({ token: TEST_TOKEN });
    gw = await startGateway({
      sim,
      prefix: uniquePrefix('down'),
      env: { REDIS_URL: redis.url, CACHE_L1_SECONDS: '0' },
    });
  });
  afterAll(async () => {
    await gw.close();
    await sim.close();
    await redis.stop();
  });

  it('keeps answering, then resumes caching in Redis', async () => {
    expect((await gw.get('/v1/authors/8001/spread-info')).headers.get('x-cache')).toBe('MISS');
    expect((await gw.get('/readyz')).status).toBe(200);

    await redis.stop();
    expect(await until(async () => (await gw.get('/readyz')).status === 503)).toBe(true);

    // Already cached: answered from the in-process copy, quickly.
    const started = Date.now();
    const cached = await gw.get('/v1/authors/8001/spread-info');
    expect(cached.status).toBe(200);
    expect(cached.headers.get('x-cache')).toBe('HIT');
    // New keys: one upstream call per key, however many ask.
    const asks = await Promise.all(Array.from({ length: 30 }, () => gw.get('/v1/authors/8002/spread-info')));
    expect(asks.every((r) => r.status === 200)).toBe(true);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(sim.callsFor('8002')).toHaveLength(1);
    expect(sim.callsFor('8001')).toHaveLength(1);
    // Once per connection (the caller limits have their own), not once per request.
    const downLines = gw.logs.filter(
      (l) => l.includes('Redis connection down') && l.includes('"redis":"cache"'),
    );
    expect(downLines).toHaveLength(1);

    await redis.restart();
    expect(await until(async () => (await gw.get('/readyz')).status === 200)).toBe(true);
    // Redis came back empty: the answer kept in process is put back, not bought again.
    expect((await gw.get('/v1/authors/8001/spread-info')).headers.get('x-cache')).toBe('HIT');
    expect(sim.callsFor('8001')).toHaveLength(1);
    expect((await gw.get('/v1/authors/8003/spread-info')).headers.get('x-cache')).toBe('MISS');
    const client = redisClient(redis.url);
    try {
      // 8002, fetched while Redis was away, is written back too: other instances need not buy it.
      expect(await until(async () => (await client.keys(`${gw.prefix}v1:*`)).length === 3)).toBe(true);
    } finally {
      client.disconnect();
    }
    expect(gw.logs.filter((l) => l.includes('Redis connection up')).length).toBeGreaterThanOrEqual(1);
  });
});

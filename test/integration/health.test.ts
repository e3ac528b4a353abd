// /healthz says the process is alive; /readyz follows Redis. Neither is logged per request nor
// rate limited: a load balancer probes them every few seconds, forever.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Gateway, startGateway } from '../helpers/gateway.js';
import { sample, until } from '../helpers/prometheus.js';
import { type RedisProcess, startRedisServer } from '../helpers/redis-server.js';

describe('health and readiness', () => {
  let redis: RedisProcess;
  let gw: Gateway;

  beforeAll(async () => {
    redis = await startRedisServer();
    gw = await startGateway({ env: { REDIS_URL: redis.url, CALLER_RATE_LIMIT: '2' } });
  });
  afterAll(async () => {
    await gw.close();
    await redis.stop();
  });

  const redisUp = async () => sample((await gw.get('/metrics')).body, 'gateway_redis_up');

  it('is ready while Redis answers, not ready while it is down, and ready again after', async () => {
    const ready = await gw.get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json).toMatchObject({ status: 'ready', checks: { redis: 'ok' } });
    expect(await redisUp()).toBe(1);

    await redis.stop();
    expect(await until(async () => (await gw.get('/readyz')).status === 503, 5000)).toBe(true);
    const down = await gw.get('/readyz');
    expect(down.json).toMatchObject({
      status: 'not ready',
      checks: { redis: expect.stringMatching(/redis/i) },
    });
    expect(await redisUp()).toBe(0);
    // Alive all the while: an orchestrator must not restart the process for a Redis outage.
    expect((await gw.get('/healthz')).status).toBe(200);

    await redis.restart();
    expect(await until(async () => (await gw.get('/readyz')).status === 200)).toBe(true);
    expect(await redisUp()).toBe(1);
  });

  it('answers probes without logging each one and without spending the caller limit', async () => {
    const before = gw.logs.length;
    const probes = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        gw.get(i % 2 ? '/healthz' : '/readyz', { 'x-request-id': `probe-${i}` }),
      ),
    );
    expect(probes.map((p) => p.status)).toEqual(Array(10).fill(200));
    expect(probes[0]?.headers.get('ratelimit-limit')).toBeNull();
    expect(probes[1]?.json).toEqual({ status: 'ok' });
    const logged = gw.logs.slice(before).filter((l) => /healthz|readyz|probe-\d/.test(l));
    expect(logged).toEqual([]);
    // The same gateway does log ordinary requests, so the silence above is not a broken capture.
    await gw.get('/v1/authors/health1/spread-info', { 'x-request-id': 'probe-normal' });
    expect(gw.logs.some((l) => l.includes('probe-normal'))).toBe(true);
  });
});

describe('readiness and the credential circuit', () => {
  it('is not ready while the upstream refuses the gateway credentials, and says why', async () => {
    const gw = await startGateway({ redis: 'none' });
    try {
      expect((await gw.get('/readyz')).status).toBe(200);
      const refused = await gw.get('/v1/authors/code601z/spread-info');
      expect(refused.status).toBe(503);
      expect(refused.json).toMatchObject({ error: { code: 'UPSTREAM_CREDENTIALS', upstreamCode: 601 } });
      const ready = await gw.get('/readyz');
      expect(ready.status).toBe(503);
      expect(ready.json).toMatchObject({
        checks: { 'upstream-credentials': expect.stringContaining('601') },
      });
      expect(sample((await gw.get('/metrics')).body, 'gateway_upstream_circuit_state')).toBe(3);
      expect((await gw.get('/healthz')).status).toBe(200);
    } finally {
      await gw.close();
    }
  });
});

// Redis goes away under a running gateway: budgets fall back to per-instance shares (never to
// "unlimited"), and what was spent meanwhile is counted when Redis is back.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { quotaDayId } from '../../src/governance/quota-day.js';
import { type Gateway, startGateway } from '../helpers/gateway.js';
import { redisClient } from '../helpers/redis.js';
import { hasBinary, type RedisProcess, startRedisServer } from '../helpers/redis-server.js';

let srv: RedisProcess | undefined;
let gw: Gateway | undefined;
afterEach(async () => {
  await gw?.close();
  await srv?.stop();
  gw = undefined;
  srv = undefined;
});

async function gatewayThenRedisDown(env: Record<string, string>): Promise<Gateway> {
  srv = await startRedisServer();
  gw = await startGateway({ env: { REDIS_URL: srv.url, ...env } });
  expect(gw.app.redis?.up).toBe(true);
  await srv.stop();
  const app = gw.app;
  await vi.waitFor(() => expect(app.redis?.up).toBe(false), { timeout: 5000 });
  return gw;
}

const asks = (g: Gateway, n: number, tag: string) =>
  Promise.all(Array.from({ length: n }, (_, i) => g.get(`/v1/authors/${tag}${i}/spread-info`)));

describe.skipIf(!hasBinary('redis-server'))('Redis down', () => {
  it('spends only this instance share of the rate: 4/s over 2 instances is 2/s here', async () => {
    const g = await gatewayThenRedisDown({
      UPSTREAM_MAX_RPS: '4',
      EXPECTED_INSTANCES: '2',
      UPSTREAM_MAX_WAIT_MS: '10000',
    });
    const results = await asks(g, 6, 'down');
    expect(results.map((r) => r.status)).toEqual(Array(6).fill(200));
    // Per-caller limits kept counting in memory: headers still there, no 500.
    expect(results[5]!.headers.get('ratelimit-limit')).toBe('600');
    const at = g.sim.calls.map((c) => c.at).sort((x, y) => x - y);
    const spread = at.at(-1)! - at[0]!;
    // Slots 500 ms apart: 2.5 s. Shared (4/s) it would be 1.25 s; unlimited, a few ms.
    expect(spread).toBeGreaterThanOrEqual(2000);
    expect(spread).toBeLessThanOrEqual(5000);
  });

  it('spends only this instance share of the daily quota, and Redis counts it once back', async () => {
    const g = await gatewayThenRedisDown({ UPSTREAM_DAILY_QUOTA: '10', EXPECTED_INSTANCES: '2' });
    const down = await asks(g, 7, 'quota');
    expect(g.sim.callCount).toBe(5);
    expect(down.filter((r) => r.status === 503)).toHaveLength(2);

    await srv!.restart(); // comes back empty: the count must come from the gateway
    const app = g.app;
    await vi.waitFor(() => expect(app.redis?.up).toBe(true), { timeout: 8000 });
    expect((await g.get('/v1/authors/back0/spread-info')).status).toBe(200);
    const client = redisClient(srv!.url);
    const day = quotaDayId(Date.now(), 'Asia/Shanghai');
    expect(await client.get(`${g.prefix}{gov}:quota:${day}`)).toBe('6');
    client.disconnect();
  });
});

// Redis goes away under a running gateway: a caller's daily share falls back to this instance's
// part (never unlimited), usage keeps being counted in process, and both reach Redis once it is back.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { quotaDayId } from '../../src/governance/quota-day.js';
import { ADMIN_KEY, type Gateway, startGateway } from '../helpers/gateway.js';
import { redisClient } from '../helpers/redis.js';
import { hasBinary, type RedisProcess, startRedisServer } from '../helpers/redis-server.js';

const KEY_A = 'key-of-team-a-0123456789';

let srv: RedisProcess | undefined;
let gw: Gateway | undefined;
afterEach(async () => {
  await gw?.close();
  await srv?.stop();
  gw = undefined;
  srv = undefined;
});

describe.skipIf(!hasBinary('redis-server'))('caller shares with Redis down', () => {
  it("spends only this instance's part of a share while down, and Redis counts it once back", async () => {
    srv = await startRedisServer();
    gw = await startGateway({
      env: {
        REDIS_URL: srv.url,
        API_KEYS: `A:${KEY_A}`,
        ADMIN_API_KEYS: `ops:${ADMIN_KEY}`,
        CALLER_UPSTREAM_DAILY: 'A=10',
        EXPECTED_INSTANCES: '2',
      },
    });
    const g = gw;
    await srv.stop();
    await vi.waitFor(() => expect(g.app.redis?.up).toBe(false), { timeout: 5000 });

    const down = await Promise.all(
      Array.from({ length: 8 }, (_, i) => g.get(`/v1/authors/down${i}/spread-info`, { 'x-api-key': KEY_A })),
    );
    expect(g.sim.callCount).toBe(5); // 10 / 2 instances
    expect(down.filter((r) => r.status === 429)).toHaveLength(3);

    await srv.restart(); // back empty: the counts must come from the gateway
    await vi.waitFor(() => expect(g.app.redis?.up).toBe(true), { timeout: 8000 });
    expect((await g.get('/v1/authors/back0/spread-info', { 'x-api-key': KEY_A })).status).toBe(200);
    const client = redisClient(srv.url);
    const day = quotaDayId(Date.now(), 'Asia/Shanghai');
    expect(await client.hget(`${g.prefix}share:${day}`, 'caller:A')).toBe('6');
    client.disconnect();
    await vi.waitFor(
      async () => {
        const res = await g.get('/v1/usage', { 'x-api-key': ADMIN_KEY });
        const a = (res.json as { callers: Array<Record<string, unknown>> }).callers.find(
          (c) => c.caller === 'A',
        );
        expect(a).toMatchObject({
          requests: 9,
          upstreamCalls: 6,
          refused: { daily_share: 3 },
          share: { limit: 10, used: 6, left: 4 },
        });
      },
      { timeout: 5000, interval: 200 },
    );
    expect(g.sim.callCount).toBe(6);
  });
});

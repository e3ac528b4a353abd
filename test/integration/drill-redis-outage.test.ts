// Fault drill: the gateway's Redis is stopped and restarted while concurrent clients keep asking.
// While it is away no request waits 2 s or more, keys cached before keep being answered, the
// upstream gets at most one call per key; once it is back, caching in Redis resumes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tupleKey } from '../../src/cache/keys.js';
import { QUERY_DEFAULTS } from '../../src/upstream/params.js';
import { type Gateway, startGateway } from '../helpers/gateway.js';
import { redisClient, uniquePrefix } from '../helpers/redis.js';
import { type RedisProcess, startRedisServer } from '../helpers/redis-server.js';

const CLIENTS = 12;
const CONTRACT_MAX_WAIT_MS = 2000;
const WARM = Array.from({ length: 8 }, (_, i) => `outagewarm${i}`);
const COLD = Array.from({ length: 8 }, (_, i) => `outagecold${i}`);
const AFTER = 'outageafter1';

interface Sample {
  key: string;
  start: number;
  ms: number;
  status: number;
  cache: string | null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: () => Promise<boolean>, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) if (await what()) return true;
  return false;
}

let redis: RedisProcess;
let gw: Gateway;
beforeAll(async () => {
  redis = await startRedisServer();
  gw = await startGateway({
    prefix: uniquePrefix('drill-outage'),
    // No L1 window: before the outage every answer comes from Redis, so the outage is felt at once.
    env: { REDIS_URL: redis.url, CACHE_L1_SECONDS: '0', CALLER_RATE_LIMIT: '10000000', LOG_LEVEL: 'warn' },
    simOptions: { delayMs: 20 },
  });
});
afterAll(async () => {
  await gw?.close();
  await redis?.stop();
});

const readyz = async () => (await fetch(`${gw.url}/readyz`)).status;
const redisKey = (id: string) => gw.prefix + tupleKey({ oAuthorId: id, ...QUERY_DEFAULTS });

/** One client: asks for a random key of the current pool, back to back, until told to stop. */
async function client(pool: () => string[], stop: { now: boolean }, out: Sample[]): Promise<void> {
  while (!stop.now) {
    const keys = pool();
    const key = keys[Math.floor(Math.random() * keys.length)]!;
    const start = Date.now();
    let status = -1;
    let cache: string | null = null;
    try {
      const res = await fetch(`${gw.url}/v1/authors/${key}/spread-info`, {
        signal: AbortSignal.timeout(10_000),
      });
      await res.arrayBuffer();
      status = res.status;
      cache = res.headers.get('x-cache');
    } catch {
      // Counted as status -1: a refused or timed-out request fails the drill below.
    }
    out.push({ key, start, ms: Date.now() - start, status, cache });
  }
}

describe('Redis stopped and restarted under load', () => {
  it('keeps answering within the bound, calls the upstream once per key, then caches in Redis again', async () => {
    const inspect = redisClient(redis.url);
    try {
      for (const id of WARM) expect((await gw.get(`/v1/authors/${id}/spread-info`)).status).toBe(200);
      expect((await inspect.keys(`${gw.prefix}v1:*`)).sort()).toEqual(WARM.map(redisKey).sort());
    } finally {
      inspect.disconnect();
    }

    let pool = WARM;
    const stop = { now: false };
    const samples: Sample[] = [];
    const clients = Array.from({ length: CLIENTS }, () => client(() => pool, stop, samples));
    await sleep(300);

    const downAt = Date.now();
    await redis.stop();
    const noticed = await until(async () => (await readyz()) === 503, 5000);
    pool = [...WARM, ...COLD];
    await sleep(1500);

    const restartAt = Date.now();
    await redis.restart();
    const back = await until(async () => (await readyz()) === 200, 10_000);
    await sleep(300);
    stop.now = true;
    await Promise.all(clients);

    expect(noticed, 'the gateway never reported Redis down').toBe(true);
    expect(back, 'the gateway never reported Redis back').toBe(true);
    const during = samples.filter((s) => s.start >= downAt && s.start < restartAt);
    // Load really ran while Redis was away (each client asked at least once; a busy CI box is slow).
    expect(during.length).toBeGreaterThanOrEqual(CLIENTS);
    expect(samples.filter((s) => s.status !== 200)).toEqual([]);
    expect(Math.max(...samples.map((s) => s.ms))).toBeLessThan(CONTRACT_MAX_WAIT_MS);
    // Keys cached before the outage are answered from the in-process copy, never refetched.
    const warmDuring = during.filter((s) => WARM.includes(s.key));
    expect(warmDuring.length).toBeGreaterThan(0);
    expect(warmDuring.filter((s) => s.cache !== 'HIT')).toEqual([]);

    const callsWhileAway = new Map<string, number>();
    for (const c of gw.sim.calls.filter((c) => c.at >= downAt && c.at < restartAt)) {
      const id = c.query['oAuthorId'] ?? '?';
      callsWhileAway.set(id, (callsWhileAway.get(id) ?? 0) + 1);
    }
    for (const id of WARM) expect(callsWhileAway.get(id) ?? 0, id).toBe(0);
    // Every cold key was asked for while Redis was away, and fetched exactly once.
    for (const id of COLD) expect(callsWhileAway.get(id), id).toBe(1);

    expect((await gw.get(`/v1/authors/${AFTER}/spread-info`)).headers.get('x-cache')).toBe('MISS');
    const after = redisClient(redis.url);
    try {
      expect(await after.exists(redisKey(AFTER))).toBe(1);
    } finally {
      after.disconnect();
    }
  }, 60_000);
});

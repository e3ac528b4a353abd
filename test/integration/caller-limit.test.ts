// The per-caller request limit's in-process counting (limits/caller-limit.ts) against a Redis of its
// own, so INFO commandstats counts exactly this file's commands: a hot caller costs one command per
// flush instead of one per request, instances that count in process between flushes stay within the
// documented bound, and windows begin and end when Redis says. The cross-instance behaviour through
// the app (sequential requests counted exactly) is pinned in access.test.ts and batch-limits.test.ts.
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CallerLimiter, HOT_REQUESTS, type LimitCount } from '../../src/limits/caller-limit.js';
import { RedisConnection } from '../../src/redis/connection.js';
import { redisClient, uniquePrefix } from '../helpers/redis.js';
import { hasBinary, type RedisProcess, startRedisServer } from '../helpers/redis-server.js';

const log = pino({ level: 'silent' });

describe.skipIf(!hasBinary('redis-server'))('caller limit: hot callers counted in process', () => {
  let srv: RedisProcess;
  const open: Array<{ close(): Promise<void> }> = [];
  beforeAll(async () => {
    srv = await startRedisServer();
  });
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await o.close();
  });
  afterAll(async () => {
    await srv.stop();
  });

  async function limiters(n: number, limit: number, windowMs = 60_000, flushMs?: number) {
    const namespace = uniquePrefix('climit');
    const out: CallerLimiter[] = [];
    for (let i = 0; i < n; i++) {
      const conn = new RedisConnection({ url: srv.url }, log, 'rate-limit');
      await conn.waitReady();
      const l = new CallerLimiter({ redis: conn, namespace, instances: 1, limit, windowMs, flushMs });
      open.push(conn, l);
      out.push(l);
    }
    return { namespace, limiters: out };
  }

  const scripts = async () => {
    const r = redisClient(srv.url);
    try {
      const text = await r.info('commandstats');
      let n = 0;
      for (const m of text.matchAll(/^cmdstat_(evalsha|eval):calls=(\d+)/gm)) n += Number(m[2]);
      return n;
    } finally {
      r.disconnect();
    }
  };

  const take = async (l: CallerLimiter, key = 'caller:svc'): Promise<LimitCount & { sync: boolean }> => {
    const r = l.take(key);
    return r instanceof Promise ? { ...(await r), sync: false } : { ...r, sync: true };
  };

  it('asks Redis for the first requests, then counts in process and flushes one command per period', async () => {
    const {
      namespace,
      limiters: [l],
    } = await limiters(1, 100_000);
    const before = await scripts();
    const seen: Array<LimitCount & { sync: boolean }> = [];
    for (let i = 0; i < 1000; i++) seen.push(await take(l!));
    const commands = (await scripts()) - before;
    // Exactly counted: one instance alone sees every count.
    expect(seen.map((s) => s.current)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(seen.slice(0, HOT_REQUESTS - 1).every((s) => !s.sync)).toBe(true);
    expect(seen.slice(HOT_REQUESTS + 1).every((s) => s.sync)).toBe(true);
    // The first requests, then a flush every 100 ms while the loop ran (it takes well under 5 s).
    expect(commands).toBeLessThan(HOT_REQUESTS + 50);
    await l!.flush();
    const r = redisClient(srv.url);
    open.push({ close: async () => r.disconnect() });
    expect(await r.get(`${namespace}caller:svc`)).toBe('1000');
  });

  it("a burst at a window's start: the first requests ask Redis, the rest wait for their answer", async () => {
    const {
      namespace,
      limiters: [l],
    } = await limiters(1, 100_000);
    const before = await scripts();
    const burst = await Promise.all(Array.from({ length: 200 }, () => l!.take('caller:burst')));
    expect(burst.map((r) => r.current).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 200 }, (_, i) => i + 1),
    );
    expect((await scripts()) - before).toBeLessThanOrEqual(HOT_REQUESTS + 2);
    await l!.flush();
    const r = redisClient(srv.url);
    open.push({ close: async () => r.disconnect() });
    expect(await r.get(`${namespace}caller:burst`)).toBe('200');
  });

  it('two instances near the limit: each asks Redis again before the other could take it over', async () => {
    const limit = 200;
    const burst = 25;
    // Flushed by the test after each round: a period is exactly one burst per instance.
    const {
      limiters: [a, b],
    } = await limiters(2, limit, 60_000, 0);
    let admitted = 0;
    let local = 0;
    for (let round = 0; round < 30; round++) {
      for (const l of [a!, b!])
        for (let i = 0; i < burst; i++) {
          const r = await take(l);
          if (r.current <= limit) admitted++;
          if (r.sync) local++;
        }
      await Promise.all([a!.flush(), b!.flush()]);
    }
    expect(local).toBeGreaterThan(burst * 10); // most requests were answered in process
    // Counting in process alone would admit up to one period of the other instance too (225 here):
    // at a steady rate the margin (what the other added last periods) turns that into none.
    expect(admitted).toBe(limit);
  });

  it('two instances bursting at once from the start of a window: at most 1.5x the limit (README)', async () => {
    // Each instance gets 50 requests every 10 ms (5,000/s): the limit is reached within the first
    // flush periods, before either has heard of the other's counts. Each takes at most its share of
    // what Redis last said was left; without that, each could admit the whole limit (up to 2x).
    const limit = 600;
    const {
      limiters: [a, b],
    } = await limiters(2, limit);
    let admitted = 0;
    const pending: Array<Promise<void>> = [];
    for (let attempts = 0; attempts < 3 * limit; ) {
      for (const l of [a!, b!])
        for (let i = 0; i < 50; i++, attempts++) {
          const r = l.take('caller:burst2');
          if (r instanceof Promise) pending.push(r.then((x) => void (x.current <= limit && admitted++)));
          else if (r.current <= limit) admitted++;
        }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await Promise.all(pending);
    expect(admitted).toBeGreaterThanOrEqual(limit);
    expect(admitted).toBeLessThanOrEqual(1.5 * limit);
  });

  it('follows Redis: a window it ended takes none of the late counts, and the next request starts the new one', async () => {
    const {
      namespace,
      limiters: [l],
    } = await limiters(1, 100_000);
    for (let i = 0; i < 50; i++) await take(l!);
    await l!.flush();
    const r = redisClient(srv.url);
    open.push({ close: async () => r.disconnect() });
    expect(await r.get(`${namespace}caller:svc`)).toBe('50');
    await r.del(`${namespace}caller:svc`); // the window ended, as far as Redis knows
    for (let i = 0; i < 5; i++) expect((await take(l!)).sync).toBe(true); // not known here yet
    await l!.flush(); // refused by Redis: an ended window
    expect(await r.exists(`${namespace}caller:svc`)).toBe(0);
    const next = await take(l!);
    expect(next).toMatchObject({ sync: false, current: 1 });
    expect(await r.get(`${namespace}caller:svc`)).toBe('1');
  });

  it('ends a window when its time is up: the first request after it asks Redis and counts from 1', async () => {
    const {
      limiters: [l],
    } = await limiters(1, 100_000, 1000);
    for (let i = 0; i < 30; i++) await take(l!);
    expect((await take(l!)).sync).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(await take(l!)).toMatchObject({ sync: false, current: 1 });
  });
});

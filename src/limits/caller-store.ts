// Fixed windows counted in Redis, shared by all instances, one awaited command per count (the
// failed-credential limit; the per-caller request limit adds in-process counting, caller-limit.ts).
// When Redis does not answer, each instance counts in memory and reports its count times
// EXPECTED_INSTANCES: with requests spread over the instances that estimates the caller's total, so
// the limit stays about the same; never unlimited, and never an error for the caller.
import type { Result } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { RedisConnection } from '../redis/connection.js';

// ARGV: window ms, how many requests this counts (a batch counts its distinct items).
export const HIT_LUA = `
local current = redis.call('INCRBY', KEYS[1], ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {current, ttl}
`;

export interface CallerStoreOptions {
  redis: RedisConnection | null;
  /** Namespace of the counters, e.g. `${keyPrefix}rl:`. */
  namespace: string;
  instances: number;
  /** Most callers tracked in memory at once (the fallback's bound). */
  maxLocalKeys?: number;
}

type Count = { current: number; ttl: number };
type HitCommand = (key: string, windowMs: number, n: number) => Promise<[number, number]>;

/** Counts `n` requests of a caller in its current window; never rejects. */
export type WindowCounter = (key: string, windowMs: number, n: number) => Promise<Count>;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** HIT_LUA: KEYS[1] the counter, ARGV[1] the window in ms, ARGV[2] how many; replies [count, ms left]. */
    xtgCallerHit(key: string, windowMs: number, n: number): Result<[number, number], Context>;
  }
}

/**
 * Windows counted in this process alone, each count reported times `instances` (Redis down or unset).
 * Synchronous: the caller limit answers from it without an await.
 */
export function localCounter(
  instances: number,
  maxKeys = 50_000,
  now: () => number = Date.now,
): (key: string, windowMs: number, n: number) => { current: number; ttlMs: number } {
  const local = new LRUCache<string, { count: number; resetAt: number }>({ max: maxKeys });
  return (key, windowMs, n) => {
    const t = now();
    let w = local.get(key);
    if (!w || w.resetAt <= t) {
      w = { count: 0, resetAt: t + windowMs };
      local.set(key, w);
    }
    w.count += n;
    return { current: w.count * instances, ttlMs: w.resetAt - t };
  };
}

/** Counting in Redis, one awaited script per count, in process while Redis does not answer. */
export function windowCounter(o: CallerStoreOptions): WindowCounter {
  const local = localCounter(o.instances, o.maxLocalKeys);
  const countLocally = (key: string, windowMs: number, n: number): Count => {
    const r = local(key, windowMs, n);
    return { current: r.current, ttl: r.ttlMs };
  };
  let hit: HitCommand | null = null;
  if (o.redis) {
    const client = o.redis.client;
    client.defineCommand('xtgCallerHit', { numberOfKeys: 1, lua: HIT_LUA });
    hit = (key, windowMs, n) => client.xtgCallerHit(key, windowMs, n);
  }

  return async (key, windowMs, n) => {
    if (!hit || !o.redis?.up) return countLocally(key, windowMs, n);
    try {
      const [current, ttl] = await hit(o.namespace + key, windowMs, n);
      return { current, ttl };
    } catch {
      return countLocally(key, windowMs, n);
    }
  };
}

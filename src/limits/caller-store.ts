// The @fastify/rate-limit store for per-caller limits: a fixed window counted in Redis, shared by
// all instances. When Redis does not answer, each instance counts in memory and reports its count
// times EXPECTED_INSTANCES: with requests spread over the instances that estimates the caller's
// total, so the limit stays about the same; never unlimited, and never an error for the caller.
import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { Result } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { RedisConnection } from '../redis/connection.js';

const HIT_LUA = `
local current = redis.call('INCR', KEYS[1])
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
type Callback = (error: Error | null, result?: Count) => void;
type HitCommand = (key: string, windowMs: number) => Promise<[number, number]>;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** HIT_LUA: KEYS[1] the counter, ARGV[1] the window in ms; replies [count, ms left]. */
    xtgCallerHit(key: string, windowMs: number): Result<[number, number], Context>;
  }
}

export function callerStore(o: CallerStoreOptions): FastifyRateLimitStoreCtor {
  const local = new LRUCache<string, { count: number; resetAt: number }>({ max: o.maxLocalKeys ?? 50_000 });
  let hit: HitCommand | null = null;
  if (o.redis) {
    const client = o.redis.client;
    client.defineCommand('xtgCallerHit', { numberOfKeys: 1, lua: HIT_LUA });
    hit = (key, windowMs) => client.xtgCallerHit(key, windowMs);
  }

  function countLocally(key: string, windowMs: number): Count {
    const now = Date.now();
    let w = local.get(key);
    if (!w || w.resetAt <= now) {
      w = { count: 0, resetAt: now + windowMs };
      local.set(key, w);
    }
    w.count++;
    return { current: w.count * o.instances, ttl: w.resetAt - now };
  }

  class CallerStore implements FastifyRateLimitStore {
    incr(key: string, cb: Callback, timeWindow: number): void {
      if (!hit || !o.redis?.up) {
        cb(null, countLocally(key, timeWindow));
        return;
      }
      hit(o.namespace + key, timeWindow).then(
        ([current, ttl]) => cb(null, { current, ttl }),
        () => cb(null, countLocally(key, timeWindow)),
      );
    }

    // Only the plugin's global limit is used (no per-route limits), so children share one store.
    child(): FastifyRateLimitStore {
      return this;
    }
  }
  return CallerStore;
}

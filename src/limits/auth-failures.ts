// Failed credentials per client address: past AUTH_FAILURES_PER_MINUTE in a minute, the address is
// answered 429 until the minute ends, without its credential being checked at all (so guessing
// keys or replaying bad tokens learns nothing and costs little). Counted in Redis for all
// instances, with the per-caller limits' store (in process while Redis is down). A success costs
// no Redis command: each instance remembers the addresses it saw go over, until their window ends.
import { LRUCache } from 'lru-cache';
import type { RedisConnection } from '../redis/connection.js';
import { type WindowCounter, windowCounter } from './caller-store.js';

const AUTH_FAILURE_WINDOW_MS = 60_000;

export interface AuthFailureOptions {
  redis: RedisConnection | null;
  /** e.g. `${keyPrefix}authfail:` */
  namespace: string;
  /** Failures allowed per address per minute; 0 turns the limit off. */
  limit: number;
  instances: number;
  now?: () => number;
}

export class AuthFailureLimiter {
  private readonly count: WindowCounter;
  /** Addresses known to be over the limit here, and until when (epoch ms). */
  private readonly blocked = new LRUCache<string, number>({ max: 100_000 });
  private readonly now: () => number;

  constructor(private readonly o: AuthFailureOptions) {
    this.count = windowCounter({ redis: o.redis, namespace: o.namespace, instances: o.instances });
    this.now = o.now ?? Date.now;
  }

  get enabled(): boolean {
    return this.o.limit > 0;
  }

  /** Whether any address is blocked here now: when none is, a request need not name its address. */
  get blocking(): boolean {
    return this.enabled && this.blocked.size > 0;
  }

  /** Seconds until the address may try again, or 0 when it may now. */
  retryAfter(address: string): number {
    if (!this.enabled) return 0;
    const until = this.blocked.get(address);
    if (until === undefined) return 0;
    const left = until - this.now();
    if (left <= 0) {
      this.blocked.delete(address);
      return 0;
    }
    return left / 1000;
  }

  /** Counts one failure; resolves with the seconds to wait when this one went over the limit, else 0. */
  async fail(address: string): Promise<number> {
    if (!this.enabled) return 0;
    const { current, ttl } = await this.count(address, AUTH_FAILURE_WINDOW_MS, 1);
    if (current <= this.o.limit) return 0;
    const ms = Math.max(1000, ttl);
    this.blocked.set(address, this.now() + ms);
    return ms / 1000;
  }
}

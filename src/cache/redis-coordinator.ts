// Cross-instance single flight on Redis: a lease per key (SET NX PX, so it expires if its holder
// dies), the holder's outcome kept briefly and published, and waiters woken by pub/sub with a
// short poll as a safety net. While Redis is down every instance leads for itself (in-process
// coalescing still makes that one call per key per instance).
import { randomUUID } from 'node:crypto';
import type { RedisConnection } from '../redis/connection.js';
import type { Coordinator, Lease, SharedOutcome } from './store.js';

const OUTCOME_TTL_MS = 10_000;
const POLL_MS = 250;

// Deletes the lease only if it is still ours (it may have expired and been taken by another).
const RELEASE = `
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`;

const noopLease: Lease = { release: async () => {} };

export class RedisCoordinator implements Coordinator {
  private readonly waiters = new Map<string, Set<(o: SharedOutcome) => void>>();

  constructor(
    private readonly redis: RedisConnection,
    subscriber: RedisConnection['client'],
    private readonly channel: string,
    private readonly prefix: string,
  ) {
    subscriber.on('message', (ch: string, message: string) => {
      if (ch !== channel) return;
      const nl = message.indexOf('\n');
      const key = message.slice(0, nl);
      const set = this.waiters.get(key);
      if (!set) return;
      const outcome = parseOutcome(message.slice(nl + 1)) ?? { ok: true };
      for (const resolve of set) resolve(outcome);
    });
    subscriber.subscribe(channel).catch(() => {});
  }

  private lockKey(key: string): string {
    return `${this.prefix}lock:${key}`;
  }

  private outcomeKey(key: string): string {
    return `${this.prefix}done:${key}`;
  }

  async acquire(key: string, ttlMs: number): Promise<Lease | null> {
    if (!this.redis.up) return noopLease;
    const token = randomUUID();
    try {
      const ok = await this.redis.client.set(this.lockKey(key), token, 'PX', Math.ceil(ttlMs), 'NX');
      if (ok !== 'OK') return null;
    } catch {
      return noopLease;
    }
    return {
      release: async (outcome) => {
        const json = JSON.stringify(outcome);
        try {
          await this.redis.client.eval(
            RELEASE,
            2,
            this.lockKey(key),
            this.outcomeKey(key),
            token,
            json,
            OUTCOME_TTL_MS,
          );
          await this.redis.client.publish(this.channel, `${key}\n${json}`);
        } catch {
          // Waiters fall back to polling the lease, which expires by itself.
        }
      },
    };
  }

  async wait(key: string, timeoutMs: number): Promise<SharedOutcome | 'timeout'> {
    return new Promise((resolve) => {
      const set = this.waiters.get(key) ?? new Set();
      this.waiters.set(key, set);
      const finish = (o: SharedOutcome | 'timeout') => {
        clearTimeout(deadline);
        clearInterval(poll);
        set.delete(onMessage);
        if (set.size === 0) this.waiters.delete(key);
        resolve(o);
      };
      const onMessage = (o: SharedOutcome) => finish(o);
      set.add(onMessage);
      const deadline = setTimeout(() => finish('timeout'), timeoutMs);
      // Covers a release published before we subscribed, and a lost message.
      const check = async () => {
        if (!this.redis.up) return finish('timeout');
        try {
          const [held, outcome] = await Promise.all([
            this.redis.client.exists(this.lockKey(key)),
            this.redis.client.get(this.outcomeKey(key)),
          ]);
          if (held === 0) finish((outcome && parseOutcome(outcome)) || { ok: true });
        } catch {
          finish('timeout');
        }
      };
      const poll = setInterval(check, POLL_MS);
      void check();
    });
  }
}

function parseOutcome(json: string): SharedOutcome | undefined {
  try {
    const v = JSON.parse(json) as SharedOutcome;
    return typeof v === 'object' && v !== null && typeof v.ok === 'boolean' ? v : undefined;
  } catch {
    return undefined;
  }
}

// Cross-instance single flight on Redis: a lease per key (SET NX PX, so it expires if its holder
// dies), the holder's outcome kept briefly and published, and waiters woken by pub/sub with a
// short poll as a safety net. While Redis is down every instance leads for itself (in-process
// coalescing still makes that one call per key per instance).
import { randomUUID } from 'node:crypto';
import type { Result } from 'ioredis';
import type { RedisConnection } from '../redis/connection.js';
import type { Coordinator, Lease, SharedOutcome } from './store.js';

const OUTCOME_TTL_MS = 10_000;
const POLL_MS = 250;

// Keeps the outcome, deletes the lease only if it is still ours (it may have expired and been taken
// by another), and tells the waiters: one command, sent by SHA (defineCommand: EVALSHA, its text
// only the first time on a connection or after Redis lost it). KEYS: lease, outcome (one author's
// hash tag: one Cluster slot); ARGV: token, outcome JSON, outcome ms, channel, message.
const RELEASE = `
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1`;

// The value of the entry's key, or when it has none, the lease (SET NX PX) in the same step.
// KEYS: entry, lease (one author's hash tag); ARGV: token, lease ms. Replies {value|nil, leased 0|1}.
const READ_OR_LEASE = `
local v = redis.call('GET', KEYS[1])
if v then return {v, 0} end
if redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2], 'NX') then return {false, 1} end
return {false, 0}`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    xtgReadOrLease(
      entry: string,
      lease: string,
      token: string,
      leaseMs: number,
    ): Result<[string | null, number], Context>;
    xtgLeaseRelease(
      lease: string,
      outcome: string,
      token: string,
      outcomeJson: string,
      outcomeMs: number,
      channel: string,
      message: string,
    ): Result<number, Context>;
  }
}

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
    redis.client.defineCommand('xtgLeaseRelease', { numberOfKeys: 2, lua: RELEASE });
    redis.client.defineCommand('xtgReadOrLease', { numberOfKeys: 2, lua: READ_OR_LEASE });
  }

  async readOrAcquire(
    key: string,
    ttlMs: number,
  ): Promise<{ raw: string | null; lease: Lease | null } | undefined> {
    if (!this.redis.up) return undefined;
    const token = randomUUID();
    try {
      const [raw, leased] = await this.redis.client.xtgReadOrLease(
        key,
        this.lockKey(key),
        token,
        Math.ceil(ttlMs),
      );
      return { raw, lease: leased === 1 ? this.lease(key, token) : null };
    } catch {
      return undefined;
    }
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
    return this.lease(key, token);
  }

  private lease(key: string, token: string): Lease {
    return {
      release: async (outcome) => {
        const json = JSON.stringify(outcome);
        try {
          await this.redis.client.xtgLeaseRelease(
            this.lockKey(key),
            this.outcomeKey(key),
            token,
            json,
            OUTCOME_TTL_MS,
            this.channel,
            `${key}\n${json}`,
          );
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

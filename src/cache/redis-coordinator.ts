// Cross-instance single flight on Redis: a lease per key, the holder's outcome kept briefly and
// published, and waiters woken by pub/sub with a short poll as a safety net. While Redis is down
// every instance leads for itself (in-process coalescing still makes that one call per key per
// instance).
//
// A lease can never strand an author for longer than LEASE_MS after Redis answers: it is taken for
// LEASE_MS only and renewed every RENEW_EVERY_MS while its holder's call runs (up to the holder's
// own deadline), so a lease nobody renews (a holder that died, stalled, or never saw its SET
// acknowledged: a command that timed out here may still run later in Redis) expires by itself, and
// a waiter polling every POLL_MS takes over. A lease taken by a command whose reply never came, and
// a release that failed, are retried (scoped to the lease's token: a newer holder's lease is never
// touched) until Redis answers. The release deletes the lease before anything that needs memory, so
// a Redis at maxmemory (noeviction) still lets it go.
import { randomUUID } from 'node:crypto';
import type { Result } from 'ioredis';
import type { RedisConnection } from '../redis/connection.js';
import type { Coordinator, Lease, SharedOutcome } from './store.js';

const OUTCOME_TTL_MS = 10_000;
const POLL_MS = 250;
/** A lease's lifetime unless renewed, and how often its holder renews it. */
const LEASE_MS = 3000;
const RENEW_EVERY_MS = 1000;
/** How often failed releases are retried, and for how long (past it the lease is long gone). */
const RETRY_EVERY_MS = 250;
const RETRY_FOR_MS = 60_000;

// Keeps the outcome, deletes the lease only if it is still ours (it may have expired and been taken
// by another), and tells the waiters: one command, sent by SHA (defineCommand: EVALSHA, its text
// only the first time on a connection or after Redis lost it). KEYS: lease, outcome (one author's
// hash tag: one Cluster slot); ARGV: token, outcome JSON, outcome ms, channel, message.
// The outcome's SET goes through pcall: refused at maxmemory, it must not abort the DEL and PUBLISH
// (waiters then read "no outcome" as success and look for the entry themselves).
const RELEASE = `
redis.pcall('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1`;

// KEYS: lease; ARGV: token, ms. Renews the lease (ms > 0) or drops it (ms = 0) if it is still ours.
const RENEW_OR_DROP = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '0' then return redis.call('DEL', KEYS[1]) end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])`;

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
    xtgLeaseRenew(lease: string, token: string, ms: number): Result<number, Context>;
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

/** A command that must reach Redis eventually (a release, or a drop of a lease nobody holds). */
type Retry = { run: () => Promise<unknown>; until: number; busy: boolean };

export class RedisCoordinator implements Coordinator {
  private readonly waiters = new Map<string, Set<(o: SharedOutcome) => void>>();
  private readonly retries = new Set<Retry>();
  private retryTimer: NodeJS.Timeout | null = null;

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
    redis.client.defineCommand('xtgLeaseRenew', { numberOfKeys: 1, lua: RENEW_OR_DROP });
  }

  async readOrAcquire(
    key: string,
    ttlMs: number,
  ): Promise<{ raw: string | null; lease: Lease | null } | undefined> {
    if (!this.redis.up) return undefined;
    const token = randomUUID();
    try {
      const [raw, leased] = await this.redis.client.xtgReadOrLease(key, this.lockKey(key), token, LEASE_MS);
      return { raw, lease: leased === 1 ? this.lease(key, token, ttlMs) : null };
    } catch {
      this.dropLater(key, token);
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
      const ok = await this.redis.client.set(this.lockKey(key), token, 'PX', LEASE_MS, 'NX');
      if (ok !== 'OK') return null;
    } catch {
      // Refused (maxmemory) or unanswered: this instance leads for itself. An unanswered SET may
      // still run later: its lease is dropped once Redis answers.
      this.dropLater(key, token);
      return noopLease;
    }
    return this.lease(key, token, ttlMs);
  }

  /** A lease held for LEASE_MS at a time, renewed while its holder's call runs (at most `maxMs`). */
  private lease(key: string, token: string, maxMs: number): Lease {
    const lock = this.lockKey(key);
    const renewUntil = Date.now() + maxMs;
    const renew = setInterval(() => {
      if (Date.now() >= renewUntil) return clearInterval(renew);
      if (!this.redis.up) return;
      this.redis.client.xtgLeaseRenew(lock, token, LEASE_MS).catch(() => {});
    }, RENEW_EVERY_MS).unref();
    let released = false;
    return {
      release: async (outcome) => {
        clearInterval(renew);
        if (released) return;
        released = true;
        const json = JSON.stringify(outcome);
        const run = () =>
          this.redis.client.xtgLeaseRelease(
            lock,
            this.outcomeKey(key),
            token,
            json,
            OUTCOME_TTL_MS,
            this.channel,
            `${key}\n${json}`,
          );
        try {
          if (!this.redis.up) throw new Error('Redis down');
          await run();
        } catch {
          // Retried until Redis answers: waiters must not wait for the lease to expire.
          this.retry(run);
        }
      },
    };
  }

  /** A lease this instance may hold without knowing it (its command's reply never came). */
  private dropLater(key: string, token: string): void {
    this.retry(() => this.redis.client.xtgLeaseRenew(this.lockKey(key), token, 0));
  }

  private retry(run: () => Promise<unknown>): void {
    if (this.retries.size >= 10_000) return; // a storm during an outage: the leases expire anyway
    this.retries.add({ run, until: Date.now() + RETRY_FOR_MS, busy: false });
    this.retryTimer ??= setInterval(() => this.runRetries(), RETRY_EVERY_MS).unref();
  }

  private runRetries(): void {
    const now = Date.now();
    for (const r of this.retries) {
      if (now >= r.until) this.retries.delete(r);
      else if (this.redis.up && !r.busy) {
        r.busy = true;
        r.run().then(
          () => this.retries.delete(r),
          () => {
            r.busy = false;
          },
        );
      }
    }
    if (this.retries.size === 0 && this.retryTimer) {
      clearInterval(this.retryTimer);
      this.retryTimer = null;
    }
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
      // Covers a release published before we subscribed, and a lost message. An entry that appears
      // while a lease is still held (written back by an instance that fetched it while Redis could
      // not take it, under a lease nobody will release) ends the wait too.
      let absent: boolean | undefined;
      const check = async () => {
        if (!this.redis.up) return finish('timeout');
        try {
          const [held, outcome, entry] = await Promise.all([
            this.redis.client.exists(this.lockKey(key)),
            this.redis.client.get(this.outcomeKey(key)),
            this.redis.client.exists(key),
          ]);
          absent ??= entry === 0;
          if (held === 0) finish((outcome && parseOutcome(outcome)) || { ok: true });
          else if (absent && entry === 1) finish({ ok: true });
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

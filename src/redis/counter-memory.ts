// Redis without persistence forgets the day's counters when it restarts (or is flushed): the daily
// quota and the callers' shares would start again from 0 and the day could spend its budget twice.
// Every owner of such a counter tells this module what Redis last said (saw(), one line per
// counter). It keeps the largest value per key and field, and watches an epoch key that only
// vanishes when Redis is emptied; once it has, the remembered values go back into the counters.
//
// The counters keep running meanwhile (from 0), so a restore adds what was known rather than
// setting it: known + counted since the emptying is the day's true count. Every instance restores
// what it knows, but only the part above what another instance already restored for the same
// counter in the same epoch (a base kept next to the counter), so the largest known value is added
// once, whichever instance knew it. A restore that runs twice adds nothing the second time. Values
// an instance read after the new epoch began (from a counter another instance had already
// restored) are left out by their time; the instances' clocks are assumed to agree within the
// time between the epoch key's creation and the first restore (milliseconds, on one instance).
import { randomBytes } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { Result } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { RedisConnection } from './connection.js';
import { sameSlotKey } from './same-slot.js';

/** How often the epoch key is read (one GET per instance). */
const CHECK_EVERY_MS = 1000;

// KEYS: counter, its base (a hash: field -> value already restored in this epoch); ARGV: known,
// field ('' for a plain counter), ttlMs. Adds known - base (when positive) to the counter.
const RESTORE_LUA = `
local known = tonumber(ARGV[1])
local base = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0')
if known <= base then return 0 end
if ARGV[2] == '' then redis.call('INCRBY', KEYS[1], known - base)
else redis.call('HINCRBY', KEYS[1], ARGV[2], known - base) end
local ttl = tonumber(ARGV[3])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
redis.call('HSET', KEYS[2], ARGV[2], known)
redis.call('PEXPIRE', KEYS[2], ttl)
return known - base`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    xtgCounterRestore(
      counter: string,
      base: string,
      known: number,
      field: string,
      ttlMs: number,
    ): Result<number, Context>;
  }
}

interface Known {
  key: string;
  field: string;
  /** The largest value seen more than HISTORY_MS ago. */
  settled: number;
  /** Each new largest value of the last HISTORY_MS, and when it was seen (ascending). */
  raises: Array<{ value: number; at: number }>;
  expiresAt: number;
}

/**
 * How long each new largest value is kept with its time. An instance may read values from a
 * counter another instance already restored (before it notices the new epoch itself, within
 * CHECK_EVERY_MS): those were seen after the epoch began, and must not be restored again.
 */
const HISTORY_MS = 10_000;

const largest = (k: Known): number => k.raises.at(-1)?.value ?? k.settled;

/** The largest value seen before `t` (this instance's clock). */
function largestBefore(k: Known, t: number): number {
  let v = k.settled;
  for (const r of k.raises) if (r.at < t) v = Math.max(v, r.value);
  return v;
}

export class CounterMemory {
  private readonly known = new LRUCache<string, Known>({ max: 100_000 });
  /** The epoch the known values were read in (null: not read yet). */
  private epoch: string | null = null;
  private readonly timer: NodeJS.Timeout;
  private checking: Promise<void> | null = null;
  private readonly epochKey: string;

  constructor(
    private readonly redis: RedisConnection,
    keyPrefix: string,
    private readonly log: FastifyBaseLogger,
    checkEveryMs = CHECK_EVERY_MS,
  ) {
    this.epochKey = `${keyPrefix}epoch`;
    redis.client.defineCommand('xtgCounterRestore', { numberOfKeys: 2, lua: RESTORE_LUA });
    this.timer = setInterval(() => void this.check(), checkEveryMs).unref();
    redis.on('up', () => void this.check());
    void this.check();
  }

  /** What Redis said `key` (a hash's `field`, or a plain counter) holds; kept for `ttlMs`. */
  saw(key: string, field: string | undefined, value: number, ttlMs: number): void {
    const id = `${key}\n${field ?? ''}`;
    const now = Date.now();
    let k = this.known.get(id);
    if (!k) {
      k = { key, field: field ?? '', settled: 0, raises: [], expiresAt: 0 };
      this.known.set(id, k);
    }
    k.expiresAt = Math.max(k.expiresAt, now + ttlMs);
    if (value > largest(k)) k.raises.push({ value, at: now });
    while (k.raises.length > 0 && k.raises[0]!.at < now - HISTORY_MS) k.settled = k.raises.shift()!.value;
  }

  /** Reads the epoch; restores the known counters when Redis was emptied since they were read. */
  check(): Promise<void> {
    this.checking ??= this.checkOnce()
      .catch(() => {}) // not answered: the next check tries again
      .finally(() => {
        this.checking = null;
      });
    return this.checking;
  }

  private async checkOnce(): Promise<void> {
    if (!this.redis.up) return;
    const client = this.redis.client;
    let epoch = await client.get(this.epochKey);
    if (epoch === null) {
      // When it began, by this instance's clock: values seen after it are the new epoch's.
      const mine = `${randomBytes(6).toString('base64url')}.${Date.now()}`;
      epoch = (await client.set(this.epochKey, mine, 'NX')) === 'OK' ? mine : await client.get(this.epochKey);
      if (epoch === null) return;
    }
    if (epoch === this.epoch) return;
    // The first epoch read is the one this instance's values belong to.
    if (this.epoch !== null) await this.restore(epoch);
    this.epoch = epoch;
  }

  private async restore(epoch: string): Promise<void> {
    const now = Date.now();
    const live = [...this.known.values()].filter((k) => k.expiresAt > now);
    const began = Number(epoch.slice(epoch.lastIndexOf('.') + 1)) || now;
    let added = 0;
    await Promise.all(
      live.map(async (k) => {
        const base = sameSlotKey(k.key, `:restored:${epoch}`);
        const known = largestBefore(k, began);
        added += await this.redis.client.xtgCounterRestore(k.key, base, known, k.field, k.expiresAt - now);
      }),
    );
    this.log.warn(
      { counters: live.length, added },
      'Redis came back without its counters (restarted without persistence, or flushed); put back what this instance knew',
    );
  }

  close(): void {
    clearInterval(this.timer);
  }
}

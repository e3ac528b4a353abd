// The per-caller request limit (CALLER_RATE_LIMIT per CALLER_RATE_WINDOW): a fixed window counted in
// Redis and shared by all instances, without a Redis round trip per request for the callers that
// send the most. A caller's request is counted in Redis and awaited, exactly as one INCRBY per
// request would count it, unless all of these hold on this instance:
//  - its window is known here (the first request of a window always asks Redis; the window ends
//    when Redis says, not when this instance would have started it);
//  - it is hot here: at least HOT_REQUESTS requests in the current or the previous flush period
//    (100 ms), so a caller at a few requests a second is counted exactly, as before;
//  - the count is not close to the limit: the estimate plus what the other instances added during
//    the last flush periods stays within the limit (near the limit every request asks Redis again),
//    and what it counted since Redis last answered stays within its share of what was left then
//    (1/EXPECTED_INSTANCES, at most half): two instances bursting at once cannot each take it all.
// Then it is counted here, answered at once, and the increments go to Redis in one INCRBY per
// caller every FLUSH_MS. What that costs is the bound measured in the README ("Per-caller limits across instances"): another
// instance learns of this instance's requests up to one flush period (plus a round trip) late, so
// the shared count, the `ratelimit-remaining` header included, may be short by what the other
// instances admitted in that time, and near the limit by their increase from one period to the
// next. A window that Redis already ended takes none of its late increments (FLUSH_LUA).
// Redis down or unset: each instance counts alone and reports its count times EXPECTED_INSTANCES
// (caller-store.ts), as before.
import type { Result } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { RedisConnection } from '../redis/connection.js';
import { HIT_LUA, localCounter } from './caller-store.js';

const FLUSH_MS = 100;
export const HOT_REQUESTS = 10;

// ARGV: how many, the most ms the window may have left (beyond it the key is a newer window).
// Adds nothing to a window that is gone or newer than the one the increments were counted in.
const FLUSH_LUA = `
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 or ttl > tonumber(ARGV[2]) then return {-1, ttl} end
return {redis.call('INCRBY', KEYS[1], ARGV[1]), ttl}
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** FLUSH_LUA: KEYS[1] the counter; ARGV[1] how many, ARGV[2] the most ms left; replies [count or -1, ms left]. */
    xtgCallerFlush(key: string, n: number, maxTtlMs: number): Result<[number, number], Context>;
  }
}

export interface LimitCount {
  /** The caller's requests in its window, this one included (an estimate within the bound). */
  current: number;
  ttlMs: number;
}

export interface CallerLimitOptions {
  redis: RedisConnection | null;
  /** Namespace of the counters, e.g. `${keyPrefix}rl:`. */
  namespace: string;
  instances: number;
  limit: number;
  windowMs: number;
  /** Most callers tracked at once (LRU). */
  maxKeys?: number;
  /** How often counts go to Redis (default FLUSH_MS); 0: only when flush() is called (tests). */
  flushMs?: number;
  now?: () => number;
}

/** One caller's window as this instance knows it. */
interface Win {
  /** When the window ends, by this instance's clock (from Redis's PTTL). 0: unknown. */
  resetAt: number;
  /** The shared count in Redis's last reply. */
  known: number;
  /** Counted here, not yet sent. */
  unflushed: number;
  /** Sent, reply not yet in. */
  sending: number;
  /** What other instances added between our replies, this flush period and the one before. */
  others: number;
  othersBefore: number;
  /** Requests here this flush period and the one before (hotness). */
  seen: number;
  seenBefore: number;
  /** Settles when the first request of an unknown window has Redis's answer. */
  opening: Promise<void> | null;
}

export class CallerLimiter {
  private readonly wins: LRUCache<string, Win>;
  /** Callers with requests in the last two flush periods: the only ones a flush looks at. */
  private readonly active = new Set<string>();
  private readonly fallback;
  private readonly now: () => number;
  private readonly timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | null = null;
  /** Slack for the clocks of Redis and this instance when telling an old window from a newer one. */
  private readonly slackMs: number;
  /** The parts what is left is shared into: EXPECTED_INSTANCES, and at least 2. */
  private readonly share: number;

  constructor(private readonly o: CallerLimitOptions) {
    this.now = o.now ?? Date.now;
    this.wins = new LRUCache({ max: o.maxKeys ?? 50_000 });
    this.fallback = localCounter(o.instances, o.maxKeys, this.now);
    this.slackMs = Math.min(1000, Math.floor(o.windowMs / 4));
    this.share = Math.max(2, o.instances);
    if (o.redis) {
      const client = o.redis.client;
      client.defineCommand('xtgCallerHit', { numberOfKeys: 1, lua: HIT_LUA });
      client.defineCommand('xtgCallerFlush', { numberOfKeys: 1, lua: FLUSH_LUA });
      const every = o.flushMs ?? FLUSH_MS;
      if (every > 0) this.timer = setInterval(() => void this.flush(), every).unref();
    }
  }

  /**
   * Counts one request of `key`: at once when it can be decided here, else a promise (Redis asked).
   * Never rejects.
   */
  take(key: string): LimitCount | Promise<LimitCount> {
    if (!this.o.redis?.up) return this.fallback(key, this.o.windowMs, 1);
    const w = this.wins.get(key) ?? this.start(key);
    w.seen++;
    this.active.add(key);
    return this.decide(key, w);
  }

  private decide(key: string, w: Win): LimitCount | Promise<LimitCount> {
    const now = this.now();
    const hot = w.seen >= HOT_REQUESTS || w.seenBefore >= HOT_REQUESTS;
    if (now >= w.resetAt) {
      // The window is unknown here (a new caller, or one Redis ended): the first requests ask
      // Redis; once the caller is hot, the rest of its burst waits for their answer, not its own.
      if (hot && w.opening) return w.opening.then(() => this.decide(key, w));
      const asked = this.exact(key, 1, w);
      if (!w.opening) {
        const opening = asked.then(
          () => {},
          () => {},
        );
        w.opening = opening;
        void opening.then(() => {
          if (w.opening === opening) w.opening = null;
        });
      }
      return asked;
    }
    if (!hot) return this.exact(key, 1, w);
    const current = w.known + w.sending + w.unflushed + 1;
    // Over whatever the others did: the window is spent until it ends.
    const spent = w.known > this.o.limit;
    // Between two of its replies an instance takes at most its share of what Redis last said was
    // left (less what the others added lately): the others may be counting the same caller in
    // process too, and without the share each could admit all of it (2x the limit for two instances
    // bursting at once). Past its share it asks Redis, which answers with a smaller "left".
    const left = this.o.limit - w.known - w.others - w.othersBefore;
    if (!spent && (w.sending + w.unflushed + 1) * this.share > left) return this.exact(key, 1, w);
    w.unflushed++;
    return { current, ttlMs: w.resetAt - now };
  }

  /** Counts `n` requests of `key` in Redis and waits for the shared count (a batch's items). */
  count(key: string, n: number): Promise<LimitCount> {
    if (!this.o.redis?.up) return Promise.resolve(this.fallback(key, this.o.windowMs, n));
    return this.exact(key, n);
  }

  /** Sends what was counted here since the last flush, one command per caller. */
  async flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    const sends: Array<Promise<void>> = [];
    const now = this.now();
    for (const key of this.active) {
      const w = this.wins.peek(key);
      if (w === undefined) {
        this.active.delete(key);
        continue;
      }
      if (w.unflushed > 0) {
        if (now < w.resetAt && this.o.redis?.up) sends.push(this.send(key, w, now));
        else w.unflushed = 0; // its window is over: the counts belong to nobody now
      }
      w.seenBefore = w.seen;
      w.seen = 0;
      w.othersBefore = w.others;
      w.others = 0;
      if (w.seenBefore === 0 && w.unflushed === 0 && w.sending === 0) this.active.delete(key);
    }
    if (sends.length === 0) return;
    this.flushing = Promise.all(sends).then(
      () => {
        this.flushing = null;
      },
      () => {
        this.flushing = null;
      },
    );
    return this.flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flushing;
    await this.flush();
  }

  private async send(key: string, w: Win, now: number): Promise<void> {
    const n = w.unflushed;
    w.unflushed = 0;
    w.sending += n;
    const redis = this.o.redis!;
    try {
      const maxTtl = w.resetAt - now + this.slackMs;
      const [current, ttl] = await redis.client.xtgCallerFlush(this.o.namespace + key, n, maxTtl);
      w.sending -= n;
      if (current < 0) {
        w.resetAt = 0; // Redis ended the window: the next request asks it
        return;
      }
      this.learn(w, current, ttl, n);
    } catch {
      // Lost with the connection; the window goes on from what Redis knows.
      w.sending -= n;
    }
  }

  private async exact(key: string, n: number, known?: Win): Promise<LimitCount> {
    const redis = this.o.redis!;
    const w = known ?? this.wins.get(key) ?? this.start(key);
    // Counts made here in the same window go with this command; those of an ended window go nowhere.
    const carry = this.now() < w.resetAt ? w.unflushed : 0;
    w.unflushed = 0;
    w.sending += carry + n;
    this.active.add(key);
    try {
      const [current, ttl] = await redis.client.xtgCallerHit(
        this.o.namespace + key,
        this.o.windowMs,
        n + carry,
      );
      w.sending -= carry + n;
      this.learn(w, current, ttl, carry + n);
      return { current, ttlMs: ttl };
    } catch {
      w.sending -= carry + n;
      return this.fallback(key, this.o.windowMs, n);
    }
  }

  /** A reply from Redis: the shared count after our `mine` increments, and the window's ms left. */
  private learn(w: Win, current: number, ttl: number, mine: number): void {
    const resetAt = this.now() + ttl;
    // A window that restarted (a count below ours, or an end well after the known one) is new.
    const sameWindow = w.resetAt > 0 && current >= w.known + mine && resetAt <= w.resetAt + this.slackMs;
    if (sameWindow) w.others += current - w.known - mine;
    else {
      w.others = 0;
      w.othersBefore = 0;
    }
    w.known = current;
    w.resetAt = resetAt;
  }

  private start(key: string): Win {
    const w: Win = {
      resetAt: 0,
      known: 0,
      unflushed: 0,
      sending: 0,
      others: 0,
      othersBefore: 0,
      seen: 0,
      seenBefore: 0,
      opening: null,
    };
    this.wins.set(key, w);
    return w;
  }
}

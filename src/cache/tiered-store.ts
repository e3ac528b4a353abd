// Redis behind an in-process copy. The copy answers alone for CACHE_L1_SECONDS while its entry is
// fresh (hot keys cost no Redis round trip), and for as long as Redis is down (an answer once cached
// is never lost to an outage). A copy past fresh never answers while Redis is up: another instance
// may have refreshed the entry there. Purges travel to every instance's copy over pub/sub. The copy
// is bounded by bytes (CACHE_MEMORY_MAX_BYTES) and holds entries as bytes (held-entry.ts).
import type { FastifyBaseLogger } from 'fastify';
import { LRUCache } from 'lru-cache';
import type { RedisConnection } from '../redis/connection.js';
import {
  type CacheEntry,
  freshness,
  isCacheEntry,
  type NotFoundEntry,
  ttlSeconds,
  type Windows,
} from './entry.js';
import { entrySize, HeldOk, hold, storeJson } from './held-entry.js';
import { lruBounds, type MemoryBounds } from './memory-store.js';
import type { CacheStore } from './store.js';

/**
 * A copy's timing, in ticks (TICK_MS since the store started: small integers, which V8 keeps
 * without a heap object each). An ok entry carries it itself: no wrapper object per entry.
 */
interface Timing {
  /** Until when the copy may answer without asking Redis (while fresh). */
  l1Until: number;
  storedAt: number;
  /** When the entry stops serving anybody: past it the copy is gone. */
  expiresAt: number;
}

const TICK_MS = 10;

/** What the copy holds per key: an ok entry as is, or "no content" wrapped. */
type Local = HeldOk | (Timing & { entry: NotFoundEntry });

const entryOf = (l: Local): CacheEntry => (l instanceof HeldOk ? l : l.entry);

export interface TieredStoreOptions {
  redis: RedisConnection;
  /** Subscriber connection for invalidations (it must not be the command connection). */
  subscriber: RedisConnection['client'];
  channel: string;
  l1Ms: number;
  bounds: MemoryBounds;
  windows: Windows;
  log: FastifyBaseLogger;
  /** The clock of the L1 window and of entry TTLs (tests step it instead of sleeping). */
  now?: () => number;
}

export class TieredStore implements CacheStore {
  readonly name = 'redis';
  private readonly local: LRUCache<string, Local>;
  private readonly now: () => number;
  private readonly startedAt: number;

  constructor(private readonly o: TieredStoreOptions) {
    this.now = o.now ?? Date.now;
    this.startedAt = this.now();
    this.local = new LRUCache<string, Local>({ ...lruBounds<Local>(o.bounds, (l) => entrySize(entryOf(l))) });
    o.subscriber.on('message', (channel: string, message: string) => {
      if (channel !== o.channel) return;
      try {
        const keys: unknown = JSON.parse(message);
        if (Array.isArray(keys)) for (const k of keys) if (typeof k === 'string') this.local.delete(k);
      } catch {
        // A malformed message on our channel is not ours to act on.
      }
    });
    o.subscriber
      .subscribe(o.channel)
      .catch((err: unknown) => o.log.warn({ err: String(err) }, 'invalidation subscribe failed'));
  }

  /** The copy, while it may answer alone: within CACHE_L1_SECONDS and fresh, or Redis down. */
  peek(key: string): CacheEntry | undefined {
    const now = this.now();
    const local = this.copy(key, now);
    if (local === undefined) return undefined;
    const entry = entryOf(local);
    if (!this.o.redis.up) return entry;
    return this.tick(now) < local.l1Until && this.isFresh(entry) ? entry : undefined;
  }

  holds(key: string): boolean {
    return this.local.has(key);
  }

  async get(key: string, opts: { skipL1?: boolean } = {}): Promise<CacheEntry | undefined> {
    const now = this.now();
    const local = this.copy(key, now);
    const entry = local && entryOf(local);
    if (local && !opts.skipL1 && this.tick(now) < local.l1Until && this.isFresh(entry!)) return entry;
    if (!this.o.redis.up) return entry;
    let raw: string | null;
    try {
      raw = await this.o.redis.client.get(key);
    } catch {
      return entry;
    }
    return this.adopt(key, raw);
  }

  adopt(key: string, raw: string | null): CacheEntry | undefined {
    const now = this.now();
    const local = this.copy(key, now);
    const parsed = parse(raw);
    if (parsed) {
      // The same answer as the copy's (entries never change once written): keep its bytes.
      const same = local instanceof HeldOk && parsed.kind === 'ok' && local.sameAnswer(parsed);
      const entry = same ? local : hold(parsed);
      this.remember(key, entry, this.ttlLeftMs(entry, now));
      return entry;
    }
    if (local) {
      // Kept from before Redis (re)connected: Redis restarted empty, so put the answer back rather
      // than pay the upstream for it again. Kept since then: it was purged or evicted; forget it.
      if (local.storedAt < this.tick(this.o.redis.upSince)) {
        const entry = entryOf(local);
        this.writeBack(key, entry, now);
        return entry;
      }
      this.local.delete(key);
    }
    return undefined;
  }

  async set(key: string, entry: CacheEntry, ttlSeconds: number): Promise<void> {
    const held = hold(entry);
    this.remember(key, held, ttlSeconds * 1000);
    if (!this.o.redis.up) return;
    try {
      await this.o.redis.client.set(key, storeJson(held), 'EX', ttlSeconds);
    } catch {
      // Kept locally; the connection's state change is logged once by RedisConnection.
    }
  }

  async delete(keys: string[]): Promise<number> {
    let localCount = 0;
    for (const k of keys) if (this.local.delete(k)) localCount++;
    if (!this.o.redis.up || keys.length === 0) return localCount;
    try {
      const n = await this.o.redis.client.del(...keys);
      await this.o.redis.client.publish(this.o.channel, JSON.stringify(keys));
      return n;
    } catch {
      return localCount;
    }
  }

  async index(indexKey: string, key: string, ttlSeconds: number): Promise<void> {
    if (!this.o.redis.up) return;
    try {
      await this.o.redis.client.eval(INDEX_LUA, 1, indexKey, key, ttlSeconds);
    } catch {
      // The entry is still purged by prefix in process; in Redis it expires with its TTL.
    }
  }

  async indexed(indexKey: string): Promise<string[]> {
    if (!this.o.redis.up) return [];
    try {
      return await this.o.redis.client.smembers(indexKey);
    } catch {
      return [];
    }
  }

  keysWithPrefix(prefix: string): string[] {
    const out: string[] = [];
    for (const k of this.local.keys()) if (k.startsWith(prefix)) out.push(k);
    return out;
  }

  async close(): Promise<void> {
    this.local.clear();
  }

  private remember(key: string, entry: CacheEntry, ttlMs: number): void {
    if (ttlMs <= 0) return;
    const now = this.now();
    const timing = {
      l1Until: this.tick(now + this.o.l1Ms),
      storedAt: this.tick(now),
      expiresAt: this.tick(now + ttlMs),
    };
    const held = hold(entry);
    this.local.set(
      key,
      held instanceof HeldOk ? Object.assign(held, timing) : { entry: held as NotFoundEntry, ...timing },
    );
  }

  /** The copy of `key`, unless its entry can serve nobody any more. */
  private copy(key: string, now: number): Local | undefined {
    const local = this.local.get(key);
    if (local !== undefined && this.tick(now) >= local.expiresAt) {
      this.local.delete(key);
      return undefined;
    }
    return local;
  }

  private tick(ms: number): number {
    return Math.floor((ms - this.startedAt) / TICK_MS);
  }

  private isFresh(entry: CacheEntry): boolean {
    return freshness(entry, this.o.windows, this.now()) === 'fresh';
  }

  private ttlLeftMs(entry: CacheEntry, now: number): number {
    return entry.fetchedAt + ttlSeconds(entry, this.o.windows) * 1000 - now;
  }

  private writeBack(key: string, entry: CacheEntry, now: number): void {
    const ttlMs = this.ttlLeftMs(entry, now);
    if (ttlMs <= 0) return;
    this.remember(key, entry, ttlMs);
    // NX: an answer another instance stored meanwhile is newer than ours.
    this.o.redis.client.set(key, storeJson(entry), 'PX', ttlMs, 'NX').catch(() => {});
  }
}

/** Adds a key to an author's index and keeps the index at least as long as that entry. */
const INDEX_LUA = `
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('TTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 1`;

function parse(raw: string | null): CacheEntry | undefined {
  if (raw === null) return undefined;
  try {
    const v: unknown = JSON.parse(raw);
    return isCacheEntry(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

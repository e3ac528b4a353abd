// Redis behind an in-process copy. The copy answers alone for CACHE_L1_SECONDS while its entry is
// fresh (hot keys cost no Redis round trip), and for as long as Redis is down (an answer once cached
// is never lost to an outage). A copy past fresh never answers while Redis is up: another instance
// may have refreshed the entry there. Purges travel to every instance's copy over pub/sub. The copy
// is bounded by bytes (CACHE_MEMORY_MAX_BYTES) and holds entries as bytes (held-entry.ts).
import type { FastifyBaseLogger } from 'fastify';
import { LRUCache } from 'lru-cache';
import type { RedisConnection } from '../redis/connection.js';
import { type CacheEntry, freshness, isCacheEntry, ttlSeconds, type Windows } from './entry.js';
import { entrySize, HeldOk, hold, storeJson } from './held-entry.js';
import { lruBounds, type MemoryBounds } from './memory-store.js';
import type { CacheStore } from './store.js';

interface Local {
  entry: CacheEntry;
  /** Until when the copy may answer without asking Redis (while fresh). */
  l1Until: number;
  storedAt: number;
  /** When the entry stops serving anybody: past it the copy is gone. */
  expiresAt: number;
}

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

  constructor(private readonly o: TieredStoreOptions) {
    this.now = o.now ?? Date.now;
    this.local = new LRUCache<string, Local>({ ...lruBounds<Local>(o.bounds, (l) => entrySize(l.entry)) });
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
    const local = this.copy(key, this.now());
    if (local === undefined) return undefined;
    if (!this.o.redis.up) return local.entry;
    return this.now() < local.l1Until && this.isFresh(local.entry) ? local.entry : undefined;
  }

  async get(key: string, opts: { skipL1?: boolean } = {}): Promise<CacheEntry | undefined> {
    const now = this.now();
    const local = this.copy(key, now);
    if (local && !opts.skipL1 && now < local.l1Until && this.isFresh(local.entry)) return local.entry;
    if (!this.o.redis.up) return local?.entry;
    let raw: string | null;
    try {
      raw = await this.o.redis.client.get(key);
    } catch {
      return local?.entry;
    }
    return this.adopt(key, raw);
  }

  adopt(key: string, raw: string | null): CacheEntry | undefined {
    const now = this.now();
    const local = this.copy(key, now);
    const parsed = parse(raw);
    if (parsed) {
      // The same answer as the copy's (entries never change once written): keep its bytes.
      const same = local?.entry instanceof HeldOk && parsed.kind === 'ok' && local.entry.sameAnswer(parsed);
      const entry = same ? local!.entry : hold(parsed);
      this.remember(key, entry, this.ttlLeftMs(entry, now));
      return entry;
    }
    if (local) {
      // Kept from before Redis (re)connected: Redis restarted empty, so put the answer back rather
      // than pay the upstream for it again. Kept since then: it was purged or evicted; forget it.
      if (local.storedAt < this.o.redis.upSince) {
        this.writeBack(key, local.entry, now);
        return local.entry;
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

  async close(): Promise<void> {
    this.local.clear();
  }

  private remember(key: string, entry: CacheEntry, ttlMs: number): void {
    if (ttlMs <= 0) return;
    const now = this.now();
    this.local.set(key, { entry, l1Until: now + this.o.l1Ms, storedAt: now, expiresAt: now + ttlMs });
  }

  /** The copy of `key`, unless its entry can serve nobody any more. */
  private copy(key: string, now: number): Local | undefined {
    const local = this.local.get(key);
    if (local !== undefined && now >= local.expiresAt) {
      this.local.delete(key);
      return undefined;
    }
    return local;
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

function parse(raw: string | null): CacheEntry | undefined {
  if (raw === null) return undefined;
  try {
    const v: unknown = JSON.parse(raw);
    return isCacheEntry(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

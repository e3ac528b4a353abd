// Redis behind an in-process copy. The copy answers alone for CACHE_L1_SECONDS (hot keys cost no
// Redis round trip) and for as long as Redis is down (an answer once cached is never lost to an
// outage). Purges travel to every instance's copy over pub/sub.
import type { FastifyBaseLogger } from 'fastify';
import { LRUCache } from 'lru-cache';
import type { RedisConnection } from '../redis/connection.js';
import { type CacheEntry, isCacheEntry, ttlSeconds, type Windows } from './entry.js';
import type { CacheStore } from './store.js';

interface Local {
  entry: CacheEntry;
  /** Until when the copy may answer without asking Redis. */
  l1Until: number;
  storedAt: number;
}

export interface TieredStoreOptions {
  redis: RedisConnection;
  /** Subscriber connection for invalidations (it must not be the command connection). */
  subscriber: RedisConnection['client'];
  channel: string;
  l1Ms: number;
  maxLocalEntries: number;
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
    this.local = new LRUCache({
      max: Math.max(1, o.maxLocalEntries),
      ...(o.now ? { perf: { now: o.now }, ttlResolution: 0 } : {}),
    });
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

  async get(key: string, opts: { skipL1?: boolean } = {}): Promise<CacheEntry | undefined> {
    const local = this.local.get(key);
    const now = this.now();
    if (local && !opts.skipL1 && now < local.l1Until) return local.entry;
    if (!this.o.redis.up) return local?.entry;
    let raw: string | null;
    try {
      raw = await this.o.redis.client.get(key);
    } catch {
      return local?.entry;
    }
    const entry = parse(raw);
    if (entry) {
      this.remember(key, entry, this.ttlLeftMs(entry, now));
    } else if (local) {
      // Kept from before Redis (re)connected: Redis restarted empty, so put the answer back rather
      // than pay the upstream for it again. Kept since then: it was purged or evicted; forget it.
      if (local.storedAt < this.o.redis.upSince) {
        this.writeBack(key, local.entry, now);
        return local.entry;
      }
      this.local.delete(key);
    }
    return entry;
  }

  async set(key: string, entry: CacheEntry, ttlSeconds: number): Promise<void> {
    this.remember(key, entry, ttlSeconds * 1000);
    if (!this.o.redis.up) return;
    try {
      await this.o.redis.client.set(key, JSON.stringify(entry), 'EX', ttlSeconds);
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
    this.local.set(key, { entry, l1Until: now + this.o.l1Ms, storedAt: now }, { ttl: ttlMs });
  }

  private ttlLeftMs(entry: CacheEntry, now: number): number {
    return entry.fetchedAt + ttlSeconds(entry, this.o.windows) * 1000 - now;
  }

  private writeBack(key: string, entry: CacheEntry, now: number): void {
    const ttlMs = this.ttlLeftMs(entry, now);
    if (ttlMs <= 0) return;
    this.remember(key, entry, ttlMs);
    // NX: an answer another instance stored meanwhile is newer than ours.
    this.o.redis.client.set(key, JSON.stringify(entry), 'PX', ttlMs, 'NX').catch(() => {});
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

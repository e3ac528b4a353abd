// The in-process store, used alone when neither REDIS_URL nor REDIS_CLUSTER_NODES is set: right for
// one instance. Bounded (LRU), each entry kept for its TTL. (With Redis, tiered-store.ts keeps its
// own in-process copy in front of it.)
import { LRUCache } from 'lru-cache';
import type { CacheEntry } from './entry.js';
import type { CacheStore } from './store.js';

export class MemoryStore implements CacheStore {
  readonly name = 'memory';
  private readonly lru: LRUCache<string, CacheEntry>;

  /** `now`: the clock of entry TTLs (tests step it instead of sleeping). */
  constructor(maxEntries: number, now?: () => number) {
    this.lru = new LRUCache({
      max: Math.max(1, maxEntries),
      ttlAutopurge: false,
      ...(now ? { perf: { now }, ttlResolution: 0 } : {}),
    });
  }

  async get(key: string, _opts?: { skipL1?: boolean }): Promise<CacheEntry | undefined> {
    return this.lru.get(key);
  }

  async set(key: string, entry: CacheEntry, ttlSeconds: number): Promise<void> {
    if (ttlSeconds > 0) this.lru.set(key, entry, { ttl: ttlSeconds * 1000 });
  }

  async delete(keys: string[]): Promise<number> {
    let n = 0;
    for (const k of keys) if (this.lru.delete(k)) n++;
    return n;
  }

  async close(): Promise<void> {
    this.lru.clear();
  }
}

// The in-process store: bounded (LRU) with a TTL per entry. Used alone when REDIS_URL is unset,
// as the L1 in front of Redis, and as the fallback while Redis is down.
import { LRUCache } from 'lru-cache';
import type { CacheEntry } from './entry.js';
import type { CacheStore } from './store.js';

export class MemoryStore implements CacheStore {
  readonly name = 'memory';
  private readonly lru: LRUCache<string, CacheEntry>;

  constructor(
    maxEntries: number,
    /** Caps every TTL (the L1 keeps entries only briefly). 0: no cap. */
    private readonly maxTtlSeconds = 0,
  ) {
    this.lru = new LRUCache({ max: Math.max(1, maxEntries), ttlAutopurge: false });
  }

  async get(key: string, _opts?: { skipL1?: boolean }): Promise<CacheEntry | undefined> {
    return this.lru.get(key);
  }

  /** Synchronous read for the hot path: no promise when the entry is here. */
  peek(key: string): CacheEntry | undefined {
    return this.lru.get(key);
  }

  async set(key: string, entry: CacheEntry, ttlSeconds: number): Promise<void> {
    this.put(key, entry, ttlSeconds);
  }

  put(key: string, entry: CacheEntry, ttlSeconds: number): void {
    const ttl = this.maxTtlSeconds > 0 ? Math.min(ttlSeconds, this.maxTtlSeconds) : ttlSeconds;
    if (ttl > 0) this.lru.set(key, entry, { ttl: ttl * 1000 });
  }

  async delete(keys: string[]): Promise<number> {
    return this.remove(keys);
  }

  remove(keys: string[]): number {
    let n = 0;
    for (const k of keys) if (this.lru.delete(k)) n++;
    return n;
  }

  clear(): void {
    this.lru.clear();
  }

  get size(): number {
    return this.lru.size;
  }

  async close(): Promise<void> {
    this.lru.clear();
  }
}

// The in-process store, used alone when neither REDIS_URL nor REDIS_CLUSTER_NODES is set: right for
// one instance. Bounded by bytes (CACHE_MEMORY_MAX_BYTES, and CACHE_MEMORY_MAX_ENTRIES when set),
// least recently used out first, each entry kept for its TTL. (With Redis, tiered-store.ts keeps
// its own in-process copy in front of it, bounded the same way.)
import { LRUCache } from 'lru-cache';
import type { CacheEntry } from './entry.js';
import { entrySize, hold } from './held-entry.js';
import type { CacheStore } from './store.js';

/** How much an in-process copy may hold. */
export interface MemoryBounds {
  maxBytes: number;
  /** Also at most this many entries (unset: only bytes bound it). */
  maxEntries?: number | undefined;
}

/** lru-cache options for a copy bounded by `b`, each value counted by `size`. */
export function lruBounds<V extends {}>(b: MemoryBounds | number, size: (v: V) => number) {
  const bounds = typeof b === 'number' ? { maxBytes: Number.MAX_SAFE_INTEGER, maxEntries: b } : b;
  return {
    maxSize: Math.max(1, bounds.maxBytes),
    sizeCalculation: size,
    ...(bounds.maxEntries === undefined ? {} : { max: Math.max(1, bounds.maxEntries) }),
  };
}

export class MemoryStore implements CacheStore {
  readonly name = 'memory';
  private readonly lru: LRUCache<string, CacheEntry>;

  /** `bounds`: bytes (and entries), or a number of entries; `now`: the clock of entry TTLs (tests). */
  constructor(bounds: MemoryBounds | number, now?: () => number) {
    this.lru = new LRUCache<string, CacheEntry>({
      ...lruBounds<CacheEntry>(bounds, entrySize),
      ttlAutopurge: false,
      ...(now ? { perf: { now }, ttlResolution: 0 } : {}),
    });
  }

  async get(key: string, _opts?: { skipL1?: boolean }): Promise<CacheEntry | undefined> {
    return this.lru.get(key);
  }

  peek(key: string): CacheEntry | undefined {
    return this.lru.get(key);
  }

  async set(key: string, entry: CacheEntry, ttlSeconds: number): Promise<void> {
    if (ttlSeconds > 0) this.lru.set(key, hold(entry), { ttl: ttlSeconds * 1000 });
  }

  async delete(keys: string[]): Promise<number> {
    let n = 0;
    for (const k of keys) if (this.lru.delete(k)) n++;
    return n;
  }

  keysWithPrefix(prefix: string): string[] {
    const out: string[] = [];
    for (const k of this.lru.keys()) if (k.startsWith(prefix)) out.push(k);
    return out;
  }

  async close(): Promise<void> {
    this.lru.clear();
  }
}

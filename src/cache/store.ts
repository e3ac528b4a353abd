// The cache's storage and cross-instance coordination, behind interfaces so the route does not
// care whether entries live in this process or in Redis.
import type { SerializedGatewayError } from '../errors.js';
import type { CacheEntry } from './entry.js';

export interface CacheStore {
  readonly name: string;
  /** `skipL1`: read the shared tier, past any in-process copy (after another instance wrote). */
  get(key: string, opts?: { skipL1?: boolean }): Promise<CacheEntry | undefined>;
  /** What get() would answer without I/O, or undefined when it would have to ask the shared tier. */
  peek(key: string): CacheEntry | undefined;
  /** Whether a copy of the key is held in process, answerable or not (likely in the shared tier too). */
  holds?(key: string): boolean;
  /** What get() answers for `raw`, the key's value just read from the shared tier (null: none). */
  adopt?(key: string, raw: string | null): CacheEntry | undefined;
  set(key: string, entry: CacheEntry, ttlSeconds: number): Promise<void>;
  /** Deletes these keys; resolves with how many existed. */
  delete(keys: string[]): Promise<number>;
  /**
   * Lists `key` in the set `indexKey` (an author's keys over every endpoint, for purge), kept at
   * least `ttlSeconds`. Stores without a shared tier need none: they list their keys by prefix.
   */
  index?(indexKey: string, key: string, ttlSeconds: number): Promise<void>;
  /** The keys listed in `indexKey` (the index is deleted with them by the caller). */
  indexed?(indexKey: string): Promise<string[]>;
  /** Keys held in this process that start with `prefix`. */
  keysWithPrefix(prefix: string): string[];
  close(): Promise<void>;
}

/** What the instance that fetched a key tells the others that waited for it. */
export type SharedOutcome = { ok: true } | { ok: false; error: SerializedGatewayError };

export interface Lease {
  release(outcome: SharedOutcome): Promise<void>;
}

/**
 * Cross-instance single flight: one instance holds a key's lease while it calls the upstream;
 * the others wait for its outcome instead of calling too.
 */
export interface Coordinator {
  /** A lease, or null when another instance holds one for this key. */
  acquire(key: string, ttlMs: number): Promise<Lease | null>;
  /** Resolves with the holder's outcome, or 'timeout' when none came (the holder may have died). */
  wait(key: string, timeoutMs: number): Promise<SharedOutcome | 'timeout'>;
  /**
   * One round trip on a miss in process: the key's value in the shared tier, or, when it has none,
   * the lease at the same time (null: another instance holds it). Undefined: cannot ask now.
   */
  readOrAcquire?(
    key: string,
    ttlMs: number,
  ): Promise<{ raw: string | null; lease: Lease | null } | undefined>;
}

/** A single instance has nobody to coordinate with: in-process coalescing is enough. */
export const localCoordinator: Coordinator = {
  acquire: async () => ({ release: async () => {} }),
  wait: async () => 'timeout',
};

// What the cache remembers for one parameter tuple. The upstream's `data` is kept as sent, so the
// drop-in route can answer in the upstream's own shape and the normalised route derives from it.

export interface OkEntry {
  kind: 'ok';
  /** The upstream's `data` as sent: usually an object, but a list or another JSON value too; never null. */
  data: unknown;
  /** Epoch milliseconds when the upstream answered. */
  fetchedAt: number;
  requestId: string | null;
  /**
   * The upstream's `message` and `recordTime` for this answer, for the drop-in route's envelope.
   * Optional: entries written before they were kept lack them (the route then says "success" and
   * the time from fetchedAt).
   */
  message?: string | null;
  recordTime?: string | null;
}

export interface NotFoundEntry {
  kind: 'not_found';
  fetchedAt: number;
  requestId: string | null;
}

export type CacheEntry = OkEntry | NotFoundEntry;

export interface Windows {
  freshMs: number;
  staleMs: number;
  notFoundMs: number;
}

export type Freshness = 'fresh' | 'stale' | 'expired';

export function freshness(entry: CacheEntry, w: Windows, now = Date.now()): Freshness {
  const age = now - entry.fetchedAt;
  if (entry.kind === 'not_found') return age < w.notFoundMs ? 'fresh' : 'expired';
  if (age < w.freshMs) return 'fresh';
  return age < w.freshMs + w.staleMs ? 'stale' : 'expired';
}

/** Seconds the store keeps an entry: past that it can serve nobody. */
export function ttlSeconds(entry: CacheEntry, w: Windows): number {
  const ms = entry.kind === 'not_found' ? w.notFoundMs : w.freshMs + w.staleMs;
  return Math.max(1, Math.ceil(ms / 1000));
}

/** A cheap validator: the upstream requestId is unique per answer, fetchedAt breaks ties. */
export function entryEtag(entry: OkEntry): string {
  return `"${entry.fetchedAt.toString(36)}-${(entry.requestId ?? '').replace(/[^A-Za-z0-9_-]/g, '').slice(0, 40)}"`;
}

export function isCacheEntry(v: unknown): v is CacheEntry {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Record<string, unknown>;
  if (typeof e.fetchedAt !== 'number' || !Number.isFinite(e.fetchedAt)) return false;
  if (e.requestId !== null && typeof e.requestId !== 'string') return false;
  if (e.kind === 'not_found') return true;
  return (
    e.kind === 'ok' &&
    e.data !== undefined &&
    e.data !== null &&
    optionalString(e.message) &&
    optionalString(e.recordTime)
  );
}

function optionalString(v: unknown): boolean {
  return v === undefined || v === null || typeof v === 'string';
}

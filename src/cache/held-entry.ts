// An answer as this process holds it: the upstream's `data` and the normalised metrics serialised
// once, as UTF-8 in one buffer, next to the few fields every answer reads. The parsed `data` object
// is not kept (a tree of small objects cost ~2.4 KB of heap per entry and lengthened every GC), and
// no answer re-serialises it: the routes send these bytes (http/present.ts). The last answer built
// from the entry is kept with it (`rendered`), so a hot entry's body and headers are rebuilt only
// when what changes per request (outcome, age in whole seconds) changes.
import { normalizeSpreadInfo } from '../normalize/spread-info.js';
import { type CacheEntry, entryEtag, type OkEntry } from './entry.js';

/** One built answer: its body and the header values that go with it. */
export interface Rendered {
  outcome: string;
  /** What it was built for: it serves every request with the same outcome, age and fresh seconds left. */
  ageSeconds: number;
  freshLeft: number;
  /** Header values. */
  age: string;
  cacheControl: string;
  body: Buffer;
}

/**
 * Bytes an entry is counted as beyond its buffer: its fields, key and place in the store. Measured
 * with the bench's memory scenario (docs/performance.md): RSS per entry minus the buffer's bytes.
 */
const ENTRY_OVERHEAD_BYTES = 700;

export class HeldOk implements OkEntry {
  readonly kind = 'ok' as const;
  /** The last answers built from this entry, per route (only entries that are asked for have them). */
  rendered: Rendered | undefined = undefined;
  renderedDropIn: Rendered | undefined = undefined;
  private etags: [string, string] | undefined = undefined;

  private constructor(
    readonly fetchedAt: number,
    readonly requestId: string | null,
    readonly message: string | null | undefined,
    readonly recordTime: string | null | undefined,
    /** `data` as JSON, then the normalised metrics as JSON. */
    private readonly bytes: Buffer,
    private readonly dataEnd: number,
  ) {}

  static from(e: OkEntry): HeldOk {
    if (e instanceof HeldOk) return e;
    const data = JSON.stringify(e.data);
    const metrics = JSON.stringify(normalizeSpreadInfo(e.data));
    const dataLength = Buffer.byteLength(data);
    // One allocation of its own (not a slice of Buffer's shared pool, which a long-lived slice
    // would keep whole).
    const bytes = Buffer.allocUnsafeSlow(dataLength + Buffer.byteLength(metrics));
    bytes.write(data, 0);
    bytes.write(metrics, dataLength);
    return new HeldOk(e.fetchedAt, e.requestId, e.message, e.recordTime, bytes, dataLength);
  }

  /** Parsed again on each read: only rare paths (tests, tools) want the object. */
  get data(): Record<string, unknown> {
    return JSON.parse(this.dataBytes().toString()) as Record<string, unknown>;
  }

  dataBytes(): Buffer {
    return this.bytes.subarray(0, this.dataEnd);
  }

  metricsBytes(): Buffer {
    return this.bytes.subarray(this.dataEnd);
  }

  /** Bytes this entry is counted as in a store bounded by bytes. */
  get size(): number {
    return this.bytes.length + ENTRY_OVERHEAD_BYTES;
  }

  /** The normalised route's weak etag (its body's `meta` differs between answers; the metrics do not). */
  get weakEtag(): string {
    return this.etagPair()[0];
  }

  /** The drop-in route's: its own etag space, as its bytes differ from the normalised route's. */
  get dropInEtag(): string {
    return this.etagPair()[1];
  }

  private etagPair(): [string, string] {
    if (this.etags === undefined) {
      const base = entryEtag(this).slice(0, -1);
      this.etags = [`W/${base}"`, `W/${base}-u"`];
    }
    return this.etags;
  }

  /** The store's JSON (entry.ts's shape), assembled from the bytes rather than re-serialised. */
  toJSON(): OkEntry {
    return {
      kind: 'ok',
      data: this.data,
      fetchedAt: this.fetchedAt,
      requestId: this.requestId,
      ...(this.message === undefined ? {} : { message: this.message }),
      ...(this.recordTime === undefined ? {} : { recordTime: this.recordTime }),
    };
  }

  storeJson(): string {
    const extra =
      (this.message === undefined ? '' : `,"message":${JSON.stringify(this.message)}`) +
      (this.recordTime === undefined ? '' : `,"recordTime":${JSON.stringify(this.recordTime)}`);
    return `{"kind":"ok","data":${this.dataBytes().toString()},"fetchedAt":${this.fetchedAt},"requestId":${JSON.stringify(this.requestId)}${extra}}`;
  }

  /** The same upstream answer (entries never change once written: same fetch, same bytes). */
  sameAnswer(e: OkEntry): boolean {
    return e.fetchedAt === this.fetchedAt && e.requestId === this.requestId;
  }
}

/** An entry as stores hold it: ok answers as HeldOk; "no content" is small as it is. */
export function hold(e: CacheEntry): CacheEntry {
  return e.kind === 'ok' ? HeldOk.from(e) : e;
}

/** What a store writes for an entry. */
export function storeJson(e: CacheEntry): string {
  return e instanceof HeldOk ? e.storeJson() : JSON.stringify(e);
}

/** Bytes an entry counts for in a store bounded by bytes. */
export function entrySize(e: CacheEntry): number {
  return e instanceof HeldOk ? e.size : ENTRY_OVERHEAD_BYTES;
}

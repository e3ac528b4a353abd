// An answer as this process holds it: the upstream's `data` and the answer's short strings (request
// id, message, record time) serialised once, as UTF-8 in one buffer of its own, next to a few small
// numbers. The parsed `data` object is not kept (a tree of small objects cost ~2.4 KB of heap per
// entry and lengthened every GC), and no answer re-serialises it: the routes send these bytes
// (http/present.ts). Heap per entry is kept small on purpose: V8 reserves a multiple of its live
// heap, so a byte of heap costs more RSS than a byte of buffer.
// What answers are built from (the normalised metrics as bytes, the last answer built per route,
// the etags) is kept for the HOT_ENTRIES entries most recently answered, not for every entry held:
// a hot entry's body and headers are rebuilt only when the outcome or the age in seconds changes,
// and an entry nobody asks for costs only its upstream data. The store that holds an entry keeps its
// timing on it too (a separate wrapper object per entry cost heap).
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
 * Bytes an entry is counted as beyond its buffer: its fields, key and place in the store, and the
 * heap V8 reserves beyond them. Measured with the bench's memory scenario (docs/performance.md):
 * RSS per entry added, minus the buffer's bytes.
 */
const ENTRY_OVERHEAD_BYTES = 1600;

/** Lengths of the optional strings: a string's byte length, or one of these. */
const NULL = -1;
const ABSENT = -2;

interface Hot {
  metrics?: string;
  rendered?: Rendered | undefined;
  renderedDropIn?: Rendered | undefined;
  etags?: [string, string];
}

/**
 * Entries with hot parts, oldest first out: bounded memory for them (about 2.5 KB each with both
 * routes' answers) however many entries the stores hold.
 */
const HOT_ENTRIES = 8192;
const hotRing: Array<HeldOk | undefined> = new Array(HOT_ENTRIES);
let hotNext = 0;

function utf8Length(s: string | null | undefined): number {
  return s === null ? NULL : s === undefined ? ABSENT : Buffer.byteLength(s);
}

export class HeldOk implements OkEntry {
  /** The last answers built from this entry and its etags: only entries that are asked for have them. */
  private hot: Hot | undefined = undefined;
  /** Set by the store that holds it (tiered-store.ts), in its own units (small integers: no boxing). */
  l1Until = 0;
  storedAt = 0;
  expiresAt = 0;

  private constructor(
    readonly fetchedAt: number,
    /** data JSON, request id, message, record time (UTF-8, in that order). */
    private readonly bytes: ArrayBuffer,
    private readonly dataLength: number,
    private readonly idLength: number,
    private readonly messageLength: number,
    private readonly recordTimeLength: number,
  ) {}

  static from(e: OkEntry): HeldOk {
    if (e instanceof HeldOk) return e;
    const parts = [JSON.stringify(e.data), e.requestId ?? '', e.message ?? '', e.recordTime ?? ''];
    const lengths = parts.map((p) => Buffer.byteLength(p));
    // One allocation of its own (not a slice of Buffer's shared pool, which a long-lived slice
    // would keep whole), held without a view object (views are made when an answer is built).
    const bytes = new ArrayBuffer(lengths.reduce((a, b) => a + b, 0));
    const view = Buffer.from(bytes);
    let at = 0;
    for (const p of parts) at += view.write(p, at);
    const held = new HeldOk(
      e.fetchedAt,
      bytes,
      lengths[0]!,
      utf8Length(e.requestId),
      utf8Length(e.message),
      utf8Length(e.recordTime),
    );
    // The normalised metrics are not made here: only spread-info's /v1 route wants them, and it makes
    // them on its first answer (metricsJson), kept while the entry is hot.
    return held;
  }

  /** The hot parts, made (and the entry registered among the hot ones) when absent. */
  private hotParts(): Hot {
    if (this.hot === undefined) {
      const old = hotRing[hotNext];
      if (old !== undefined) old.hot = undefined;
      hotRing[hotNext] = this;
      hotNext = (hotNext + 1) % HOT_ENTRIES;
      this.hot = {};
    }
    return this.hot;
  }

  get kind(): 'ok' {
    return 'ok';
  }

  private text(start: number, length: number): string {
    return Buffer.from(this.bytes, start, length).toString();
  }

  private optional(start: number, length: number): string | null | undefined {
    return length === NULL ? null : length === ABSENT ? undefined : this.text(start, length);
  }

  private get idStart(): number {
    return this.dataLength;
  }

  private get messageStart(): number {
    return this.idStart + Math.max(0, this.idLength);
  }

  get requestId(): string | null {
    return this.idLength === NULL ? null : this.text(this.idStart, this.idLength);
  }

  get message(): string | null | undefined {
    return this.optional(this.messageStart, this.messageLength);
  }

  get recordTime(): string | null | undefined {
    return this.optional(this.messageStart + Math.max(0, this.messageLength), this.recordTimeLength);
  }

  /** Parsed again on each read: only rare paths (tests, tools) want the object. */
  get data(): unknown {
    return JSON.parse(this.text(0, this.dataLength)) as unknown;
  }

  dataBytes(): Buffer {
    return Buffer.from(this.bytes, 0, this.dataLength);
  }

  /** The normalised metrics as JSON: kept while the entry is hot, else made from the data. */
  metricsJson(): string {
    const hot = this.hotParts();
    hot.metrics ??= JSON.stringify(normalizeSpreadInfo(this.data));
    return hot.metrics;
  }

  /** Bytes this entry is counted as in a store bounded by bytes. */
  get size(): number {
    return this.bytes.byteLength + ENTRY_OVERHEAD_BYTES;
  }

  get rendered(): Rendered | undefined {
    return this.hot?.rendered;
  }

  set rendered(r: Rendered | undefined) {
    this.hotParts().rendered = r;
  }

  get renderedDropIn(): Rendered | undefined {
    return this.hot?.renderedDropIn;
  }

  set renderedDropIn(r: Rendered | undefined) {
    this.hotParts().renderedDropIn = r;
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
    const hot = this.hotParts();
    if (hot.etags === undefined) {
      const base = entryEtag(this).slice(0, -1);
      hot.etags = [`W/${base}"`, `W/${base}-u"`];
    }
    return hot.etags;
  }

  /** The store's JSON (entry.ts's shape). */
  toJSON(): OkEntry {
    const { message, recordTime } = this;
    return {
      kind: 'ok',
      data: this.data,
      fetchedAt: this.fetchedAt,
      requestId: this.requestId,
      ...(message === undefined ? {} : { message }),
      ...(recordTime === undefined ? {} : { recordTime }),
    };
  }

  /** The store's JSON, assembled from the bytes rather than re-serialised. */
  storeJson(): string {
    const { message, recordTime } = this;
    const extra =
      (message === undefined ? '' : `,"message":${JSON.stringify(message)}`) +
      (recordTime === undefined ? '' : `,"recordTime":${JSON.stringify(recordTime)}`);
    return `{"kind":"ok","data":${this.text(0, this.dataLength)},"fetchedAt":${this.fetchedAt},"requestId":${JSON.stringify(this.requestId)}${extra}}`;
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

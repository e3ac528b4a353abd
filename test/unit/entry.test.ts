import { describe, expect, it } from 'vitest';
import {
  type CacheEntry,
  entryEtag,
  freshness,
  isCacheEntry,
  type NotFoundEntry,
  type OkEntry,
  ttlSeconds,
  type Windows,
} from '../../src/cache/entry.js';
import { upstreamEnvelopeJson } from '../../src/http/present.js';

const T0 = Date.UTC(2026, 10, 29, 3, 0, 0);
const W: Windows = { freshMs: 10_000, staleMs: 20_000, notFoundMs: 5_000 };
const ok = (over: Partial<OkEntry> = {}): OkEntry => ({
  kind: 'ok',
  data: { avg_duration: '2600' },
  fetchedAt: T0,
  requestId: 'req-1',
  ...over,
});
const notFound = (over: Partial<NotFoundEntry> = {}): NotFoundEntry => ({
  kind: 'not_found',
  fetchedAt: T0,
  requestId: null,
  ...over,
});

describe('freshness', () => {
  it('serves an answer fresh, then stale, then not at all', () => {
    expect(freshness(ok(), W, T0)).toBe('fresh');
    expect(freshness(ok(), W, T0 + 9_999)).toBe('fresh');
    expect(freshness(ok(), W, T0 + 10_000)).toBe('stale');
    expect(freshness(ok(), W, T0 + 29_999)).toBe('stale');
    expect(freshness(ok(), W, T0 + 30_000)).toBe('expired');
  });

  it('remembers "no content" for its own window and never serves it stale', () => {
    expect(freshness(notFound(), W, T0 + 4_999)).toBe('fresh');
    expect(freshness(notFound(), W, T0 + 5_000)).toBe('expired');
    expect(freshness(notFound(), { ...W, notFoundMs: 0 }, T0)).toBe('expired');
  });

  it('with no stale window an answer goes straight from fresh to expired', () => {
    expect(freshness(ok(), { ...W, staleMs: 0 }, T0 + 10_000)).toBe('expired');
  });
});

describe('ttlSeconds', () => {
  it('keeps an answer for fresh + stale, "no content" for its window, at least a second', () => {
    expect(ttlSeconds(ok(), W)).toBe(30);
    expect(ttlSeconds(notFound(), W)).toBe(5);
    expect(ttlSeconds(ok(), { freshMs: 1_500, staleMs: 0, notFoundMs: 0 })).toBe(2);
    expect(ttlSeconds(notFound(), { ...W, notFoundMs: 0 })).toBe(1);
  });
});

describe('entryEtag', () => {
  it('is stable for one entry and differs between answers', () => {
    const e = ok();
    expect(entryEtag(e)).toBe(entryEtag(e));
    expect(entryEtag(ok())).toBe(entryEtag(e));
    expect(entryEtag(ok({ fetchedAt: T0 + 1 }))).not.toBe(entryEtag(e));
    expect(entryEtag(ok({ requestId: 'req-2' }))).not.toBe(entryEtag(e));
    expect(entryEtag(ok({ requestId: null }))).toMatch(/^"[^"]+"$/);
  });

  it('stays a valid quoted string whatever the upstream request id holds', () => {
    for (const requestId of ['a"b', 'a\\b', 'x, W/"y"', '\r\nSet-Cookie: a=b', 'é'.repeat(100)]) {
      const tag = entryEtag(ok({ requestId }));
      expect(tag).toMatch(/^"[\x21\x23-\x7e]+"$/);
    }
  });
});

describe('isCacheEntry', () => {
  it('accepts what the cache writes', () => {
    const entries: CacheEntry[] = [
      ok(),
      ok({ requestId: null }),
      ok({ message: 'success', recordTime: '2026-11-29T03:00:00Z' }),
      ok({ message: null, recordTime: null }),
      // A family endpoint's data as sent: a list or another JSON value (only null is not an answer).
      ok({ data: [{ a: 1 }] }),
      ok({ data: [] }),
      ok({ data: '{}' }),
      ok({ data: 0 }),
      notFound(),
      notFound({ requestId: 'r' }),
    ];
    for (const e of entries) expect(isCacheEntry(JSON.parse(JSON.stringify(e)))).toBe(true);
  });

  it('reads entries written before message and recordTime were kept, and answers them in the envelope', () => {
    const old = JSON.parse(
      '{"kind":"ok","data":{"play_mid":"1"},"fetchedAt":1795921200456,"requestId":"r-1"}',
    );
    expect(isCacheEntry(old)).toBe(true);
    expect(JSON.parse(upstreamEnvelopeJson(old, 'gw-1'))).toEqual({
      code: 0,
      message: 'success',
      requestId: 'r-1',
      recordTime: '2026-11-29T03:00:00Z',
      data: { play_mid: '1' },
    });
    // What the upstream sent wins; a missing upstream request id is replaced by the gateway's.
    const kept = ok({ requestId: null, message: null, recordTime: '2026-01-02T03:04:05Z' });
    expect(JSON.parse(upstreamEnvelopeJson(kept, 'gw-2'))).toMatchObject({
      message: null,
      requestId: 'gw-2',
      recordTime: '2026-01-02T03:04:05Z',
    });
  });

  it.each([
    ['null', null],
    ['a string', 'ok'],
    ['a number', 1],
    ['an array', [ok()]],
    ['an unknown kind', { ...ok(), kind: 'maybe' }],
    ['no kind', { data: {}, fetchedAt: T0, requestId: null }],
    ['ok without data', { kind: 'ok', fetchedAt: T0, requestId: null }],
    ['ok with null data', { ...ok(), data: null }],
    ['a string fetchedAt', { ...ok(), fetchedAt: String(T0) }],
    ['a NaN fetchedAt', { ...ok(), fetchedAt: Number.NaN }],
    ['an infinite fetchedAt', { ...notFound(), fetchedAt: Number.POSITIVE_INFINITY }],
    ['a numeric requestId', { ...ok(), requestId: 7 }],
    ['a missing requestId', { kind: 'not_found', fetchedAt: T0 }],
    ['a numeric message', { ...ok(), message: 5 }],
    ['an object recordTime', { ...ok(), recordTime: {} }],
  ])('rejects %s', (_name, value) => {
    expect(isCacheEntry(value)).toBe(false);
  });
});

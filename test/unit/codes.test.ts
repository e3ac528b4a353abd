import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors.js';
import {
  CREDENTIAL_CODES,
  classifyBusinessCode,
  isBilled,
  retriesExhausted,
  upstreamTimeout,
} from '../../src/upstream/codes.js';

interface Expected {
  status: number;
  code: string;
  retryAfter: boolean;
}

/** The contract's error table, one row per upstream business code that is an error. */
const ERRORS: Array<[number, Expected]> = [
  [302, { status: 503, code: 'UPSTREAM_UNAVAILABLE', retryAfter: true }],
  [303, { status: 503, code: 'UPSTREAM_UNAVAILABLE', retryAfter: true }],
  [100, { status: 503, code: 'UPSTREAM_CREDENTIALS', retryAfter: false }],
  [600, { status: 503, code: 'UPSTREAM_CREDENTIALS', retryAfter: false }],
  [601, { status: 503, code: 'UPSTREAM_CREDENTIALS', retryAfter: false }],
  [602, { status: 503, code: 'UPSTREAM_CREDENTIALS', retryAfter: false }],
  [400, { status: 502, code: 'UPSTREAM_ERROR', retryAfter: false }],
  [500, { status: 502, code: 'UPSTREAM_ERROR', retryAfter: false }],
  [999, { status: 502, code: 'UPSTREAM_ERROR', retryAfter: false }],
  [-1, { status: 502, code: 'UPSTREAM_ERROR', retryAfter: false }],
];

describe('classifyBusinessCode', () => {
  it('0 is success and 201 is "no content"', () => {
    expect(classifyBusinessCode(0)).toEqual({ kind: 'ok' });
    expect(classifyBusinessCode(201)).toEqual({ kind: 'not_found' });
  });

  it('301 is retried, and after the retries it is a 502 carrying 301', () => {
    expect(classifyBusinessCode(301)).toEqual({ kind: 'retry' });
    const e = retriesExhausted();
    expect([e.statusCode, e.code, e.upstreamCode, e.retryAfterSeconds]).toEqual([
      502,
      'UPSTREAM_ERROR',
      301,
      undefined,
    ]);
  });

  it.each(ERRORS)('%i maps to the error table', (upstream, want) => {
    const v = classifyBusinessCode(upstream);
    if (v.kind !== 'error') throw new Error(`expected an error verdict for ${upstream}, got ${v.kind}`);
    expect(v.error).toBeInstanceOf(GatewayError);
    expect(v.error.statusCode).toBe(want.status);
    expect(v.error.code).toBe(want.code);
    expect(v.error.upstreamCode).toBe(upstream);
    if (want.retryAfter) expect(v.error.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    else expect(v.error.retryAfterSeconds).toBeUndefined();
    expect(v.error.staleable).toBe(true);
  });

  it('asks callers to wait longer for a spent daily quota than for a rate limit', () => {
    const wait = (c: number) => {
      const v = classifyBusinessCode(c);
      return v.kind === 'error' ? (v.error.retryAfterSeconds ?? 0) : 0;
    };
    expect(wait(303)).toBeGreaterThan(wait(302));
  });

  it('treats exactly 100, 600, 601 and 602 as credential codes', () => {
    expect([...CREDENTIAL_CODES].sort()).toEqual([100, 600, 601, 602]);
  });
});

describe('isBilled', () => {
  it('bills 0 and 201 only', () => {
    const all = [0, 100, 201, 301, 302, 303, 400, 500, 600, 601, 602, 999];
    expect(all.filter(isBilled)).toEqual([0, 201]);
  });
});

describe('upstreamTimeout', () => {
  it('is a 504 with no upstream code', () => {
    const e = upstreamTimeout(500);
    expect([e.statusCode, e.code, e.upstreamCode]).toEqual([504, 'UPSTREAM_TIMEOUT', undefined]);
    expect(e.message).toContain('500 ms');
  });
});

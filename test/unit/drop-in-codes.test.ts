// The drop-in route's one mapping from the gateway's errors to the upstream's business codes
// (as agreed for the drop-in route), row by row, including the rows no drop-in request reaches today.
import { describe, expect, it } from 'vitest';
import { authorNotFound, GatewayError, upstreamUnavailable } from '../../src/errors.js';
import { refusalError } from '../../src/governance/refusals.js';
import {
  DROP_IN_ANSWER_CODES,
  DROP_IN_CODES,
  dropInCode,
  dropInErrorJson,
} from '../../src/http/drop-in-codes.js';
import { errorBody, toGatewayError } from '../../src/plugins/error-handler.js';
import {
  classifyBusinessCode,
  retriesExhausted,
  upstreamError,
  upstreamTimeout,
} from '../../src/upstream/codes.js';

const codeError = (code: number) => {
  const v = classifyBusinessCode(code);
  if (v.kind !== 'error') throw new Error(`code ${code} is not an error`);
  return v.error;
};

const cases: Array<[string, GatewayError, number]> = [
  ['unknown key', new GatewayError('UNAUTHORIZED', 'unknown API key'), 100],
  ['forbidden', new GatewayError('FORBIDDEN', 'this route needs an admin API key'), 600],
  ['validation', new GatewayError('INVALID_REQUEST', 'query parameter "platform": …'), 400],
  // A path under /api/ that is not catalogued: the contract's business code 404 (HTTP 404 too).
  ['no route', new GatewayError('NOT_FOUND', 'no route'), 404],
  ['body too large', toGatewayError({ statusCode: 413, message: 'too large' }), 400],
  ['caller rate limit', new GatewayError('RATE_LIMITED', 'rate limit of 600 requests exceeded'), 302],
  // Other 429 reasons (a caller's daily upstream share, its pending cap) map the same way: on status.
  ['caller daily share', new GatewayError('RATE_LIMITED', 'daily upstream share spent'), 302],
  ['upstream 302', codeError(302), 302],
  ['302 back-off pause', refusalError('backoff', 4000, 302), 302],
  ['budget wait exceeded', refusalError('rate', 1500, 0), 302],
  ['gateway daily quota', refusalError('quota', 3_600_000, 0), 303],
  ['upstream 303', codeError(303), 303],
  ['upstream 303, retry-after to midnight', upstreamUnavailable('quota spent', 7200, 303), 303],
  ['303 pause', refusalError('dayover', 3_600_000, 303), 303],
  ['301 after retries', retriesExhausted(), 301],
  ['upstream timeout', upstreamTimeout(60_000), 301],
  ['no content', authorNotFound(), 201],
  ['upstream 100 for the gateway token', codeError(100), 500],
  ['insufficient balance', codeError(601), 500],
  ['credential circuit open', refusalError('circuit', 60_000, 100), 500],
  ['upstream 500', codeError(500), 500],
  ['upstream 400', codeError(400), 500],
  ['unknown upstream code', codeError(999), 500],
  ['HTTP 502 from upstream', upstreamError('the upstream answered HTTP 502'), 500],
  ['gateway shutting down', upstreamUnavailable('the gateway is shutting down', 1), 500],
  ['unexpected', toGatewayError(new Error('boom')), 500],
];

describe('dropInCode', () => {
  it.each(cases)('%s -> %i', (_name, err, code) => {
    expect(dropInCode(err)).toBe(code);
  });

  it('maps the same after the error crossed instances (a coalesced follower elsewhere)', () => {
    for (const [name, err, code] of cases) {
      const crossed = GatewayError.fromJSON(JSON.parse(JSON.stringify(err.toJSON())));
      expect(dropInCode(crossed), name).toBe(code);
    }
  });

  it('every row of the table is reached, and answers only codes of the upstream table', () => {
    const reached = new Set(cases.map(([, , code]) => code));
    expect(DROP_IN_CODES.map((r) => r.code).filter((c) => !reached.has(c))).toEqual([]);
    // The upstream's table, and 404 for paths no catalogued endpoint has (the contract's family section).
    const upstreamTable = [0, 100, 201, 301, 302, 303, 400, 404, 500, 600, 601];
    for (const c of DROP_IN_ANSWER_CODES) expect(upstreamTable).toContain(c);
  });
});

describe('dropInErrorJson', () => {
  it("is the upstream's envelope with data null, plus the gateway's error object", () => {
    const err = refusalError('rate', 1500, 0);
    const body = JSON.parse(
      dropInErrorJson(err, errorBody('req-1', err), Date.UTC(2026, 10, 29, 3, 0, 0, 456)),
    );
    expect(body).toEqual({
      code: 302,
      message: err.message,
      requestId: 'req-1',
      recordTime: '2026-11-29T03:00:00Z',
      data: null,
      error: { code: 'UPSTREAM_UNAVAILABLE', message: err.message, requestId: 'req-1', retryAfterSeconds: 2 },
    });
  });
});

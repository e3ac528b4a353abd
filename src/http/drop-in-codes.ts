// The drop-in route answers every outcome the way the upstream does: HTTP 200 and a business code
// from the upstream's own table (its doc: "business results should be determined by the code
// field"). The clients it serves (the official SDKs, the doc's snippets) read only the body, so an
// HTTP 401 or 503 with the gateway's body reached them as `code: None`. This table is the one place
// where the gateway's errors become those codes (the mapping agreed for the drop-in route). Rows are matched on
// status, error code, upstream code and refusal reason, never on messages, and the first match wins.
import type { GatewayError } from '../errors.js';
import type { ErrorBody } from '../plugins/error-handler.js';
import { upstreamTime } from './present.js';

export interface DropInCodeRow {
  /** The upstream's business code the caller receives. */
  code: number;
  /** The situation, for the OpenAPI document (and the README's table). */
  situation: string;
  matches(err: GatewayError): boolean;
}

const unavailable = (e: GatewayError) => e.code === 'UPSTREAM_UNAVAILABLE';

export const DROP_IN_CODES: readonly DropInCodeRow[] = [
  {
    code: 100,
    situation: 'no, unknown or repeated credential (`UNAUTHORIZED`)',
    matches: (e) => e.code === 'UNAUTHORIZED',
  },
  {
    code: 600,
    situation: 'forbidden (`FORBIDDEN`; no drop-in request is refused this way today)',
    matches: (e) => e.code === 'FORBIDDEN',
  },
  {
    code: 302,
    situation:
      'the caller is over one of its limits (`RATE_LIMITED`, any reason); the upstream answered 302 or is ' +
      'pausing the gateway after 302s; no upstream budget within `UPSTREAM_MAX_WAIT_MS` (`UPSTREAM_UNAVAILABLE`)',
    matches: (e) =>
      e.statusCode === 429 ||
      (unavailable(e) && (e.upstreamCode === 302 || e.reason === 'rate' || e.reason === 'backoff')),
  },
  {
    code: 303,
    situation:
      "a daily quota is spent: the gateway's `UPSTREAM_DAILY_QUOTA`, or the upstream's (its 303) (`UPSTREAM_UNAVAILABLE`)",
    matches: (e) =>
      unavailable(e) &&
      (e.upstreamCode === 303 ||
        e.reason === 'quota' ||
        e.reason === 'endpoint_quota' ||
        e.reason === 'dayover'),
  },
  {
    code: 301,
    situation:
      'the upstream answered 301 after the retries (`UPSTREAM_ERROR`), or not in time (`UPSTREAM_TIMEOUT`)',
    matches: (e) => e.code === 'UPSTREAM_TIMEOUT' || (e.code === 'UPSTREAM_ERROR' && e.upstreamCode === 301),
  },
  {
    code: 201,
    situation: 'no content for this author (or video, or search) and parameters (`AUTHOR_NOT_FOUND`)',
    matches: (e) => e.code === 'AUTHOR_NOT_FOUND',
  },
  {
    code: 404,
    situation:
      'a path under `/api/` that is not a catalogued endpoint (`NOT_FOUND`; HTTP 404): never forwarded',
    matches: (e) => e.code === 'NOT_FOUND',
  },
  {
    code: 400,
    situation: 'invalid parameters (`INVALID_REQUEST`, and any other 4xx)',
    matches: (e) => e.statusCode >= 400 && e.statusCode < 500,
  },
  {
    code: 500,
    situation:
      "the upstream refused the gateway's own token or balance (`UPSTREAM_CREDENTIALS`, or `UPSTREAM_UNAVAILABLE` " +
      'while that circuit is open), and any other failure',
    matches: () => true,
  },
];

export function dropInCode(err: GatewayError): number {
  return (DROP_IN_CODES.find((row) => row.matches(err)) ?? { code: 500 }).code;
}

/** Every code the drop-in route can answer: 0 (success) and the table's. */
export const DROP_IN_ANSWER_CODES: readonly number[] = [0, ...new Set(DROP_IN_CODES.map((r) => r.code))];

/**
 * The error envelope: the upstream's fields (`data: null`), plus the gateway's own error object so
 * a client that knows the gateway can read the precise code. `message` is the gateway's message:
 * it says what to fix ("unknown API key"), where the upstream's standard text would not.
 */
export function dropInErrorJson(err: GatewayError, body: ErrorBody, now = Date.now()): string {
  return JSON.stringify({
    code: dropInCode(err),
    message: err.message,
    requestId: body.error.requestId,
    recordTime: upstreamTime(now),
    data: null,
    error: body.error,
  });
}

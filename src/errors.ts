// The gateway's error taxonomy. Every failure a caller can see is one of the codes below, and each
// code has one HTTP status and one line saying when it happens: the OpenAPI document's enum and
// error table, and the per-status descriptions of each route, are all derived from ERRORS. The
// single error handler (plugins/error-handler.ts) turns a GatewayError into the body shape.
import type { RefusalReason } from './governance/types.js';
import type { CallerRefusalReason } from './limits/caller-refusal.js';

interface ErrorKind {
  status: number;
  /** When a caller sees it (the error table in the OpenAPI document). */
  when: string;
  /** The status carries `retry-after`. */
  retryAfter?: true;
}

export const ERRORS = {
  INVALID_REQUEST: { status: 400, when: 'bad path, query or body; the message names the parameter' },
  UNAUTHORIZED: {
    status: 401,
    when: 'no or unknown key, invalid or expired JWT (when credentials are required)',
  },
  FORBIDDEN: { status: 403, when: 'an admin route with a key that is not an admin key' },
  NOT_FOUND: { status: 404, when: 'no route for this method and path' },
  AUTHOR_NOT_FOUND: {
    status: 404,
    when: 'the upstream has no data for this author (or video, or search) and parameters (its code 201)',
  },
  REQUEST_TIMEOUT: {
    status: 408,
    when: "the request's headers and body were not received within `REQUEST_TIMEOUT_MS`",
  },
  PAYLOAD_TOO_LARGE: { status: 413, when: "a request body over the route's limit" },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, when: 'a request body that is not `application/json`' },
  RATE_LIMITED: {
    status: 429,
    when: 'the caller is over its request rate, its daily upstream share or its pending cap, or its address sent too many failed credentials (the message says which)',
    retryAfter: true,
  },
  HEADERS_TOO_LARGE: { status: 431, when: 'request headers over 16 KiB' },
  INTERNAL: { status: 500, when: 'an unexpected failure in the gateway (nothing internal is shown)' },
  UPSTREAM_ERROR: {
    status: 502,
    when: 'the upstream failed: code 301 after retries, 500, a non-200 HTTP status, a malformed body, an unknown code',
  },
  UPSTREAM_UNAVAILABLE: {
    status: 503,
    when: "the upstream cannot be asked now: its 302 or 303, the gateway's rate budget or daily quota spent, the credential circuit open",
    retryAfter: true,
  },
  UPSTREAM_CREDENTIALS: {
    status: 503,
    when: "the upstream refused the gateway's own token or balance (codes 100, 600, 601, 602)",
  },
  AUTH_UNAVAILABLE: {
    status: 503,
    when: "a JWT cannot be checked: the identity provider's keys (JWKS) cannot be fetched",
    retryAfter: true,
  },
  UPSTREAM_TIMEOUT: { status: 504, when: 'no upstream answer within `UPSTREAM_TIMEOUT_MS`' },
} as const satisfies Record<string, ErrorKind>;

export type ErrorCode = keyof typeof ERRORS;

/** Every `error.code` a caller can see, in status order (the OpenAPI enum). */
export const ERROR_CODES = Object.keys(ERRORS) as ErrorCode[];

/**
 * What refused a call, when governance (503) or the caller's own limits (429) did. One
 * `UPSTREAM_UNAVAILABLE` covers several situations that the drop-in route must tell apart (its
 * budget answers 302, its quota 303); a 429 says which caller limit (metrics, usage).
 */
export type ErrorReason = RefusalReason | CallerRefusalReason;

export interface GatewayErrorOptions {
  upstreamCode?: number | undefined;
  retryAfterSeconds?: number | undefined;
  reason?: ErrorReason | undefined;
  cause?: unknown;
}

export class GatewayError extends Error {
  override name = 'GatewayError';
  readonly statusCode: number;
  readonly upstreamCode: number | undefined;
  readonly retryAfterSeconds: number | undefined;
  readonly reason: ErrorReason | undefined;

  constructor(
    readonly code: ErrorCode,
    message: string,
    opts: GatewayErrorOptions = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.statusCode = ERRORS[code].status;
    this.upstreamCode = opts.upstreamCode;
    this.reason = opts.reason;
    this.retryAfterSeconds =
      opts.retryAfterSeconds === undefined ? undefined : Math.max(1, Math.ceil(opts.retryAfterSeconds));
  }

  /** 502/503/504: the upstream could not answer, so a cached answer still within its stale window stands in. */
  get staleable(): boolean {
    return this.statusCode === 502 || this.statusCode === 503 || this.statusCode === 504;
  }

  toJSON(): SerializedGatewayError {
    return {
      statusCode: this.statusCode,
      code: this.code,
      message: this.message,
      upstreamCode: this.upstreamCode,
      retryAfterSeconds: this.retryAfterSeconds,
      reason: this.reason,
    };
  }

  static fromJSON(s: SerializedGatewayError): GatewayError {
    const code = s.code in ERRORS ? s.code : 'UPSTREAM_ERROR';
    return new GatewayError(code, s.message, {
      upstreamCode: s.upstreamCode,
      retryAfterSeconds: s.retryAfterSeconds,
      reason: s.reason,
    });
  }
}

/** The form in which an error crosses instances (coalesced followers on other gateways). */
export interface SerializedGatewayError {
  /** Written for older instances, which read it; the status follows from `code`. */
  statusCode: number;
  code: ErrorCode;
  message: string;
  upstreamCode?: number | undefined;
  retryAfterSeconds?: number | undefined;
  /** Absent in outcomes written by older instances. */
  reason?: ErrorReason | undefined;
}

/** `subject`: what the endpoint's answer is about (catalogue subjectOf: author, itemId, keyword...). */
export const authorNotFound = (subject = 'author') =>
  new GatewayError('AUTHOR_NOT_FOUND', `the upstream has no data for this ${subject} and parameters`, {
    upstreamCode: 201,
  });

export const upstreamUnavailable = (
  message: string,
  retryAfterSeconds: number,
  upstreamCode?: number,
  reason?: ErrorReason,
) => new GatewayError('UPSTREAM_UNAVAILABLE', message, { retryAfterSeconds, upstreamCode, reason });

/**
 * An error as a warning's `error` field: code, message, upstream code and reason, without a stack
 * (a known failure, not a bug). Not `err`: pino's err serializer turns any object with a message
 * into `{type: "Object", stack: ""}`.
 */
export function errorSummary(err: unknown): Record<string, unknown> {
  if (err instanceof GatewayError) {
    return { code: err.code, message: err.message, upstreamCode: err.upstreamCode, reason: err.reason };
  }
  return { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

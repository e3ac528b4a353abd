// The gateway's error taxonomy (contract, section 3). Every failure a caller can see is one of
// these; the single error handler in plugins/error-handler.ts turns them into the body shape.

import type { RefusalReason } from './governance/types.js';
import type { CallerRefusalReason } from './limits/caller-refusal.js';

/** Every `error.code` a caller can see; the OpenAPI document lists them as an enum. */
export const ERROR_CODES = [
  'INVALID_REQUEST',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'RATE_LIMITED',
  'NOT_FOUND',
  'PAYLOAD_TOO_LARGE',
  'REQUEST_TIMEOUT',
  'HEADERS_TOO_LARGE',
  'AUTHOR_NOT_FOUND',
  'UPSTREAM_ERROR',
  'UPSTREAM_UNAVAILABLE',
  'UPSTREAM_CREDENTIALS',
  'UPSTREAM_TIMEOUT',
  'AUTH_UNAVAILABLE',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * What refused a call, when governance (503) or the caller's own limits (429) did. One
 * `UPSTREAM_UNAVAILABLE` covers several situations that the drop-in route must tell apart (its
 * budget answers 302, its quota 303); a 429 says which caller limit (metrics, usage).
 */
export type ErrorReason = RefusalReason | CallerRefusalReason;

export interface GatewayErrorOptions {
  upstreamCode?: number;
  retryAfterSeconds?: number;
  reason?: ErrorReason;
  cause?: unknown;
}

export class GatewayError extends Error {
  override name = 'GatewayError';
  readonly upstreamCode: number | undefined;
  readonly retryAfterSeconds: number | undefined;
  readonly reason: ErrorReason | undefined;

  constructor(
    readonly statusCode: number,
    readonly code: ErrorCode,
    message: string,
    opts: GatewayErrorOptions = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.upstreamCode = opts.upstreamCode;
    this.reason = opts.reason;
    this.retryAfterSeconds =
      opts.retryAfterSeconds === undefined ? undefined : Math.max(1, Math.ceil(opts.retryAfterSeconds));
  }

  /** 502/503/504: the upstream could not answer, so a stale entry may stand in (contract, section 3). */
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
    return new GatewayError(s.statusCode, s.code, s.message, {
      upstreamCode: s.upstreamCode,
      retryAfterSeconds: s.retryAfterSeconds,
      reason: s.reason,
    });
  }
}

/** The form in which an error crosses instances (coalesced followers on other gateways). */
export interface SerializedGatewayError {
  statusCode: number;
  code: ErrorCode;
  message: string;
  upstreamCode?: number | undefined;
  retryAfterSeconds?: number | undefined;
  /** Absent in outcomes written by older instances. */
  reason?: ErrorReason | undefined;
}

export const authorNotFound = () =>
  new GatewayError(404, 'AUTHOR_NOT_FOUND', 'the upstream has no data for this author and parameters', {
    upstreamCode: 201,
  });

export const upstreamUnavailable = (
  message: string,
  retryAfterSeconds: number,
  upstreamCode?: number,
  reason?: ErrorReason,
) => new GatewayError(503, 'UPSTREAM_UNAVAILABLE', message, { retryAfterSeconds, upstreamCode, reason });

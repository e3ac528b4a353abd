// The gateway's error taxonomy (contract, section 3). Every failure a caller can see is one of
// these; the single error handler in plugins/error-handler.ts turns them into the body shape.

export type ErrorCode =
  | 'INVALID_REQUEST'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'RATE_LIMITED'
  | 'NOT_FOUND'
  | 'PAYLOAD_TOO_LARGE'
  | 'REQUEST_TIMEOUT'
  | 'HEADERS_TOO_LARGE'
  | 'AUTHOR_NOT_FOUND'
  | 'UPSTREAM_ERROR'
  | 'UPSTREAM_UNAVAILABLE'
  | 'UPSTREAM_CREDENTIALS'
  | 'UPSTREAM_TIMEOUT'
  | 'INTERNAL';

export interface GatewayErrorOptions {
  upstreamCode?: number;
  retryAfterSeconds?: number;
  cause?: unknown;
}

export class GatewayError extends Error {
  override name = 'GatewayError';
  readonly upstreamCode: number | undefined;
  readonly retryAfterSeconds: number | undefined;

  constructor(
    readonly statusCode: number,
    readonly code: ErrorCode,
    message: string,
    opts: GatewayErrorOptions = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.upstreamCode = opts.upstreamCode;
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
    };
  }

  static fromJSON(s: SerializedGatewayError): GatewayError {
    return new GatewayError(s.statusCode, s.code, s.message, {
      upstreamCode: s.upstreamCode,
      retryAfterSeconds: s.retryAfterSeconds,
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
}

export const authorNotFound = () =>
  new GatewayError(404, 'AUTHOR_NOT_FOUND', 'the upstream has no data for this author and parameters', {
    upstreamCode: 201,
  });

export const upstreamUnavailable = (message: string, retryAfterSeconds: number, upstreamCode?: number) =>
  new GatewayError(503, 'UPSTREAM_UNAVAILABLE', message, { retryAfterSeconds, upstreamCode });

// Pure mapping from an upstream business code (the upstream documentation's "Business Code
// Reference") to what the gateway does with it: the error it becomes comes from the table in
// errors.ts. No I/O here, so every code is unit-tested.
import { GatewayError } from '../errors.js';

export const CREDENTIAL_CODES = new Set([100, 600, 601, 602]);

/** Codes for which JustOneAPI charges: a success and a "no content". */
export function isBilled(code: number): boolean {
  return code === 0 || code === 201;
}

export type CodeVerdict =
  | { kind: 'ok' }
  | { kind: 'not_found' }
  | { kind: 'retry' }
  | { kind: 'error'; error: GatewayError };

export function classifyBusinessCode(code: number): CodeVerdict {
  switch (code) {
    case 0:
      return { kind: 'ok' };
    case 201:
      return { kind: 'not_found' };
    case 301:
      return { kind: 'retry' };
    case 302:
      return {
        kind: 'error',
        error: new GatewayError('UPSTREAM_UNAVAILABLE', 'the upstream is rate limiting the gateway', {
          upstreamCode: 302,
          retryAfterSeconds: 5,
        }),
      };
    case 303:
      return {
        kind: 'error',
        error: new GatewayError('UPSTREAM_UNAVAILABLE', "the upstream's daily quota is spent", {
          upstreamCode: 303,
          retryAfterSeconds: 3600,
        }),
      };
    case 400:
      // Our own validation should make this impossible; if it happens the upstream changed.
      return { kind: 'error', error: upstreamError('the upstream refused the parameters', 400) };
    case 500:
      return { kind: 'error', error: upstreamError('the upstream failed internally', 500) };
    default:
      if (CREDENTIAL_CODES.has(code)) {
        return {
          kind: 'error',
          error: new GatewayError(
            'UPSTREAM_CREDENTIALS',
            "the gateway's upstream credentials or balance were refused",
            {
              upstreamCode: code,
            },
          ),
        };
      }
      return { kind: 'error', error: upstreamError(`the upstream answered an unknown code`, code) };
  }
}

export function upstreamError(message: string, upstreamCode?: number): GatewayError {
  return new GatewayError('UPSTREAM_ERROR', message, { upstreamCode });
}

export function retriesExhausted(): GatewayError {
  return upstreamError('the upstream failed to collect the data after retries', 301);
}

export function upstreamTimeout(ms: number): GatewayError {
  return new GatewayError('UPSTREAM_TIMEOUT', `the upstream did not answer within ${ms} ms`);
}

// A caller refused for its own limits (429 RATE_LIMITED): over its request rate, its daily share
// of upstream calls, or its pending cap. Such a refusal belongs to one caller: a request of another
// caller that waited on the same upstream call (single flight) makes the call itself instead.
import { GatewayError } from '../errors.js';

/** The `reason` label of gateway_caller_refusals_total and the keys of /v1/usage's `refused`. */
export type CallerRefusalReason = 'rate' | 'daily_share' | 'pending' | 'credentials';

export class CallerRefusal extends GatewayError {
  declare readonly reason: CallerRefusalReason;

  constructor(reason: CallerRefusalReason, message: string, retryAfterSeconds: number) {
    super('RATE_LIMITED', message, { retryAfterSeconds, reason });
  }
}

export function callerRefusal(reason: CallerRefusalReason, message: string, retryMs: number): CallerRefusal {
  return new CallerRefusal(reason, message, Math.max(1, retryMs / 1000));
}

/** A 429 of the caller limits, here or from another instance's lease holder (serialised). */
export function isCallerRefusal(err: unknown): boolean {
  return err instanceof GatewayError && err.code === 'RATE_LIMITED';
}

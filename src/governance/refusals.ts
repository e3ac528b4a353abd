// What callers and operators see of governance. Callers: always 503 UPSTREAM_UNAVAILABLE with
// retry-after (the error table in errors.ts), with the upstream code behind a pause when there is one.
// Operators: one log line per change of state, not per refused request.
import type { FastifyBaseLogger } from 'fastify';
import { type GatewayError, upstreamUnavailable } from '../errors.js';
import type { EventResult, RefusalReason } from './types.js';

const MESSAGES: Record<RefusalReason, string> = {
  rate: 'no upstream budget within the wait limit; try again shortly',
  quota: "the gateway's daily upstream quota is spent until the upstream's day ends",
  endpoint_quota:
    "the gateway's daily quota for this upstream endpoint (UPSTREAM_ENDPOINT_DAILY_QUOTA) is spent until the upstream's day ends",
  dayover:
    "the upstream's daily quota for this endpoint is spent; no calls to it until the upstream's day ends",
  backoff: 'the upstream asked the gateway to slow down on this endpoint; its calls are paused',
  circuit: "the upstream refused the gateway's credentials or balance; upstream calls are paused",
};

export function refusalError(reason: RefusalReason, retryMs: number, code: number): GatewayError {
  return upstreamUnavailable(
    MESSAGES[reason],
    Math.max(1, retryMs / 1000),
    code > 0 ? code : undefined,
    reason,
  );
}

/** The label of gateway_upstream_refusals_total: a 303 pause is a quota refusal too. */
export function refusalMetricReason(reason: RefusalReason): 'rate' | 'quota' | 'backoff' | 'circuit' {
  return reason === 'dayover' || reason === 'endpoint_quota' ? 'quota' : reason;
}

/** Only the instance whose answer changed the shared state logs it, so an outage logs once. */
export function logEffect(log: FastifyBaseLogger, r: EventResult, code: number, endpoint: string): void {
  const seconds = Math.ceil(r.ms / 1000);
  if (r.closed) log.info({ upstreamCode: code }, 'upstream credentials accepted again: circuit closed');
  switch (r.effect) {
    case 'opened':
      log.error(
        { upstreamCode: code, cooldownSeconds: seconds },
        `the upstream refused the gateway's credentials (code ${code}): no upstream calls for ${seconds} s, then one probe`,
      );
      break;
    case 'reopened':
      log.warn(
        { upstreamCode: code, cooldownSeconds: seconds, strikes: r.strikes },
        'credential probe refused: circuit reopened',
      );
      break;
    case 'backoff':
      log.warn(
        { upstreamCode: 302, endpoint, pauseMs: r.ms, strikes: r.strikes },
        `upstream rate limited the gateway on ${endpoint}: its calls paused`,
      );
      break;
    case 'dayover':
      log.warn(
        { upstreamCode: 303, endpoint, pauseSeconds: seconds },
        `upstream's daily quota for ${endpoint} spent: no calls to it until its day ends`,
      );
      break;
  }
}

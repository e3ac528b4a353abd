// The one structured line (and metrics) per upstream call. Never the token, never the query.
import type { FastifyBaseLogger } from 'fastify';
import type { GatewayMetrics } from '../metrics.js';
import type { UpstreamCallRecord } from './client.js';

export function logUpstreamCall(
  log: FastifyBaseLogger,
  metrics: GatewayMetrics,
  r: UpstreamCallRecord,
): void {
  metrics.upstreamCalls.inc({
    code: r.code === null ? 'none' : String(r.code),
    outcome: r.outcome,
    billed: String(r.billed),
    endpoint: r.endpoint,
  });
  metrics.upstreamDuration.observe({ outcome: r.outcome, endpoint: r.endpoint }, r.latencyMs / 1000);
  const level = r.outcome === 'ok' || r.outcome === 'not_found' ? 'info' : 'warn';
  log[level]({ upstream: r }, 'upstream call');
}

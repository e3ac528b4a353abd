// Prometheus metrics, one registry per app (tests build many apps in one process).
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export class GatewayMetrics {
  readonly registry = new Registry();

  readonly httpRequests = new Counter({
    name: 'gateway_http_requests_total',
    help: 'HTTP requests answered, by route template, method and status code.',
    labelNames: ['route', 'method', 'status_code'] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'gateway_http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by route template and status code.',
    labelNames: ['route', 'method', 'status_code'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly cacheOutcomes = new Counter({
    name: 'gateway_cache_outcomes_total',
    help: 'Cache outcome of each answered tuple: hit, miss, stale, revalidated, bypass, not_found, error.',
    labelNames: ['route', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly upstreamCalls = new Counter({
    name: 'gateway_upstream_calls_total',
    help: 'Upstream calls (attempts), by business code ("none" when no envelope was read), outcome and whether billed.',
    labelNames: ['code', 'outcome', 'billed'] as const,
    registers: [this.registry],
  });
  readonly upstreamDuration = new Histogram({
    name: 'gateway_upstream_call_duration_seconds',
    help: 'Latency of one upstream call, by outcome.',
    labelNames: ['outcome'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60],
    registers: [this.registry],
  });
  readonly coalesced = new Counter({
    name: 'gateway_coalesced_requests_total',
    help: "Requests that waited for another request's upstream call instead of making their own (scope: local or remote instance).",
    labelNames: ['scope'] as const,
    registers: [this.registry],
  });
  readonly callsAvoided = new Counter({
    name: 'gateway_upstream_calls_avoided_total',
    help: 'Upstream calls the cache saved: answers from fresh hits, stale entries and coalesced followers.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly revalidations = new Counter({
    name: 'gateway_cache_revalidations_total',
    help: 'Background refreshes of stale entries, by result.',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly budgetWaits = new Counter({
    name: 'gateway_upstream_budget_waits_total',
    help: 'Upstream calls that had to wait for rate budget.',
    registers: [this.registry],
  });
  readonly budgetWaitSeconds = new Histogram({
    name: 'gateway_upstream_budget_wait_seconds',
    help: 'Time spent waiting for upstream rate budget.',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 30],
    registers: [this.registry],
  });
  readonly budgetRefusals = new Counter({
    name: 'gateway_upstream_refusals_total',
    help: "Upstream calls not made by the gateway's own governance, by reason (rate, quota, backoff, circuit).",
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly quotaRemaining = new Gauge({
    name: 'gateway_upstream_quota_remaining',
    help: 'Upstream calls left today under UPSTREAM_DAILY_QUOTA (-1: no quota configured).',
    registers: [this.registry],
  });
  readonly circuitOpen = new Gauge({
    name: 'gateway_upstream_circuit_state',
    help: 'Upstream pause in force: 0 none, 1 rate back-off (302), 2 quota day over (303), 3 credential circuit open (100/600/601/602).',
    registers: [this.registry],
  });
  readonly redisUp = new Gauge({
    name: 'gateway_redis_up',
    help: '1 when Redis is configured and reachable, 0 when configured and down, -1 when not configured.',
    registers: [this.registry],
  });
  readonly jwksUp = new Gauge({
    name: 'gateway_jwks_up',
    help: "1 when the identity provider's JWKS was last fetched fine, 0 when the last fetch failed, -1 when JWT_JWKS_URL is unset.",
    registers: [this.registry],
  });

  // Per caller: `caller` is a key's name, `jwt` or `anonymous` (never one value per user or IP).
  readonly callerRequests = new Counter({
    name: 'gateway_caller_requests_total',
    help: 'Requests answered on the metrics routes, by caller (batch items count one each).',
    labelNames: ['caller'] as const,
    registers: [this.registry],
  });
  readonly callerCacheHits = new Counter({
    name: 'gateway_caller_cache_hits_total',
    help: 'Answers served without an upstream call made for this caller (hits, stale, coalesced), by caller.',
    labelNames: ['caller'] as const,
    registers: [this.registry],
  });
  readonly callerUpstreamCalls = new Counter({
    name: 'gateway_caller_upstream_calls_total',
    help: 'Upstream calls charged to the caller whose request made them, by caller and whether billed.',
    labelNames: ['caller', 'billed'] as const,
    registers: [this.registry],
  });
  readonly callerRefusals = new Counter({
    name: 'gateway_caller_refusals_total',
    help: 'Requests refused by caller limits, by caller and reason (rate, daily_share, pending, credentials).',
    labelNames: ['caller', 'reason'] as const,
    registers: [this.registry],
  });
  readonly callerShareUsed = new Gauge({
    name: 'gateway_caller_upstream_share_used_ratio',
    help: "Fraction of the caller's CALLER_UPSTREAM_DAILY share used today (named callers with a share).",
    labelNames: ['caller'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    this.quotaRemaining.set(-1);
    this.circuitOpen.set(0);
    this.redisUp.set(-1);
    this.jwksUp.set(-1);
  }
}

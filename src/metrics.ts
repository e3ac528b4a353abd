// Prometheus metrics, one registry per app (tests build many apps in one process). What every
// request updates is counted in plain numbers and handed to prom-client when it is collected (a
// scrape): prom-client hashes the label values on every inc() and observe(), even through a child
// from labels(), which was ~4% of a cache hit's CPU.
import {
  Counter,
  type CounterConfiguration,
  collectDefaultMetrics,
  Gauge,
  Histogram,
  type LabelValues,
  Registry,
} from 'prom-client';

/** A counter's series that the request path adds to; collected into the counter at scrape. */
export interface HotSeries {
  inc(n?: number): void;
}

const pendingOf = new WeakMap<object, Array<{ labels: LabelValues<string>; n: number }>>();

/** A series of `counter` counted in a plain number, added to it whenever it is collected. */
export function hotSeries<T extends string>(counter: Counter<T>, labels: LabelValues<T>): HotSeries {
  let list = pendingOf.get(counter);
  if (!list) {
    list = [];
    pendingOf.set(counter, list);
  }
  const s = { labels: labels as LabelValues<string>, n: 0 };
  list.push(s);
  return {
    inc(n = 1) {
      s.n += n;
    },
  };
}

/** `collect` of the counters with hot series: the counts so far go into the counter itself. */
function collectHot(this: Counter<string>): void {
  for (const s of pendingOf.get(this) ?? [])
    if (s.n > 0) {
      this.inc(s.labels, s.n);
      s.n = 0;
    }
}

/** A counter whose series may be hot (hotSeries). */
function hotCounter<T extends string>(config: CounterConfiguration<T>): Counter<T> {
  return new Counter({ ...config, collect: collectHot });
}

interface HistogramSeries {
  labels: Record<string, string>;
  counts: number[];
  sum: number;
  count: number;
}

/**
 * A histogram for the request path: a series is arrays updated in place, no label hashing per
 * observation. Exposed exactly as prom-client's Histogram is (cumulative `le` buckets, `+Inf`,
 * `_sum`, `_count`), registered as a metric of its own.
 */
class HotHistogram<T extends string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, HistogramSeries>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly T[],
    private readonly buckets: readonly number[],
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Histogram);
  }

  /** The series of these labels; keep it (finding it costs what this class saves). */
  labels(labels: Record<T, string>): { observe(value: number): void } {
    const id = this.labelNames.map((n) => labels[n]).join('\u0000');
    let s = this.series.get(id);
    if (!s) {
      s = { labels: { ...labels }, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(id, s);
    }
    const series = s;
    const bounds = this.buckets;
    return {
      observe(value: number) {
        series.sum += value;
        series.count++;
        for (let i = 0; i < bounds.length; i++)
          if (value <= bounds[i]!) {
            series.counts[i]!++;
            break;
          }
      },
    };
  }

  async get() {
    const values: Array<{
      labels: Record<string, string | number>;
      sharedLabels: Record<string, string>;
      value: number;
      metricName: string;
    }> = [];
    for (const s of this.series.values()) {
      let acc = 0;
      this.buckets.forEach((le, i) => {
        acc += s.counts[i]!;
        values.push({
          labels: { le },
          sharedLabels: s.labels,
          value: acc,
          metricName: `${this.name}_bucket`,
        });
      });
      values.push(
        { labels: { le: '+Inf' }, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_bucket` },
        { labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum` },
        { labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count` },
      );
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}

export class GatewayMetrics {
  readonly registry = new Registry();

  readonly httpRequests = hotCounter({
    name: 'gateway_http_requests_total',
    help: 'HTTP requests answered, by route template, method and status code.',
    labelNames: ['route', 'method', 'status_code', 'endpoint'] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new HotHistogram(
    'gateway_http_request_duration_seconds',
    'Time to answer an HTTP request, by route template and status code.',
    ['route', 'method', 'status_code', 'endpoint'] as const,
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    this.registry,
  );
  readonly cacheOutcomes = hotCounter({
    name: 'gateway_cache_outcomes_total',
    help: 'Cache outcome of each answered tuple: hit, miss, stale, revalidated, bypass, not_found, error.',
    labelNames: ['route', 'outcome', 'endpoint'] as const,
    registers: [this.registry],
  });
  readonly upstreamCalls = new Counter({
    name: 'gateway_upstream_calls_total',
    help: 'Upstream calls (attempts), by business code ("none" when no envelope was read), outcome, whether billed and endpoint.',
    labelNames: ['code', 'outcome', 'billed', 'endpoint'] as const,
    registers: [this.registry],
  });
  readonly upstreamDuration = new Histogram({
    name: 'gateway_upstream_call_duration_seconds',
    help: 'Latency of one upstream call, by outcome and endpoint.',
    labelNames: ['outcome', 'endpoint'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60],
    registers: [this.registry],
  });
  readonly coalesced = new Counter({
    name: 'gateway_coalesced_requests_total',
    help: "Requests that waited for another request's upstream call instead of making their own (scope: local or remote instance).",
    labelNames: ['scope'] as const,
    registers: [this.registry],
  });
  readonly callsAvoided = hotCounter({
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
  readonly callerRequests = hotCounter({
    name: 'gateway_caller_requests_total',
    help: 'Requests answered on the metrics routes, by caller (batch items count one each).',
    labelNames: ['caller'] as const,
    registers: [this.registry],
  });
  readonly callerCacheHits = hotCounter({
    name: 'gateway_caller_cache_hits_total',
    help: 'Answers served without an upstream call made for this caller (hits, stale, coalesced), by caller.',
    labelNames: ['caller'] as const,
    registers: [this.registry],
  });
  readonly callerUpstreamCalls = hotCounter({
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

  private readonly outcomes = new Map<string, Map<string, HotSeries>>();

  /**
   * What one cache outcome of a route and endpoint adds to: gateway_cache_outcomes_total, and calls
   * avoided. `endpoint` is a catalogue name (bounded: 53).
   */
  outcomeSeries(route: string, outcome: string, endpoint: string): HotSeries {
    const id = `${route} ${endpoint}`;
    let ofRoute = this.outcomes.get(id);
    if (!ofRoute) {
      ofRoute = new Map();
      this.outcomes.set(id, ofRoute);
    }
    let s = ofRoute.get(outcome);
    if (!s) {
      const o = outcome.toLowerCase();
      const counted = hotSeries(this.cacheOutcomes, { route, outcome: o, endpoint });
      const avoided = o === 'hit' || o === 'stale' ? hotSeries(this.callsAvoided, { reason: o }) : null;
      s = {
        inc() {
          counted.inc();
          avoided?.inc();
        },
      };
      ofRoute.set(outcome, s);
    }
    return s;
  }

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    this.quotaRemaining.set(-1);
    this.circuitOpen.set(0);
    this.redisUp.set(-1);
    this.jwksUp.set(-1);
  }
}

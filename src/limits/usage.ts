// Usage per caller: the Prometheus counters (label: key name, `jwt` or `anonymous`) at once, and
// the same figures per caller name and upstream day for GET /v1/usage. Those are added up in
// process and written to Redis once a second (one MULTI of HINCRBYs per day's hash), never one
// command per request; while Redis is down they keep adding up and are written when it is back.
// A crashed instance loses at most its last second; a clean shutdown writes what it holds.
import type { FastifyBaseLogger } from 'fastify';
import { Gauge } from 'prom-client';
import { QuotaCalendar } from '../governance/quota-day.js';
import { type GatewayMetrics, hotSeries } from '../metrics.js';
import type { RedisConnection } from '../redis/connection.js';
import type { CallerRef } from './caller-ref.js';
import type { CallerRefusalReason } from './caller-refusal.js';

export type UsageCounter =
  | 'requests'
  | 'cacheHits'
  | 'upstreamCalls'
  | 'billedCalls'
  | `refused.${CallerRefusalReason}`;

export const USAGE_RETENTION_DAYS = 35;
const RETENTION_MS = (USAGE_RETENTION_DAYS + 1) * 86_400_000;
export const CALLER_REFUSAL_REASONS: readonly CallerRefusalReason[] = [
  'rate',
  'daily_share',
  'pending',
  'credentials',
];

/** The per-endpoint counters: `<counter>@<endpoint name>` (names hold neither `@` nor `|`). */
type EndpointCounter = `${'requests' | 'cacheHits' | 'upstreamCalls' | 'billedCalls'}@${string}`;

/** day -> caller name -> counter -> n. Objects per caller, so a hit builds no strings. */
type Counts = Map<string, Map<string, Partial<Record<UsageCounter | EndpointCounter, number>>>>;

/** The field names of one endpoint's counters, made once per endpoint (not per request). */
interface EndpointFields {
  requests: EndpointCounter;
  cacheHits: EndpointCounter;
  upstreamCalls: EndpointCounter;
  billedCalls: EndpointCounter;
}

export interface CallerUsageOptions {
  metrics: GatewayMetrics;
  redis: RedisConnection | null;
  keyPrefix: string;
  tz: string;
  log: FastifyBaseLogger;
  flushMs?: number;
}

type Child = { inc(n?: number): void };

interface Series {
  requests: Child;
  hits: Child;
  calls: Child;
  billed: Child;
  /** This instance's counts since the upstream's midnight (the `_today` gauges). */
  today: Today;
}

interface Today {
  dayId: string;
  hits: number;
  calls: number;
  billed: number;
}

export class CallerUsage {
  private readonly calendar: QuotaCalendar;
  private readonly series = new Map<string, Series>();
  /** Not yet in Redis; with no Redis configured, everything (the whole report, one instance). */
  private unwritten: Counts = new Map();
  private readonly timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | null = null;
  private readonly endpointFields = new Map<string, EndpointFields>();

  constructor(private readonly o: CallerUsageOptions) {
    this.calendar = new QuotaCalendar(o.tz);
    this.todayGauges();
    if (o.redis) this.timer = setInterval(() => void this.flush(), o.flushMs ?? 1000).unref();
  }

  key(day: string): string {
    return `${this.o.keyPrefix}usage:${day}`;
  }

  /**
   * One request (a batch item counts one) answered for `ref` on `endpoint` (a catalogue name);
   * `hit`: no upstream call made for it.
   */
  served(ref: CallerRef, hit: boolean, endpoint: string): void {
    const s = this.bound(ref.label);
    const e = this.fieldsOf(endpoint);
    s.requests.inc();
    // The counters of one caller and day in one lookup (this runs on every cache hit).
    const dayId = this.calendar.at(Date.now()).dayId;
    const c = this.unwrittenOf(ref.name, dayId);
    c.requests = (c.requests ?? 0) + 1;
    c[e.requests] = (c[e.requests] ?? 0) + 1;
    if (hit) {
      s.hits.inc();
      c.cacheHits = (c.cacheHits ?? 0) + 1;
      c[e.cacheHits] = (c[e.cacheHits] ?? 0) + 1;
      todayOf(s, dayId).hits++;
    }
  }

  /** One upstream call (attempt) made for `ref` on `endpoint`. */
  call(ref: CallerRef, billed: boolean, endpoint: string): void {
    const s = this.bound(ref.label);
    const e = this.fieldsOf(endpoint);
    (billed ? s.billed : s.calls).inc();
    const t = todayOf(s, this.calendar.at(Date.now()).dayId);
    if (billed) t.billed++;
    else t.calls++;
    this.add(ref.name, 'upstreamCalls');
    this.add(ref.name, e.upstreamCalls);
    if (billed) {
      this.add(ref.name, 'billedCalls');
      this.add(ref.name, e.billedCalls);
    }
  }

  private fieldsOf(endpoint: string): EndpointFields {
    let f = this.endpointFields.get(endpoint);
    if (f === undefined) {
      f = {
        requests: `requests@${endpoint}`,
        cacheHits: `cacheHits@${endpoint}`,
        upstreamCalls: `upstreamCalls@${endpoint}`,
        billedCalls: `billedCalls@${endpoint}`,
      };
      this.endpointFields.set(endpoint, f);
    }
    return f;
  }

  /**
   * Requests refused by the caller's own limits: counted (the log line is the request's own
   * completion line, with `refused`, or the batch's line for its items). `asRequests`: they never
   * reached the cache (the request limit), so they count as requests here too.
   */
  refused(ref: CallerRef, reason: CallerRefusalReason, n = 1, asRequests = false): void {
    this.o.metrics.callerRefusals.inc({ caller: ref.label, reason }, n);
    this.add(ref.name, `refused.${reason}`, n);
    if (asRequests) {
      this.bound(ref.label).requests.inc(n);
      this.add(ref.name, 'requests', n);
    }
  }

  /** Writes what this instance counted to Redis (no-op without Redis, or while it is down). */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    const redis = this.o.redis;
    if (!redis?.up || this.unwritten.size === 0) return;
    const batch = this.unwritten;
    this.unwritten = new Map();
    this.flushing = this.write(redis, batch).finally(() => {
      this.flushing = null;
    });
    await this.flushing;
  }

  /** Counts per caller name for one upstream day, all instances (this one's written first). */
  async counts(day: string): Promise<Map<string, Map<string, number>>> {
    await this.flush();
    const out = new Map<string, Map<string, number>>();
    const put = (field: string, n: number) => {
      const bar = field.lastIndexOf('|');
      if (bar <= 0) return;
      const caller = field.slice(0, bar);
      const row = out.get(caller) ?? new Map<string, number>();
      out.set(caller, row);
      row.set(field.slice(bar + 1), (row.get(field.slice(bar + 1)) ?? 0) + n);
    };
    if (this.o.redis) {
      for (const [f, n] of Object.entries(await this.o.redis.client.hgetall(this.key(day))))
        put(f, Number(n));
    } else {
      for (const [caller, c] of this.unwritten.get(day) ?? [])
        for (const [counter, n] of Object.entries(c)) put(`${caller}|${counter}`, n ?? 0);
    }
    return out;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  private add(
    caller: string,
    counter: UsageCounter | EndpointCounter,
    n = 1,
    dayId = this.calendar.at(Date.now()).dayId,
  ): void {
    const c = this.unwrittenOf(caller, dayId);
    c[counter] = (c[counter] ?? 0) + n;
  }

  /** The not yet written counters of a caller and day. */
  private unwrittenOf(
    caller: string,
    dayId: string,
  ): Partial<Record<UsageCounter | EndpointCounter, number>> {
    let day = this.unwritten.get(dayId);
    if (!day) {
      day = new Map();
      this.unwritten.set(dayId, day);
      if (!this.o.redis) this.forgetOldDays(dayId);
    }
    let c = day.get(caller);
    if (!c) {
      c = {};
      day.set(caller, c);
    }
    return c;
  }

  private async write(redis: RedisConnection, batch: Counts): Promise<void> {
    for (const [day, callers] of batch) {
      const key = this.key(day);
      const m = redis.client.multi();
      for (const [caller, c] of callers)
        for (const [counter, n] of Object.entries(c)) m.hincrby(key, `${caller}|${counter}`, n ?? 0);
      m.pexpire(key, RETENTION_MS);
      try {
        await m.exec();
      } catch {
        // Kept for the next flush. A write that Redis applied but did not confirm in time would be
        // counted twice; that needs a timeout after the command reached Redis, and is logged.
        this.o.log.warn({ day }, 'usage counts not written to Redis; kept for the next attempt');
        for (const [caller, c] of callers)
          for (const [counter, n] of Object.entries(c))
            this.add(caller, counter as UsageCounter, n ?? 0, day);
      }
    }
  }

  /** Without Redis the counts live here: keep only the days /v1/usage serves. */
  private forgetOldDays(today: string): void {
    const oldest = new Date(Date.parse(`${today}T00:00:00Z`) - USAGE_RETENTION_DAYS * 86_400_000)
      .toISOString()
      .slice(0, 10);
    for (const day of this.unwritten.keys()) if (day < oldest) this.unwritten.delete(day);
  }

  /**
   * Counts of the upstream's day (midnight to midnight in UPSTREAM_QUOTA_TZ), for dashboards: a
   * counter's increase over 24 h is a rolling day, not the day the upstream bills and the quota
   * resets by. Per instance (sum them); zero from the midnight on, whether or not traffic came.
   */
  private todayGauges(): void {
    const registers = [this.o.metrics.registry];
    const usage = this;
    const current = () => usage.calendar.at(Date.now()).dayId;
    new Gauge({
      name: 'gateway_caller_upstream_calls_today',
      help: "Upstream calls charged to the caller on this instance since the upstream's midnight (UPSTREAM_QUOTA_TZ), by caller and whether billed.",
      labelNames: ['caller', 'billed'] as const,
      registers,
      collect() {
        const day = current();
        for (const [caller, s] of usage.series) {
          const t = s.today.dayId === day ? s.today : undefined;
          this.set({ caller, billed: 'true' }, t?.billed ?? 0);
          this.set({ caller, billed: 'false' }, t?.calls ?? 0);
        }
      },
    });
    new Gauge({
      name: 'gateway_caller_cache_hits_today',
      help: "Answers served without an upstream call made for the caller, on this instance since the upstream's midnight (UPSTREAM_QUOTA_TZ), by caller.",
      labelNames: ['caller'] as const,
      registers,
      collect() {
        const day = current();
        for (const [caller, s] of usage.series)
          this.set({ caller }, s.today.dayId === day ? s.today.hits : 0);
      },
    });
  }

  private bound(label: string): Series {
    let s = this.series.get(label);
    if (!s) {
      const m = this.o.metrics;
      s = {
        requests: hotSeries(m.callerRequests, { caller: label }),
        hits: hotSeries(m.callerCacheHits, { caller: label }),
        calls: hotSeries(m.callerUpstreamCalls, { caller: label, billed: 'false' }),
        billed: hotSeries(m.callerUpstreamCalls, { caller: label, billed: 'true' }),
        today: { dayId: '', hits: 0, calls: 0, billed: 0 },
      };
      this.series.set(label, s);
    }
    return s;
  }
}

/** The series' counts of `dayId`, started afresh when the upstream's day changed. */
function todayOf(s: Series, dayId: string): Today {
  if (s.today.dayId !== dayId) s.today = { dayId, hits: 0, calls: 0, billed: 0 };
  return s.today;
}

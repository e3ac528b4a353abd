// Usage per caller: the Prometheus counters (label: key name, `jwt` or `anonymous`) at once, and
// the same figures per caller name and upstream day for GET /v1/usage. Those are added up in
// process and written to Redis once a second (one MULTI of HINCRBYs per day's hash), never one
// command per request; while Redis is down they keep adding up and are written when it is back.
// A crashed instance loses at most its last second; a clean shutdown writes what it holds.
// Each write has an id that Redis remembers for WRITE_ID_MEMORY_MS: a write whose reply never came
// is sent again under the same id, and counts once whether or not the first one ran (late).
import { randomBytes } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { Result } from 'ioredis';
import { Gauge } from 'prom-client';
import { QuotaCalendar } from '../governance/quota-day.js';
import { type GatewayMetrics, hotSeries } from '../metrics.js';
import type { RedisConnection } from '../redis/connection.js';
import { sameSlotKey } from '../redis/same-slot.js';
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

/** How long Redis remembers a write's id: a write run later than this after its send counts twice. */
const WRITE_ID_MEMORY_MS = 3_600_000;

// KEYS: the day's hash, its write ids (a sorted set by time, same slot). ARGV: write id, retention
// ms, id memory ms, then field, n pairs. A write id seen before adds nothing.
const WRITE_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[3]))
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
for i = 4, #ARGV, 2 do redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    xtgUsageWrite(
      hash: string,
      ids: string,
      id: string,
      retentionMs: number,
      idMs: number,
      ...fieldsAndCounts: Array<string | number>
    ): Result<number, Context>;
  }
}

/** One day's counts on their way to Redis, under the id they keep until Redis has them. */
interface Write {
  id: string;
  day: string;
  args: Array<string | number>;
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
  /** Writes sent and not confirmed: sent again, under their ids, before anything newer. */
  private unconfirmed: Write[] = [];
  private readonly idPrefix = randomBytes(6).toString('base64url');
  private seq = 0;

  constructor(private readonly o: CallerUsageOptions) {
    this.calendar = new QuotaCalendar(o.tz);
    this.todayGauges();
    if (o.redis) {
      o.redis.client.defineCommand('xtgUsageWrite', { numberOfKeys: 2, lua: WRITE_LUA });
      this.timer = setInterval(() => void this.flush(), o.flushMs ?? 1000).unref();
    }
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
    if (!redis?.up || (this.unwritten.size === 0 && this.unconfirmed.length === 0)) return;
    const writes = [...this.unconfirmed, ...this.writesOf(this.unwritten)];
    this.unwritten = new Map();
    this.unconfirmed = [];
    this.flushing = this.write(redis, writes).finally(() => {
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

  private writesOf(batch: Counts): Write[] {
    const out: Write[] = [];
    for (const [day, callers] of batch) {
      const args: Array<string | number> = [];
      for (const [caller, c] of callers)
        for (const [counter, n] of Object.entries(c)) args.push(`${caller}|${counter}`, n ?? 0);
      if (args.length > 0) out.push({ id: `${this.idPrefix}.${(this.seq++).toString(36)}`, day, args });
    }
    return out;
  }

  private async write(redis: RedisConnection, writes: Write[]): Promise<void> {
    const failed: Write[] = [];
    for (const w of writes) {
      const key = this.key(w.day);
      try {
        await redis.client.xtgUsageWrite(
          key,
          sameSlotKey(key, ':ids'),
          w.id,
          RETENTION_MS,
          WRITE_ID_MEMORY_MS,
          ...w.args,
        );
      } catch {
        // Sent again under the same id: should this one still run in Redis, it counts once.
        this.o.log.warn({ day: w.day }, 'usage counts not written to Redis; kept for the next attempt');
        failed.push(w);
      }
    }
    this.unconfirmed.unshift(...failed);
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

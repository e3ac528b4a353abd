// Who decides: the shared gate in Redis whenever it answers, this process otherwise, with the
// per-instance shares (rates / EXPECTED_INSTANCES, and that part of what is left of today's quotas).
// Whatever Redis says is mirrored locally, so the fallback starts from the last shared state (the
// rate schedules included), and what was handed out meanwhile is passed back when Redis answers.
// Every decision is for one endpoint, under the account's ceiling, quota and circuit.
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config.js';
import type { RedisConnection } from '../redis/connection.js';
import type { CounterMemory } from '../redis/counter-memory.js';
import type { BackoffPolicy, CircuitPolicy } from './backoff.js';
import { configuredEndpoints, endpointBudget } from './endpoint-budgets.js';
import { LocalGate } from './local-gate.js';
import { type DayClock, QuotaCalendar } from './quota-day.js';
import { RedisGate } from './redis-gate.js';
import type { CallEvent, EventResult, GateContext, GateMode, Verdict } from './types.js';

export interface GatekeeperOptions {
  config: Config;
  redis: RedisConnection | null;
  log: FastifyBaseLogger;
  keyPrefix: string;
  backoff: BackoffPolicy;
  circuit: CircuitPolicy;
  burst: number;
  counters?: CounterMemory | undefined;
  /** The upstream's day; default: midnight to midnight in UPSTREAM_QUOTA_TZ. */
  day?: DayClock | undefined;
}

// A 302 streak is forgotten after this long without one; a circuit's strikes after a day.
const STRIKES_PER_CAP = 10;
const CIRCUIT_RETENTION_MS = 24 * 3_600_000;

/** One endpoint's figures for the gauges and /readyz. */
export interface EndpointGauges {
  /** 0 none, 1 paused (302), 2 day over (303), 3 the account's circuit. */
  state: 0 | 1 | 2 | 3;
  pauseLeftMs: number;
  /** Calls left today of the endpoint's own quota (estimated when alone); null: no quota. */
  quotaLeft: number | null;
  rps: number | null;
}

export class Gatekeeper {
  readonly local: LocalGate;
  private readonly shared: RedisGate | null;
  private readonly calendar: DayClock;
  private readonly instances: number;
  private knownUsed = { dayId: '', used: 0 };
  private readonly knownEpUsed = new Map<string, { dayId: string; used: number }>();
  private degraded = false;
  /** Deciding in-process since the last shared answer (or since start, without one). */
  private alone = false;

  constructor(private readonly o: GatekeeperOptions) {
    this.instances = o.config.EXPECTED_INSTANCES;
    this.calendar = o.day ?? new QuotaCalendar(o.config.UPSTREAM_QUOTA_TZ);
    const strikesTtlMs = o.backoff.capMs * STRIKES_PER_CAP;
    this.local = new LocalGate({ backoff: o.backoff, circuit: o.circuit, strikesTtlMs });
    this.shared = o.redis ? new RedisGate(o.redis.client, o.keyPrefix) : null;
  }

  context(endpoint: string, now: number, instances = 1): GateContext {
    const { dayId, msLeft } = this.calendar.at(now);
    const c = this.o.config;
    const b = endpointBudget(c, endpoint);
    return {
      dayId,
      dayLeftMs: msLeft,
      intervalMs: (1000 / c.UPSTREAM_MAX_RPS) * instances,
      epIntervalMs: b.rps === null ? 0 : (1000 / b.rps) * instances,
      burst: this.o.burst,
      quota: c.UPSTREAM_DAILY_QUOTA,
      epQuota: b.dailyQuota,
      probeTtlMs: c.UPSTREAM_TIMEOUT_MS + 5000,
    };
  }

  /** A pause this process already knows of: refused without a round trip. */
  knownRefusal(endpoint: string): Verdict | null {
    const now = Date.now();
    return this.local.blocked(endpoint, now, this.context(endpoint, now));
  }

  async decide(endpoint: string, mode: GateMode, maxWaitMs: number): Promise<Verdict> {
    const now = Date.now();
    const ctx = this.context(endpoint, now);
    if (this.shared && this.o.redis?.up) {
      const calls = this.local.unsynced(ctx.dayId);
      const epCalls = this.local.unsynced(ctx.dayId, endpoint);
      // Slots handed out in-process while Redis was away: the shared schedules start after them.
      const handoff = this.local.handoff(endpoint);
      const ahead = (tat: number) => (tat > 0 ? tat - now : 0);
      try {
        const v = await this.shared.gate(endpoint, mode, ctx, maxWaitMs, {
          calls,
          handoffMs: ahead(handoff.account),
          epCalls,
          epHandoffMs: ahead(handoff.endpoint),
        });
        this.local.synced(endpoint, calls, epCalls);
        this.local.handedOff(endpoint, handoff);
        // And the other way: should Redis go, the in-process schedules start after the shared ones.
        if (v.kind !== 'refuse') this.local.mirrorTat(endpoint, Date.now(), v.tatAheadMs, v.epTatAheadMs);
        this.alone = false;
        this.sharedAnswered(true);
        if (v.kind === 'refuse') this.local.applyRefusal(endpoint, Date.now(), v, ctx.dayId);
        if (v.quotaUsed !== undefined) this.sawUsed(ctx, v.quotaUsed);
        if (v.kind !== 'refuse' && v.epQuotaUsed !== undefined) this.sawEpUsed(endpoint, ctx, v.epQuotaUsed);
        return v;
      } catch (err) {
        this.sharedAnswered(false, err);
      }
    }
    const known = this.knownUsed.dayId === ctx.dayId ? this.knownUsed.used : 0;
    const share = Math.floor(Math.max(0, ctx.quota - known) / this.instances);
    const epKnown = this.epUsed(endpoint, ctx.dayId);
    const epShare = Math.floor(Math.max(0, ctx.epQuota - epKnown) / this.instances);
    if (!this.alone) {
      // The first in-process decision since Redis answered: the local schedules take over.
      this.alone = true;
      this.local.alone(now, this.instances, (e) => {
        if (e === null) return 1000 / this.o.config.UPSTREAM_MAX_RPS;
        const rps = endpointBudget(this.o.config, e).rps;
        return rps === null ? 0 : 1000 / rps;
      });
    }
    const local = this.context(endpoint, now, this.instances);
    return this.local.gate(endpoint, mode, now, local, maxWaitMs, share, epShare);
  }

  /** Applies an answer's consequences; resolves with what changed (never rejects). */
  async record(endpoint: string, event: CallEvent, code: number, isProbe: boolean): Promise<EventResult> {
    const now = Date.now();
    const ctx = this.context(endpoint, now);
    const jitter01 = Math.random();
    if (this.shared && this.o.redis?.up) {
      const { backoff: b, circuit: c } = this.o;
      try {
        const r = await this.shared.record(endpoint, ctx, {
          event,
          isProbe,
          code,
          backoffBaseMs: b.baseMs,
          backoffCapMs: b.capMs,
          jitter01,
          strikesTtlMs: b.capMs * STRIKES_PER_CAP,
          cooldownMs: c.cooldownMs,
          cooldownCapMs: c.cooldownCapMs,
          retentionMs: CIRCUIT_RETENTION_MS,
        });
        this.sharedAnswered(true);
        this.local.applyResult(endpoint, Date.now(), event, code, r, ctx.dayId);
        return r;
      } catch (err) {
        this.sharedAnswered(false, err);
      }
    }
    return this.local.record(endpoint, now, event, code, isProbe, ctx, jitter01);
  }

  /** Every endpoint worth showing: the configured ones and those this process has called. */
  endpoints(): string[] {
    return [...new Set([...configuredEndpoints(this.o.config), ...this.local.known()])].sort();
  }

  /** Re-reads the shared state (for quiet instances' /readyz and gauges). */
  async refresh(): Promise<void> {
    if (!this.shared || !this.o.redis?.up) return;
    const { dayId } = this.calendar.at(Date.now());
    const endpoints = this.endpoints();
    try {
      const s = await this.shared.status(dayId, endpoints);
      this.local.applySnapshot(Date.now(), s, dayId);
      this.sawUsed(this.context(endpoints[0] ?? '', Date.now()), s.account.quotaUsed);
      for (const [e, es] of s.endpoints) this.sawEpUsed(e, this.context(e, Date.now()), es.quotaUsed);
    } catch {
      // The next gate call notices the outage; a missed refresh only delays a gauge.
    }
  }

  private epUsed(endpoint: string, dayId: string): number {
    const k = this.knownEpUsed.get(endpoint);
    return k && k.dayId === dayId ? k.used : 0;
  }

  /** The circuitOpen gauge's value and, with a quota, the calls left today (estimated when alone). */
  gauges(now: number): { state: 0 | 1 | 2 | 3; quotaLeft: number | null } {
    const { dayId } = this.calendar.at(now);
    const quota = this.o.config.UPSTREAM_DAILY_QUOTA;
    const known = this.knownUsed.dayId === dayId ? this.knownUsed.used : 0;
    const used = known + this.local.unsynced(dayId) * this.instances;
    return { state: this.local.state(now, dayId), quotaLeft: quota > 0 ? Math.max(0, quota - used) : null };
  }

  endpointGauges(endpoint: string, now: number): EndpointGauges {
    const { dayId } = this.calendar.at(now);
    const b = endpointBudget(this.o.config, endpoint);
    const used = this.epUsed(endpoint, dayId) + this.local.unsynced(dayId, endpoint) * this.instances;
    return {
      state: this.local.state(now, dayId, endpoint),
      pauseLeftMs: this.local.pauseLeftMs(endpoint, now),
      quotaLeft: b.dailyQuota > 0 ? Math.max(0, b.dailyQuota - used) : null,
      rps: b.rps,
    };
  }

  /** Today's quota count as Redis said it: kept here, and remembered should Redis forget it. */
  private sawUsed(ctx: GateContext, used: number): void {
    this.knownUsed = { dayId: ctx.dayId, used };
    if (ctx.quota > 0 && this.shared)
      this.o.counters?.saw(
        this.shared.accountKeys(ctx.dayId)[1]!,
        undefined,
        used,
        ctx.dayLeftMs + 3_600_000,
      );
  }

  /** The same for an endpoint's own quota count. */
  private sawEpUsed(endpoint: string, ctx: GateContext, used: number): void {
    this.knownEpUsed.set(endpoint, { dayId: ctx.dayId, used });
    if (ctx.epQuota > 0 && this.shared)
      this.o.counters?.saw(
        this.shared.endpointKeys(ctx.dayId, endpoint)[1]!,
        undefined,
        used,
        ctx.dayLeftMs + 3_600_000,
      );
  }

  private sharedAnswered(ok: boolean, err?: unknown): void {
    if (ok === !this.degraded) return;
    this.degraded = !ok;
    if (ok) this.o.log.info('governor: Redis answers again; upstream budgets are shared');
    else
      this.o.log.warn(
        { err: String(err) },
        'governor: Redis did not answer; per-instance budgets until it does',
      );
  }
}

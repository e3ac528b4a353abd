// Who decides: the shared gate in Redis whenever it answers, this process otherwise, with the
// per-instance shares (rate / EXPECTED_INSTANCES, and that part of what is left of today's quota).
// Whatever Redis says is mirrored locally, so the fallback starts from the last shared state (the
// rate schedule included), and what was handed out meanwhile is passed back when Redis answers.
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config.js';
import type { RedisConnection } from '../redis/connection.js';
import type { BackoffPolicy, CircuitPolicy } from './backoff.js';
import { LocalGate } from './local-gate.js';
import { type DayClock, QuotaCalendar } from './quota-day.js';
import { RedisGate } from './redis-gate.js';
import type { CallEvent, EventResult, GateContext, Verdict } from './types.js';

export interface GatekeeperOptions {
  config: Config;
  redis: RedisConnection | null;
  log: FastifyBaseLogger;
  keyPrefix: string;
  backoff: BackoffPolicy;
  circuit: CircuitPolicy;
  burst: number;
  /** The upstream's day; default: midnight to midnight in UPSTREAM_QUOTA_TZ. */
  day?: DayClock | undefined;
}

// A 302 streak is forgotten after this long without one; a circuit's strikes after a day.
const STRIKES_PER_CAP = 10;
const CIRCUIT_RETENTION_MS = 24 * 3_600_000;

export class Gatekeeper {
  readonly local: LocalGate;
  private readonly shared: RedisGate | null;
  private readonly calendar: DayClock;
  private readonly instances: number;
  private knownUsed = { dayId: '', used: 0 };
  private degraded = false;

  constructor(private readonly o: GatekeeperOptions) {
    this.instances = o.config.EXPECTED_INSTANCES;
    this.calendar = o.day ?? new QuotaCalendar(o.config.UPSTREAM_QUOTA_TZ);
    const strikesTtlMs = o.backoff.capMs * STRIKES_PER_CAP;
    this.local = new LocalGate({ backoff: o.backoff, circuit: o.circuit, strikesTtlMs });
    this.shared = o.redis ? new RedisGate(o.redis.client, o.keyPrefix) : null;
  }

  context(now: number, instances = 1): GateContext {
    const { dayId, msLeft } = this.calendar.at(now);
    const c = this.o.config;
    return {
      dayId,
      dayLeftMs: msLeft,
      intervalMs: (1000 / c.UPSTREAM_MAX_RPS) * instances,
      burst: this.o.burst,
      quota: c.UPSTREAM_DAILY_QUOTA,
      probeTtlMs: c.UPSTREAM_TIMEOUT_MS + 5000,
    };
  }

  /** A pause this process already knows of: refused without a round trip. */
  knownRefusal(): Verdict | null {
    const now = Date.now();
    return this.local.blocked(now, this.context(now));
  }

  async decide(mode: 'reserve' | 'admit', maxWaitMs: number): Promise<Verdict> {
    const now = Date.now();
    const ctx = this.context(now);
    if (this.shared && this.o.redis?.up) {
      const unsynced = this.local.unsynced(ctx.dayId);
      // Slots handed out in-process while Redis was away: the shared schedule starts after them.
      const handoff = this.local.handoff();
      try {
        const v = await this.shared.gate(mode, ctx, maxWaitMs, unsynced, handoff - now);
        this.local.synced(unsynced);
        this.local.handedOff(handoff);
        // And the other way: should Redis go, the in-process schedule starts after the shared one.
        if (v.kind !== 'refuse' && v.tatAheadMs !== undefined)
          this.local.mirrorTat(Date.now() + v.tatAheadMs);
        this.sharedAnswered(true);
        if (v.kind === 'refuse') this.local.applyRefusal(Date.now(), v, ctx.dayId);
        if (v.quotaUsed !== undefined) this.knownUsed = { dayId: ctx.dayId, used: v.quotaUsed };
        return v;
      } catch (err) {
        this.sharedAnswered(false, err);
      }
    }
    const known = this.knownUsed.dayId === ctx.dayId ? this.knownUsed.used : 0;
    const share = Math.floor(Math.max(0, ctx.quota - known) / this.instances);
    return this.local.gate(mode, now, this.context(now, this.instances), maxWaitMs, share);
  }

  /** Applies an answer's consequences; resolves with what changed (never rejects). */
  async record(event: CallEvent, code: number, isProbe: boolean): Promise<EventResult> {
    const now = Date.now();
    const ctx = this.context(now);
    const jitter01 = Math.random();
    if (this.shared && this.o.redis?.up) {
      const { backoff: b, circuit: c } = this.o;
      try {
        const r = await this.shared.record(ctx, {
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
        this.local.applyResult(Date.now(), event, code, r, ctx.dayId);
        return r;
      } catch (err) {
        this.sharedAnswered(false, err);
      }
    }
    return this.local.record(now, event, code, isProbe, ctx, jitter01);
  }

  /** Re-reads the shared state (for quiet instances' /readyz and gauges). */
  async refresh(): Promise<void> {
    if (!this.shared || !this.o.redis?.up) return;
    const { dayId } = this.calendar.at(Date.now());
    try {
      const s = await this.shared.status(dayId);
      this.local.applySnapshot(Date.now(), s, dayId);
      this.knownUsed = { dayId, used: s.quotaUsed };
    } catch {
      // The next gate call notices the outage; a missed refresh only delays a gauge.
    }
  }

  /** The circuitOpen gauge's value and, with a quota, the calls left today (estimated when alone). */
  gauges(now: number): { state: 0 | 1 | 2 | 3; quotaLeft: number | null } {
    const { dayId } = this.calendar.at(now);
    const quota = this.o.config.UPSTREAM_DAILY_QUOTA;
    const known = this.knownUsed.dayId === dayId ? this.knownUsed.used : 0;
    const used = known + this.local.unsynced(dayId) * this.instances;
    return { state: this.local.state(now, dayId), quotaLeft: quota > 0 ? Math.max(0, quota - used) : null };
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

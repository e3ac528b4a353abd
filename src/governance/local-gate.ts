// The governance state of this process. Two jobs: a mirror of what Redis last said (so a pause
// known here costs no round trip, and /readyz and the gauges work on quiet instances), and the
// whole of governance while Redis is unreachable, with the same rules as the Lua scripts.
import { type BackoffPolicy, backoffMs, type CircuitPolicy, cooldownMs } from './backoff.js';
import { gcraReserve } from './gcra.js';
import type { CallEvent, EventResult, GateContext, Snapshot, Verdict } from './types.js';

export interface LocalPolicies {
  backoff: BackoffPolicy;
  circuit: CircuitPolicy;
  strikesTtlMs: number;
}

interface Circuit {
  until: number;
  strikes: number;
  code: number;
  /** A probe is out until then; nobody else goes. */
  probeUntil: number;
}

export class LocalGate {
  /** The rate schedule: this process's reservations, and the shared one's as last known. */
  private tat = 0;
  /** The tat of reservations made here while Redis was away, until Redis has been told of them. */
  private handoffTat = 0;
  private pauseUntil = 0;
  private strikes302 = 0;
  private strikesUntil = 0;
  private dayOver: string | null = null;
  private circuit: Circuit | null = null;
  private quotaDay = '';
  /** Calls admitted here, against the daily quota, that Redis has not counted yet. */
  private unsyncedCalls = 0;

  constructor(private readonly policies: LocalPolicies) {}

  /** A refusal known without asking anyone, or null. */
  blocked(now: number, ctx: Pick<GateContext, 'dayId' | 'dayLeftMs'>): Verdict | null {
    const c = this.circuit;
    if (c && now < c.until)
      return { kind: 'refuse', reason: 'circuit', retryMs: c.until - now, code: c.code };
    if (c && now < c.probeUntil) {
      return { kind: 'refuse', reason: 'circuit', retryMs: c.probeUntil - now, code: c.code, probing: true };
    }
    if (this.dayOver === ctx.dayId)
      return { kind: 'refuse', reason: 'dayover', retryMs: ctx.dayLeftMs, code: 303 };
    if (now < this.pauseUntil)
      return { kind: 'refuse', reason: 'backoff', retryMs: this.pauseUntil - now, code: 302 };
    return null;
  }

  /** The in-process gate (Redis away): `quotaShare` is this instance's part of what is left today. */
  gate(
    mode: 'reserve' | 'admit',
    now: number,
    ctx: GateContext,
    maxWaitMs: number,
    quotaShare: number,
  ): Verdict {
    const blocked = this.blocked(now, ctx);
    if (blocked) return blocked;
    const used = this.unsynced(ctx.dayId);
    if (ctx.quota > 0 && used >= quotaShare) {
      return { kind: 'refuse', reason: 'quota', retryMs: ctx.dayLeftMs, code: 0, quotaUsed: used };
    }
    if (mode === 'reserve') {
      const r = gcraReserve(this.tat, now, ctx, maxWaitMs);
      if (!r.ok) return { kind: 'refuse', reason: 'rate', retryMs: r.waitMs, code: 0 };
      this.tat = r.tat;
      this.handoffTat = r.tat;
      if (r.waitMs > 0) return { kind: 'wait', waitMs: r.waitMs, quotaUsed: used };
    }
    // Past the checks with a circuit on record means its cool-down is over: this call is the probe.
    const probe = this.circuit !== null;
    if (this.circuit) this.circuit.probeUntil = now + ctx.probeTtlMs;
    if (ctx.quota > 0) this.unsyncedCalls++;
    return { kind: 'go', probe, quotaUsed: this.unsyncedCalls };
  }

  /** Today's calls not yet added to Redis's count (a new day forgets yesterday's). */
  unsynced(dayId: string): number {
    if (dayId !== this.quotaDay) {
      this.quotaDay = dayId;
      this.unsyncedCalls = 0;
    }
    return this.unsyncedCalls;
  }

  /** Redis has counted `n` of them. */
  synced(n: number): void {
    this.unsyncedCalls = Math.max(0, this.unsyncedCalls - n);
  }

  /**
   * The switch between the two schedules, both ways. Requests that reserved a slot on one keep it
   * and go at their time; the other schedule must start after them, or the upstream sees both at
   * once. `handoff` is the in-process tat Redis has not been told of (0: none) ...
   */
  handoff(): number {
    return this.handoffTat;
  }

  /** ... and Redis has now taken it (`tat` is what handoff() gave; a newer one stays). */
  handedOff(tat: number): void {
    if (this.handoffTat === tat) this.handoffTat = 0;
  }

  /** The shared schedule's tat as Redis last reported it: the in-process one starts after it. */
  mirrorTat(tat: number): void {
    if (tat > this.tat) this.tat = tat;
  }

  /** The in-process version of RECORD_LUA. */
  record(
    now: number,
    event: CallEvent,
    code: number,
    isProbe: boolean,
    ctx: GateContext,
    jitter01: number,
  ): EventResult {
    let closed = false;
    if (isProbe && this.circuit) {
      if (event === 'nocode') this.circuit.probeUntil = 0;
      else if (event !== 'credential') {
        this.circuit = null;
        closed = true;
      }
    }
    if (now >= this.strikesUntil) this.strikes302 = 0;
    switch (event) {
      case 'ok':
        this.strikes302 = 0;
        break;
      case '302': {
        if (now < this.pauseUntil)
          return { effect: 'paused', ms: this.pauseUntil - now, strikes: this.strikes302, closed };
        this.strikes302++;
        this.strikesUntil = now + this.policies.strikesTtlMs;
        const ms = backoffMs(this.strikes302, this.policies.backoff, jitter01);
        this.pauseUntil = now + ms;
        return { effect: 'backoff', ms, strikes: this.strikes302, closed };
      }
      case '303':
        this.dayOver = ctx.dayId;
        return { effect: 'dayover', ms: ctx.dayLeftMs, strikes: 0, closed };
      case 'credential': {
        const c = this.circuit;
        if (c && !isProbe)
          return { effect: 'already', ms: Math.max(0, c.until - now), strikes: c.strikes, closed };
        const strikes = (c?.strikes ?? 0) + 1;
        const ms = cooldownMs(strikes, this.policies.circuit);
        this.circuit = { until: now + ms, strikes, code, probeUntil: 0 };
        return { effect: strikes === 1 ? 'opened' : 'reopened', ms, strikes, closed };
      }
    }
    return { effect: 'none', ms: 0, strikes: 0, closed };
  }

  /** Mirrors what Redis answered after a call. */
  applyResult(now: number, event: CallEvent, code: number, r: EventResult, dayId: string): void {
    if (r.closed) this.circuit = null;
    if (event === 'ok') this.strikes302 = 0;
    if (r.effect === 'backoff' || r.effect === 'paused') {
      this.pauseUntil = now + r.ms;
      this.strikes302 = r.strikes;
      this.strikesUntil = now + this.policies.strikesTtlMs;
    } else if (r.effect === 'dayover') {
      this.dayOver = dayId;
    } else if (r.effect === 'opened' || r.effect === 'reopened' || r.effect === 'already') {
      this.circuit = {
        until: now + r.ms,
        strikes: r.strikes,
        code: this.circuit?.code ?? code,
        probeUntil: 0,
      };
    }
  }

  /** Mirrors a refusal Redis gave. */
  applyRefusal(now: number, v: Extract<Verdict, { kind: 'refuse' }>, dayId: string): void {
    if (v.reason === 'circuit') {
      // While another instance's probe is out the cool-down is over, and the probe may end any
      // moment: that refusal is left to Redis, not remembered here.
      const until = v.probing ? now : now + v.retryMs;
      this.circuit = { until, strikes: this.circuit?.strikes ?? 1, code: v.code, probeUntil: 0 };
    } else if (v.reason === 'dayover') {
      this.dayOver = dayId;
    } else if (v.reason === 'backoff') {
      this.pauseUntil = now + v.retryMs;
    }
  }

  /** Mirrors the whole shared state (the periodic refresh). */
  applySnapshot(now: number, s: Snapshot, dayId: string): void {
    if (s.circuitLeftMs === null) this.circuit = null;
    else {
      const strikes = this.circuit?.strikes ?? 1;
      this.circuit = { until: now + s.circuitLeftMs, strikes, code: s.circuitCode, probeUntil: 0 };
    }
    this.dayOver = s.dayoverMs > 0 ? dayId : null;
    this.pauseUntil = s.pauseMs > 0 ? now + s.pauseMs : 0;
    if (s.rateAheadMs > 0) this.mirrorTat(now + s.rateAheadMs);
  }

  /** 0 none, 1 302 back-off, 2 day over, 3 credential circuit (the circuitOpen gauge). */
  state(now: number, dayId: string): 0 | 1 | 2 | 3 {
    if (this.circuit) return 3;
    if (this.dayOver === dayId) return 2;
    return now < this.pauseUntil ? 1 : 0;
  }

  /** The credential circuit while its cool-down runs (readiness), or null. */
  coolingDown(now: number): { code: number; leftMs: number } | null {
    const c = this.circuit;
    return c && now < c.until ? { code: c.code, leftMs: c.until - now } : null;
  }
}

// The governance state of this process. Two jobs: a mirror of what Redis last said (so a pause
// known here costs no round trip, and /readyz and the gauges work on quiet instances), and the
// whole of governance while Redis is unreachable, with the same rules as the Lua scripts: the
// account's state (ceiling, account quota, credentials circuit) and one state per endpoint (its
// budget, 302 pause, 303 day-over and quota).
import { type BackoffPolicy, backoffMs, type CircuitPolicy, cooldownMs } from './backoff.js';
import { gcraReserve } from './gcra.js';
import type {
  AccountSnapshot,
  CallEvent,
  EndpointSnapshot,
  EventResult,
  GateContext,
  GateMode,
  Verdict,
} from './types.js';

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

/** One rate schedule and one daily count, the account's or an endpoint's. */
class Schedule {
  /** This process's reservations, and the shared schedule's as last known. */
  tat = 0;
  /** The tat of reservations made here while Redis was away, until Redis has been told of them. */
  handoffTat = 0;
  private quotaDay = '';
  /** Calls admitted here, against a daily quota, that Redis has not counted yet. */
  private unsyncedCalls = 0;

  unsynced(dayId: string): number {
    if (dayId !== this.quotaDay) {
      this.quotaDay = dayId;
      this.unsyncedCalls = 0;
    }
    return this.unsyncedCalls;
  }

  counted(): number {
    return ++this.unsyncedCalls;
  }

  synced(n: number): void {
    this.unsyncedCalls = Math.max(0, this.unsyncedCalls - n);
  }

  /** How far the shared schedule ran ahead of the clock when Redis last reported it. */
  private lead = 0;

  /** The shared schedule as Redis reported it at `at`: `aheadMs` past the clock. */
  mirror(at: number, aheadMs: number): void {
    this.lead = Math.max(0, aheadMs);
    if (at + aheadMs > this.tat) this.tat = at + aheadMs;
  }

  /**
   * Redis is gone. Other instances may have reserved shared slots since this one last heard of the
   * schedule: it is taken to be as far ahead of the clock as it was then (`withLead`), and this
   * instance's first slot of its own share comes `gapMs` after that (see LocalGate.alone).
   */
  alone(now: number, withLead: boolean, gapMs: number): void {
    const full = withLead ? Math.max(this.tat, now + this.lead) : this.tat;
    this.tat = Math.max(full, now - gapMs) + gapMs;
  }
}

class EndpointState extends Schedule {
  pauseUntil = 0;
  strikes302 = 0;
  strikesUntil = 0;
  dayOver: string | null = null;
}

export class LocalGate {
  private readonly account = new Schedule();
  private readonly endpoints = new Map<string, EndpointState>();
  private circuit: Circuit | null = null;

  constructor(private readonly policies: LocalPolicies) {}

  private ep(endpoint: string): EndpointState {
    let s = this.endpoints.get(endpoint);
    if (!s) {
      s = new EndpointState();
      this.endpoints.set(endpoint, s);
    }
    return s;
  }

  /** The endpoints this process has state for. */
  known(): string[] {
    return [...this.endpoints.keys()];
  }

  /** A refusal known without asking anyone, or null. */
  blocked(endpoint: string, now: number, ctx: Pick<GateContext, 'dayId' | 'dayLeftMs'>): Verdict | null {
    const c = this.circuit;
    if (c && now < c.until)
      return { kind: 'refuse', reason: 'circuit', retryMs: c.until - now, code: c.code };
    if (c && now < c.probeUntil) {
      return { kind: 'refuse', reason: 'circuit', retryMs: c.probeUntil - now, code: c.code, probing: true };
    }
    const e = this.endpoints.get(endpoint);
    if (e?.dayOver === ctx.dayId)
      return { kind: 'refuse', reason: 'dayover', retryMs: ctx.dayLeftMs, code: 303 };
    if (e && now < e.pauseUntil)
      return { kind: 'refuse', reason: 'backoff', retryMs: e.pauseUntil - now, code: 302 };
    return null;
  }

  /**
   * The in-process gate (Redis away). `quotaShare` / `epQuotaShare`: this instance's part of what
   * is left today of the account's and the endpoint's quota. The steps are GATE_LUA's.
   */
  gate(
    endpoint: string,
    mode: GateMode,
    now: number,
    ctx: GateContext,
    maxWaitMs: number,
    quotaShare: number,
    epQuotaShare = Number.POSITIVE_INFINITY,
  ): Verdict {
    const blocked = this.blocked(endpoint, now, ctx);
    if (blocked) return blocked;
    const e = this.ep(endpoint);
    const used = this.account.unsynced(ctx.dayId);
    if (ctx.quota > 0 && used >= quotaShare) {
      return { kind: 'refuse', reason: 'quota', retryMs: ctx.dayLeftMs, code: 0, quotaUsed: used };
    }
    if (ctx.epQuota > 0 && e.unsynced(ctx.dayId) >= epQuotaShare) {
      return { kind: 'refuse', reason: 'endpoint_quota', retryMs: ctx.dayLeftMs, code: 0, quotaUsed: used };
    }
    const accountParams = { intervalMs: ctx.intervalMs, burst: ctx.burst };
    if (mode === 'reserve' && ctx.epIntervalMs > 0) {
      const r = gcraReserve(e.tat, now, { intervalMs: ctx.epIntervalMs, burst: ctx.burst }, maxWaitMs);
      if (!r.ok) return { kind: 'refuse', reason: 'rate', retryMs: r.waitMs, code: 0 };
      if (r.waitMs > 0) {
        e.tat = r.tat;
        e.handoffTat = r.tat;
        return { kind: 'wait', waitMs: r.waitMs, next: 'account', quotaUsed: used };
      }
      const a = gcraReserve(this.account.tat, now, accountParams, maxWaitMs);
      if (!a.ok) return { kind: 'refuse', reason: 'rate', retryMs: a.waitMs, code: 0 };
      e.tat = r.tat;
      e.handoffTat = r.tat;
    }
    if (mode === 'reserve' || mode === 'account') {
      const a = gcraReserve(this.account.tat, now, accountParams, maxWaitMs);
      if (!a.ok) return { kind: 'refuse', reason: 'rate', retryMs: a.waitMs, code: 0 };
      this.account.tat = a.tat;
      this.account.handoffTat = a.tat;
      if (a.waitMs > 0) return { kind: 'wait', waitMs: a.waitMs, next: 'admit', quotaUsed: used };
    }
    // Past the checks with a circuit on record means its cool-down is over: this call is the probe.
    const probe = this.circuit !== null;
    if (this.circuit) this.circuit.probeUntil = now + ctx.probeTtlMs;
    if (ctx.epQuota > 0) e.counted();
    const quotaUsed = ctx.quota > 0 ? this.account.counted() : used;
    return { kind: 'go', probe, quotaUsed };
  }

  /** Today's calls not yet added to Redis's counts (a new day forgets yesterday's). */
  unsynced(dayId: string, endpoint?: string): number {
    return endpoint === undefined ? this.account.unsynced(dayId) : this.ep(endpoint).unsynced(dayId);
  }

  /** Redis has counted them. */
  synced(endpoint: string, calls: number, epCalls: number): void {
    this.account.synced(calls);
    this.ep(endpoint).synced(epCalls);
  }

  /**
   * The switch between the two schedules, both ways. Requests that reserved a slot on one keep it
   * and go at their time; the other schedule must start after them, or the upstream sees both at
   * once. `handoff` gives the in-process tats Redis has not been told of (0: none) ...
   */
  handoff(endpoint: string): { account: number; endpoint: number } {
    return { account: this.account.handoffTat, endpoint: this.ep(endpoint).handoffTat };
  }

  /** ... and Redis has now taken them (a newer one stays). */
  handedOff(endpoint: string, h: { account: number; endpoint: number }): void {
    if (this.account.handoffTat === h.account) this.account.handoffTat = 0;
    const e = this.ep(endpoint);
    if (e.handoffTat === h.endpoint) e.handoffTat = 0;
  }

  /** The shared schedules' tats as Redis last reported them: the in-process ones start after them. */
  mirrorTat(endpoint: string, at: number, aheadMs: number | undefined, epAheadMs: number | undefined): void {
    if (aheadMs !== undefined) this.account.mirror(at, aheadMs);
    if (epAheadMs !== undefined) this.ep(endpoint).mirror(at, epAheadMs);
  }

  /**
   * The switch to in-process governance, once per outage, before its first slot. Each instance
   * takes 1/instances of a rate; were every one to start at the shared schedule's next slot, they
   * would all go at that instant. A share's first slot is one of its own spacings after the shared
   * schedule's last (share spacing - shared spacing after its next free slot): then no 1 s window
   * holds more than the rate, old shared slots and new shares together. With several instances the
   * shared schedule is taken to be as far ahead of the clock as this instance last saw it: the
   * others kept reserving on it meanwhile. `spacingMs`: a schedule's shared spacing (0: none).
   */
  alone(now: number, instances: number, spacingMs: (endpoint: string | null) => number): void {
    const several = instances > 1;
    this.account.alone(now, several, (instances - 1) * spacingMs(null));
    for (const [name, e] of this.endpoints) e.alone(now, several, (instances - 1) * spacingMs(name));
  }

  /** The in-process version of RECORD_LUA. */
  record(
    endpoint: string,
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
    const e = this.ep(endpoint);
    if (now >= e.strikesUntil) e.strikes302 = 0;
    switch (event) {
      case 'ok':
        e.strikes302 = 0;
        break;
      case '302': {
        if (now < e.pauseUntil)
          return { effect: 'paused', ms: e.pauseUntil - now, strikes: e.strikes302, closed };
        e.strikes302++;
        e.strikesUntil = now + this.policies.strikesTtlMs;
        const ms = backoffMs(e.strikes302, this.policies.backoff, jitter01);
        e.pauseUntil = now + ms;
        return { effect: 'backoff', ms, strikes: e.strikes302, closed };
      }
      case '303':
        e.dayOver = ctx.dayId;
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
  applyResult(
    endpoint: string,
    now: number,
    event: CallEvent,
    code: number,
    r: EventResult,
    dayId: string,
  ): void {
    const e = this.ep(endpoint);
    if (r.closed) this.circuit = null;
    if (event === 'ok') e.strikes302 = 0;
    if (r.effect === 'backoff' || r.effect === 'paused') {
      e.pauseUntil = now + r.ms;
      e.strikes302 = r.strikes;
      e.strikesUntil = now + this.policies.strikesTtlMs;
    } else if (r.effect === 'dayover') {
      e.dayOver = dayId;
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
  applyRefusal(endpoint: string, now: number, v: Extract<Verdict, { kind: 'refuse' }>, dayId: string): void {
    if (v.reason === 'circuit') {
      // While another instance's probe is out the cool-down is over, and the probe may end any
      // moment: that refusal is left to Redis, not remembered here.
      const until = v.probing ? now : now + v.retryMs;
      this.circuit = { until, strikes: this.circuit?.strikes ?? 1, code: v.code, probeUntil: 0 };
    } else if (v.reason === 'dayover') {
      this.ep(endpoint).dayOver = dayId;
    } else if (v.reason === 'backoff') {
      this.ep(endpoint).pauseUntil = now + v.retryMs;
    }
  }

  /** Mirrors the whole shared state (the periodic refresh). */
  applySnapshot(
    now: number,
    s: { account: AccountSnapshot; endpoints: Map<string, EndpointSnapshot> },
    dayId: string,
  ): void {
    const a = s.account;
    if (a.circuitLeftMs === null) this.circuit = null;
    else {
      const strikes = this.circuit?.strikes ?? 1;
      this.circuit = { until: now + a.circuitLeftMs, strikes, code: a.circuitCode, probeUntil: 0 };
    }
    if (a.rateAheadMs > 0) this.account.mirror(now, a.rateAheadMs);
    for (const [name, es] of s.endpoints) {
      const e = this.ep(name);
      e.dayOver = es.dayoverMs > 0 ? dayId : null;
      e.pauseUntil = es.pauseMs > 0 ? now + es.pauseMs : 0;
      if (es.rateAheadMs > 0) e.mirror(now, es.rateAheadMs);
    }
  }

  /** 0 none, 1 302 back-off, 2 day over, 3 credential circuit: one endpoint's, or the worst of all. */
  state(now: number, dayId: string, endpoint?: string): 0 | 1 | 2 | 3 {
    if (this.circuit) return 3;
    const states = endpoint === undefined ? [...this.endpoints.values()] : [this.ep(endpoint)];
    let worst: 0 | 1 | 2 = 0;
    for (const e of states) {
      if (e.dayOver === dayId) return 2;
      if (now < e.pauseUntil) worst = 1;
    }
    return worst;
  }

  /** How long an endpoint's 302 pause still runs (0: none). */
  pauseLeftMs(endpoint: string, now: number): number {
    return Math.max(0, (this.endpoints.get(endpoint)?.pauseUntil ?? 0) - now);
  }

  /** The credential circuit while its cool-down runs (readiness), or null. */
  coolingDown(now: number): { code: number; leftMs: number } | null {
    const c = this.circuit;
    return c && now < c.until ? { code: c.code, leftMs: c.until - now } : null;
  }
}

// One per instance: hands upstream slots to the waiting calls in turn (turns.ts). It holds at most
// one future reservation on the shared timeline at a time: reserve the next slot, sleep until it,
// check for pauses that began meanwhile, give the slot to the caller whose turn it is, repeat while
// anyone waits (while the budget is idle, free slots are also taken in parallel: MAX_EXTRA). Across
// instances the reservations interleave first come, first served, so a call waits at most about
// one slot per busy instance plus its place in its own instance's turns (docs/sharing.md has the
// bound and its measurement).
//
// A waiter gets a refusal at once when its wait is certainly too long, when Redis says the next
// slot is beyond every waiter's limit, or when a pause is in force; otherwise at its own limit at
// the latest (one Redis round trip already under way is let finish: it may be its slot).
import { setTimeout as sleep } from 'node:timers/promises';
import { Turns } from './turns.js';
import type { GateMode, Verdict } from './types.js';

export interface SlotSource {
  /** A pause this process already knows of, without a round trip. */
  knownRefusal(): Verdict | null;
  decide(mode: GateMode, maxWaitMs: number): Promise<Verdict>;
}

export type Refusal = Extract<Verdict, { kind: 'refuse' }>;

export type Grant =
  | { kind: 'go'; probe: boolean; waited: boolean }
  | Refusal
  /** The gateway is shutting down. */
  | { kind: 'closing' };

interface Waiter {
  caller: string;
  /** How many times the dispatcher had slept for a future slot when this call arrived. */
  sleepsBefore: number;
  expiresAt: number;
  timer: NodeJS.Timeout | undefined;
  /** Its limit passed while a round trip that may serve it was under way. */
  overdue: boolean;
  settle(g: Grant): void;
}

export interface DispatcherOptions {
  source: SlotSource;
  /** Shortest spacing of two slots on the shared timeline (for the up-front estimate). */
  spacingMs: () => number;
  /** Calls that may start at once after an idle spell. */
  burst: number;
  /** A granted slot nobody was left to take; `probe`: it was the credential circuit's probe. */
  unused?(probe: boolean): void;
}

/**
 * While the budget is idle (the last reservation found a slot free now), up to this many extra
 * round trips run beside the main one, each taking a slot only if it is free at once (never a
 * future one): a burst of misses then goes out in parallel instead of one round trip after another.
 */
const MAX_EXTRA = 8;

export class SlotDispatcher {
  private readonly turns = new Turns<Waiter>();
  private readonly closing = new AbortController();
  private running = false;
  private idle = false;
  private extras = 0;
  private deciding = false;
  /** When the reservation being slept on starts (0: none). */
  private slotAt = 0;
  /**
   * Sleeps for a future slot (the budget was not free) that have ended. A call queued while one
   * ended, or whose own slot was slept for, waited for budget; one served while the budget was
   * free did not, however long the round trips took.
   */
  private sleeps = 0;

  constructor(private readonly o: DispatcherOptions) {}

  /** Calls this caller has waiting for a slot on this instance. */
  waiting(caller: string): number {
    return this.turns.count(caller);
  }

  /**
   * A lower bound of how long a new call of `caller` would wait: the slot being slept on, then one
   * spacing per call of its own ahead of it (other callers' turns can only add to that).
   */
  earliestMs(caller: string, now = Date.now()): number {
    const ahead = Math.max(0, this.turns.count(caller) - (this.o.burst - 1));
    return Math.max(0, this.slotAt - now) + ahead * this.o.spacingMs();
  }

  /** Resolves when the call may go, or with why not; never rejects. */
  acquire(caller: string, maxWaitMs: number): Promise<Grant> {
    if (this.closing.signal.aborted) return Promise.resolve({ kind: 'closing' });
    return new Promise((resolve) => {
      const now = Date.now();
      const w: Waiter = {
        caller,
        sleepsBefore: this.sleeps,
        expiresAt: now + maxWaitMs,
        timer: undefined,
        overdue: false,
        settle: (g) => {
          clearTimeout(w.timer);
          resolve(g);
        },
      };
      w.timer = setTimeout(() => this.expire(w), maxWaitMs);
      this.turns.push(caller, w);
      void this.run();
    });
  }

  /** Refuses every waiter (shutdown); later calls are refused at once. */
  close(): void {
    this.closing.abort();
    for (const [caller, w] of [...this.turns.all()]) {
      this.turns.remove(caller, w);
      w.settle({ kind: 'closing' });
    }
  }

  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (!this.closing.signal.aborted && this.turns.size > 0) {
        try {
          await this.round();
        } catch {
          // Both gates answer rather than throw; should one ever throw, nobody is left hanging.
          this.refuse({ kind: 'refuse', reason: 'rate', retryMs: 1000, code: 0 }, true);
        }
      }
    } finally {
      this.running = false;
    }
  }

  private async round(): Promise<void> {
    const src = this.o.source;
    let v = src.knownRefusal() ?? (await this.decide('reserve', this.longestWait(Date.now())));
    this.idle = v.kind === 'go';
    let slept = false;
    // At most two sleeps: for the endpoint's own slot, then (if the ceiling is busy) the account's.
    while (v.kind === 'wait') {
      this.expireOverdue(v.waitMs);
      slept = true;
      this.slotAt = Date.now() + v.waitMs;
      const next = v.next;
      try {
        await sleep(v.waitMs, undefined, { signal: this.closing.signal });
      } catch {
        return; // closing: close() has answered every waiter
      } finally {
        this.slotAt = 0;
        this.sleeps++; // after it: a call that arrived during the sleep waited for it too
      }
      const maxWait = next === 'account' ? this.longestWait(Date.now()) : 0;
      v = src.knownRefusal() ?? (await this.decide(next, maxWait));
      // 'wait' after 'admit' is never answered by either gate; should it come, it is no budget.
      if (v.kind === 'wait' && next === 'admit') break;
    }
    if (this.closing.signal.aborted) return;
    if (v.kind === 'go') {
      const w = this.turns.next();
      // Nobody left (all gave up meanwhile): the slot goes unused, which costs budget, never a call.
      if (w) w.settle({ kind: 'go', probe: v.probe, waited: slept || this.waitedForBudget(w) });
      else this.o.unused?.(v.probe);
      this.spawnExtras();
    } else {
      // 'wait' after 'admit' is never answered by either gate; treat it as no budget.
      const r: Refusal = v.kind === 'refuse' ? v : { kind: 'refuse', reason: 'rate', retryMs: 1000, code: 0 };
      this.refuse(r);
    }
    this.expireOverdue(0);
  }

  private spawnExtras(): void {
    while (
      this.idle &&
      !this.closing.signal.aborted &&
      this.extras < MAX_EXTRA &&
      this.turns.size > this.extras + 1
    ) {
      this.extras++;
      void this.extra().finally(() => {
        this.extras--;
        this.spawnExtras();
      });
    }
  }

  /** A slot only if one is free now: maxWait 0 reserves nothing otherwise. Refusals are the main loop's to give. */
  private async extra(): Promise<void> {
    const src = this.o.source;
    let v: Verdict;
    try {
      v = src.knownRefusal() ?? (await src.decide('reserve', 0));
    } catch {
      v = { kind: 'refuse', reason: 'rate', retryMs: 0, code: 0 };
    }
    if (v.kind !== 'go') {
      this.idle = false;
      return;
    }
    const w = this.closing.signal.aborted ? undefined : this.turns.next();
    if (w) w.settle({ kind: 'go', probe: v.probe, waited: this.waitedForBudget(w) });
    else this.o.unused?.(v.probe);
  }

  private waitedForBudget(w: Waiter): boolean {
    return this.sleeps > w.sleepsBefore;
  }

  private async decide(mode: GateMode, maxWaitMs: number): Promise<Verdict> {
    this.deciding = true;
    try {
      return await this.o.source.decide(mode, maxWaitMs);
    } finally {
      this.deciding = false;
    }
  }

  /** A pause refuses everyone; "no slot in time" only those whose limit comes before the slot. */
  private refuse(v: Refusal, everyone = false): void {
    // `now` is after Redis answered, so `now + retryMs` is at or after the slot Redis found.
    const now = Date.now();
    for (const [caller, w] of [...this.turns.all()]) {
      if (!everyone && v.reason === 'rate' && w.expiresAt >= now + v.retryMs) continue;
      this.turns.remove(caller, w);
      w.settle(v);
    }
  }

  private expire(w: Waiter): void {
    if (this.deciding) {
      w.overdue = true;
      return;
    }
    if (this.turns.remove(w.caller, w)) w.settle(this.tooLong(w.caller));
  }

  /** Waiters whose limit passed during a round trip, and who were not served by it. */
  private expireOverdue(retryMs: number): void {
    for (const [caller, w] of [...this.turns.all()]) {
      if (!w.overdue) continue;
      this.turns.remove(caller, w);
      w.settle(retryMs > 0 ? { kind: 'refuse', reason: 'rate', retryMs, code: 0 } : this.tooLong(caller));
    }
  }

  private tooLong(caller: string): Refusal {
    const retryMs = Math.max(1000, this.earliestMs(caller));
    return { kind: 'refuse', reason: 'rate', retryMs, code: 0 };
  }

  private longestWait(now: number): number {
    let longest = 0;
    for (const [, w] of this.turns.all()) longest = Math.max(longest, w.expiresAt - now);
    return longest;
  }
}

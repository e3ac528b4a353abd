// Per-caller daily shares of upstream cost units (CALLER_UPSTREAM_DAILY; a call costs its
// endpoint's UPSTREAM_ENDPOINT_COST, 1 unless configured). One Redis hash per upstream day, a field
// per caller bucket, checked and incremented by one script, so instances together never let a
// caller past its share. While Redis does not answer, each instance lets a caller spend
// 1/EXPECTED_INSTANCES of what Redis last said was left, and adds what it spent once Redis answers.
// A charge is taken before the call waits for budget and given back if no call is made.
import { LRUCache } from 'lru-cache';
import type { CallerShares as ShareConfig } from '../config.js';
import { QuotaCalendar } from '../governance/quota-day.js';
import type { GatewayMetrics } from '../metrics.js';
import type { RedisConnection } from '../redis/connection.js';
import type { CallerRef } from './caller-ref.js';

/**
 * ARGV: field (caller bucket), share, ttlMs, unsynced (spent here while Redis was away), cost (units
 * of this call). A call is let through only when all its units fit. Returns {ok 0|1, used}.
 */
const CHARGE_LUA = `
local unsynced = tonumber(ARGV[4])
local cost = tonumber(ARGV[5] or '1')
if unsynced > 0 then redis.call('HINCRBY', KEYS[1], ARGV[1], unsynced) end
local used = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local ok = 0
if used + cost <= tonumber(ARGV[2]) then
  used = redis.call('HINCRBY', KEYS[1], ARGV[1], cost)
  ok = 1
end
if ok == 1 or unsynced > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return {ok, used}
`;

/** Shares are read back by /v1/usage, which keeps 35 days. */
const SHARE_RETENTION_MS = 36 * 86_400_000;
/** How long "this caller's share is spent" is believed here without asking Redis again. */
const EXHAUSTED_MEMO_MS = 5000;

export type ChargeResult =
  | { ok: true; used: number; share: number; receipt: Receipt }
  | { ok: false; used: number; share: number; retryMs: number };

export interface Receipt {
  day: string;
  bucket: string;
  where: 'redis' | 'local';
  cost: number;
}

interface LocalShare {
  day: string;
  /** Charged here and not yet added to Redis. */
  unsynced: number;
  /** What Redis last said this caller had used today. */
  knownUsed: number;
  exhaustedUntil: number;
  /** The cost that did not fit: a cheaper call may still fit in what is left. */
  exhaustedCost: number;
}

type ChargeCommand = (
  key: string,
  field: string,
  share: number,
  ttlMs: number,
  unsynced: number,
  cost: number,
) => Promise<[number, number]>;

export interface CallerSharesOptions {
  shares: ShareConfig;
  redis: RedisConnection | null;
  keyPrefix: string;
  tz: string;
  instances: number;
  metrics: GatewayMetrics;
}

export class CallerShares {
  private readonly calendar: QuotaCalendar;
  private readonly local = new LRUCache<string, LocalShare>({ max: 50_000 });
  private readonly command: ChargeCommand | null = null;

  constructor(private readonly o: CallerSharesOptions) {
    this.calendar = new QuotaCalendar(o.tz);
    if (o.redis) {
      const client = o.redis.client;
      client.defineCommand('xtgShareCharge', { numberOfKeys: 1, lua: CHARGE_LUA });
      // defineCommand adds a method ioredis's types cannot know about.
      const dyn = client as unknown as Record<string, ChargeCommand>;
      this.command = (...args) => dyn['xtgShareCharge']!.call(client, ...args);
    }
  }

  /** The caller's share per upstream day, or null when it has none. */
  shareOf(name: string, anonymous: boolean): number | null {
    const { byName, others } = this.o.shares;
    if (name === '(gateway)') return null;
    return byName.get(anonymous ? 'anonymous' : name) ?? others;
  }

  key(day: string): string {
    return `${this.o.keyPrefix}share:${day}`;
  }

  /** Takes one call's units from the caller's share; null when the caller has no share (nothing to give back). */
  async charge(ref: CallerRef, now = Date.now(), cost = 1): Promise<ChargeResult | null> {
    const share = this.shareOf(ref.name, ref.anonymous);
    if (share === null) return null;
    const { dayId: day, msLeft } = this.calendar.at(now);
    let s = this.local.get(ref.bucket);
    if (!s || s.day !== day) {
      s = { day, unsynced: 0, knownUsed: 0, exhaustedUntil: 0, exhaustedCost: 0 };
      this.local.set(ref.bucket, s);
    }
    if (now < s.exhaustedUntil && cost >= s.exhaustedCost)
      return { ok: false, used: s.knownUsed, share, retryMs: msLeft };
    if (this.command && this.o.redis?.up) {
      const send = s.unsynced;
      s.unsynced = 0;
      try {
        const [ok, used] = await this.command(
          this.key(day),
          ref.bucket,
          share,
          Math.ceil(msLeft) + SHARE_RETENTION_MS,
          send,
          cost,
        );
        s.knownUsed = Number(used);
        this.gauge(ref, s.knownUsed, share);
        if (Number(ok) !== 1) {
          s.exhaustedUntil = now + EXHAUSTED_MEMO_MS;
          s.exhaustedCost = cost;
          return { ok: false, used: s.knownUsed, share, retryMs: msLeft };
        }
        const receipt: Receipt = { day, bucket: ref.bucket, where: 'redis', cost };
        return { ok: true, used: s.knownUsed, share, receipt };
      } catch {
        s.unsynced += send; // not counted: kept for the next answer
      }
    }
    const mine = Math.floor(Math.max(0, share - s.knownUsed) / this.o.instances);
    const used = s.knownUsed + s.unsynced * this.o.instances;
    if (s.unsynced + cost > mine) return { ok: false, used, share, retryMs: msLeft };
    s.unsynced += cost;
    this.gauge(ref, used + cost * this.o.instances, share);
    return { ok: true, used: used + cost, share, receipt: { day, bucket: ref.bucket, where: 'local', cost } };
  }

  /** Gives a charge back: its call was never made (no budget in time, a pause, shutdown). */
  refund(r: Receipt): void {
    const s = this.local.get(r.bucket);
    if (s && s.day === r.day) {
      s.exhaustedUntil = 0;
      if (r.where === 'local' && s.unsynced >= r.cost) {
        s.unsynced -= r.cost;
        return;
      }
    }
    if (!this.o.redis?.up) return; // lost: the share errs on the strict side
    this.o.redis.client.hincrby(this.key(r.day), r.bucket, -r.cost).catch(() => {});
  }

  /** Units charged per bucket on an upstream day, all instances (what Redis holds). */
  async usedOn(day: string): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (!this.o.redis) {
      for (const [bucket, s] of this.local.entries()) if (s.day === day) out.set(bucket, s.unsynced);
      return out;
    }
    const all = await this.o.redis.client.hgetall(this.key(day));
    for (const [bucket, n] of Object.entries(all)) out.set(bucket, Number(n));
    return out;
  }

  /** Only named key callers have a gauge of their own (bounded labels). */
  private gauge(ref: CallerRef, used: number, share: number): void {
    if (ref.anonymous || ref.label !== ref.name) return;
    this.o.metrics.callerShareUsed.set({ caller: ref.label }, share > 0 ? Math.min(1, used / share) : 1);
  }
}

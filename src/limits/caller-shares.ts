// Per-caller daily shares of upstream calls (CALLER_UPSTREAM_DAILY). One Redis hash per upstream
// day, a field per caller bucket, checked and incremented by one script, so instances together
// never let a caller past its share. While Redis does not answer, each instance lets a caller spend
// 1/EXPECTED_INSTANCES of what Redis last said was left, and adds what it spent once Redis answers.
// A charge is taken before the call waits for budget and given back if no call is made.
// Every charge has an id, remembered by Redis for CHARGE_ID_MEMORY_MS next to the hash: a charge
// whose command timed out here but ran in Redis later, and its resending with this instance's
// unsynced charges, count once (a share counts calls, not commands).
import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { CallerShares as ShareConfig } from '../config.js';
import { QuotaCalendar } from '../governance/quota-day.js';
import type { GatewayMetrics } from '../metrics.js';
import type { RedisConnection } from '../redis/connection.js';
import type { CounterMemory } from '../redis/counter-memory.js';
import { sameSlotKey } from '../redis/same-slot.js';
import type { CallerRef } from './caller-ref.js';

/** Charge ids already counted: the shares hash (KEYS[1]) and its ids (KEYS[2], a sorted set by time). */
const SEEN = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function fresh(id)
  if redis.call('ZSCORE', KEYS[2], id) then return false end
  redis.call('ZADD', KEYS[2], now, id)
  return true
end
`;

/**
 * ARGV: field (caller bucket), share, ttlMs, idMs, charge id, then the ids of charges spent here
 * while Redis was away. Returns {ok 0|1, used}; a charge id already counted is ok without a second
 * count.
 */
const CHARGE_LUA = `${SEEN}
local added = 0
for i = 6, #ARGV do if fresh(ARGV[i]) then added = added + 1 end end
if added > 0 then redis.call('HINCRBY', KEYS[1], ARGV[1], added) end
local used = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local ok = 0
if redis.call('ZSCORE', KEYS[2], ARGV[5]) then
  ok = 1
elseif used < tonumber(ARGV[2]) then
  fresh(ARGV[5])
  used = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
  ok = 1
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[4]))
redis.call('PEXPIRE', KEYS[2], ARGV[4])
if ok == 1 or added > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return {ok, used}
`;

/** ARGV: field, charge id. Gives the charge back if Redis counted it (once). */
const REFUND_LUA = `
if redis.call('ZREM', KEYS[2], ARGV[2]) == 1 then redis.call('HINCRBY', KEYS[1], ARGV[1], -1) end
return 1
`;

/** How long Redis remembers a charge id: a command run later than this after its send counts twice. */
const CHARGE_ID_MEMORY_MS = 3_600_000;

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
  id: string;
}

interface LocalShare {
  day: string;
  /** Ids of the charges made here and not yet added to Redis. */
  unsynced: string[];
  /** What Redis last said this caller had used today. */
  knownUsed: number;
  exhaustedUntil: number;
}

type ChargeCommand = (
  key: string,
  ids: string,
  field: string,
  share: number,
  ttlMs: number,
  idMs: number,
  id: string,
  ...unsynced: string[]
) => Promise<[number, number]>;
type RefundCommand = (key: string, ids: string, field: string, id: string) => Promise<number>;

export interface CallerSharesOptions {
  shares: ShareConfig;
  redis: RedisConnection | null;
  keyPrefix: string;
  tz: string;
  instances: number;
  metrics: GatewayMetrics;
  /** Remembers the counts Redis gave, to put them back should Redis forget them. */
  counters?: CounterMemory | undefined;
}

export class CallerShares {
  private readonly calendar: QuotaCalendar;
  private readonly local = new LRUCache<string, LocalShare>({ max: 50_000 });
  private readonly command: ChargeCommand | null = null;
  private readonly refundCommand: RefundCommand | null = null;
  /** Charge ids: this instance's random part and a counter. */
  private readonly idPrefix = randomBytes(6).toString('base64url');
  private seq = 0;

  constructor(private readonly o: CallerSharesOptions) {
    this.calendar = new QuotaCalendar(o.tz);
    if (o.redis) {
      const client = o.redis.client;
      client.defineCommand('xtgShareCharge', { numberOfKeys: 2, lua: CHARGE_LUA });
      client.defineCommand('xtgShareRefund', { numberOfKeys: 2, lua: REFUND_LUA });
      // defineCommand adds a method ioredis's types cannot know about.
      const dyn = client as unknown as Record<string, (...a: unknown[]) => Promise<never>>;
      this.command = (...args) => dyn['xtgShareCharge']!.call(client, ...args);
      this.refundCommand = (...args) => dyn['xtgShareRefund']!.call(client, ...args);
    }
  }

  private idsKey(day: string): string {
    return sameSlotKey(this.key(day), ':ids');
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

  /** Takes one call from the caller's share; null when the caller has no share (nothing to give back). */
  async charge(ref: CallerRef, now = Date.now()): Promise<ChargeResult | null> {
    const share = this.shareOf(ref.name, ref.anonymous);
    if (share === null) return null;
    const { dayId: day, msLeft } = this.calendar.at(now);
    let s = this.local.get(ref.bucket);
    if (!s || s.day !== day) {
      s = { day, unsynced: [], knownUsed: 0, exhaustedUntil: 0 };
      this.local.set(ref.bucket, s);
    }
    if (now < s.exhaustedUntil) return { ok: false, used: s.knownUsed, share, retryMs: msLeft };
    const id = `${this.idPrefix}.${(this.seq++).toString(36)}`;
    if (this.command && this.o.redis?.up) {
      const send = s.unsynced;
      s.unsynced = [];
      try {
        const [ok, used] = await this.command(
          this.key(day),
          this.idsKey(day),
          ref.bucket,
          share,
          Math.ceil(msLeft) + SHARE_RETENTION_MS,
          CHARGE_ID_MEMORY_MS,
          id,
          ...send,
        );
        s.knownUsed = Number(used);
        this.o.counters?.saw(this.key(day), ref.bucket, s.knownUsed, msLeft + SHARE_RETENTION_MS);
        this.gauge(ref, s.knownUsed, share);
        if (Number(ok) !== 1) {
          s.exhaustedUntil = now + EXHAUSTED_MEMO_MS;
          return { ok: false, used: s.knownUsed, share, retryMs: msLeft };
        }
        return {
          ok: true,
          used: s.knownUsed,
          share,
          receipt: { day, bucket: ref.bucket, where: 'redis', id },
        };
      } catch {
        // Not answered: kept for the next answer. This charge goes on in process under the same id:
        // should the command still run in Redis, the id counts it once.
        s.unsynced = [...send, ...s.unsynced];
      }
    }
    const mine = Math.floor(Math.max(0, share - s.knownUsed) / this.o.instances);
    const used = s.knownUsed + s.unsynced.length * this.o.instances;
    if (s.unsynced.length >= mine) return { ok: false, used, share, retryMs: msLeft };
    s.unsynced.push(id);
    this.gauge(ref, used + this.o.instances, share);
    return { ok: true, used: used + 1, share, receipt: { day, bucket: ref.bucket, where: 'local', id } };
  }

  /** Gives a charge back: its call was never made (no budget in time, a pause, shutdown). */
  refund(r: Receipt): void {
    const s = this.local.get(r.bucket);
    if (s && s.day === r.day) {
      s.exhaustedUntil = 0;
      const i = r.where === 'local' ? s.unsynced.indexOf(r.id) : -1;
      if (i >= 0) s.unsynced.splice(i, 1);
    }
    // By id: only a charge Redis counted is given back, and only once.
    if (!this.refundCommand || !this.o.redis?.up) return; // lost: the share errs on the strict side
    this.refundCommand(this.key(r.day), this.idsKey(r.day), r.bucket, r.id).catch(() => {});
  }

  /** Calls charged per bucket on an upstream day, all instances (what Redis holds). */
  async usedOn(day: string): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (!this.o.redis) {
      for (const [bucket, s] of this.local.entries()) if (s.day === day) out.set(bucket, s.unsynced.length);
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

// The shared gate: the Lua scripts of redis-scripts.ts, bound to one key prefix, with their
// answers parsed into the vocabulary of types.ts. Every method rejects when Redis does not answer;
// the governor then decides in-process.
import type { Result } from 'ioredis';
import type { RedisClient } from '../redis/connection.js';
import { GATE_LUA, GOVERNOR_KEY_COUNT, RECORD_LUA, STATUS_LUA } from './redis-scripts.js';
import type {
  AccountSnapshot,
  CallEvent,
  EndpointSnapshot,
  EventResult,
  GateContext,
  GateMode,
  RefusalReason,
  Verdict,
} from './types.js';

type Reply = Array<string | number>;
type Args = Array<string | number>;

// The scripts as client methods (ioredis's documented way to type defineCommand): KEYS then ARGV.
declare module 'ioredis' {
  interface RedisCommander<Context> {
    xtgGovernorGate(...keysAndArgs: Args): Result<Reply, Context>;
    xtgGovernorRecord(...keysAndArgs: Args): Result<Reply, Context>;
    /** numkeys first: the number of endpoints varies. */
    xtgGovernorStatus(...numkeysAndKeys: Args): Result<Reply, Context>;
  }
}

export interface RecordArgs {
  event: CallEvent;
  isProbe: boolean;
  code: number;
  backoffBaseMs: number;
  backoffCapMs: number;
  jitter01: number;
  strikesTtlMs: number;
  cooldownMs: number;
  cooldownCapMs: number;
  retentionMs: number;
}

/** Handed back to Redis with a gate call: what this process did while Redis was away. */
export interface Unsynced {
  calls: number;
  handoffMs: number;
  epCalls: number;
  epHandoffMs: number;
}

const REASONS = new Set<string>(['circuit', 'dayover', 'backoff', 'quota', 'endpoint_quota', 'rate']);
const EFFECTS = new Set<string>(['none', 'backoff', 'paused', 'dayover', 'opened', 'reopened', 'already']);
const ahead = (v: string | number | undefined) => (v === undefined || Number(v) < 0 ? undefined : Number(v));

export class RedisGate {
  constructor(
    private readonly client: RedisClient,
    private readonly prefix: string,
  ) {
    // defineCommand gives EVALSHA with a fallback to EVAL, on a single node and on a Cluster alike.
    const numberOfKeys = GOVERNOR_KEY_COUNT;
    client.defineCommand('xtgGovernorGate', { numberOfKeys, lua: GATE_LUA });
    client.defineCommand('xtgGovernorRecord', { numberOfKeys, lua: RECORD_LUA });
    client.defineCommand('xtgGovernorStatus', { lua: STATUS_LUA });
  }

  private k(s: string): string {
    return `${this.prefix}{gov}:${s}`;
  }

  /** The account's keys of one upstream day; the `{gov}` hash tag keeps all in one Cluster slot. */
  accountKeys(dayId: string): string[] {
    return [this.k('rate'), this.k(`quota:${dayId}`), this.k('circuit'), this.k('probe')];
  }

  endpointKeys(dayId: string, endpoint: string): string[] {
    const e = (s: string) => this.k(`ep:${endpoint}:${s}`);
    return [e('rate'), e(`quota:${dayId}`), e(`dayover:${dayId}`), e('pause'), e('strikes')];
  }

  keys(dayId: string, endpoint: string): string[] {
    return [...this.accountKeys(dayId), ...this.endpointKeys(dayId, endpoint)];
  }

  async gate(
    endpoint: string,
    mode: GateMode,
    ctx: GateContext,
    maxWaitMs: number,
    u: Unsynced = { calls: 0, handoffMs: 0, epCalls: 0, epHandoffMs: 0 },
  ): Promise<Verdict> {
    const r = await this.client.xtgGovernorGate(
      ...this.keys(ctx.dayId, endpoint),
      mode,
      ctx.intervalMs,
      ctx.burst,
      Math.max(0, Math.floor(maxWaitMs)),
      ctx.quota,
      Math.ceil(ctx.dayLeftMs),
      ctx.probeTtlMs,
      u.calls,
      Math.max(0, Math.ceil(u.handoffMs)),
      ctx.epIntervalMs,
      ctx.epQuota,
      u.epCalls,
      Math.max(0, Math.ceil(u.epHandoffMs)),
    );
    const [kind, a, b] = [String(r[0]), Number(r[1]), Number(r[2])];
    const tats = { tatAheadMs: ahead(r[3]), epTatAheadMs: ahead(r[4]) };
    const epUsed = (v: string | number | undefined) =>
      ctx.epQuota > 0 ? { epQuotaUsed: Number(v ?? 0) } : {};
    if (kind === 'go') return { kind: 'go', probe: a === 1, quotaUsed: b, ...tats, ...epUsed(r[5]) };
    if (kind === 'wait') {
      const next = String(r[5]) === 'account' ? 'account' : 'admit';
      return { kind: 'wait', waitMs: a, next, quotaUsed: b, ...tats, ...epUsed(r[6]) };
    }
    if (!REASONS.has(kind)) throw new Error(`unexpected governor script answer ${kind}`);
    const reason = kind as RefusalReason;
    const countsUsed = reason === 'quota' || reason === 'endpoint_quota' || reason === 'rate';
    const usedOrCode = countsUsed ? { code: 0, quotaUsed: b } : { code: b };
    return { kind: 'refuse', reason, retryMs: Math.max(1, a), ...usedOrCode, probing: Number(r[3]) === 1 };
  }

  async record(endpoint: string, ctx: GateContext, a: RecordArgs): Promise<EventResult> {
    const r = await this.client.xtgGovernorRecord(
      ...this.keys(ctx.dayId, endpoint),
      a.event,
      a.isProbe ? 1 : 0,
      a.code,
      a.backoffBaseMs,
      a.backoffCapMs,
      a.jitter01,
      a.strikesTtlMs,
      Math.ceil(ctx.dayLeftMs),
      a.cooldownMs,
      a.cooldownCapMs,
      a.retentionMs,
    );
    const effect = String(r[0]);
    if (!EFFECTS.has(effect)) throw new Error(`unexpected governor script answer ${effect}`);
    return {
      effect: effect as EventResult['effect'],
      ms: Number(r[1]),
      strikes: Number(r[2]),
      closed: Number(r[3]) === 1,
    };
  }

  /** The account's state and each named endpoint's, in one round trip. */
  async status(
    dayId: string,
    endpoints: readonly string[],
  ): Promise<{ account: AccountSnapshot; endpoints: Map<string, EndpointSnapshot> }> {
    const keys = [...this.accountKeys(dayId), ...endpoints.flatMap((e) => this.endpointKeys(dayId, e))];
    const r = (await this.client.xtgGovernorStatus(keys.length, ...keys)).map(Number);
    const [circuit = -1, code = 0, used = 0, rateAhead = 0] = r;
    const out = new Map<string, EndpointSnapshot>();
    endpoints.forEach((e, i) => {
      const [dayover = -2, pause = -2, epUsed = 0, epAhead = 0] = r.slice(4 + i * 4, 8 + i * 4);
      out.set(e, { dayoverMs: dayover, pauseMs: pause, quotaUsed: epUsed, rateAheadMs: epAhead });
    });
    return {
      account: {
        circuitLeftMs: circuit < 0 ? null : circuit,
        circuitCode: code,
        quotaUsed: used,
        rateAheadMs: rateAhead,
      },
      endpoints: out,
    };
  }
}

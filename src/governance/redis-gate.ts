// The shared gate: the Lua scripts of redis-scripts.ts, bound to one key prefix, with their
// answers parsed into the vocabulary of types.ts. Every method rejects when Redis does not answer;
// the governor then decides in-process.
import type { Result } from 'ioredis';
import type { RedisClient } from '../redis/connection.js';
import { GATE_LUA, GOVERNOR_KEYS, RECORD_LUA, STATUS_LUA } from './redis-scripts.js';
import type { CallEvent, EventResult, GateContext, RefusalReason, Snapshot, Verdict } from './types.js';

type Reply = Array<string | number>;
type Args = Array<string | number>;

// The scripts as client methods (ioredis's documented way to type defineCommand): KEYS then ARGV.
declare module 'ioredis' {
  interface RedisCommander<Context> {
    xtgGovernorGate(...keysAndArgs: Args): Result<Reply, Context>;
    xtgGovernorRecord(...keysAndArgs: Args): Result<Reply, Context>;
    xtgGovernorStatus(...keys: Args): Result<Reply, Context>;
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

const REASONS = new Set<string>(['circuit', 'dayover', 'backoff', 'quota', 'rate']);
const EFFECTS = new Set<string>(['none', 'backoff', 'paused', 'dayover', 'opened', 'reopened', 'already']);

export class RedisGate {
  constructor(
    private readonly client: RedisClient,
    private readonly prefix: string,
  ) {
    // defineCommand gives EVALSHA with a fallback to EVAL, on a single node and on a Cluster alike.
    const numberOfKeys = GOVERNOR_KEYS.length;
    client.defineCommand('xtgGovernorGate', { numberOfKeys, lua: GATE_LUA });
    client.defineCommand('xtgGovernorRecord', { numberOfKeys, lua: RECORD_LUA });
    client.defineCommand('xtgGovernorStatus', { numberOfKeys, lua: STATUS_LUA });
  }

  /** Keys of one upstream day; the `{gov}` hash tag keeps them in one Cluster slot. */
  keys(dayId: string): string[] {
    const k = (s: string) => `${this.prefix}{gov}:${s}`;
    return [
      k('rate'),
      k(`quota:${dayId}`),
      k(`dayover:${dayId}`),
      k('pause'),
      k('strikes'),
      k('circuit'),
      k('probe'),
    ];
  }

  async gate(
    mode: 'reserve' | 'admit',
    ctx: GateContext,
    maxWaitMs: number,
    unsynced: number,
    handoffMs = 0,
  ): Promise<Verdict> {
    const r = await this.client.xtgGovernorGate(
      ...this.keys(ctx.dayId),
      mode,
      ctx.intervalMs,
      ctx.burst,
      Math.max(0, Math.floor(maxWaitMs)),
      ctx.quota,
      Math.ceil(ctx.dayLeftMs),
      ctx.probeTtlMs,
      unsynced,
      Math.max(0, Math.ceil(handoffMs)),
    );
    const [kind, a, b] = [String(r[0]), Number(r[1]), Number(r[2])];
    const tat = r[3] === undefined || Number(r[3]) < 0 ? {} : { tatAheadMs: Number(r[3]) };
    if (kind === 'go') return { kind: 'go', probe: a === 1, quotaUsed: b, ...tat };
    if (kind === 'wait') return { kind: 'wait', waitMs: a, quotaUsed: b, ...tat };
    if (!REASONS.has(kind)) throw new Error(`unexpected governor script answer ${kind}`);
    const reason = kind as RefusalReason;
    const usedOrCode = reason === 'quota' || reason === 'rate' ? { code: 0, quotaUsed: b } : { code: b };
    return { kind: 'refuse', reason, retryMs: Math.max(1, a), ...usedOrCode, probing: Number(r[3]) === 1 };
  }

  async record(ctx: GateContext, a: RecordArgs): Promise<EventResult> {
    const r = await this.client.xtgGovernorRecord(
      ...this.keys(ctx.dayId),
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

  async status(dayId: string): Promise<Snapshot> {
    const r = (await this.client.xtgGovernorStatus(...this.keys(dayId))).map(Number);
    const [circuit = -1, code = 0, dayover = -2, pause = -2, used = 0, rateAhead = 0] = r;
    return {
      circuitLeftMs: circuit < 0 ? null : circuit,
      circuitCode: code,
      dayoverMs: dayover,
      pauseMs: pause,
      quotaUsed: used,
      rateAheadMs: rateAhead,
    };
  }
}

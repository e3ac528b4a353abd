// The governance rules exist twice: as Lua in Redis (one atomic decision for every instance) and as
// LocalGate in process (the same rules while Redis is down). One table of event sequences runs
// through both, step by step, and every verdict, effect and strike count must agree; times agree
// within a tolerance, since Redis reads its own clock.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackoffPolicy, CircuitPolicy } from '../../src/governance/backoff.js';
import { LocalGate } from '../../src/governance/local-gate.js';
import { RedisGate } from '../../src/governance/redis-gate.js';
import type { CallEvent, EventResult, GateContext, GateMode, Verdict } from '../../src/governance/types.js';
import { createRedisClient, type RedisClient } from '../../src/redis/connection.js';
import { testClusterNodes, testRedisUrl, uniquePrefix } from '../helpers/redis.js';

const BACKOFF: BackoffPolicy = { baseMs: 200, capMs: 800 };
const CIRCUIT: CircuitPolicy = { cooldownMs: 250, cooldownCapMs: 1000 };
const STRIKES_TTL_MS = BACKOFF.capMs * 10;
const RETENTION_MS = 60_000;
/** Redis and this process read different clocks a few ms apart, and the machine is shared. */
const TOLERANCE_MS = 120;

/** `ep`: the endpoint of the step (default 'a'); every case may use several. */
type Step =
  /** `want`: what the verdict must be (its kind, or a refusal's reason), beyond the two agreeing. */
  | { gate: GateMode; maxWaitMs?: number; ep?: string; want?: string }
  | { record: CallEvent; code?: number; probe?: boolean; jitter?: number; ep?: string }
  | { sleep: number };

interface Case {
  name: string;
  ctx?: Partial<GateContext>;
  /** Per endpoint: its own budget and quota (epIntervalMs, epQuota). */
  eps?: Record<string, Partial<GateContext>>;
  steps: Step[];
}

const CASES: Case[] = [
  {
    name: '302 streak: doubling pauses, a burst while paused counts once, success resets',
    steps: [
      { record: '302', code: 302, jitter: 0 },
      { record: '302', code: 302, jitter: 0.9 },
      { gate: 'reserve' },
      { sleep: 260 },
      { record: '302', code: 302, jitter: 0.5 },
      { gate: 'reserve' },
      { sleep: 560 },
      { record: 'ok', code: 0 },
      { record: '302', code: 302, jitter: 0 },
    ],
  },
  {
    name: '302 pauses are capped',
    steps: [
      { record: '302', code: 302, jitter: 0 },
      { sleep: 230 },
      { record: '302', code: 302, jitter: 0 },
      { sleep: 430 },
      { record: '302', code: 302, jitter: 0 },
      { sleep: 830 },
      { record: '302', code: 302, jitter: 0 },
    ],
  },
  {
    name: '303 closes the upstream until the day ends',
    ctx: { dayLeftMs: 5000 },
    steps: [{ gate: 'reserve' }, { record: '303', code: 303 }, { gate: 'reserve' }, { gate: 'admit' }],
  },
  {
    name: 'credential code: circuit, one probe, refused probe reopens longer, accepted probe closes',
    steps: [
      { record: 'credential', code: 601 },
      { gate: 'reserve' },
      { record: 'credential', code: 601 },
      { sleep: 300 },
      { gate: 'reserve' },
      { gate: 'reserve' },
      { record: 'credential', code: 601, probe: true },
      { gate: 'reserve' },
      { sleep: 560 },
      { gate: 'reserve' },
      { record: 'ok', code: 0, probe: true },
      { gate: 'reserve' },
    ],
  },
  {
    name: 'a probe that got no answer frees the probe for the next call',
    steps: [
      { record: 'credential', code: 100 },
      { sleep: 300 },
      { gate: 'reserve' },
      { record: 'nocode', code: 0, probe: true },
      { gate: 'reserve' },
      { record: 'other', code: 500, probe: true },
      { gate: 'reserve' },
    ],
  },
  {
    name: 'daily quota: exactly the quota, then refused until the day ends',
    ctx: { quota: 3, dayLeftMs: 7000 },
    steps: [
      { gate: 'reserve' },
      { gate: 'reserve' },
      { gate: 'reserve' },
      { gate: 'reserve' },
      { gate: 'admit' },
    ],
  },
  {
    name: 'rate budget: spaced slots, a wait, and a refusal past the longest wait',
    ctx: { intervalMs: 300 },
    steps: [
      { gate: 'reserve', maxWaitMs: 1000 },
      { gate: 'reserve', maxWaitMs: 1000 },
      { gate: 'reserve', maxWaitMs: 1000 },
      { gate: 'reserve', maxWaitMs: 700 },
      { gate: 'admit' },
    ],
  },
  {
    name: 'rate budget with a burst of 3',
    ctx: { intervalMs: 300, burst: 3 },
    steps: [
      { gate: 'reserve', maxWaitMs: 1000 },
      { gate: 'reserve', maxWaitMs: 1000 },
      { gate: 'reserve', maxWaitMs: 1000 },
      { gate: 'reserve', maxWaitMs: 1000 },
      { gate: 'reserve', maxWaitMs: 0 },
    ],
  },
  {
    name: 'other codes change nothing',
    steps: [{ record: 'other', code: 500 }, { record: 'nocode' }, { gate: 'reserve' }],
  },
  {
    name: "a 302 pauses its endpoint only; another's calls go, and the pause's strikes are its own",
    steps: [
      { record: '302', code: 302, jitter: 0, ep: 'a' },
      { gate: 'reserve', ep: 'a', want: 'backoff' },
      { gate: 'reserve', ep: 'b', want: 'go' },
      { record: '302', code: 302, jitter: 0.5, ep: 'b' },
      { gate: 'reserve', ep: 'b', want: 'backoff' },
      { sleep: 260 },
      { gate: 'reserve', ep: 'a', want: 'go' },
      { record: '302', code: 302, jitter: 0, ep: 'a' },
    ],
  },
  {
    name: "a 303 stops its endpoint until the day ends; another's calls go",
    ctx: { dayLeftMs: 5000 },
    steps: [
      { record: '303', code: 303, ep: 'a' },
      { gate: 'reserve', ep: 'a', want: 'dayover' },
      { gate: 'admit', ep: 'a', want: 'dayover' },
      { gate: 'reserve', ep: 'b', want: 'go' },
    ],
  },
  {
    name: 'a credential code on one endpoint stops every endpoint; the probe may come from any',
    steps: [
      { record: 'credential', code: 601, ep: 'a' },
      { gate: 'reserve', ep: 'a', want: 'circuit' },
      { gate: 'reserve', ep: 'b', want: 'circuit' },
      { sleep: 300 },
      { gate: 'reserve', ep: 'b', want: 'go' },
      { gate: 'reserve', ep: 'a', want: 'circuit' },
      { record: 'ok', code: 0, probe: true, ep: 'b' },
      { gate: 'reserve', ep: 'a', want: 'go' },
    ],
  },
  {
    name: "an endpoint's own budget: a future slot holds no account slot, so another endpoint goes at once",
    ctx: { intervalMs: 50 },
    eps: { a: { epIntervalMs: 400 } },
    steps: [
      { gate: 'reserve', maxWaitMs: 1000, ep: 'a', want: 'go' },
      { gate: 'reserve', maxWaitMs: 1000, ep: 'a', want: 'wait' },
      { sleep: 60 },
      { gate: 'reserve', maxWaitMs: 1000, ep: 'b', want: 'go' },
      { gate: 'reserve', maxWaitMs: 300, ep: 'a', want: 'rate' },
      { sleep: 350 },
      { gate: 'account', maxWaitMs: 1000, ep: 'a', want: 'go' },
      { gate: 'account', maxWaitMs: 1000, ep: 'a', want: 'wait' },
      { gate: 'admit', ep: 'a', want: 'go' },
    ],
  },
  {
    name: 'the account ceiling spaces calls over all endpoints together',
    ctx: { intervalMs: 300 },
    eps: { a: { epIntervalMs: 100 } },
    steps: [
      { gate: 'reserve', maxWaitMs: 1000, ep: 'a', want: 'go' },
      { gate: 'reserve', maxWaitMs: 1000, ep: 'b', want: 'wait' },
      { gate: 'reserve', maxWaitMs: 1000, ep: 'c', want: 'wait' },
      { gate: 'reserve', maxWaitMs: 500, ep: 'a', want: 'wait' },
      { gate: 'account', maxWaitMs: 500, ep: 'a', want: 'rate' },
    ],
  },
  {
    name: "an endpoint's daily quota refuses that endpoint only; the account quota counts all",
    ctx: { quota: 4, dayLeftMs: 7000 },
    eps: { a: { epQuota: 2 } },
    steps: [
      { gate: 'reserve', ep: 'a', want: 'go' },
      { gate: 'reserve', ep: 'a', want: 'go' },
      { gate: 'reserve', ep: 'a', want: 'endpoint_quota' },
      { gate: 'reserve', ep: 'b', want: 'go' },
      { gate: 'reserve', ep: 'b', want: 'go' },
      { gate: 'reserve', ep: 'b', want: 'quota' },
      { gate: 'reserve', ep: 'a', want: 'quota' },
    ],
  },
];

/** What must agree exactly, and the times that must agree within TOLERANCE_MS. */
function shapeOfVerdict(v: Verdict) {
  switch (v.kind) {
    case 'go':
      return { exact: { kind: v.kind, probe: v.probe, quotaUsed: v.quotaUsed }, ms: 0 };
    case 'wait':
      return { exact: { kind: v.kind, next: v.next, quotaUsed: v.quotaUsed }, ms: v.waitMs };
    default:
      return {
        exact: { kind: v.kind, reason: v.reason, code: v.code, probing: v.probing ?? false },
        ms: v.retryMs,
      };
  }
}

function shapeOfResult(r: EventResult) {
  return { exact: { effect: r.effect, strikes: r.strikes, closed: r.closed }, ms: r.ms };
}

const modes = testClusterNodes() ? (['single', 'cluster'] as const) : (['single'] as const);

describe.each(modes)('LocalGate and the Lua scripts agree (%s Redis)', (mode) => {
  let client: RedisClient;
  beforeAll(async () => {
    client = createRedisClient(
      mode === 'single' ? { url: testRedisUrl() } : { clusterNodes: testClusterNodes() ?? [] },
      { enableOfflineQueue: true },
    );
    await client.ping();
  });
  afterAll(() => client.disconnect());

  it.each(CASES)('$name', async ({ ctx: partial, eps, steps }) => {
    const base: GateContext = {
      dayId: '2026-11-29',
      dayLeftMs: 3_600_000,
      intervalMs: 0, // no rate limit unless the case sets one (sub-ms clocks differ)
      epIntervalMs: 0,
      burst: 1,
      quota: 0,
      epQuota: 0,
      probeTtlMs: 5000,
      ...partial,
    };
    const ctxOf = (ep: string): GateContext => ({ ...base, ...eps?.[ep] });
    const shared = new RedisGate(client, uniquePrefix('parity'));
    const local = new LocalGate({ backoff: BACKOFF, circuit: CIRCUIT, strikesTtlMs: STRIKES_TTL_MS });
    const trace: string[] = [];
    for (const [i, step] of steps.entries()) {
      if ('sleep' in step) {
        await new Promise((r) => setTimeout(r, step.sleep));
        continue;
      }
      let a: { exact: object; ms: number };
      let b: { exact: object; ms: number };
      const ep = step.ep ?? 'a';
      const ctx = ctxOf(ep);
      if ('gate' in step) {
        const maxWait = step.maxWaitMs ?? 0;
        a = shapeOfVerdict(await shared.gate(ep, step.gate, ctx, maxWait));
        b = shapeOfVerdict(local.gate(ep, step.gate, Date.now(), ctx, maxWait, ctx.quota, ctx.epQuota));
      } else {
        const jitter = step.jitter ?? 0;
        const code = step.code ?? 0;
        const probe = step.probe ?? false;
        a = shapeOfResult(
          await shared.record(ep, ctx, {
            event: step.record,
            isProbe: probe,
            code,
            backoffBaseMs: BACKOFF.baseMs,
            backoffCapMs: BACKOFF.capMs,
            jitter01: jitter,
            strikesTtlMs: STRIKES_TTL_MS,
            cooldownMs: CIRCUIT.cooldownMs,
            cooldownCapMs: CIRCUIT.cooldownCapMs,
            retentionMs: RETENTION_MS,
          }),
        );
        b = shapeOfResult(local.record(ep, Date.now(), step.record, code, probe, ctx, jitter));
      }
      const where = `step ${i} ${JSON.stringify(step)}`;
      if ('want' in step && step.want !== undefined) {
        const got = a.exact as { kind: string; reason?: string };
        expect(got.kind === 'refuse' ? got.reason : got.kind, `${where}: Lua`).toBe(step.want);
      }
      expect(b.exact, `${where}: LocalGate differs from Lua`).toEqual(a.exact);
      expect(Math.abs(a.ms - b.ms), `${where}: Lua ${a.ms} ms, LocalGate ${b.ms} ms`).toBeLessThanOrEqual(
        TOLERANCE_MS,
      );
      trace.push(`${JSON.stringify(a.exact)} ${a.ms}`);
    }
    // The cases must exercise something: every one makes at least one comparison.
    expect(trace.length).toBeGreaterThan(0);
  });
});

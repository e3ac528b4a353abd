// The rate schedule handed across the Redis down/up switch, on the real scripts (single Redis and
// the 3-master cluster) and the in-process gate: the in-process schedule starts after the slots the
// shared one handed out, and the shared one after the in-process one's. The end-to-end drill is
// drill-redis-switch.test.ts; this pins the arithmetic (times within a generous 100 ms of Redis's).
import { afterEach, describe, expect, it } from 'vitest';
import { LocalGate } from '../../src/governance/local-gate.js';
import { RedisGate } from '../../src/governance/redis-gate.js';
import type { GateContext, Verdict } from '../../src/governance/types.js';
import { redisClient, redisClusterClient, testClusterNodes, uniquePrefix } from '../helpers/redis.js';

const modes = testClusterNodes() ? (['single', 'cluster'] as const) : (['single'] as const);
const SLACK_MS = 100;

const ctx: GateContext = {
  dayId: 'd1',
  dayLeftMs: 3_600_000,
  intervalMs: 200,
  epIntervalMs: 0,
  burst: 1,
  quota: 0,
  epQuota: 0,
  probeTtlMs: 5000,
};
const local = () =>
  new LocalGate({
    backoff: { baseMs: 1000, capMs: 8000 },
    circuit: { cooldownMs: 1000, cooldownCapMs: 4000 },
    strikesTtlMs: 80_000,
  });
const waitOf = (v: Verdict) => (v.kind === 'wait' ? v.waitMs : v.kind === 'go' ? 0 : Number.NaN);

let open: Array<{ disconnect(): void }> = [];
afterEach(() => {
  for (const c of open) c.disconnect();
  open = [];
});

describe.each(modes)('schedule handoff (%s)', (mode) => {
  const shared = () => {
    const client = mode === 'single' ? redisClient() : redisClusterClient();
    open.push(client);
    return new RedisGate(client, uniquePrefix('handoff'));
  };

  it('Redis -> in-process: the in-process schedule starts after the last shared slot', async () => {
    const gate = shared();
    const verdicts: Verdict[] = [];
    for (let i = 0; i < 3; i++) verdicts.push(await gate.gate('e', 'reserve', ctx, 60_000));
    const answeredAt = Date.now();
    // Slots now, +200, +400: the shared tat is 600 ms ahead.
    expect(verdicts.map(waitOf).map((w) => Math.round(w / 100) * 100)).toEqual([0, 200, 400]);
    const last = verdicts[2]!;
    expect(last.kind === 'wait' && last.tatAheadMs).toBeGreaterThan(600 - SLACK_MS);

    const g = local();
    g.mirrorTat('e', answeredAt, last.kind === 'wait' ? last.tatAheadMs : undefined, undefined);
    const first = g.gate('e', 'reserve', answeredAt, ctx, 60_000, 0);
    expect(waitOf(first)).toBeGreaterThan(600 - SLACK_MS);
    expect(waitOf(first)).toBeLessThanOrEqual(600 + SLACK_MS);

    // The periodic status read mirrors it as well (a quiet instance learns of the others' slots).
    const quiet = local();
    const now = Date.now();
    quiet.applySnapshot(now, await gate.status('d1', ['e']), 'd1');
    expect(waitOf(quiet.gate('e', 'reserve', now, ctx, 60_000, 0))).toBeGreaterThan(600 - 2 * SLACK_MS);
  });

  it('in-process -> Redis: the shared schedule starts after the slots handed out in-process', async () => {
    const g = local();
    const now = Date.now();
    expect([0, 1, 2].map(() => waitOf(g.gate('e', 'reserve', now, ctx, 60_000, 0)))).toEqual([0, 200, 400]);
    const handoff = g.handoff('e');
    expect(handoff.account).toBe(now + 600);

    const gate = shared();
    const handoffMs = handoff.account - Date.now();
    const v = await gate.gate('e', 'reserve', ctx, 60_000, {
      calls: 0,
      handoffMs,
      epCalls: 0,
      epHandoffMs: 0,
    });
    g.handedOff('e', handoff);
    expect(waitOf(v)).toBeGreaterThan(600 - SLACK_MS);
    expect(waitOf(v)).toBeLessThanOrEqual(600 + SLACK_MS);
    expect(g.handoff('e').account).toBe(0);
    // Without a handoff an empty shared schedule would have answered at once.
    expect(waitOf(await shared().gate('e', 'reserve', ctx, 60_000))).toBe(0);
  });

  it('keeps a newer in-process reservation that raced the handoff', () => {
    const g = local();
    g.gate('e', 'reserve', 1000, ctx, 60_000, 0);
    const sent = g.handoff('e');
    g.gate('e', 'reserve', 1000, ctx, 60_000, 0);
    g.handedOff('e', sent);
    expect(g.handoff('e').account).toBe(1400);
  });
});

describe('switch to in-process budgets with several instances (LocalGate.alone)', () => {
  // Shared spacing 200 ms (5/s); two instances: each takes 2.5/s, a share spacing of 400 ms.
  const two = { ...ctx, intervalMs: 400 };
  const spacing = () => 200;

  it("starts its share one share spacing after the shared schedule's last slot, as far ahead as last seen", () => {
    const g = local();
    const t0 = 1_000_000;
    // Redis last said, at t0, that the shared schedule ran 600 ms ahead (slots up to t0 + 400).
    g.mirrorTat('e', t0, 600, undefined);
    // Redis is found gone 300 ms later; the other instance kept reserving meanwhile: still 600 ahead.
    const at = t0 + 300;
    g.alone(at, 2, spacing);
    // Next shared slot at + 600, the last one at + 400: this share's first at + 400 + 400.
    expect(waitOf(g.gate('e', 'reserve', at, two, 60_000, 0))).toBe(800);
  });

  it('after an idle shared schedule, the share waits one shared spacing (another may just have gone)', () => {
    const g = local();
    const at = 2_000_000;
    g.alone(at, 2, spacing);
    expect(waitOf(g.gate('e', 'reserve', at, two, 60_000, 0))).toBe(200);
  });

  it('one instance knows every shared slot: its schedule is kept as it was', () => {
    const g = local();
    const t0 = 3_000_000;
    g.mirrorTat('e', t0, 600, undefined);
    g.alone(t0 + 300, 1, spacing);
    expect(waitOf(g.gate('e', 'reserve', t0 + 300, ctx, 60_000, 0))).toBe(300);
  });
});

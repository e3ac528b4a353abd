// Upstream governance through the real app: two gateway instances sharing one Redis prefix in
// front of one simulated upstream, over loopback. Every case runs on a single Redis and on the
// 3-master cluster (when global setup could start one): the governor's scripts keep all their
// keys under one `{gov}` hash tag, so a cluster must answer exactly as a single node does.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { msUntilNextDay } from '../../src/governance/quota-day.js';
import type { ErrorBody } from '../../src/plugins/error-handler.js';
import { type SimUpstream, startSimUpstream } from '../../src/sim/upstream-server.js';
import { type Gateway, startGateway, TEST_TOKEN } from '../helpers/gateway.js';
import { testClusterNodes, uniquePrefix } from '../helpers/redis.js';
import { mostInOneSecond } from '../helpers/windows.js';

const modes = testClusterNodes() ? (['single', 'cluster'] as const) : (['single'] as const);

let open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.allSettled(open.map((o) => o.close()));
  open = [];
});

async function twoInstances(
  redis: 'single' | 'cluster',
  env: Record<string, string>,
): Promise<{ sim: SimUpstream; a: Gateway; b: Gateway }> {
  const sim = await startSimUpstream({ token: TEST_TOKEN });
  open.push(sim);
  const prefix = uniquePrefix('gov');
  const a = await startGateway({ sim, prefix, env, redis });
  const b = await startGateway({ sim, prefix, env, redis });
  open.push(a, b);
  return { sim, a, b };
}

/** `n` asks for distinct authors, alternating between the instances, all at once. */
function askDistinct(gws: Gateway[], n: number, tag: string) {
  return Promise.all(
    Array.from({ length: n }, (_, i) => gws[i % gws.length]!.get(`/v1/authors/${tag}${i}/spread-info`)),
  );
}

type Res = Awaited<ReturnType<Gateway['get']>>;
const errorOf = (r: Res) => (r.json as ErrorBody).error;

async function metric(gw: Gateway, name: string): Promise<number> {
  const text = (await gw.get('/metrics')).body;
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return Number(line?.split(' ').pop());
}

describe.each(modes)('governance on Redis (%s)', (mode) => {
  describe('global rate budget', () => {
    it('spreads 12 misses at 2/s over about 5 s across two instances, never more than the budget in a second', async () => {
      const { sim, a, b } = await twoInstances(mode, {
        UPSTREAM_MAX_RPS: '2',
        UPSTREAM_MAX_WAIT_MS: '10000',
      });
      const results = await askDistinct([a, b], 12, 'spread');
      expect(results.map((r) => r.status)).toEqual(Array(12).fill(200));
      const at = sim.calls.map((c) => c.at).sort((x, y) => x - y);
      expect(at).toHaveLength(12);
      const spread = at.at(-1)! - at[0]!;
      expect(spread).toBeGreaterThanOrEqual(4000);
      expect(spread).toBeLessThanOrEqual(8000);
      // 2 per second, plus one for a slot whose call left a few ms late next to one that did not.
      expect(mostInOneSecond(at)).toBeLessThanOrEqual(3);
      expect(
        (await metric(a, 'gateway_upstream_budget_waits_total')) +
          (await metric(b, 'gateway_upstream_budget_waits_total')),
      ).toBeGreaterThanOrEqual(10);
    });

    it('answers 503 with retry-after, without calling, when the queue is longer than the wait limit', async () => {
      const { sim, a, b } = await twoInstances(mode, { UPSTREAM_MAX_RPS: '1', UPSTREAM_MAX_WAIT_MS: '1500' });
      const results = await askDistinct([a, b], 6, 'queue');
      const refused = results.filter((r) => r.status === 503);
      // Slots at 0, 1 and 1.5 s at the latest fit a 1.5 s wait; the other three are refused at once.
      expect(sim.callCount).toBeLessThanOrEqual(3);
      expect(refused.length).toBe(6 - sim.callCount);
      for (const r of refused) {
        expect(errorOf(r).code).toBe('UPSTREAM_UNAVAILABLE');
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      }
      const counted = async (gw: Gateway) => metric(gw, 'gateway_upstream_refusals_total{reason="rate"}');
      expect((await counted(a)) + (await counted(b))).toBe(refused.length);
    });
  });

  describe('daily quota', () => {
    it('lets exactly 3 calls through two instances; the rest wait for the upstream day to end', async () => {
      const { sim, a, b } = await twoInstances(mode, { UPSTREAM_DAILY_QUOTA: '3' });
      const results = await askDistinct([a, b], 8, 'quota');
      expect(sim.callCount).toBe(3);
      expect(results.filter((r) => r.status === 200)).toHaveLength(3);
      const untilMidnight = msUntilNextDay(Date.now(), 'Asia/Shanghai') / 1000;
      for (const r of results.filter((x) => x.status !== 200)) {
        expect(r.status).toBe(503);
        expect(errorOf(r).code).toBe('UPSTREAM_UNAVAILABLE');
        expect(Math.abs(Number(r.headers.get('retry-after')) - untilMidnight)).toBeLessThan(10);
      }
      await vi.waitFor(async () => expect(await metric(b, 'gateway_upstream_quota_remaining')).toBe(0), {
        timeout: 3000,
      });
    });
  });

  describe('business-code back-off', () => {
    it('after a 303 makes no further upstream call from any instance until the day ends', async () => {
      const { sim, a, b } = await twoInstances(mode, {});
      sim.setBehaviour({ code: 303 });
      const first = await a.get('/v1/authors/day0/spread-info');
      expect(first.status).toBe(503);
      expect(errorOf(first).upstreamCode).toBe(303);
      const later = await askDistinct([a, b], 6, 'day');
      expect(sim.callCount).toBe(1);
      const untilMidnight = msUntilNextDay(Date.now(), 'Asia/Shanghai') / 1000;
      for (const r of later) {
        expect(r.status).toBe(503);
        expect(errorOf(r)).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', upstreamCode: 303 });
        expect(Math.abs(Number(r.headers.get('retry-after')) - untilMidnight)).toBeLessThan(10);
      }
      await vi.waitFor(async () => expect(await metric(b, 'gateway_upstream_circuit_state')).toBe(2), {
        timeout: 3000,
      });
    });

    it('a 302 storm costs at most 3 upstream calls for 20 asks', async () => {
      const { sim, a, b } = await twoInstances(mode, { UPSTREAM_MAX_RPS: '5' });
      sim.setBehaviour({ code: 302 });
      const results = await askDistinct([a, b], 20, 'storm');
      expect(sim.callCount).toBeGreaterThanOrEqual(1);
      expect(sim.callCount).toBeLessThanOrEqual(3);
      for (const r of results) {
        expect(r.status).toBe(503);
        expect(errorOf(r).code).toBe('UPSTREAM_UNAVAILABLE');
        expect(r.headers.get('retry-after')).toMatch(/^\d+$/);
      }
      expect(await metric(a, 'gateway_upstream_refusals_total{reason="backoff"}')).toBeGreaterThan(0);
    });

    it('a credential code opens the circuit for every instance: one error line, readiness 503, no more calls', async () => {
      const { sim, a, b } = await twoInstances(mode, {});
      sim.setBehaviour({ code: 601 });
      const first = await a.get('/v1/authors/cred0/spread-info');
      expect(first.status).toBe(503);
      expect(errorOf(first)).toMatchObject({ code: 'UPSTREAM_CREDENTIALS', upstreamCode: 601 });
      const later = await askDistinct([a, b], 6, 'cred');
      expect(sim.callCount).toBe(1);
      for (const r of later) {
        expect(r.status).toBe(503);
        expect(errorOf(r)).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', upstreamCode: 601 });
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(50);
      }
      for (const gw of [a, b]) {
        const ready = await gw.get('/readyz');
        expect(ready.status).toBe(503);
        expect(ready.body).toContain('601');
        expect(await metric(gw, 'gateway_upstream_circuit_state')).toBe(3);
      }
      const errors = [...a.logs, ...b.logs].map((l) => JSON.parse(l)).filter((l) => l.level >= 50);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ upstreamCode: 601 });
    });
  });
});

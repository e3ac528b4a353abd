// Sharing one paid upstream between callers, through the real app over loopback: turns between
// callers while they wait for budget, the daily share per caller over two instances, the pending
// cap, and /v1/usage agreeing with the simulated upstream's own count. Single Redis and cluster.
// Only HTTP and the simulated upstream are used, so the same file can be run against older code.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { msUntilNextDay } from '../../src/governance/quota-day.js';
import type { ErrorBody } from '../../src/plugins/error-handler.js';
import { type SimUpstream, startSimUpstream } from '../../src/sim/upstream-server.js';
import { ADMIN_KEY, type Gateway, startGateway, TEST_TOKEN } from '../helpers/gateway.js';
import { sample, until } from '../helpers/prometheus.js';
import { testClusterNodes, uniquePrefix } from '../helpers/redis.js';

const modes = testClusterNodes() ? (['single', 'cluster'] as const) : (['single'] as const);
const KEY = { A: 'key-of-team-a-0123456789', B: 'key-of-team-b-0123456789' };
const CALLERS = { API_KEYS: `A:${KEY.A},B:${KEY.B}`, ADMIN_API_KEYS: `ops:${ADMIN_KEY}` };
const as = (who: keyof typeof KEY) => ({ 'x-api-key': KEY[who] });
const admin = { 'x-api-key': ADMIN_KEY };

let open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.allSettled(open.map((o) => o.close()));
  open = [];
});

async function instances(
  redis: 'single' | 'cluster',
  n: number,
  env: Record<string, string>,
): Promise<{ sim: SimUpstream; gws: Gateway[] }> {
  const sim = await startSimUpstream({ token: TEST_TOKEN });
  open.push(sim);
  const prefix = uniquePrefix('share');
  const gws: Gateway[] = [];
  for (let i = 0; i < n; i++) {
    const gw = await startGateway({ sim, prefix, redis, env: { ...CALLERS, ...env } });
    // Closed first (afterEach closes in order): waiting requests are answered before the sim goes.
    open.unshift(gw);
    gws.push(gw);
  }
  return { sim, gws };
}

type Res = Awaited<ReturnType<Gateway['get']>>;
const errorOf = (r: Res) => (r.json as ErrorBody).error;

interface UsageRow {
  caller: string;
  requests: number;
  cacheHits: number;
  upstreamCalls: number;
  billedCalls: number;
  refused: Record<string, number>;
  share: { limit: number; used: number; left: number | null } | null;
}
async function usage(gw: Gateway): Promise<Map<string, UsageRow>> {
  const res = await gw.get('/v1/usage', admin);
  expect(res.status).toBe(200);
  const rows = (res.json as { callers: UsageRow[] }).callers;
  return new Map(rows.map((r) => [r.caller, r]));
}

/** How many upstream calls started after `since` calls and before the call for `author`. */
function slotsBefore(sim: SimUpstream, since: number, author: string): number {
  const at = sim.calls.findIndex((c) => c.query['oAuthorId'] === author);
  expect(at).toBeGreaterThanOrEqual(0);
  return at - since;
}

describe.each(modes)('sharing the upstream (%s Redis)', (mode) => {
  describe('turns between callers', () => {
    const env = {
      UPSTREAM_MAX_RPS: '2',
      UPSTREAM_MAX_WAIT_MS: '60000',
      UPSTREAM_TIMEOUT_MS: '5000',
      CALLER_MAX_PENDING_UPSTREAM: '100',
    };

    async function queueThenAsk(gws: Gateway[], askOn: Gateway) {
      const sim = gws[0]!.sim;
      const aAsks = Array.from({ length: 100 }, (_, i) =>
        gws[i % gws.length]!.get(`/v1/authors/turnA${i}/spread-info`, as('A')),
      );
      // Every one of A's 100 misses is queued (or already called) before B asks.
      const queued = () =>
        gws.reduce((n, g) => n + g.app.governor.waitingCalls('caller:A'), 0) + sim.callCount >= 100;
      expect(await until(async () => queued(), 20_000)).toBe(true);
      const since = sim.callCount;
      const t0 = Date.now();
      const b = await askOn.get('/v1/authors/turnB0/spread-info', as('B'));
      const ms = Date.now() - t0;
      expect(b.status).toBe(200);
      const slots = slotsBefore(sim, since, 'turnB0');
      console.log(
        `[figure] ${mode}, ${gws.length} instance(s): B waited ${ms} ms, ${slots} of A's calls went first`,
      );
      // Shut down: A's queue is answered 503 at once instead of draining for 50 s.
      for (const g of gws) g.app.governor.stopWaiting();
      const a = await Promise.all(aAsks);
      expect(a.every((r) => r.status === 200 || r.status === 503)).toBe(true);
      return { slots, ms };
    }

    it("at 2 calls/s, a caller's one miss goes within 3 slots of 100 queued misses of another caller", async () => {
      const { gws } = await instances(mode, 1, env);
      const { slots } = await queueThenAsk(gws, gws[0]!);
      // The slot its instance hands out next is B's; a call of A's may be on its way as B asks, and
      // a slow event loop may hand out one more while B's request is read. Measured: 0.
      expect(slots).toBeLessThanOrEqual(2);
    });

    it('the same with the 100 misses spread over two instances, within the documented bound', async () => {
      const { gws } = await instances(mode, 2, env);
      const { slots } = await queueThenAsk(gws, gws[1]!);
      // docs/sharing.md: at most one call per busy instance once B has joined its queue, plus one
      // that may be on its way as B asks. Measured 0 to 2 on a quiet machine, 3 under load.
      expect(slots).toBeLessThanOrEqual(3);
    });
  });

  describe('daily share per caller', () => {
    it('A=10 makes exactly 10 upstream calls over two instances, then 429 until the upstream midnight; B goes on', async () => {
      const { sim, gws } = await instances(mode, 2, { CALLER_UPSTREAM_DAILY: 'A=10' });
      const [g1, g2] = gws as [Gateway, Gateway];
      const asks = await Promise.all(
        Array.from({ length: 16 }, (_, i) => gws[i % 2]!.get(`/v1/authors/shareA${i}/spread-info`, as('A'))),
      );
      expect(sim.calls.filter((c) => c.query['oAuthorId']?.startsWith('shareA'))).toHaveLength(10);
      expect(asks.filter((r) => r.status === 200)).toHaveLength(10);
      const refused = asks.filter((r) => r.status !== 200);
      expect(refused).toHaveLength(6);
      const untilMidnight = msUntilNextDay(Date.now(), 'Asia/Shanghai') / 1000;
      for (const r of refused) {
        expect(r.status).toBe(429);
        expect(errorOf(r).code).toBe('RATE_LIMITED');
        expect(errorOf(r).message).toContain('CALLER_UPSTREAM_DAILY');
        expect(Math.abs(Number(r.headers.get('retry-after')) - untilMidnight)).toBeLessThan(10);
      }
      // B keeps getting answers, on both instances; A's cached answers still cost it nothing.
      for (let i = 0; i < 4; i++) {
        expect((await gws[i % 2]!.get(`/v1/authors/shareB${i}/spread-info`, as('B'))).status).toBe(200);
      }
      const cachedA = asks.findIndex((r) => r.status === 200);
      expect((await g2.get(`/v1/authors/shareA${cachedA}/spread-info`, as('A'))).status).toBe(200);
      expect((await g1.get('/v1/authors/shareAnew/spread-info', as('A'))).status).toBe(429);

      // /v1/usage: all instances' counts (each writes once a second) equal the upstream's own.
      await vi.waitFor(
        async () => {
          const u = await usage(g1);
          expect(u.get('A')).toMatchObject({
            requests: 18,
            cacheHits: 1,
            upstreamCalls: 10,
            billedCalls: 10,
            refused: { daily_share: 7, rate: 0, pending: 0 },
            share: { limit: 10, used: 10, left: 0 },
          });
          expect(u.get('B')).toMatchObject({ requests: 4, upstreamCalls: 4, share: null });
          const total = [...u.values()].reduce((n, r) => n + r.upstreamCalls, 0);
          expect(total).toBe(sim.callCount);
        },
        { timeout: 5000, interval: 200 },
      );
      const metrics = (await g1.get('/metrics')).body + (await g2.get('/metrics')).body;
      const refusals = sample(metrics, 'gateway_caller_refusals_total', {
        caller: 'A',
        reason: 'daily_share',
      });
      expect(refusals).toBeGreaterThan(0);
      // One line per refused request: its completion line, saying why.
      const lines = [...g1.logs, ...g2.logs].filter(
        (l) => l.includes('"refused":"daily_share"') && l.includes('"caller":"A"'),
      );
      expect(lines).toHaveLength(7);
      expect(lines.every((l) => l.includes('"msg":"request completed"'))).toBe(true);
      expect([...g1.logs, ...g2.logs].some((l) => l.includes('caller refused'))).toBe(false);
    });
  });

  describe('pending cap', () => {
    it('refuses at once, with the reason, calls past CALLER_MAX_PENDING_UPSTREAM; other callers still get turns', async () => {
      const { sim, gws } = await instances(mode, 1, {
        UPSTREAM_MAX_RPS: '1',
        UPSTREAM_MAX_WAIT_MS: '15000',
        CALLER_MAX_PENDING_UPSTREAM: '3',
      });
      const gw = gws[0]!;
      const asks = Array.from({ length: 8 }, (_, i) => gw.get(`/v1/authors/pend${i}/spread-info`, as('A')));
      const b = gw.get('/v1/authors/pendB/spread-info', as('B'));
      const results = await Promise.all(asks);
      const refused = results.filter((r) => r.status === 429);
      expect(refused.length).toBeGreaterThanOrEqual(4); // 8 asks: 1 called at once, 3 waiting
      for (const r of refused) expect(errorOf(r).message).toContain('CALLER_MAX_PENDING_UPSTREAM=3');
      expect(results.filter((r) => r.status === 200)).toHaveLength(8 - refused.length);
      expect((await b).status).toBe(200);
      expect(sim.callCount).toBe(9 - refused.length);
      const metrics = (await gw.get('/metrics')).body;
      expect(sample(metrics, 'gateway_caller_refusals_total', { caller: 'A', reason: 'pending' })).toBe(
        refused.length,
      );
    });
  });

  describe('stale answers instead of a share refusal', () => {
    it('serves the cached answer (stale, or forced by an admin) when the share is spent', async () => {
      const { sim, gws } = await instances(mode, 1, {
        CALLER_UPSTREAM_DAILY: '*=1',
        CACHE_FRESH_SECONDS: '1',
      });
      const gw = gws[0]!;
      expect((await gw.get('/v1/authors/staleA/spread-info', as('A'))).status).toBe(200);
      expect((await gw.get('/v1/authors/staleA2/spread-info', as('A'))).status).toBe(429);
      await new Promise((r) => setTimeout(r, 1100));
      const stale = await gw.get('/v1/authors/staleA/spread-info', as('A'));
      expect(stale.status).toBe(200);
      expect(stale.headers.get('x-cache')).toBe('STALE');
      // An admin's forced refresh past its own share (*=1) answers the cached entry, not 429.
      expect((await gw.get('/v1/authors/staleO/spread-info', admin)).status).toBe(200);
      const forced = await gw.get('/v1/authors/staleO/spread-info', {
        ...admin,
        'cache-control': 'no-cache',
      });
      expect(forced.status).toBe(200);
      expect(forced.headers.get('x-cache')).toBe('STALE');
      expect(sim.callsFor('staleO')).toHaveLength(1);
    });
  });
});

describe('anonymous callers', () => {
  const from = (ip: string) => ({ 'x-forwarded-for': ip });
  async function anonymousGateway(env: Record<string, string>): Promise<{ sim: SimUpstream; gw: Gateway }> {
    const sim = await startSimUpstream({ token: TEST_TOKEN });
    open.push(sim);
    const gw = await startGateway({
      sim,
      env: { ...CALLERS, ALLOW_ANONYMOUS: 'true', TRUST_PROXY: 'true', ...env },
    });
    open.unshift(gw);
    return { sim, gw };
  }

  it('share one upstream share however many addresses they come from; a named caller keeps its own', async () => {
    const { sim, gw } = await anonymousGateway({ CALLER_UPSTREAM_DAILY: 'anonymous=5,A=10' });
    const anonymous = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        gw.get(`/v1/authors/anon${i}/spread-info`, from(`10.0.1.${i + 1}`)),
      ),
    );
    const statuses = anonymous.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(25);
    const named = [];
    for (let i = 0; i < 10; i++)
      named.push((await gw.get(`/v1/authors/named${i}/spread-info`, as('A'))).status);
    expect(named).toEqual(Array(10).fill(200));
    expect(sim.callCount).toBe(15);
    const metrics = (await gw.get('/metrics')).body;
    const callers = new Set(
      [...metrics.matchAll(/^gateway_caller_\w+\{[^}]*caller="([^"]*)"/gm)].map((m) => m[1]),
    );
    expect([...callers].sort()).toEqual(['A', 'anonymous']);
  });

  it('share one pending cap: misses from 8 addresses past CALLER_MAX_PENDING_UPSTREAM are refused', async () => {
    const { sim, gw } = await anonymousGateway({
      UPSTREAM_MAX_RPS: '1',
      UPSTREAM_MAX_WAIT_MS: '15000',
      CALLER_MAX_PENDING_UPSTREAM: '3',
    });
    const asks = Array.from({ length: 8 }, (_, i) =>
      gw.get(`/v1/authors/pendanon${i}/spread-info`, from(`10.0.2.${i + 1}`)),
    );
    const b = gw.get('/v1/authors/pendanonB/spread-info', as('B'));
    const results = await Promise.all(asks);
    const refused = results.filter((r) => r.status === 429);
    expect(refused.length).toBeGreaterThanOrEqual(4); // 8 asks: 1 called at once, 3 waiting
    for (const r of refused) expect(errorOf(r).message).toContain('CALLER_MAX_PENDING_UPSTREAM=3');
    expect((await b).status).toBe(200);
    expect(sim.callCount).toBe(9 - refused.length);
  });

  it('keep a request rate per address, IPv6 per CLIENT_IPV6_PREFIX network', async () => {
    const { gw } = await anonymousGateway({ CALLER_RATE_LIMIT: '2', CLIENT_IPV6_PREFIX: '56' });
    const ask = async (ip: string) => (await gw.get('/v1/authors/rate1/spread-info', from(ip))).status;
    expect([await ask('10.0.3.1'), await ask('10.0.3.1'), await ask('10.0.3.1')]).toEqual([200, 200, 429]);
    expect(await ask('10.0.3.2')).toBe(200);
    // 2001:db8:0:100::/56 holds both of these; 2001:db8:0:200:: is the next network.
    expect([await ask('2001:db8:0:100::1'), await ask('2001:db8:0:1ff:ffff::2')]).toEqual([200, 200]);
    expect(await ask('2001:db8:0:1ab::3')).toBe(429);
    expect(await ask('2001:db8:0:200::1')).toBe(200);
  });
});

describe('GET /v1/usage', () => {
  it('is for admin keys, takes one calendar day, and names a bad one', async () => {
    const { gws } = await instances('single', 1, {});
    const gw = gws[0]!;
    expect((await gw.get('/v1/usage', as('A'))).status).toBe(403);
    for (const bad of ['2026-13-01', '2026-02-30', 'yesterday', '2026-1-1']) {
      const r = await gw.get(`/v1/usage?day=${bad}`, admin);
      expect(r.status).toBe(400);
      expect(errorOf(r)).toMatchObject({ code: 'INVALID_REQUEST', message: expect.stringContaining('day') });
    }
    expect((await gw.get('/v1/usage?days=2', admin)).status).toBe(400);
    expect((await gw.get('/v1/usage?day=2020-01-01', admin)).json).toEqual({
      day: '2020-01-01',
      callers: [],
    });
    await gw.get('/v1/authors/u1/spread-info', as('A'));
    await gw.get('/v1/authors/u1/spread-info', as('B'));
    const today = (await gw.get('/v1/usage', admin)).json as { day: string; callers: UsageRow[] };
    expect(today.day).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(today.callers.map((c) => [c.caller, c.requests, c.cacheHits, c.upstreamCalls])).toEqual([
      ['A', 1, 0, 1],
      ['B', 1, 1, 0],
    ]);
  });
});

// Governance as callers meet it, through the real app over loopback: two gateway instances on one
// Redis prefix in front of one simulated upstream. The upstream's business code is read whatever
// the HTTP status; a 302's retry-after is the pause it began; a caller's deadline (CALLER_DEADLINE_MS)
// answers in time while the call goes on and fills the cache; shares count cost units.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ErrorBody } from '../../src/plugins/error-handler.js';
import { DROP_IN_PATH } from '../../src/routes/drop-in.js';
import { type SimUpstream, startSimUpstream } from '../../src/sim/upstream-server.js';
import { ADMIN_KEY, CALLER_KEY, type Gateway, startGateway, TEST_TOKEN } from '../helpers/gateway.js';
import { JustOneApiLikeClient } from '../helpers/justoneapi-like-client.js';
import { uniquePrefix } from '../helpers/redis.js';

let open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.allSettled(open.map((o) => o.close()));
  open = [];
});

const KEYS = { API_KEYS: `svc:${CALLER_KEY}`, ADMIN_API_KEYS: `ops:${ADMIN_KEY}` };
const asSvc = { 'x-api-key': CALLER_KEY };

async function twoInstances(
  env: Record<string, string>,
): Promise<{ sim: SimUpstream; a: Gateway; b: Gateway }> {
  const sim = await startSimUpstream({ token: TEST_TOKEN });
  open.push(sim);
  const prefix = uniquePrefix('govhttp');
  const a = await startGateway({ sim, prefix, env: { ...KEYS, ...env } });
  const b = await startGateway({ sim, prefix, env: { ...KEYS, ...env } });
  open.push(a, b);
  return { sim, a, b };
}

type Res = Awaited<ReturnType<Gateway['get']>>;
const errorOf = (r: Res) => (r.json as ErrorBody).error;
/** The completion line of the request with this id. */
const lineOf = (gw: Gateway, id: string | null) =>
  gw.logs.map((l) => JSON.parse(l)).find((l) => l.reqId === id && l.msg === 'request completed');

describe('the business code whatever the HTTP status', () => {
  it('HTTP 429 with code 302 is a 302: 503 with the real pause as retry-after, and the endpoint pauses on both instances', async () => {
    const { sim, a, b } = await twoInstances({});
    sim.script([{ code: 302, httpStatus: 429 }]);
    const first = await a.get('/v1/authors/p1/spread-info', asSvc);
    expect(first.status).toBe(503);
    expect(errorOf(first)).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', upstreamCode: 302 });
    // The first pause is 1 to 1.5 s (DEFAULT_BACKOFF): not the fixed 5 s of old.
    const retry = Number(first.headers.get('retry-after'));
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(retry).toBeLessThanOrEqual(2);
    expect(sim.callCount).toBe(1);
    // The pause is shared: the other instance refuses at once, without a call, and says why.
    const second = await b.get('/v1/authors/p2/spread-info', asSvc);
    expect(second.status).toBe(503);
    expect(errorOf(second)).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', upstreamCode: 302 });
    expect(sim.callCount).toBe(1);
    expect(lineOf(b, second.headers.get('x-request-id'))).toMatchObject({ refused: 'backoff' });
    // The drop-in route answers it as the upstream would: code 302.
    const dropIn = await new JustOneApiLikeClient(CALLER_KEY, a.url).get(DROP_IN_PATH, { oAuthorId: 'p3' });
    expect(dropIn.code).toBe(302);
    expect(sim.callCount).toBe(1);
  });

  it('HTTP 401 with code 100 is a 100: the credentials circuit opens for every instance', async () => {
    const { sim, a, b } = await twoInstances({});
    sim.script([{ code: 100, httpStatus: 401 }]);
    const first = await a.get('/v1/authors/c1/spread-info', asSvc);
    expect(first.status).toBe(503);
    expect(errorOf(first)).toMatchObject({ code: 'UPSTREAM_CREDENTIALS', upstreamCode: 100 });
    await vi.waitFor(async () => {
      const r = await b.get('/v1/authors/c2/spread-info', asSvc);
      expect(r.status).toBe(503);
      expect(lineOf(b, r.headers.get('x-request-id'))).toMatchObject({ refused: 'circuit' });
    });
    expect(sim.callCount).toBe(1);
  });
});

describe('caller deadline', () => {
  it('a 3 s deadline with a 6 s upstream answers in under 4.5 s; the call goes on and the retry is a hit', async () => {
    const { sim, a, b } = await twoInstances({
      CALLER_DEADLINE_MS: '3000',
      UPSTREAM_TIMEOUT_MS: '10000',
      UPSTREAM_MAX_WAIT_MS: '2000',
    });
    sim.setDelay(6000);
    const t0 = Date.now();
    // A /v1 caller on one instance and a drop-in caller (a follower of the same call) on the other.
    const [late, dropIn] = await Promise.all([
      a.get('/v1/authors/slowpoke/spread-info', asSvc).then((r) => ({ ...r, took: Date.now() - t0 })),
      new JustOneApiLikeClient(CALLER_KEY, b.url).get(DROP_IN_PATH, { oAuthorId: 'slowpoke' }),
    ]);
    const took = late.took;
    expect(late.status).toBe(504);
    expect(errorOf(late)).toMatchObject({ code: 'UPSTREAM_TIMEOUT' });
    expect(took).toBeLessThan(4500);
    expect(dropIn.code).toBe(301);
    expect(Date.now() - t0).toBeLessThan(4500);
    // The one call answers at about 6 s and fills the cache: the retry is a hit, no new call.
    await vi.waitFor(() => expect(sim.calls[0]?.latencyMs).toBeDefined(), { timeout: 8000 });
    sim.setDelay(0);
    await vi.waitFor(async () => {
      const retry = await b.get('/v1/authors/slowpoke/spread-info', asSvc);
      expect(retry.status).toBe(200);
      expect(retry.headers.get('x-cache')).toBe('HIT');
    });
    expect(sim.callCount).toBe(1);
    console.log(`[figure] answered 504 after ${took} ms; the 6 s call was made once and served the retry`);
  }, 20_000);
});

describe('shares in cost units', () => {
  it('a share of 3 units with spread-info costing 2: one miss, then the next refused without a call; usage reports units and calls', async () => {
    const { sim, a, b } = await twoInstances({
      CALLER_UPSTREAM_DAILY: 'svc=3',
      UPSTREAM_ENDPOINT_COST: 'get_author_spread_info=2',
    });
    expect((await a.get('/v1/authors/u1/spread-info', asSvc)).status).toBe(200);
    const refused = await b.get('/v1/authors/u2/spread-info', asSvc);
    expect(refused.status).toBe(429);
    expect(errorOf(refused).message).toMatch(
      /3 upstream cost units .*2 used; a call to get_author_spread_info costs 2/,
    );
    expect(sim.callCount).toBe(1);
    // A hit costs nothing.
    expect((await b.get('/v1/authors/u1/spread-info', asSvc)).status).toBe(200);
    const usage = await a.get('/v1/usage', { 'x-api-key': ADMIN_KEY });
    const row = (usage.json as { callers: Array<Record<string, unknown>> }).callers.find(
      (c) => c.caller === 'svc',
    );
    expect(row).toMatchObject({ upstreamCalls: 1, upstreamUnits: 2, share: { limit: 3, used: 2, left: 1 } });
  });
});

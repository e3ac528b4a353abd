// A batch counts as what it is: its distinct items against CALLER_RATE_LIMIT (shared by instances),
// its misses against the caller's pending cap and daily share, and it answers within one deadline.
import { afterEach, describe, expect, it } from 'vitest';
import { BATCH_CONCURRENCY, BATCH_PATH } from '../../src/routes/batch.js';
import { type SimUpstream, startSimUpstream } from '../../src/sim/upstream-server.js';
import { CALLER_KEY, type Gateway, startGateway, TEST_TOKEN } from '../helpers/gateway.js';
import { sample } from '../helpers/prometheus.js';
import { uniquePrefix } from '../helpers/redis.js';

interface Item {
  status: number;
  error?: { code: string; message: string; requestId?: string };
}

let open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.allSettled(open.map((o) => o.close()));
  open = [];
});

async function gateways(
  n: number,
  env: Record<string, string>,
): Promise<{ sim: SimUpstream; gws: Gateway[] }> {
  const sim = await startSimUpstream({ token: TEST_TOKEN });
  open.push(sim);
  const prefix = uniquePrefix('batchlim');
  const gws: Gateway[] = [];
  for (let i = 0; i < n; i++) {
    const gw = await startGateway({ sim, prefix, env: { API_KEYS: `svc:${CALLER_KEY}`, ...env } });
    open.unshift(gw);
    gws.push(gw);
  }
  return { sim, gws };
}

async function post(gw: Gateway, items: Array<{ oAuthorId: string }>) {
  const res = await fetch(gw.url + BATCH_PATH, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': CALLER_KEY },
    body: JSON.stringify({ items }),
  });
  const json = (await res.json()) as { results: Item[]; error?: Item['error'] };
  return { status: res.status, headers: res.headers, json };
}

const items = (tag: string, n: number) => Array.from({ length: n }, (_, i) => ({ oAuthorId: `${tag}${i}` }));

describe('batch against the caller limits', () => {
  it('counts its distinct items against CALLER_RATE_LIMIT, across instances', async () => {
    const { sim, gws } = await gateways(2, { CALLER_RATE_LIMIT: '10' });
    const [a, b] = gws as [Gateway, Gateway];
    // 7 items, 6 distinct: 6 of the 10.
    const first = await post(a, [...items('rl', 6), { oAuthorId: 'rl0' }]);
    expect(first.status).toBe(200);
    expect(first.headers.get('ratelimit-remaining')).toBe('4');
    // 5 distinct more on the other instance: over the limit, refused whole, nothing called.
    const second = await post(b, items('rlx', 5));
    expect(second.status).toBe(429);
    expect(second.json.error?.code).toBe('RATE_LIMITED');
    expect(second.json.error?.message).toContain('5 distinct items');
    expect(Number(second.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(sim.callCount).toBe(6);
    // The window is spent for the single route too.
    expect((await a.get('/v1/authors/rl9/spread-info', { 'x-api-key': CALLER_KEY })).status).toBe(429);
    const metrics = (await b.get('/metrics')).body;
    expect(sample(metrics, 'gateway_caller_refusals_total', { caller: 'svc', reason: 'rate' })).toBe(5);
    // A batch refused whole: its one line is its completion line, saying why.
    const lines = b.logs
      .filter((l) => l.includes(`"reqId":"${second.json.error?.requestId}"`))
      .map((l) => JSON.parse(l))
      .filter((l) => l.level >= 30); // above the incoming request's debug line
    expect(lines).toEqual([
      expect.objectContaining({ msg: 'request completed', res: { statusCode: 429 }, refused: 'rate' }),
    ]);
  });

  it("counts each miss against the caller's daily share: past it, those items get 429", async () => {
    const { sim, gws } = await gateways(1, { CALLER_UPSTREAM_DAILY: 'svc=3' });
    const res = await post(gws[0]!, items('bs', 5));
    expect(res.status).toBe(200);
    const statuses = res.json.results.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect(sim.callCount).toBe(3);
    // The batch's refused items are one line for the batch, counted, besides its completion line.
    const refusals = gws[0]!.logs.filter((l) => l.includes('caller refused'));
    expect(refusals.map((l) => JSON.parse(l))).toEqual([
      expect.objectContaining({
        level: 30,
        msg: 'caller refused: daily_share',
        caller: 'svc',
        reason: 'daily_share',
        requests: 2,
      }),
    ]);
  });

  it('answers within UPSTREAM_MAX_WAIT_MS + UPSTREAM_TIMEOUT_MS + 1 s against a hanging upstream', async () => {
    const { sim, gws } = await gateways(1, {
      UPSTREAM_TIMEOUT_MS: '1000',
      UPSTREAM_MAX_WAIT_MS: '1000',
      CALLER_RATE_LIMIT: '1000',
    });
    const started = Date.now();
    const res = await post(gws[0]!, items('hang', 100));
    const ms = Date.now() - started;
    expect(res.status).toBe(200);
    const codes = new Set(res.json.results.map((r) => `${r.status} ${r.error?.code}`));
    expect([...codes].sort()).toEqual(['503 UPSTREAM_UNAVAILABLE', '504 UPSTREAM_TIMEOUT']);
    // 8 at a time, 1 s each: 13 s for 100 items without the batch's own deadline (3 s here).
    expect(ms).toBeLessThan(3000 + 1500);
    expect(sim.callCount).toBeGreaterThanOrEqual(BATCH_CONCURRENCY);
    expect(sim.callCount).toBeLessThan(100);
  });
});

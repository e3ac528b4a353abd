// Fault drill: Redis restarted without persistence, played by FLUSHALL under two running
// instances. The day's quota counts (the account's and an endpoint's) and a caller's share count
// must survive it: the instances put back what they last saw, so the day spends at most one call
// more than its budget.
import { afterEach, describe, expect, it } from 'vitest';
import { type SimUpstream, startSimUpstream } from '../../src/sim/upstream-server.js';
import { type Gateway, startTwoInstances, TEST_TOKEN } from '../helpers/gateway.js';
import { redisClient } from '../helpers/redis.js';
import { hasBinary, type RedisProcess, startRedisServer } from '../helpers/redis-server.js';

const KEY = 'flush-caller-key-0123456789';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let redis: RedisProcess | undefined;
let sim: SimUpstream | undefined;
let gws: Gateway[] = [];
afterEach(async () => {
  for (const g of gws) await g.close();
  gws = [];
  await sim?.close();
  await redis?.stop();
});

async function twoInstances(env: Record<string, string>): Promise<[Gateway, Gateway]> {
  redis = await startRedisServer();
  sim = await startSimUpstream({ token: TEST_TOKEN, delayMs: 10 });
  gws = await startTwoInstances({
    redisUrl: redis.url,
    sim,
    name: 'drill-flush',
    env: { API_KEYS: `A:${KEY}`, ...env },
  });
  return gws as [Gateway, Gateway];
}

/** New authors, alternating instances, 5 a second (the restore comes within a second). */
async function spend(g: [Gateway, Gateway], n: number, tag: string): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) {
    const res = await g[i % 2]!.get(`/v1/authors/${tag}${i}/spread-info`, { 'x-api-key': KEY });
    statuses.push(res.status);
    await sleep(200);
  }
  return statuses;
}

describe.skipIf(!hasBinary('redis-server'))('Redis emptied (restart without persistence)', () => {
  it('with a daily quota of 20, 12 calls then FLUSHALL: the day spends at most 21', async () => {
    const g = await twoInstances({ UPSTREAM_DAILY_QUOTA: '20' });
    expect((await spend(g, 12, 'quotabefore')).every((s) => s === 200)).toBe(true);
    expect(sim!.callCount).toBe(12);
    const admin = redisClient(redis!.url);
    await admin.flushall();
    admin.disconnect();
    const after = await spend(g, 20, 'quotaafter');
    console.log('flush drill figures (quota)', JSON.stringify({ calls: sim!.callCount, after }));
    expect(sim!.callCount).toBeLessThanOrEqual(21);
    // What was left of the budget is still spent: not restored twice, in all or in part (an
    // instance that read the counter after the other had restored it once restored that again).
    expect(sim!.callCount).toBeGreaterThanOrEqual(18);
    expect(after.filter((s) => s !== 200 && s !== 503)).toEqual([]);
  }, 60_000);

  it("with an endpoint's daily quota of 5, 3 calls then FLUSHALL: that endpoint spends at most 6", async () => {
    const g = await twoInstances({ UPSTREAM_ENDPOINT_DAILY_QUOTA: 'get_author_spread_info=5' });
    expect((await spend(g, 3, 'epquotabefore')).every((s) => s === 200)).toBe(true);
    expect(sim!.callsTo('get_author_spread_info').length).toBe(3);
    const admin = redisClient(redis!.url);
    await admin.flushall();
    admin.disconnect();
    const after = await spend(g, 8, 'epquotaafter');
    const calls = sim!.callsTo('get_author_spread_info').length;
    console.log('flush drill figures (endpoint quota)', JSON.stringify({ calls, after }));
    expect(calls).toBeLessThanOrEqual(6);
    expect(calls).toBeGreaterThanOrEqual(5);
    expect(after.filter((s) => s !== 200 && s !== 503)).toEqual([]);
  }, 60_000);

  it("with a caller's share of 10, 6 calls then FLUSHALL: the caller spends at most 11", async () => {
    const g = await twoInstances({ CALLER_UPSTREAM_DAILY: 'A=10' });
    expect((await spend(g, 6, 'sharebefore')).every((s) => s === 200)).toBe(true);
    const admin = redisClient(redis!.url);
    await admin.flushall();
    admin.disconnect();
    const after = await spend(g, 15, 'shareafter');
    console.log('flush drill figures (share)', JSON.stringify({ calls: sim!.callCount }));
    expect(sim!.callCount).toBeLessThanOrEqual(11);
    expect(sim!.callCount).toBeGreaterThanOrEqual(8);
    expect(after.filter((s) => s !== 200 && s !== 429)).toEqual([]);
  }, 60_000);
});

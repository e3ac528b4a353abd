// Fault drill: a silent Redis. Two instances share one redis-server, which is SIGSTOPped for
// several seconds under load (its connections stay open; nothing answers) and then SIGCONTed.
// Cached authors keep being answered fast, new ones within 3 s, /readyz says what happened, the
// upstream never sees more than the budget, and the authors asked during the stall are answered on
// the other instance once Redis is back, with one upstream call each; usage and shares count the
// calls made.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SimUpstream, startSimUpstream } from '../../src/sim/upstream-server.js';
import { ADMIN_KEY, type Gateway, startTwoInstances, TEST_TOKEN } from '../helpers/gateway.js';
import { hasBinary, type RedisProcess, startRedisServer } from '../helpers/redis-server.js';
import { mostInOneSecond } from '../helpers/windows.js';

const KEY = 'stall-caller-key-0123456789';
const BUDGET_RPS = 10;
const BURST = 1;
const STALL_MS = 6000;
const WARM = Array.from({ length: 6 }, (_, i) => `stallwarm${i}`);

interface Sample {
  at: number;
  ms: number;
  status: number;
  id: string;
  gw: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: () => Promise<boolean>, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) if (await what()) return true;
  return false;
}
function p95(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.95))] ?? 0;
}
let redis: RedisProcess | undefined;
let sim: SimUpstream | undefined;
const gws: Gateway[] = [];
beforeAll(async () => {
  redis = await startRedisServer();
  sim = await startSimUpstream({ token: TEST_TOKEN, delayMs: 20 });
  gws.push(
    ...(await startTwoInstances({
      redisUrl: redis.url,
      sim,
      name: 'drill-stall',
      env: {
        API_KEYS: `A:${KEY}`,
        ADMIN_API_KEYS: `ops:${ADMIN_KEY}`,
        CALLER_UPSTREAM_DAILY: 'A=100000',
        UPSTREAM_MAX_RPS: String(BUDGET_RPS),
        CALLER_MAX_PENDING_UPSTREAM: '1000',
        UPSTREAM_MAX_WAIT_MS: '2000',
      },
    })),
  );
});
afterAll(async () => {
  redis?.resume(); // never leave a stopped process behind, whatever failed above
  for (const g of gws) await g.close();
  await sim?.close();
  await redis?.stop();
});

async function ask(gw: Gateway, i: number, id: string, out: Sample[]): Promise<number> {
  const at = Date.now();
  let status = -1;
  try {
    const res = await fetch(`${gw.url}/v1/authors/${id}/spread-info`, {
      headers: { 'x-api-key': KEY },
      signal: AbortSignal.timeout(15_000),
    });
    await res.arrayBuffer();
    status = res.status;
  } catch {}
  out.push({ at, ms: Date.now() - at, status, id, gw: i });
  return status;
}

describe.skipIf(!hasBinary('redis-server'))('Redis silent (SIGSTOP) under load on two instances', () => {
  it('answers from the copy, leads alone, reports it, and comes back without stranding anybody', async () => {
    const [a, b] = gws as [Gateway, Gateway];
    for (const id of WARM) for (const [i, g] of gws.entries()) expect(await ask(g, i, id, [])).toBe(200);

    const hits: Sample[] = [];
    const misses: Sample[] = [];
    const stop = { now: false };
    const hitClients = gws.flatMap((g, i) =>
      Array.from({ length: 4 }, async () => {
        while (!stop.now) await ask(g, i, WARM[Math.floor(Math.random() * WARM.length)]!, hits);
      }),
    );
    // New authors throughout: 2 a second per instance, each asked on one instance only.
    let n = 0;
    const missCalls: Array<Promise<number>> = [];
    const arrivals = setInterval(() => {
      for (const [i, g] of gws.entries()) missCalls.push(ask(g, i, `stallnew${i}x${n}`, misses));
      n++;
    }, 500);
    await sleep(1500);

    const readyz = async (g: Gateway) => (await fetch(`${g.url}/readyz`)).status;
    const stoppedAt = Date.now();
    redis!.pause();
    let resumedAt = 0;
    try {
      const down = await until(async () => (await readyz(a)) === 503 && (await readyz(b)) === 503, 5000);
      const detectedMs = Date.now() - stoppedAt;
      expect(down, 'readyz never said 503').toBe(true);
      expect(detectedMs).toBeLessThan(3000);
      await sleep(Math.max(0, STALL_MS - (Date.now() - stoppedAt)));
      const detectedAt = stoppedAt + detectedMs;
      resumedAt = Date.now();
      redis!.resume();
      const back = await until(async () => (await readyz(a)) === 200 && (await readyz(b)) === 200, 10_000);
      expect(back, 'readyz never said 200 again').toBe(true);
      const backMs = Date.now() - resumedAt;
      await sleep(1000);
      clearInterval(arrivals);
      stop.now = true;
      await Promise.all([...hitClients, ...missCalls]);

      // Every author asked during the stall, asked again on the other instance: answered within 5 s.
      const strandable = misses.filter((m) => m.at >= stoppedAt && m.at < resumedAt);
      expect(strandable.length).toBeGreaterThanOrEqual(8);
      const again: Sample[] = [];
      await Promise.all(strandable.map((m) => ask(gws[1 - m.gw]!, 1 - m.gw, m.id, again)));

      const hitsAfterDetection = hits.filter((h) => h.at >= detectedAt && h.at < resumedAt);
      const figures = {
        detectedMs,
        backMs,
        hitsDuringStall: hitsAfterDetection.length,
        hitP95Ms: p95(hitsAfterDetection.map((h) => h.ms)),
        missMaxMs: Math.max(...misses.map((m) => m.ms)),
        missAfterDetectionMaxMs: Math.max(...misses.filter((m) => m.at >= detectedAt).map((m) => m.ms)),
        againMaxMs: Math.max(...again.map((m) => m.ms)),
        mostCallsInOneSecond: mostInOneSecond(sim!.calls.map((c) => c.at)),
      };
      console.log('stall drill figures', JSON.stringify(figures));
      expect(hits.filter((h) => h.status !== 200)).toEqual([]);
      expect(hitsAfterDetection.length).toBeGreaterThan(20);
      expect(figures.hitP95Ms).toBeLessThan(250);
      // New authors: within 3 s once the stall is known, and none ever waits out a deadline.
      expect(misses.filter((m) => m.status !== 200 || m.ms > 5000)).toEqual([]);
      expect(misses.filter((m) => m.at >= detectedAt && m.ms > 3000)).toEqual([]);
      expect(again.filter((m) => m.status !== 200 || m.ms > 5000)).toEqual([]);
      expect(figures.mostCallsInOneSecond).toBeLessThanOrEqual(BUDGET_RPS + BURST);
      // One upstream call per author, whichever instance asked and whenever.
      const perAuthor = new Map<string, number>();
      for (const c of sim!.calls) {
        const id = c.query['oAuthorId'] ?? '?';
        perAuthor.set(id, (perAuthor.get(id) ?? 0) + 1);
      }
      expect([...perAuthor].filter(([, k]) => k !== 1)).toEqual([]);

      // Usage and the caller's share count the calls made, not commands retried or run late.
      await until(async () => {
        const u = await a.get('/v1/usage', { 'x-api-key': ADMIN_KEY });
        const row = (u.json as { callers: Array<Record<string, unknown>> }).callers.find(
          (c) => c.caller === 'A',
        );
        return row?.['upstreamCalls'] === sim!.callCount;
      }, 5000);
      const u = await a.get('/v1/usage', { 'x-api-key': ADMIN_KEY });
      const row = (u.json as { callers: Array<Record<string, unknown>> }).callers.find(
        (c) => c.caller === 'A',
      );
      expect(row).toMatchObject({ upstreamCalls: sim!.callCount, share: { used: sim!.callCount } });
    } finally {
      clearInterval(arrivals);
      stop.now = true;
      redis!.resume();
    }
  }, 90_000);
});

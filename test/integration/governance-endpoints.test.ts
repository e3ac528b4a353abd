// Governance per endpoint, at the governor level: two governors with one key prefix on one real
// Redis stand for two instances (the routes of endpoints other than spread-info come with the
// catalogue's serving; these cases need only the governor). Calls are reported to afterCall as the
// upstream client would. Every case runs on a single Redis and on the 3-master cluster when global
// setup started one: the account's and the endpoints' keys share one `{gov}` hash tag.
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { GatewayError } from '../../src/errors.js';
import { UpstreamGovernor } from '../../src/governance/governor.js';
import { quotaDayId } from '../../src/governance/quota-day.js';
import { GatewayMetrics } from '../../src/metrics.js';
import { RedisConnection } from '../../src/redis/connection.js';
import type { UpstreamCallRecord } from '../../src/upstream/client.js';
import { testClusterNodes, testRedisUrl, uniquePrefix } from '../helpers/redis.js';
import { mostInOneSecond } from '../helpers/windows.js';

type Mode = 'single' | 'cluster';
const modes = testClusterNodes() ? (['single', 'cluster'] as const) : (['single'] as const);

const LIMITED = 'get_author_base_info';
const OTHER = 'get_author_spread_info';
const THIRD = 'get_author_marketing_info';

let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.allSettled(cleanup.map((c) => c()));
  cleanup = [];
});

async function governors(mode: Mode, env: Record<string, string>, n = 2): Promise<UpstreamGovernor[]> {
  const prefix = uniquePrefix('govep');
  const config = loadConfig({
    NODE_ENV: 'test',
    JUSTONEAPI_TOKEN: 't',
    REDIS_URL: mode === 'single' ? testRedisUrl() : undefined,
    REDIS_CLUSTER_NODES: mode === 'cluster' ? (testClusterNodes() ?? []).join(',') : undefined,
    ...env,
  });
  const out: UpstreamGovernor[] = [];
  for (let i = 0; i < n; i++) {
    const log = pino({ level: 'silent' });
    const redis = new RedisConnection(
      { url: config.REDIS_URL, clusterNodes: config.REDIS_CLUSTER_NODES },
      log,
      'test',
    );
    expect(await redis.waitReady()).toBe(true);
    const gov = new UpstreamGovernor({
      config,
      redis,
      metrics: new GatewayMetrics(),
      log,
      keyPrefix: prefix,
      backoff: { baseMs: 600, capMs: 4800 },
      circuit: { cooldownMs: 600, cooldownCapMs: 4800 },
      statusRefreshMs: 100,
    });
    cleanup.push(async () => {
      await gov.close();
      await redis.close();
    });
    out.push(gov);
  }
  return out;
}

const record = (code: number | null, endpoint: string): UpstreamCallRecord => ({
  endpoint,
  authorId: 'a1',
  attempt: 1,
  code,
  httpStatus: code === null ? null : 200,
  outcome: code === 0 ? 'ok' : code === null ? 'timeout' : 'error',
  billed: code === 0,
  latencyMs: 1,
  requestId: null,
});

const CALLER = { name: 'svc', label: 'svc', bucket: 'caller:svc', anonymous: false };

/** When the call was let go (ms since `t0`), or the refusal as `code:upstreamCode`. */
async function attempt(gov: UpstreamGovernor, endpoint: string, t0: number, wait = 10_000) {
  try {
    await gov.forCaller(CALLER, endpoint).beforeCall(Date.now() + wait);
    return Date.now() - t0;
  } catch (err) {
    if (!(err instanceof GatewayError)) throw err;
    return `${err.code}:${err.upstreamCode ?? err.reason ?? ''}`;
  }
}

describe.each(modes)('governance per endpoint on Redis (%s)', (mode) => {
  it("a limited endpoint's queue holds back no other endpoint, and stays within its own budget", async () => {
    const [a, b] = await governors(mode, {
      UPSTREAM_MAX_RPS: '20',
      UPSTREAM_ENDPOINT_MAX_RPS: `${LIMITED}=1`,
      UPSTREAM_MAX_WAIT_MS: '10000',
    });
    const t0 = Date.now();
    // Five calls of the limited endpoint queue over both instances first ...
    const limited = [0, 1, 2, 3, 4].map((i) => attempt(i % 2 ? a! : b!, LIMITED, t0));
    await new Promise((r) => setTimeout(r, 50));
    // ... then five misses of another endpoint arrive: they go at once (the ceiling is 20/s).
    const others = await Promise.all([0, 1, 2, 3, 4].map((i) => attempt(i % 2 ? a! : b!, OTHER, t0)));
    for (const at of others) expect(typeof at === 'number' && at < 1000, `other at ${at}`).toBe(true);
    const times = (await Promise.all(limited)) as number[];
    expect(times.every((t) => typeof t === 'number')).toBe(true);
    // 1/s over both instances: at most 2 starts in any second (one slot's start a few ms late).
    expect(mostInOneSecond(times)).toBeLessThanOrEqual(2);
    expect(Math.max(...times)).toBeGreaterThanOrEqual(3500);
    console.log(
      `[figure] ${mode}: other endpoint at ${others.join(', ')} ms; limited at ${times.join(', ')} ms`,
    );
  });

  it('the account ceiling spaces calls over all endpoints together', async () => {
    const [a, b] = await governors(mode, { UPSTREAM_MAX_RPS: '4', UPSTREAM_MAX_WAIT_MS: '10000' });
    const t0 = Date.now();
    const eps = [LIMITED, OTHER, THIRD];
    const times = (await Promise.all(
      Array.from({ length: 12 }, (_, i) => attempt(i % 2 ? a! : b!, eps[i % 3]!, t0)),
    )) as number[];
    expect(times.every((t) => typeof t === 'number')).toBe(true);
    // 4/s: 12 calls take about 2.75 s; at most 5 start in any second (a slot a few ms late).
    expect(Math.max(...times)).toBeGreaterThanOrEqual(2500);
    expect(mostInOneSecond(times)).toBeLessThanOrEqual(5);
  });

  it('a 302 pauses its endpoint only, on both instances; the other answers at once', async () => {
    const [a, b] = await governors(mode, { UPSTREAM_MAX_RPS: '100' });
    const t0 = Date.now();
    a!.forCaller(CALLER, LIMITED).afterCall(record(302, LIMITED));
    await a!.idle();
    expect(await attempt(b!, LIMITED, t0)).toBe('UPSTREAM_UNAVAILABLE:302');
    expect(await attempt(a!, LIMITED, t0)).toBe('UPSTREAM_UNAVAILABLE:302');
    expect(typeof (await attempt(b!, OTHER, t0))).toBe('number');
    expect(typeof (await attempt(a!, OTHER, t0))).toBe('number');
    // The pause (600-900 ms) ends and the endpoint answers again.
    await new Promise((r) => setTimeout(r, 950));
    expect(typeof (await attempt(b!, LIMITED, t0))).toBe('number');
  });

  it("a 303 stops its endpoint until the upstream's midnight; the others go on", async () => {
    const [a, b] = await governors(mode, { UPSTREAM_MAX_RPS: '100' });
    const t0 = Date.now();
    b!.forCaller(CALLER, LIMITED).afterCall(record(303, LIMITED));
    await b!.idle();
    const refused = await a!
      .forCaller(CALLER, LIMITED)
      .beforeCall(Date.now() + 5000)
      .catch((e: GatewayError) => e);
    expect(refused).toBeInstanceOf(GatewayError);
    expect((refused as GatewayError).reason).toBe('dayover');
    expect((refused as GatewayError).retryAfterSeconds).toBeGreaterThan(1);
    expect(typeof (await attempt(a!, OTHER, t0))).toBe('number');
  });

  it('a 601 on one endpoint stops every endpoint, on both instances', async () => {
    const [a, b] = await governors(mode, { UPSTREAM_MAX_RPS: '100' });
    const t0 = Date.now();
    a!.forCaller(CALLER, LIMITED).afterCall(record(601, LIMITED));
    await a!.idle();
    for (const gov of [a!, b!])
      for (const ep of [LIMITED, OTHER, THIRD])
        expect(await attempt(gov, ep, t0)).toBe('UPSTREAM_UNAVAILABLE:601');
  });

  it("an endpoint's own daily quota refuses that endpoint only", async () => {
    const [a, b] = await governors(mode, {
      UPSTREAM_MAX_RPS: '100',
      UPSTREAM_ENDPOINT_DAILY_QUOTA: `${LIMITED}=2`,
    });
    const t0 = Date.now();
    expect(typeof (await attempt(a!, LIMITED, t0))).toBe('number');
    expect(typeof (await attempt(b!, LIMITED, t0))).toBe('number');
    expect(await attempt(a!, LIMITED, t0)).toBe('UPSTREAM_UNAVAILABLE:endpoint_quota');
    expect(await attempt(b!, LIMITED, t0)).toBe('UPSTREAM_UNAVAILABLE:endpoint_quota');
    expect(typeof (await attempt(b!, OTHER, t0))).toBe('number');
  });

  it('a share of 3 units is spent by a 1-unit and a 2-unit call; the next is refused before any slot', async () => {
    const [a, b] = await governors(mode, {
      UPSTREAM_MAX_RPS: '100',
      CALLER_UPSTREAM_DAILY: 'svc=3',
      UPSTREAM_ENDPOINT_COST: `${OTHER}=2`,
    });
    const t0 = Date.now();
    expect(typeof (await attempt(a!, LIMITED, t0))).toBe('number');
    expect(typeof (await attempt(b!, OTHER, t0))).toBe('number');
    expect(await attempt(a!, LIMITED, t0)).toBe('RATE_LIMITED:daily_share');
    expect(await attempt(b!, OTHER, t0)).toBe('RATE_LIMITED:daily_share');
    const used = await a!.shares.usedOn(quotaDayId(Date.now(), 'Asia/Shanghai'));
    expect(used.get('caller:svc')).toBe(3);
  });

  it('a 2-unit call does not fit in 1 unit left: refused, and nothing is taken', async () => {
    const [a] = await governors(mode, {
      UPSTREAM_MAX_RPS: '100',
      CALLER_UPSTREAM_DAILY: 'svc=3',
      UPSTREAM_ENDPOINT_COST: `${OTHER}=2`,
    });
    const t0 = Date.now();
    expect(typeof (await attempt(a!, OTHER, t0))).toBe('number');
    expect(await attempt(a!, OTHER, t0)).toBe('RATE_LIMITED:daily_share');
    expect(typeof (await attempt(a!, LIMITED, t0))).toBe('number');
  });
});

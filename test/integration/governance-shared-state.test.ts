// The governor's shared state in a real Redis, with test-sized pauses: two governors with one key
// prefix stand for two instances. Calls are reported to afterCall as the upstream client would.
// Every case runs on a single Redis and on the 3-master cluster (when global setup started one).
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { GatewayError } from '../../src/errors.js';
import { type GovernorTuning, UpstreamGovernor } from '../../src/governance/governor.js';
import { GatewayMetrics } from '../../src/metrics.js';
import { RedisConnection } from '../../src/redis/connection.js';
import type { UpstreamCallRecord } from '../../src/upstream/client.js';
import {
  redisClient,
  redisClusterClient,
  testClusterNodes,
  testRedisUrl,
  uniquePrefix,
} from '../helpers/redis.js';

type Mode = 'single' | 'cluster';
const modes = testClusterNodes() ? (['single', 'cluster'] as const) : (['single'] as const);

const TUNING: GovernorTuning = {
  backoff: { baseMs: 400, capMs: 3200 },
  circuit: { cooldownMs: 300, cooldownCapMs: 2400 },
  statusRefreshMs: 100,
};

interface Instance {
  gov: UpstreamGovernor;
  logs: Array<{ level: number; msg: string; upstreamCode?: number }>;
}

let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.allSettled(cleanup.map((c) => c()));
  cleanup = [];
});

async function instances(mode: Mode, n: number): Promise<Instance[]> {
  const prefix = uniquePrefix('govstate');
  const config = loadConfig({
    NODE_ENV: 'test',
    JUSTONEAPI_TOKEN: 't',
    REDIS_URL: mode === 'single' ? testRedisUrl() : undefined,
    REDIS_CLUSTER_NODES: mode === 'cluster' ? (testClusterNodes() ?? []).join(',') : undefined,
    UPSTREAM_MAX_RPS: '1000',
  });
  const out: Instance[] = [];
  for (let i = 0; i < n; i++) {
    const logs: Instance['logs'] = [];
    const stream = new Writable({
      write(chunk, _enc, cb) {
        logs.push(JSON.parse(String(chunk)));
        cb();
      },
    });
    const log = pino({ level: 'debug' }, stream);
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
      ...TUNING,
    });
    cleanup.push(async () => {
      await gov.close();
      await redis.close();
    });
    out.push({ gov, logs });
  }
  return out;
}

const record = (code: number | null): UpstreamCallRecord => ({
  endpoint: 'get_author_spread_info',
  authorId: 'a1',
  attempt: 1,
  code,
  httpStatus: code === null ? null : 200,
  outcome: code === 0 ? 'ok' : code === null ? 'timeout' : 'error',
  billed: code === 0,
  latencyMs: 1,
  requestId: null,
});

/** What beforeCall did: 'go', or the refusal's error code and upstream code. */
async function attempt(gov: UpstreamGovernor): Promise<string> {
  try {
    await gov.beforeCall(Date.now() + 10_000);
    return 'go';
  } catch (err) {
    if (!(err instanceof GatewayError)) throw err;
    return `${err.code}:${err.upstreamCode ?? ''}`;
  }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(modes)('governor state on Redis (%s)', (mode) => {
  describe('credential circuit across instances', () => {
    it('opens once, logs one error, lets exactly one probe through after the cool-down, reopens longer, closes on success', async () => {
      const [a, b] = await instances(mode, 2);
      a!.gov.afterCall(record(100));
      await a!.gov.idle();
      expect(await attempt(a!.gov)).toBe('UPSTREAM_UNAVAILABLE:100');
      expect(await attempt(b!.gov)).toBe('UPSTREAM_UNAVAILABLE:100');
      expect(a!.gov.readiness().check()).toMatch(/code 100/);
      expect(b!.gov.readiness().check()).toMatch(/code 100/);
      // A straggler answered 100 on the other instance: already open, not logged again.
      b!.gov.afterCall(record(100));
      await b!.gov.idle();

      await pause(350);
      const first = await Promise.all([attempt(a!.gov), attempt(b!.gov)]);
      expect(first.filter((r) => r === 'go')).toHaveLength(1);
      expect(a!.gov.readiness().check()).toBeNull(); // cool-down over: traffic may come, one probe goes
      const prober = first[0] === 'go' ? a! : b!;
      prober.gov.afterCall(record(100));
      await prober.gov.idle();
      expect(await attempt(a!.gov)).toBe('UPSTREAM_UNAVAILABLE:100');

      await pause(350); // the second cool-down is 600 ms
      expect(await attempt(b!.gov)).toBe('UPSTREAM_UNAVAILABLE:100');
      await pause(300);
      expect(await attempt(b!.gov)).toBe('go');
      b!.gov.afterCall(record(0));
      await b!.gov.idle();
      expect(await attempt(a!.gov)).toBe('go');
      expect(await attempt(b!.gov)).toBe('go');

      const errors = [...a!.logs, ...b!.logs].filter((l) => l.level >= 50);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ upstreamCode: 100 });
    });

    it('a probe that gets no answer (timeout) frees the probe for the next call', async () => {
      const [a, b] = await instances(mode, 2);
      a!.gov.afterCall(record(602));
      await a!.gov.idle();
      await pause(350);
      expect(await attempt(a!.gov)).toBe('go');
      expect(await attempt(b!.gov)).toBe('UPSTREAM_UNAVAILABLE:602');
      a!.gov.afterCall(record(null));
      await a!.gov.idle();
      expect(await attempt(b!.gov)).toBe('go');
    });
  });

  describe('302 back-off across instances', () => {
    it('grows on repeats, counts a burst once, and resets after a success', async () => {
      const [a, b] = await instances(mode, 2);
      const redis = mode === 'cluster' ? redisClusterClient() : redisClient();
      cleanup.push(async () => void redis.disconnect());
      const pttl = () => redis.pttl(`${a!.gov.opts.keyPrefix}{gov}:ep:get_author_spread_info:pause`);

      a!.gov.afterCall(record(302));
      b!.gov.afterCall(record(302)); // same storm, other instance: not a second strike
      await Promise.all([a!.gov.idle(), b!.gov.idle()]);
      const firstPause = await pttl();
      expect(firstPause).toBeGreaterThan(0);
      expect(firstPause).toBeLessThanOrEqual(600);
      expect(await attempt(b!.gov)).toBe('UPSTREAM_UNAVAILABLE:302');

      await pause(firstPause + 20);
      expect(await attempt(b!.gov)).toBe('go');
      b!.gov.afterCall(record(302));
      await b!.gov.idle();
      const secondPause = await pttl();
      expect(secondPause).toBeGreaterThan(600);
      expect(secondPause).toBeLessThanOrEqual(1200);

      await pause(secondPause + 20);
      a!.gov.afterCall(record(0));
      await a!.gov.idle();
      a!.gov.afterCall(record(302));
      await a!.gov.idle();
      expect(await pttl()).toBeLessThanOrEqual(600);
    });
  });
});

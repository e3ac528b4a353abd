// One app per fuzz file: the real gateway (API keys on, shared test Redis under its own prefix) in
// front of a started simulated upstream, driven through app.inject. `expectRefused` is what every
// hostile request must get: a 4xx in the contract's error shape (on the drop-in route, the upstream's
// envelope: `expectDropInRefused`), no upstream call, no cache entry.
import { Writable } from 'node:stream';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { Redis } from 'ioredis';
import { expect } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { type SimUpstream, startSimUpstream } from '../../src/sim/upstream-server.js';
import { ADMIN_KEY, CALLER_KEY, TEST_TOKEN, testEnv } from '../helpers/gateway.js';
import { redisClient, uniquePrefix } from '../helpers/redis.js';

export { ADMIN_KEY, CALLER_KEY, TEST_TOKEN };

export interface FuzzApp {
  app: FastifyInstance;
  sim: SimUpstream;
  prefix: string;
  logs: string[];
  /** Where upstream calls, log lines and cache keys stand before a request, for `expectRefused`. */
  mark(): Promise<Mark>;
  /**
   * Keys under the prefix, minus the per-caller rate-limit counters every request writes by design,
   * and the usage counts, written once a second for the requests before (limits/usage.ts).
   */
  traces(): Promise<string[]>;
  close(): Promise<void>;
}

export interface Mark {
  calls: number;
  logs: number;
  traces: string[];
}

export async function startFuzzApp(label: string): Promise<FuzzApp> {
  const sim = await startSimUpstream({ token: TEST_TOKEN });
  const prefix = uniquePrefix(label);
  const logs: string[] = [];
  const logStream = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const env = {
    LOG_LEVEL: 'info',
    API_KEYS: `caller:${CALLER_KEY}`,
    ADMIN_API_KEYS: `admin:${ADMIN_KEY}`,
    CALLER_RATE_LIMIT: '1000000',
    // Thousands of keyless requests from one address: the failed-credential limit would turn the
    // 4xx under test into 429s (it has its own tests in test/integration/callers.test.ts).
    AUTH_FAILURES_PER_MINUTE: '0',
  };
  const app = await buildApp(loadConfig(testEnv(sim, { env }, prefix)), { logStream });
  await app.ready();
  const redis: Redis = redisClient();
  const traces = async () => {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    return keys.filter((k) => !k.startsWith(`${prefix}rl:`) && !k.startsWith(`${prefix}usage:`)).sort();
  };
  return {
    app,
    sim,
    prefix,
    logs,
    mark: async () => ({ calls: sim.callCount, logs: logs.length, traces: await traces() }),
    traces,
    async close() {
      await app.close();
      await sim.close();
      redis.disconnect();
    },
  };
}

const PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype).sort();

/** No request may have planted anything on Object.prototype. */
export function expectNoPollution(): void {
  expect(({} as Record<string, unknown>)['x']).toBeUndefined();
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(PROTOTYPE_NAMES);
}

/**
 * A hostile request's answer: 4xx with the error body and x-request-id, the upstream not called
 * and no key written since `mark`, and neither the gateway's token nor `secret` in the body or new logs.
 */
export async function expectRefused(
  fz: FuzzApp,
  res: LightMyRequestResponse,
  mark: Mark,
  secret?: string,
): Promise<void> {
  expect(res.statusCode, res.body.slice(0, 300)).toBeGreaterThanOrEqual(400);
  expect(res.statusCode, res.body.slice(0, 300)).toBeLessThan(500);
  await expectNothingDone(fz, res, mark, secret);
}

/**
 * The same on the drop-in route, which answers as the upstream does: HTTP 200, business code 400
 * (invalid parameters) or 100 (bad credential), `data: null`, and the gateway's error object.
 */
export async function expectDropInRefused(
  fz: FuzzApp,
  res: LightMyRequestResponse,
  mark: Mark,
  secret?: string,
): Promise<void> {
  expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
  const body = JSON.parse(res.body) as { code?: unknown; data?: unknown };
  expect([100, 400], res.body.slice(0, 300)).toContain(body.code);
  expect(body.data).toBeNull();
  expect(res.headers['cache-control']).toBe('no-store');
  await expectNothingDone(fz, res, mark, secret);
}

async function expectNothingDone(
  fz: FuzzApp,
  res: LightMyRequestResponse,
  mark: Mark,
  secret?: string,
): Promise<void> {
  const body = JSON.parse(res.body) as { error?: { code?: unknown; requestId?: unknown } };
  expect(typeof body.error?.code, res.body.slice(0, 300)).toBe('string');
  expect(body.error?.requestId).toBe(res.headers['x-request-id']);
  expect(fz.sim.callCount).toBe(mark.calls);
  // Keys may expire meanwhile (locks, outcomes, budget), so only new ones count.
  expect((await fz.traces()).filter((k) => !mark.traces.includes(k))).toEqual([]);
  const newLogs = fz.logs.slice(mark.logs).join('');
  for (const s of [TEST_TOKEN, secret]) {
    if (!s) continue;
    expect(res.body).not.toContain(s);
    expect(newLogs).not.toContain(s);
  }
  expectNoPollution();
}

// A gateway under test: the real app listening on loopback, in front of the simulated upstream,
// with every log line and every response body captured (the token must appear in none).
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { type AppOverrides, buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import {
  type SimUpstream,
  type SimUpstreamOptions,
  startSimUpstream,
} from '../../src/sim/upstream-server.js';
import { testClusterNodes, testRedisUrl, uniquePrefix } from './redis.js';

/** Unique per test process, so a leak is unambiguous when searched for. */
export const TEST_TOKEN = `tok_${randomBytes(12).toString('hex')}`;
export const CALLER_KEY = 'caller-key-0123456789abcdef';
export const ADMIN_KEY = 'admin-key-0123456789abcdef';

export interface GatewayOptions {
  /** Environment on top of the test defaults. */
  env?: Record<string, string | undefined>;
  /** Share one simulated upstream between several gateways (instances). */
  sim?: SimUpstream;
  simOptions?: SimUpstreamOptions;
  /** Which Redis: none (in-process store), the shared single node, or the shared cluster. */
  redis?: 'none' | 'single' | 'cluster';
  /** Key prefix; give two instances the same one to share state. */
  prefix?: string;
  overrides?: AppOverrides;
}

export interface Gateway {
  app: FastifyInstance;
  url: string;
  sim: SimUpstream;
  prefix: string;
  logs: string[];
  bodies: string[];
  get(
    path: string,
    headers?: Record<string, string>,
  ): Promise<{ status: number; headers: Headers; body: string; json: unknown }>;
  close(): Promise<void>;
}

export function testEnv(
  sim: SimUpstream,
  o: GatewayOptions,
  prefix: string,
): Record<string, string | undefined> {
  const redis = o.redis ?? 'single';
  return {
    NODE_ENV: 'test',
    JUSTONEAPI_TOKEN: TEST_TOKEN,
    JUSTONEAPI_BASE_URL: sim.url,
    REDIS_URL: redis === 'single' ? testRedisUrl() : undefined,
    REDIS_CLUSTER_NODES: redis === 'cluster' ? (testClusterNodes() ?? []).join(',') : undefined,
    REDIS_KEY_PREFIX: prefix,
    UPSTREAM_TIMEOUT_MS: '2000',
    UPSTREAM_MAX_WAIT_MS: '2000',
    UPSTREAM_MAX_RPS: '1000',
    LOG_LEVEL: 'debug',
    ...o.env,
  };
}

export async function startGateway(o: GatewayOptions = {}): Promise<Gateway> {
  const ownSim = !o.sim;
  const sim = o.sim ?? (await startSimUpstream({ token: TEST_TOKEN, ...o.simOptions }));
  const prefix = o.prefix ?? uniquePrefix('gw');
  const logs: string[] = [];
  const bodies: string[] = [];
  const logStream = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const config = loadConfig(testEnv(sim, o, prefix));
  const app = await buildApp(config, { logStream, ...o.overrides });
  app.addHook('onSend', async (_req, _reply, payload) => {
    if (typeof payload === 'string' || Buffer.isBuffer(payload)) bodies.push(String(payload));
    return payload;
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const url = `http://127.0.0.1:${port}`;
  return {
    app,
    url,
    sim,
    prefix,
    logs,
    bodies,
    async get(path, headers = {}) {
      const res = await fetch(url + path, { headers });
      const body = await res.text();
      let json: unknown = null;
      try {
        json = JSON.parse(body);
      } catch {}
      return { status: res.status, headers: res.headers, body, json };
    },
    async close() {
      await app.close();
      if (ownSim) await sim.close();
    },
  };
}

/**
 * Two instances of one deployment for the Redis fault drills: one redis-server of the drill's own
 * (by URL), one simulated upstream, one key prefix; callers' own rate limits out of the way and logs
 * at warn unless `env` says otherwise.
 */
export async function startTwoInstances(o: {
  redisUrl: string;
  sim: SimUpstream;
  name: string;
  env?: Record<string, string>;
}): Promise<[Gateway, Gateway]> {
  const prefix = uniquePrefix(o.name);
  const env = {
    REDIS_URL: o.redisUrl,
    EXPECTED_INSTANCES: '2',
    CALLER_RATE_LIMIT: '10000000',
    LOG_LEVEL: 'warn',
    ...o.env,
  };
  const first = await startGateway({ sim: o.sim, prefix, env });
  return [first, await startGateway({ sim: o.sim, prefix, env })];
}

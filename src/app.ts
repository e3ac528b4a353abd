// Builds the gateway; never listens (server.ts and the demo do). Everything a request touches is
// constructed here from the config, so tests build as many independent apps as they need.
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { serializerCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { type JwtTuning, jwtVerifierFor } from './auth/jwt.js';
import { CacheService, type Ticket } from './cache/cache-service.js';
import type { Windows } from './cache/entry.js';
import { MemoryStore } from './cache/memory-store.js';
import { RedisCoordinator } from './cache/redis-coordinator.js';
import { localCoordinator } from './cache/store.js';
import { TieredStore } from './cache/tiered-store.js';
import { freshnessFor } from './catalogue/freshness.js';
import type { Config } from './config.js';
import { type GovernorTuning, UpstreamGovernor } from './governance/governor.js';
import { clientErrorHandler, earlyAnswerClosePlugin, httpServerOptions } from './http/connections.js';
import { fastValidatorCompiler } from './http/fast-validation.js';
import { boundPipelining } from './http/pipelining.js';
import { trustProxyOption } from './http/trust-proxy.js';
import { AuthFailureLimiter } from './limits/auth-failures.js';
import { CallerUsage } from './limits/usage.js';
import { GatewayLogController, lazyChildLogger, loggerOptions } from './logger.js';
import { GatewayMetrics } from './metrics.js';
import accessPlugin from './plugins/access.js';
import authPlugin from './plugins/auth.js';
import errorHandler, { frameworkErrorHandler } from './plugins/error-handler.js';
import observability from './plugins/observability.js';
import openapi from './plugins/openapi.js';
import { createRedisClient, RedisConnection, SUBSCRIBER } from './redis/connection.js';
import batchRoute from './routes/batch.js';
import dropInRoute from './routes/drop-in.js';
import familyRoutes from './routes/family.js';
import purgeRoute from './routes/purge.js';
import spreadInfoRoute from './routes/spread-info.js';
import usageRoute from './routes/usage.js';
import { logUpstreamCall } from './upstream/call-log.js';
import { UpstreamClient, type UpstreamGate } from './upstream/client.js';

declare module 'fastify' {
  interface FastifyInstance {
    spread: CacheService;
    metrics: GatewayMetrics;
    /** null when neither REDIS_URL nor REDIS_CLUSTER_NODES is set. */
    redis: RedisConnection | null;
    governor: UpstreamGovernor;
    usage: CallerUsage;
  }
}

export interface AppOverrides {
  /** Where logs go (tests capture every line). */
  logStream?: NodeJS.WritableStream;
  /** Replaces the upstream governance (tests of the cache alone). */
  upstreamGate?: UpstreamGate;
  /** Test-sized back-off and cool-downs; production uses the defaults. */
  governor?: GovernorTuning;
  /** Test-sized JWKS cooldown, refresh and retry intervals. */
  jwt?: JwtTuning;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export async function buildApp(config: Config, overrides: AppOverrides = {}): Promise<FastifyInstance> {
  if (!config.JUSTONEAPI_TOKEN) throw new Error('JUSTONEAPI_TOKEN is required to build the gateway');
  const app = Fastify({
    logger: loggerOptions(config, overrides.logStream),
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    bodyLimit: 64 * 1024,
    // A whole request (headers and body) within REQUEST_TIMEOUT_MS, else 408 and the socket closed
    // (http/connections.ts). Fastify sets requestTimeout on the server after creating it.
    requestTimeout: config.REQUEST_TIMEOUT_MS,
    http: httpServerOptions(config.REQUEST_TIMEOUT_MS),
    clientErrorHandler,
    logController: new GatewayLogController(),
    childLoggerFactory: lazyChildLogger,
    trustProxy: trustProxyOption(config.TRUST_PROXY),
    // Errors the router raises before any hook (bad percent-encoding) get the contract's body too.
    frameworkErrors: frameworkErrorHandler,
    // Long ids must reach validation (a 400 naming oAuthorId), not be cut off by the router as 414.
    routerOptions: { maxParamLength: 2048 },
  }).withTypeProvider<ZodTypeProvider>();
  boundPipelining(app.server);
  app.setValidatorCompiler(fastValidatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // Every body the gateway takes is JSON. Fastify also parses text/plain by default, which is what a
  // browser's fetch sends with a string body: the batch then said "expected object, received
  // string" (400) instead of naming the content type (415, error-handler.ts).
  app.removeContentTypeParser('text/plain');

  const metrics = new GatewayMetrics();
  const windows = {
    freshMs: config.CACHE_FRESH_SECONDS * 1000,
    staleMs: config.CACHE_STALE_SECONDS * 1000,
    notFoundMs: config.CACHE_NOT_FOUND_SECONDS * 1000,
  };
  const client = new UpstreamClient({
    baseUrl: config.JUSTONEAPI_BASE_URL,
    token: config.JUSTONEAPI_TOKEN,
    timeoutMs: config.UPSTREAM_TIMEOUT_MS,
  });
  const keyPrefix = config.REDIS_KEY_PREFIX;
  const redisTarget = { url: config.REDIS_URL, clusterNodes: config.REDIS_CLUSTER_NODES };
  const redis =
    redisTarget.url || redisTarget.clusterNodes ? new RedisConnection(redisTarget, app.log) : null;
  if (redis) {
    redis.on('up', () => metrics.redisUp.set(1));
    redis.on('down', () => metrics.redisUp.set(0));
    metrics.redisUp.set((await redis.waitReady()) ? 1 : 0);
  }
  // Per-caller limits get a connection of their own: a burst of limit checks must not queue
  // behind cache traffic.
  const limitsRedis = redis ? new RedisConnection(redisTarget, app.log, 'rate-limit') : null;
  await limitsRedis?.waitReady(1000);
  const governor = new UpstreamGovernor({
    config,
    redis,
    metrics,
    log: app.log,
    keyPrefix,
    ...overrides.governor,
  });
  const usage = new CallerUsage({ metrics, redis, keyPrefix, tz: config.UPSTREAM_QUOTA_TZ, log: app.log });
  /** The gate of one request's calls: its caller's turns, pending cap and share; marks its ticket. */
  const gateFor = (ticket: Ticket): UpstreamGate => {
    const inner = overrides.upstreamGate ?? governor.forCaller(ticket.caller);
    return {
      beforeCall: async (deadline) => {
        await inner.beforeCall(deadline);
        ticket.called = true;
      },
      afterCall: (record) => inner.afterCall(record),
    };
  };
  const { store, coordinator, subscriber } = redis
    ? redisCache(redis, config, windows, app.log)
    : {
        store: new MemoryStore(memoryBounds(config)),
        coordinator: localCoordinator,
        subscriber: null,
      };
  if (!redis) app.log.warn('REDIS_URL is unset: caching in this process only (fine for one instance)');

  const spread = new CacheService({
    store,
    coordinator,
    windows,
    keyPrefix,
    fetchDeadlineMs: config.UPSTREAM_MAX_WAIT_MS + config.UPSTREAM_TIMEOUT_MS,
    windowsFor: freshnessFor({
      base: windows,
      overrides: config.ENDPOINT_FRESH_SECONDS,
      tz: config.UPSTREAM_QUOTA_TZ,
    }),
    fetch: (params, log, deadline, ticket) =>
      client
        .fetch(
          params,
          gateFor(ticket),
          (r) => {
            logUpstreamCall(log, metrics, r);
            usage.call(ticket.caller, r.billed, r.endpoint);
          },
          deadline,
        )
        .catch((err: unknown) => {
          throw governor.explain(err);
        }),
    events: {
      outcome: (outcome, route, endpoint) => metrics.outcomeSeries(route, outcome, endpoint).inc(),
      coalesced: (scope) => {
        metrics.coalesced.inc({ scope });
        metrics.callsAvoided.inc({ reason: 'coalesced' });
      },
      revalidated: (ok, endpoint) => {
        metrics.revalidations.inc({ result: ok ? 'ok' : 'error' });
        metrics.cacheOutcomes.inc({ route: 'background', outcome: ok ? 'revalidated' : 'error', endpoint });
      },
      served: (caller, hit, endpoint) => usage.served(caller, hit, endpoint),
      refused: (caller, reason) => usage.refused(caller, reason),
    },
  });
  app.decorate('spread', spread);
  app.decorate('metrics', metrics);
  app.decorate('redis', redis);
  app.decorate('governor', governor);
  app.decorate('usage', usage);
  // Before in-flight requests are waited for: a call waiting for budget gets 503 now (the client
  // retries elsewhere) instead of holding the shutdown for up to UPSTREAM_MAX_WAIT_MS.
  app.addHook('preClose', async () => governor.stopWaiting());
  app.addHook('onClose', async () => {
    await client.close();
    await store.close();
    await governor.close();
    await usage.close(); // the last second's counts, before Redis closes
    subscriber?.disconnect();
    await redis?.close();
    await limitsRedis?.close();
  });

  const jwt = jwtVerifierFor(config, app.log, metrics, overrides.jwt);
  const failures = new AuthFailureLimiter({
    redis,
    namespace: `${keyPrefix}authfail:`,
    limit: config.AUTH_FAILURES_PER_MINUTE,
    instances: config.EXPECTED_INSTANCES,
  });
  const readiness = [governor.readiness()];
  if (redis) readiness.push({ name: 'redis', check: () => (redis.up ? null : 'Redis is not reachable') });
  if (jwt) readiness.push(jwt.keys.readiness());
  await app.register(errorHandler);
  await app.register(earlyAnswerClosePlugin);
  await app.register(openapi);
  await app.register(observability, { metrics, readiness });
  await app.register(authPlugin, { config, jwt, failures });
  await app.register(accessPlugin, { config, keyPrefix, redis: limitsRedis });
  await app.register(spreadInfoRoute);
  await app.register(purgeRoute);
  await app.register(dropInRoute);
  await app.register(familyRoutes);
  await app.register(batchRoute, {
    deadlineMs: config.UPSTREAM_MAX_WAIT_MS + config.UPSTREAM_TIMEOUT_MS + 1000,
  });
  await app.register(usageRoute, { tz: config.UPSTREAM_QUOTA_TZ });
  return app;
}

function memoryBounds(config: Config) {
  return { maxBytes: config.CACHE_MEMORY_MAX_BYTES, maxEntries: config.CACHE_MEMORY_MAX_ENTRIES };
}

/** The Redis tier: entries behind an in-process copy, single flight across instances, pub/sub. */
function redisCache(redis: RedisConnection, config: Config, windows: Windows, log: FastifyInstance['log']) {
  const subscriber = createRedisClient(redis.target, SUBSCRIBER);
  // Subscriber errors surface as the main connection's state; without a listener ioredis prints them.
  subscriber.on('error', () => {});
  const prefix = config.REDIS_KEY_PREFIX;
  const store = new TieredStore({
    redis,
    subscriber,
    channel: `${prefix}invalidate`,
    l1Ms: config.CACHE_L1_SECONDS * 1000,
    bounds: memoryBounds(config),
    windows,
    log,
  });
  const coordinator = new RedisCoordinator(redis, subscriber, `${prefix}fetched`, prefix);
  return { store, coordinator, subscriber };
}

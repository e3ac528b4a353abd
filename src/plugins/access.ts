// Caller access after authentication: per-caller rate limits (@fastify/rate-limit, counted in
// Redis for all instances; see limits/caller-store.ts for Redis down) and CORS for browsers.
// Only routes that require a key (`config.auth`) are limited: /healthz, /readyz, /metrics, /docs
// and preflights never are.
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../config.js';
import { type CallerRef, callerRef } from '../limits/caller-ref.js';
import { CallerRefusal } from '../limits/caller-refusal.js';
import { callerCounter, callerStore } from '../limits/caller-store.js';
import type { RedisConnection } from '../redis/connection.js';
import { ANONYMOUS, clientAddress } from './auth.js';

interface AccessOptions {
  config: Config;
  keyPrefix: string;
  /** The per-caller limits' own Redis connection (null: counted in process only). */
  redis: RedisConnection | null;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Counts `n` more requests against the caller's CALLER_RATE_LIMIT (a batch's extra items). */
    countRequests(
      request: FastifyRequest,
      n: number,
    ): Promise<{ current: number; ttlMs: number; max: number }>;
  }
}

const EXPOSED_HEADERS = [
  'x-cache',
  'x-request-id',
  'retry-after',
  'ratelimit-limit',
  'ratelimit-remaining',
  'ratelimit-reset',
  'etag',
  'age',
];
const ALLOWED_HEADERS = [
  'x-api-key',
  'authorization',
  'content-type',
  'if-none-match',
  'cache-control',
  'x-request-id',
];

/** A named caller's budget is its own; anonymous callers (and IPv6 /64s) each get one. */
function callerKey(request: FastifyRequest): string {
  const c = request.caller;
  return c && !c.anonymous ? `caller:${c.name}` : `ip:${clientAddress(request)}`;
}

/** Who the request's upstream calls, shares and usage are for (limits/caller-ref.ts). */
export function callerRefOf(request: FastifyRequest): CallerRef {
  return callerRef(request.caller ?? ANONYMOUS, callerKey(request));
}

async function accessPlugin(app: FastifyInstance, opts: AccessOptions) {
  const { config, redis } = opts;

  if (config.CORS_ORIGINS.length > 0) await registerCors(app, new Set(config.CORS_ORIGINS));

  const storeOptions = { redis, namespace: `${opts.keyPrefix}rl:`, instances: config.EXPECTED_INSTANCES };
  const count = callerCounter(storeOptions);
  app.decorate('countRequests', async (request: FastifyRequest, n: number) => {
    const r = await count(callerKey(request), config.CALLER_RATE_WINDOW, n);
    return { current: r.current, ttlMs: r.ttl, max: config.CALLER_RATE_LIMIT };
  });

  await app.register(rateLimit, {
    global: true,
    max: config.CALLER_RATE_LIMIT,
    timeWindow: config.CALLER_RATE_WINDOW,
    hook: 'onRequest',
    enableDraftSpec: true,
    store: callerStore(storeOptions),
    keyGenerator: callerKey,
    allowList: (request) => !request.routeOptions.config?.auth,
    // A GatewayError, so the one error handler writes the contract's body and retry-after.
    errorResponseBuilder: (request, ctx) => {
      app.usage.refused(callerRefOf(request), 'rate', request.log, 1, true);
      return new CallerRefusal(
        'rate',
        `rate limit of ${ctx.max} requests exceeded (CALLER_RATE_LIMIT); retry in ${ctx.after}`,
        ctx.ttl / 1000,
      );
    },
  });
}

async function registerCors(app: FastifyInstance, origins: Set<string>) {
  const allowed = (origin: string | undefined) => origin !== undefined && origins.has(origin);
  await app.register(cors, {
    // false for any other origin: no CORS header at all, and its preflight is a plain 404.
    origin: (origin, cb) => cb(null, allowed(origin)),
    methods: ['GET', 'HEAD', 'POST', 'DELETE'],
    allowedHeaders: ALLOWED_HEADERS,
    exposedHeaders: EXPOSED_HEADERS,
    maxAge: 600,
  });
  // Authentication answers 401/403 in a hook that runs before the CORS hook; without these
  // headers a browser would hide that answer behind a generic CORS failure.
  app.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply) => {
    const origin = request.headers.origin;
    if (!allowed(origin) || reply.hasHeader('access-control-allow-origin')) return;
    reply.header('access-control-allow-origin', origin);
    reply.header('access-control-expose-headers', EXPOSED_HEADERS.join(', '));
    const vary = reply.getHeader('vary');
    if (!/\borigin\b/i.test(String(vary ?? '')))
      reply.header('vary', vary ? `${String(vary)}, Origin` : 'Origin');
  });
}

export default fp(accessPlugin, { name: 'access', dependencies: ['auth'] });

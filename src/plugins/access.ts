// Caller access after authentication: per-caller rate limits (counted for all instances through
// Redis, hot callers in process between flushes: limits/caller-limit.ts) with the IETF draft
// `ratelimit-*` headers as @fastify/rate-limit emits them, and CORS for browsers. Only routes that
// require a key (`config.auth`) are limited: /healthz, /readyz, /metrics, /docs and preflights
// never are. The limit hook answers without an await when the count is decided in process (the
// cache-hit path), so a hit's objects do not outlive a Redis round trip.
import cors from '@fastify/cors';
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../config.js';
import { CallerLimiter, type LimitCount } from '../limits/caller-limit.js';
import { ANONYMOUS_BUCKET, type CallerRef, callerRef } from '../limits/caller-ref.js';
import { CallerRefusal } from '../limits/caller-refusal.js';
import type { RedisConnection } from '../redis/connection.js';
import { ANONYMOUS, type Caller, clientAddress } from './auth.js';

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

/** A named caller's ref, made once per caller object (an API key's lives as long as the app). */
const refs = new WeakMap<Caller, CallerRef>();
function namedRef(c: Caller): CallerRef {
  let r = refs.get(c);
  if (r === undefined) {
    r = callerRef(c, `caller:${c.name}`);
    refs.set(c, r);
  }
  return r;
}

const ANONYMOUS_REF = callerRef(ANONYMOUS, ANONYMOUS_BUCKET);

/**
 * Who the request's upstream calls, shares, pending cap, turns and usage are for
 * (limits/caller-ref.ts): a named caller, or all anonymous callers as one.
 */
export function callerRefOf(request: FastifyRequest): CallerRef {
  const c = request.caller;
  return c && !c.anonymous ? namedRef(c) : ANONYMOUS_REF;
}

async function accessPlugin(app: FastifyInstance, opts: AccessOptions) {
  const { config, redis } = opts;

  /** The request-rate bucket: a named caller's own; an anonymous caller's address (IPv6: network). */
  function callerKey(request: FastifyRequest): string {
    const c = request.caller;
    return c && !c.anonymous ? namedRef(c).bucket : `ip:${clientAddress(request, config.CLIENT_IPV6_PREFIX)}`;
  }

  if (config.CORS_ORIGINS.length > 0) await registerCors(app, new Set(config.CORS_ORIGINS));

  const max = config.CALLER_RATE_LIMIT;
  const limiter = new CallerLimiter({
    redis,
    namespace: `${opts.keyPrefix}rl:`,
    instances: config.EXPECTED_INSTANCES,
    limit: max,
    windowMs: config.CALLER_RATE_WINDOW,
  });
  // The last counts go out (app.ts closes the connection after the plugins' own onClose hooks).
  app.addHook('onClose', async () => limiter.close());
  app.decorate('countRequests', async (request: FastifyRequest, n: number) => {
    const r = await limiter.count(callerKey(request), n);
    return { current: r.current, ttlMs: r.ttlMs, max };
  });

  const limitText = String(max);
  function answer(
    request: FastifyRequest,
    reply: FastifyReply,
    c: LimitCount,
    done: HookHandlerDoneFunction,
  ) {
    const seconds = Math.ceil(c.ttlMs / 1000);
    reply.header('ratelimit-limit', limitText);
    reply.header('ratelimit-remaining', String(Math.max(0, max - c.current)));
    reply.header('ratelimit-reset', String(seconds));
    if (c.current <= max) return done();
    reply.header('retry-after', String(seconds));
    app.usage.refused(callerRefOf(request), 'rate', 1, true);
    // A GatewayError, so the one error handler writes the contract's body and retry-after.
    done(
      new CallerRefusal(
        'rate',
        `rate limit of ${max} requests exceeded (CALLER_RATE_LIMIT); retry in ${inWords(seconds)}`,
        c.ttlMs / 1000,
      ),
    );
  }
  app.addHook('onRequest', (request, reply, done) => {
    if (!request.routeOptions.config?.auth) return done();
    const c = limiter.take(callerKey(request));
    if (c instanceof Promise) c.then((r) => answer(request, reply, r, done), done);
    else answer(request, reply, c, done);
  });
}

/** "1 second", "30 seconds", "1 minute", "2 minutes" (as @fastify/rate-limit's messages said). */
function inWords(seconds: number): string {
  const [n, unit] = seconds >= 60 && seconds % 60 === 0 ? [seconds / 60, 'minute'] : [seconds, 'second'];
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
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

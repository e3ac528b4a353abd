// The per-caller limit alone, in a bare Fastify app serving the gateway's body: the same
// in-process counting (limits/caller-limit.ts: hot callers counted here, flushed to Redis every
// 100 ms) called from a hook written as plugins/access.ts writes it (`hook`), or from
// @fastify/rate-limit through its custom `store` interface (`library`).
import rateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyInstance, type FastifyReply, type HookHandlerDoneFunction } from 'fastify';
import type { CallerLimiter, LimitCount } from '../../src/limits/caller-limit.js';

type LimitMode = 'hook' | 'library';
export const LIMIT_MAX = 100_000_000;
export const LIMIT_WINDOW_MS = 60_000;
const KEY = 'caller:bench';

export async function buildLimitApp(
  mode: LimitMode,
  limiter: CallerLimiter,
  body: string,
  healthy: () => boolean,
): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  // Ready once the limiter's Redis is: before that every count falls back to the in-process one.
  app.get('/healthz', { config: { rateLimit: false } }, async (_request, reply) =>
    reply.code(healthy() ? 200 : 503).send({ status: healthy() ? 'ok' : 'down' }),
  );
  if (mode === 'hook') {
    // As plugins/access.ts: answer without an await when the count is decided in process.
    const limitText = String(LIMIT_MAX);
    const answer = (reply: FastifyReply, c: LimitCount, done: HookHandlerDoneFunction) => {
      reply.header('ratelimit-limit', limitText);
      reply.header('ratelimit-remaining', String(Math.max(0, LIMIT_MAX - c.current)));
      reply.header('ratelimit-reset', String(Math.ceil(c.ttlMs / 1000)));
      if (c.current <= LIMIT_MAX) return done();
      done(new Error('rate limited'));
    };
    app.addHook('onRequest', (request, reply, done) => {
      if (request.url === '/healthz') return done();
      const c = limiter.take(KEY);
      if (c instanceof Promise) c.then((r) => answer(reply, r, done), done);
      else answer(reply, c, done);
    });
  } else if (mode === 'library') {
    // @fastify/rate-limit's store contract: incr(key, cb(err, {current, ttl}), timeWindow, max),
    // and child(routeOptions) for routes with settings of their own.
    class LimiterStore {
      incr(key: string, cb: (err: Error | null, res?: { current: number; ttl: number }) => void): void {
        const c = limiter.take(key);
        if (c instanceof Promise) c.then((r) => cb(null, { current: r.current, ttl: r.ttlMs }), cb);
        else cb(null, { current: c.current, ttl: c.ttlMs });
      }
      child(): LimiterStore {
        return this;
      }
    }
    await app.register(rateLimit, {
      store: LimiterStore,
      keyGenerator: () => KEY,
      max: LIMIT_MAX,
      timeWindow: LIMIT_WINDOW_MS,
      enableDraftSpec: true, // ratelimit-limit / -remaining / -reset, as the gateway sends
    });
  }
  app.get('/v1/authors/:oAuthorId/spread-info', (_request, reply) => {
    reply.type('application/json; charset=utf-8').send(body);
  });
  return app;
}

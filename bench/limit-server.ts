// bench/lib/limit-app.ts in a process of its own (BENCH_LIMITER=hook|library), for the `limiter`
// scenario's load over HTTP.
import pino from 'pino';
import { CallerLimiter } from '../src/limits/caller-limit.js';
import { RedisConnection } from '../src/redis/connection.js';
import { buildLimitApp, LIMIT_MAX, LIMIT_WINDOW_MS } from './lib/limit-app.js';

const body = process.env['BENCH_BODY'] ?? '{}';
const port = Number(process.env['PORT'] ?? 0);
const mode = process.env['BENCH_LIMITER'];
if (mode !== 'hook' && mode !== 'library') throw new Error('BENCH_LIMITER must be hook or library');

const redis = new RedisConnection({ url: process.env['REDIS_URL'] }, pino({ level: 'warn' }), 'rate-limit');
const limiter = new CallerLimiter({
  redis,
  namespace: `${process.env['BENCH_PREFIX'] ?? 'bl:'}${mode}:rl:`,
  instances: 1,
  limit: LIMIT_MAX,
  windowMs: LIMIT_WINDOW_MS,
});
const app = await buildLimitApp(mode, limiter, body, () => redis.up);
await app.listen({ port, host: '127.0.0.1' });
const stop = () =>
  void app
    .close()
    .then(() => limiter.close())
    .then(() => redis.close())
    .finally(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);

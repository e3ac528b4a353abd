// Request ids on every response, one metrics observation per answered request, and the
// operations routes (/healthz, /readyz, /metrics), which are neither logged per request nor limited.
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { type GatewayMetrics, type HotSeries, hotSeries } from '../metrics.js';
import type { ReadinessCheck } from '../readiness.js';

async function observabilityPlugin(
  app: FastifyInstance,
  opts: { metrics: GatewayMetrics; readiness: ReadinessCheck[] },
) {
  const { metrics } = opts;
  // Series kept per route/method/status: no label hashing per request (metrics.ts).
  type Series = {
    count: HotSeries;
    time: ReturnType<typeof metrics.httpDuration.labels>;
  };
  const bound = new Map<string, Series>();
  const series = (route: string, method: string, status: number, endpoint: string) => {
    const id = `${route} ${method} ${status} ${endpoint}`;
    let s = bound.get(id);
    if (!s) {
      const labels = { route, method, status_code: String(status), endpoint };
      s = { count: hotSeries(metrics.httpRequests, labels), time: metrics.httpDuration.labels(labels) };
      bound.set(id, s);
    }
    return s;
  };
  // Callback hooks: no promise per request for work that never waits.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    const config = request.routeOptions.config;
    const s = series(
      request.routeOptions.url ?? 'unmatched',
      request.method,
      reply.statusCode,
      // The catalogue name of the endpoint the route serves ("none" for the others): bounded.
      config?.endpoint ?? 'none',
    );
    s.count.inc();
    s.time.observe(reply.elapsedTime / 1000);
    done();
  });

  const quiet = { logLevel: 'silent' as const };
  app.get('/healthz', { ...quiet, schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { ...quiet, schema: { hide: true } }, async (_request, reply) => {
    const problems = opts.readiness.map((r) => ({ name: r.name, critical: r.critical, problem: r.check() }));
    const failing = problems.filter((p) => p.problem !== null);
    const fatal = failing.some((p) => p.critical !== false);
    const checks = Object.fromEntries(problems.map((p) => [p.name, p.problem ?? 'ok']));
    const status = fatal ? 'not ready' : failing.length ? 'degraded' : 'ready';
    return reply.code(fatal ? 503 : 200).send({ status, checks });
  });
  app.get('/metrics', { ...quiet, schema: { hide: true } }, async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}

export default fp(observabilityPlugin, { name: 'observability' });

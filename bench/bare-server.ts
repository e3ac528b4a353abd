// The ceiling: the least any Fastify service on this machine can do per request. One route, no
// logger, no hooks, answering with the gateway's own response body (BENCH_BODY) pre-serialised.
// Same route shape as the gateway's, so the router does comparable work.
import Fastify from 'fastify';

const body = process.env['BENCH_BODY'] ?? '{}';
const port = Number(process.env['PORT'] ?? 0);

const app = Fastify({ logger: false });
app.get('/healthz', async () => ({ status: 'ok' }));
app.get('/v1/authors/:oAuthorId/spread-info', (_request, reply) => {
  reply.type('application/json; charset=utf-8').send(body);
});

await app.listen({ port, host: '127.0.0.1' });
const stop = () => void app.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);

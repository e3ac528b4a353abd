// A fresh hit held in process is answered in the same tick the request arrived (no await between
// the socket and the answer). The app here is built as production builds it: no test hook in the
// pipeline (the usual test helper adds an async onSend hook, which would hide what this checks),
// and without Redis, so that the caller limit never waits either (with Redis it waits for a
// caller's first requests: limits/caller-limit.ts).
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { Pool } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { DROP_IN_PATH } from '../../src/routes/drop-in.js';
import { type SimUpstream, startSimUpstream } from '../../src/sim/upstream-server.js';
import { CALLER_KEY, TEST_TOKEN, testEnv } from '../helpers/gateway.js';
import { uniquePrefix } from '../helpers/redis.js';

const open: Array<{ close(): Promise<unknown> }> = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

async function gateway(
  env: Record<string, string> = {},
): Promise<{ app: FastifyInstance; sim: SimUpstream; url: string }> {
  const sim = await startSimUpstream({ token: TEST_TOKEN });
  open.push(sim);
  const config = loadConfig(
    testEnv(sim, { env: { API_KEYS: `svc:${CALLER_KEY}`, ...env }, redis: 'none' }, uniquePrefix('hitpath')),
  );
  const app = await buildApp(config, { logStream: new Writable({ write: (_c, _e, cb) => cb() }) });
  open.push(app);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { app, sim, url: `http://127.0.0.1:${port}` };
}

describe('a fresh hit answered without an await', () => {
  it('keeps the connection open, with every header of the contract', async () => {
    const { sim, url } = await gateway();
    const pool = new Pool(url, { connections: 1 });
    open.push(pool);
    let connects = 0;
    pool.on('connect', () => connects++);
    const get = async (path: string) => {
      const res = await pool.request({ method: 'GET', path, headers: { 'x-api-key': CALLER_KEY } });
      await res.body.text();
      return res;
    };
    expect((await get('/v1/authors/hp1/spread-info')).headers['x-cache']).toBe('MISS');
    for (const path of ['/v1/authors/hp1/spread-info', `${DROP_IN_PATH}?oAuthorId=hp1`]) {
      for (let i = 0; i < 5; i++) {
        const res = await get(path);
        expect(res.statusCode).toBe(200);
        expect(res.headers.connection).not.toBe('close');
        expect(res.headers).toMatchObject({
          'x-cache': 'HIT',
          'ratelimit-limit': '600',
          age: expect.stringMatching(/^\d+$/),
          etag: expect.stringMatching(/^W\/"/),
          'cache-control': expect.stringMatching(/^private, max-age=\d+$/),
          vary: 'x-api-key, authorization, origin',
          'x-request-id': expect.any(String),
          'content-type': 'application/json; charset=utf-8',
        });
      }
    }
    expect(connects).toBe(1);
    expect(sim.callCount).toBe(1);
  });
});

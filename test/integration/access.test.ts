// Caller access through the real app over loopback: keys, per-caller limits shared by two
// instances through Redis, per-IP limits for anonymous callers, CORS. The per-caller limits run on
// a single Redis and on the 3-master cluster (when global setup started one).
import { Writable } from 'node:stream';
import { Agent, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { DROP_IN_PATH } from '../../src/routes/drop-in.js';
import { startSimUpstream } from '../../src/sim/upstream-server.js';
import {
  ADMIN_KEY,
  CALLER_KEY,
  type Gateway,
  startGateway,
  TEST_TOKEN,
  testEnv,
} from '../helpers/gateway.js';
import { testClusterNodes, uniquePrefix } from '../helpers/redis.js';
import { hasBinary, startRedisServer } from '../helpers/redis-server.js';

const KEYS = { API_KEYS: `acme:${CALLER_KEY}`, ADMIN_API_KEYS: `ops:${ADMIN_KEY}` };
const ROUTE = '/v1/authors/a1/spread-info';
const modes = testClusterNodes() ? (['single', 'cluster'] as const) : (['single'] as const);

let open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.allSettled(open.map((o) => o.close()));
  open = [];
});

async function gateway(
  env: Record<string, string>,
  o: { prefix?: string; sim?: Gateway['sim']; redis?: 'single' | 'cluster' } = {},
): Promise<Gateway> {
  const gw = await startGateway({ env, ...o });
  open.push(gw);
  return gw;
}

type Res = Awaited<ReturnType<Gateway['get']>>;
const errorCode = (r: Res) => (r.json as { error?: { code?: string } }).error?.code;

describe('API keys', () => {
  it('401 without a key or with a wrong one; the key works as x-api-key and as a bearer token', async () => {
    const gw = await gateway(KEYS);
    const none = await gw.get(ROUTE);
    expect(none.status).toBe(401);
    expect(errorCode(none)).toBe('UNAUTHORIZED');
    const wrong = await gw.get(ROUTE, { 'x-api-key': 'not-a-key-0123456789abcdef' });
    expect(wrong.status).toBe(401);
    expect(wrong.body).not.toContain('not-a-key');
    expect((await gw.get(ROUTE, { 'x-api-key': CALLER_KEY })).status).toBe(200);
    expect((await gw.get(ROUTE, { authorization: `Bearer ${CALLER_KEY}` })).status).toBe(200);
    expect((await gw.get(ROUTE, { authorization: `Basic ${CALLER_KEY}` })).status).toBe(401);
    // Error answers of a limited route carry the limit headers too.
    const missing = await gw.get('/v1/authors/notfound1/spread-info', { 'x-api-key': CALLER_KEY });
    expect(missing.status).toBe(404);
    expect(missing.headers.get('ratelimit-limit')).toBe('600');
    expect(missing.headers.get('ratelimit-remaining')).toBe('597');
    // The caller's name reaches the logs; its key never does.
    const completed = gw.logs.filter(
      (l) => l.includes('"request completed"') && l.includes('"caller":"acme"'),
    );
    expect(completed.length).toBeGreaterThanOrEqual(3);
    expect(gw.logs.join('')).not.toContain(CALLER_KEY);
  });

  it('403 on an admin route for a caller key; the admin key passes', async () => {
    const sim = await startSimUpstream({ token: TEST_TOKEN });
    open.push(sim);
    const config = loadConfig(testEnv(sim, { env: KEYS }, uniquePrefix('access')));
    const app = await buildApp(config, { logStream: new Writable({ write: (_c, _e, cb) => cb() }) });
    open.push(app);
    app.get('/test-only/admin', { config: { auth: 'admin' } }, async () => ({ ok: true }));
    const caller = await app.inject({ url: '/test-only/admin', headers: { 'x-api-key': CALLER_KEY } });
    expect(caller.statusCode).toBe(403);
    expect(caller.json()).toMatchObject({ error: { code: 'FORBIDDEN' } });
    const admin = await app.inject({
      url: '/test-only/admin',
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    expect(admin.statusCode).toBe(200);
    expect(admin.headers['ratelimit-limit']).toBe('600');
  });
});

describe.each(modes)('per-caller limits on Redis (%s)', (mode) => {
  it('429 RATE_LIMITED with retry-after past the limit, shared by two instances; ratelimit-* on every answer', async () => {
    const env = { ...KEYS, CALLER_RATE_LIMIT: '4', CALLER_RATE_WINDOW: '30 seconds' };
    const a = await gateway(env, { redis: mode });
    const b = await gateway(env, { prefix: a.prefix, sim: a.sim, redis: mode });
    const key = { 'x-api-key': CALLER_KEY };
    const seen = [
      await a.get(ROUTE, key),
      await b.get(ROUTE, key),
      await a.get(ROUTE, key),
      await b.get(ROUTE, key),
    ];
    expect(seen.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(seen.map((r) => r.headers.get('ratelimit-remaining'))).toEqual(['3', '2', '1', '0']);
    for (const r of seen) {
      expect(r.headers.get('ratelimit-limit')).toBe('4');
      expect(Number(r.headers.get('ratelimit-reset'))).toBeGreaterThan(0);
    }
    const limited = await a.get(ROUTE, key);
    expect(limited.status).toBe(429);
    expect(limited.json).toMatchObject({ error: { code: 'RATE_LIMITED', requestId: expect.any(String) } });
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(30);
    expect(limited.headers.get('ratelimit-remaining')).toBe('0');
    // Another caller has a budget of its own; the ops routes have none.
    expect((await b.get(ROUTE, { 'x-api-key': ADMIN_KEY })).status).toBe(200);
    for (let i = 0; i < 6; i++) expect((await a.get('/healthz')).status).toBe(200);
    expect((await a.get('/readyz')).headers.get('ratelimit-limit')).toBeNull();
  });

  it('limits anonymous callers per IP address, shared by two instances', async () => {
    const env = { CALLER_RATE_LIMIT: '2', CALLER_RATE_WINDOW: '30 seconds' };
    const a = await gateway(env, { redis: mode });
    const b = await gateway(env, { prefix: a.prefix, sim: a.sim, redis: mode });
    const from = (localAddress: string) => new Agent({ localAddress });
    const one = from('127.0.0.1');
    const two = from('127.0.0.2');
    open.push(one, two);
    const ask = async (gw: Gateway, dispatcher: Agent) =>
      (await request(gw.url + ROUTE, { dispatcher })).statusCode;
    expect([await ask(a, one), await ask(b, one), await ask(a, one)]).toEqual([200, 200, 429]);
    expect(await ask(b, two)).toBe(200);
  });
});

describe.skipIf(!hasBinary('redis-server'))('per-caller limits with Redis down', () => {
  it('count in this instance instead: still limited, never a 500', async () => {
    const srv = await startRedisServer();
    open.push({ close: srv.stop });
    const gw = await gateway({
      ...KEYS,
      REDIS_URL: srv.url,
      CALLER_RATE_LIMIT: '3',
      CALLER_RATE_WINDOW: '30 seconds',
    });
    const key = { 'x-api-key': CALLER_KEY };
    expect((await gw.get(ROUTE, key)).status).toBe(200); // counted in Redis, which then goes away
    await srv.stop();
    await expect.poll(() => gw.app.redis?.up, { timeout: 5000 }).toBe(false);
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await gw.get(ROUTE, key)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
  });
});

describe('CORS', () => {
  const origin = 'https://app.example';
  const corsGet = (gw: Gateway, o: string, headers: Record<string, string> = {}) =>
    request(gw.url + ROUTE, { headers: { origin: o, ...headers } });

  it('allows a listed origin, exposes the gateway headers, and answers its preflight', async () => {
    const gw = await gateway({ ...KEYS, CORS_ORIGINS: `${origin},https://other.example` });
    const ok = await corsGet(gw, origin, { 'x-api-key': CALLER_KEY });
    await ok.body.dump();
    expect(ok.statusCode).toBe(200);
    expect(ok.headers['access-control-allow-origin']).toBe(origin);
    const exposed = String(ok.headers['access-control-expose-headers']);
    for (const h of [
      'x-cache',
      'x-request-id',
      'retry-after',
      'ratelimit-limit',
      'ratelimit-remaining',
      'ratelimit-reset',
      'etag',
      'age',
    ]) {
      expect(exposed).toContain(h);
    }
    const preflight = await request(gw.url + ROUTE, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'x-api-key, authorization',
      },
    });
    await preflight.body.dump();
    expect(preflight.statusCode).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe(origin);
    expect(String(preflight.headers['access-control-allow-headers'])).toMatch(
      /x-api-key.*authorization|authorization.*x-api-key/,
    );
    // A 401 is readable by the page too, or the browser would report a CORS failure instead.
    const denied = await corsGet(gw, origin);
    await denied.body.dump();
    expect(denied.statusCode).toBe(401);
    expect(denied.headers['access-control-allow-origin']).toBe(origin);
  });

  it('names the caller headers and origin in vary, once each, on answers, 304s and errors', async () => {
    // Without it a browser that fetched an answer with a key served the same URL from its cache to
    // a request without one.
    const varyOf = (h: Record<string, unknown>) =>
      String(h['vary'] ?? '')
        .split(',')
        .map((t) => t.trim().toLowerCase())
        .filter(Boolean)
        .sort();
    const expected = ['authorization', 'origin', 'x-api-key'];
    for (const env of [{ ...KEYS, CORS_ORIGINS: origin }, KEYS]) {
      const gw = await gateway(env);
      const key = { 'x-api-key': CALLER_KEY };
      const answers = [
        ['v1 200', ROUTE, key],
        ['v1 401', ROUTE, {}],
        ['v1 404', '/v1/authors/notfound1/spread-info', key],
        ['drop-in 200', `${DROP_IN_PATH}?oAuthorId=a1&token=${CALLER_KEY}`, {}],
        ['drop-in code 100', `${DROP_IN_PATH}?oAuthorId=a1`, {}],
      ] as const;
      for (const [name, path, headers] of answers) {
        const res = await request(gw.url + path, { headers: { origin, ...headers } });
        await res.body.dump();
        expect(varyOf(res.headers), `${name}, CORS ${'CORS_ORIGINS' in env}`).toEqual(expected);
        if (name.endsWith('200')) {
          const etag = String(res.headers['etag']);
          const again = await request(gw.url + path, {
            headers: { origin, ...headers, 'if-none-match': etag },
          });
          await again.body.dump();
          expect(again.statusCode).toBe(304);
          expect(varyOf(again.headers), `${name} 304`).toEqual(expected);
        }
      }
    }
  });

  it('gives any other origin no CORS header; without CORS_ORIGINS nobody gets one', async () => {
    const gw = await gateway({ ...KEYS, CORS_ORIGINS: origin });
    const other = await corsGet(gw, 'https://evil.example', { 'x-api-key': CALLER_KEY });
    await other.body.dump();
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    expect(other.headers['access-control-expose-headers']).toBeUndefined();
    const preflight = await request(gw.url + ROUTE, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
    });
    await preflight.body.dump();
    expect(preflight.statusCode).toBe(404);
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();

    const closed = await gateway(KEYS);
    const res = await corsGet(closed, origin, { 'x-api-key': CALLER_KEY });
    await res.body.dump();
    expect(res.statusCode).toBe(200);
    expect(Object.keys(res.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
  });
});

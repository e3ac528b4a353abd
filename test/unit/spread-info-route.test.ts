// The normalised route and the error handler through app.inject, in front of the simulated upstream.
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import type { ErrorBody } from '../../src/plugins/error-handler.js';
import { spreadInfoResponseSchema } from '../../src/routes/schemas.js';
import { type SimUpstream, startSimUpstream } from '../../src/sim/upstream-server.js';

const TOKEN = 'tok_route_test_8c2f41d0';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const path = (id: string, query = '') => `/v1/authors/${id}/spread-info${query}`;

let sim: SimUpstream;
let app: FastifyInstance;
const logs: string[] = [];

type ErrorJson = ErrorBody;

beforeAll(async () => {
  sim = await startSimUpstream({ token: TOKEN });
  const config = loadConfig({
    NODE_ENV: 'test',
    JUSTONEAPI_TOKEN: TOKEN,
    JUSTONEAPI_BASE_URL: sim.url,
    UPSTREAM_TIMEOUT_MS: '2000',
    LOG_LEVEL: 'info',
  });
  const logStream = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  app = await buildApp(config, { logStream });
  // Not ready yet, so a route that fails the way a bug would can still be added.
  app.get('/test/boom', async () => {
    throw new Error(`database at 10.1.2.3 refused; token=${TOKEN}`);
  });
  app.get('/test/throw-string', async () => {
    throw 'a bare string with internals';
  });
  await app.ready();
});
beforeEach(() => sim.reset());
afterAll(async () => {
  await app?.close();
  await sim?.close();
});

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await app.inject({ method: 'GET', url, headers });
  return {
    status: res.statusCode,
    headers: res.headers,
    body: res.body,
    json: () => res.json() as ErrorJson,
  };
}

describe('validation', () => {
  it.each([
    ['bad platform', path('abc', '?platform=TV'), 'query parameter "platform"'],
    ['bad onlyAssign', path('abc', '?onlyAssign=yes'), 'query parameter "onlyAssign"'],
    ['bad range', path('abc', '?range=DAY_7'), 'query parameter "range"'],
    [
      'duplicated platform',
      path('abc', '?platform=SHORT_VIDEO&platform=LIVE_STREAMING'),
      'query parameter "platform"',
    ],
    ['unknown foo', path('abc', '?foo=1'), 'unknown query parameter "foo"'],
    ['oAuthorId of 65 characters', path('a'.repeat(65)), 'path parameter "oAuthorId"'],
    ['oAuthorId with a dot', path('a.b'), 'path parameter "oAuthorId"'],
    ['oAuthorId with a space', path('a%20b'), 'path parameter "oAuthorId"'],
    ['oAuthorId with a colon', path('a%3Ab'), 'path parameter "oAuthorId"'],
    ['oAuthorId in Chinese', path('%E4%B8%AD%E6%96%87'), 'path parameter "oAuthorId"'],
  ])('%s is a 400 naming the parameter, with no upstream call', async (_name, url, named) => {
    const res = await get(url);
    expect(res.status).toBe(400);
    expect(res.json().error.code).toBe('INVALID_REQUEST');
    expect(res.json().error.message).toContain(named);
    expect(sim.callCount).toBe(0);
  });

  it('refuses a caller token with its own message, never echoing it', async () => {
    const callerToken = 'tok_from_a_caller_77aa';
    const res = await get(path('abc', `?token=${callerToken}&platform=SHORT_VIDEO`));
    expect(res.status).toBe(400);
    expect(res.json().error.message).toMatch(/"token" is not accepted: the gateway holds the upstream token/);
    expect(res.body).not.toContain(callerToken);
    expect(logs.join('')).not.toContain(callerToken);
    expect(sim.callCount).toBe(0);
  });

  it('accepts the longest valid id and every allowed character', async () => {
    const res = await get(path(`${'A-z_9'.repeat(12)}abcd`));
    expect(res.status).toBe(200);
    expect(sim.callCount).toBe(1);
  });
});

describe('request ids', () => {
  it('echoes a sane x-request-id on success and in error bodies', async () => {
    const ok = await get(path('abc'), { 'x-request-id': 'client-req.42:a_b' });
    expect(ok.status).toBe(200);
    expect(ok.headers['x-request-id']).toBe('client-req.42:a_b');
    const bad = await get(path('abc', '?foo=1'), { 'x-request-id': 'client-req-43' });
    expect(bad.headers['x-request-id']).toBe('client-req-43');
    expect(bad.json().error.requestId).toBe('client-req-43');
  });

  it.each([
    ['spaces', 'has spaces in it'],
    ['too long', 'x'.repeat(129)],
    ['a header injection attempt', 'a"b<script>'],
  ])('replaces a junk x-request-id (%s) with its own', async (_name, junk) => {
    const res = await get(path('abc', '?platform=TV'), { 'x-request-id': junk });
    expect(res.headers['x-request-id']).toMatch(UUID);
    expect(res.json().error.requestId).toBe(res.headers['x-request-id']);
    expect(res.body).not.toContain(junk);
  });

  it('puts one on every response: 200, 304, 400, 404, 500 and 502', async () => {
    const ok = await get(path('abc'));
    const etag = String(ok.headers.etag);
    const responses = [
      ok,
      await get(path('abc'), { 'if-none-match': etag }),
      await get(path('abc', '?foo=1')),
      await get('/nope'),
      await get('/test/boom'),
      await get(path('code500')),
    ];
    expect(responses.map((r) => r.status)).toEqual([200, 304, 400, 404, 500, 502]);
    for (const r of responses) expect(r.headers['x-request-id']).toMatch(/\S/);
  });
});

// Fastify answers these in the router, before any hook: buildApp passes `frameworkErrors` and a
// `routerOptions.maxParamLength` above the schema's 64 so they still get the contract's 400.
describe('errors raised by the router', () => {
  it('answers an over-long oAuthorId with a 400 in the error shape', async () => {
    const res = await get(path('a'.repeat(300)), { 'x-request-id': 'long-1' });
    expect(res.status).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'INVALID_REQUEST', requestId: 'long-1' });
    expect(res.json().error.message).toContain('oAuthorId');
    expect(res.headers['x-request-id']).toBe('long-1');
  });

  it('answers a URL that does not decode in the error shape, without echoing its query', async () => {
    const callerToken = 'tok_caller_in_bad_url_91';
    const res = await get(`/v1/authors/%E0%A4%A/spread-info?token=${callerToken}`, {
      'x-request-id': 'bad-url-1',
    });
    expect(res.status).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'INVALID_REQUEST', requestId: 'bad-url-1' });
    expect(res.headers['x-request-id']).toBe('bad-url-1');
    expect(res.body).not.toContain(callerToken);
  });
});

describe('bodies', () => {
  it('answers an unknown route with the error shape, without echoing the path', async () => {
    const res = await get('/v2/whatever;token=abc123secret?token=abc', { 'x-request-id': 'nf-1' });
    expect(res.status).toBe(404);
    expect(res.json()).toEqual({
      error: {
        code: 'NOT_FOUND',
        message: 'no route for GET at this path (the routes are listed at /openapi.json)',
        requestId: 'nf-1',
      },
    });
  });

  it('answers a 500 without the message, stack or internals of what failed', async () => {
    for (const url of ['/test/boom', '/test/throw-string']) {
      const res = await get(url, { 'x-request-id': 'boom-1' });
      expect(res.status).toBe(500);
      expect(res.json()).toEqual({
        error: { code: 'INTERNAL', message: 'internal error', requestId: 'boom-1' },
      });
    }
    // The operator still learns what happened, from the log, with the request id.
    const line = logs.find((l) => l.includes('"unhandled error"') && l.includes('boom-1'));
    expect(line).toBeDefined();
  });

  it('answers 200 with the contract shape and the 5xx of the upstream without its URL', async () => {
    const ok = await get(path('abc', '?range=DAY_90&onlyAssign=true'));
    expect(ok.status).toBe(200);
    const body = spreadInfoResponseSchema.parse(JSON.parse(ok.body));
    expect(body.query).toEqual({
      platform: 'SHORT_VIDEO',
      range: 'DAY_90',
      type: 'PERSONAL_VIDEO',
      onlyAssign: true,
      flowType: 'EXCLUDE',
    });
    const bad = await get(path('code500'));
    expect(bad.json().error).toMatchObject({ code: 'UPSTREAM_ERROR', upstreamCode: 500 });
    expect(bad.body).not.toMatch(/oAuthorId=|token=|127\.0\.0\.1|\/api\/douyin/);
  });
});

// Three kinds of callers on one gateway (API keys, user JWTs, anonymous), each with limits of its
// own; failed credentials limited per client address, shared by instances through Redis; one log
// line per refused request.

import { Agent, request } from 'undici';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, CALLER_KEY, type Gateway, startGateway } from '../helpers/gateway.js';
import { jwtEnv, makeKey, signToken, startJwksServer, type TestKey } from '../helpers/jwks-server.js';

const ROUTE = '/v1/authors/a1/spread-info';
const KEYS = { API_KEYS: `acme:${CALLER_KEY}`, ADMIN_API_KEYS: `ops:${ADMIN_KEY}` };
const WRONG = 'not-a-key-0123456789abcdef';

let key: TestKey;
beforeAll(async () => {
  key = await makeKey('k1', 'ES256');
});

let open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.allSettled(open.map((o) => o.close()));
  open = [];
});

async function gateway(env: Record<string, string>, o: { prefix?: string; sim?: Gateway['sim'] } = {}) {
  const gw = await startGateway({ env, ...o });
  open.push(gw);
  return gw;
}

/** A client on its own loopback address (127.0.0.x), so per-address limits can tell clients apart. */
function client(address: string) {
  const dispatcher = new Agent({ localAddress: address });
  open.push(dispatcher);
  return async (gw: Gateway, headers: Record<string, string> = {}, path = ROUTE) => {
    const res = await request(gw.url + path, { dispatcher, headers });
    const text = await res.body.text();
    return {
      status: res.statusCode,
      headers: res.headers,
      json: JSON.parse(text) as { error?: { code: string; message: string } },
    };
  };
}

describe('anonymous next to keys and JWTs', () => {
  it('lets requests without a credential in, limited per address; keys and users keep their own limits', async () => {
    const jwks = await startJwksServer([key]);
    open.push(jwks);
    const gw = await gateway({
      ...KEYS,
      ...jwtEnv(jwks),
      ALLOW_ANONYMOUS: 'true',
      CALLER_RATE_LIMIT: '2',
      CALLER_RATE_WINDOW: '30 seconds',
    });
    const one = client('127.0.0.1');
    const two = client('127.0.0.2');
    const anon = [await one(gw), await one(gw), await one(gw)];
    expect(anon.map((r) => r.status)).toEqual([200, 200, 429]);
    expect(anon[2]!.json.error?.code).toBe('RATE_LIMITED');
    // Same address, but a key or a user token: their own budgets.
    expect((await one(gw, { 'x-api-key': CALLER_KEY })).status).toBe(200);
    const user = { authorization: `Bearer ${await signToken(key, { claims: { sub: 'u1' } })}` };
    expect((await one(gw, user)).status).toBe(200);
    // Another address: a budget of its own.
    expect((await two(gw)).status).toBe(200);
    // A wrong credential is not anonymous: still 401, whether a key, a token or another scheme.
    const wrong = await two(gw, { 'x-api-key': WRONG });
    expect(wrong.status).toBe(401);
    expect((await two(gw, { authorization: `Basic ${CALLER_KEY}` })).status).toBe(401);
    expect(
      (await two(gw, { authorization: `Bearer ${await signToken(key, { claims: { aud: 'x' } })}` })).status,
    ).toBe(401);
    // The anonymous caller is named as such in the logs.
    expect(gw.logs.some((l) => l.includes('"caller":"anonymous"'))).toBe(true);
  });

  it('without ALLOW_ANONYMOUS, keys configured: no credential is a 401', async () => {
    const gw = await gateway(KEYS);
    const res = await client('127.0.0.1')(gw);
    expect(res.status).toBe(401);
    expect(res.json.error?.message).toMatch(/API key is required/);
  });
});

describe('failed credentials per client address', () => {
  it('429 past AUTH_FAILURES_PER_MINUTE, counted by two instances together; other addresses unaffected', async () => {
    const env = { ...KEYS, AUTH_FAILURES_PER_MINUTE: '3' };
    const a = await gateway(env);
    const b = await gateway(env, { prefix: a.prefix, sim: a.sim });
    const bad = client('127.0.0.3');
    const good = client('127.0.0.4');
    const statuses = [
      (await bad(a, { 'x-api-key': WRONG })).status,
      (await bad(b, { authorization: `Bearer ${WRONG}` })).status,
      (await bad(a)).status, // no credential at all counts too
    ];
    expect(statuses).toEqual([401, 401, 401]);
    const over = await bad(b, { 'x-api-key': WRONG });
    expect(over.status).toBe(429);
    expect(over.json.error?.code).toBe('RATE_LIMITED');
    expect(over.json.error?.message).toMatch(/failed credentials/);
    const retryAfter = Number(over.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    // Answered before a caller is known: no ratelimit-* (the README says so), unlike a known caller's.
    expect(over.headers['ratelimit-limit']).toBeUndefined();
    expect((await good(a, { 'x-api-key': WRONG })).headers['ratelimit-limit']).toBeUndefined();
    expect((await good(a, { 'x-api-key': CALLER_KEY })).headers['ratelimit-limit']).toBeDefined();
    // Past the limit the address's credentials are not even checked, a valid one included...
    expect((await bad(b, { 'x-api-key': CALLER_KEY })).status).toBe(429);
    // ...on the other instance too, once it has seen one more failure from it.
    expect((await bad(a, { 'x-api-key': WRONG })).status).toBe(429);
    expect((await bad(a, { 'x-api-key': CALLER_KEY })).status).toBe(429);
    // Another address is not affected.
    expect((await good(a, { 'x-api-key': CALLER_KEY })).status).toBe(200);
    expect((await good(b, { 'x-api-key': WRONG })).status).toBe(401);
    expect(a.sim.callCount).toBe(1);
    expect((await a.get('/metrics')).body).toMatch(
      /^gateway_caller_refusals_total\{caller="anonymous",reason="credentials"\} [1-9]/m,
    );
  });

  it('logs one line per refused request (401 or 429), none above info', async () => {
    const gw = await gateway({ ...KEYS, AUTH_FAILURES_PER_MINUTE: '2', LOG_LEVEL: 'info' });
    const from = client('127.0.0.5');
    const seen: number[] = [];
    for (let i = 0; i < 5; i++) {
      seen.push((await from(gw, { 'x-api-key': WRONG, 'x-request-id': `refused-${i}` })).status);
    }
    expect(seen).toEqual([401, 401, 429, 429, 429]);
    for (let i = 0; i < 5; i++) {
      const lines = gw.logs.filter((l) => l.includes(`"reqId":"refused-${i}"`));
      expect(lines, `request ${i}`).toHaveLength(1);
      expect(JSON.parse(lines[0]!)).toMatchObject({
        level: 30,
        msg: 'request completed',
        req: { method: 'GET', url: ROUTE, remoteAddress: '127.0.0.5' },
        res: { statusCode: seen[i] },
      });
      expect(JSON.parse(lines[0]!).refused).toBe(seen[i] === 429 ? 'credentials' : undefined);
    }
    expect(gw.logs.join('')).not.toContain(WRONG);
    // The usage report counts them too, under `anonymous` (no caller was established).
    const usage = await gw.get('/v1/usage', { 'x-api-key': ADMIN_KEY });
    const rows = (usage.json as { callers: Array<{ caller: string; requests: number; refused: object }> })
      .callers;
    expect(rows.find((r) => r.caller === 'anonymous')).toMatchObject({
      requests: 3,
      refused: { credentials: 3, rate: 0 },
    });
  });

  it("logs one line for a request over the caller's rate limit: its completion line, with refused", async () => {
    const gw = await gateway({ ...KEYS, CALLER_RATE_LIMIT: '2', LOG_LEVEL: 'info' });
    const from = client('127.0.0.6');
    const seen: number[] = [];
    for (let i = 0; i < 3; i++)
      seen.push((await from(gw, { 'x-api-key': CALLER_KEY, 'x-request-id': `over-${i}` })).status);
    expect(seen).toEqual([200, 200, 429]);
    const lines = gw.logs.filter((l) => l.includes('"reqId":"over-2"'));
    expect(lines.map((l) => JSON.parse(l))).toEqual([
      expect.objectContaining({
        level: 30,
        msg: 'request completed',
        caller: 'acme',
        res: { statusCode: 429 },
        refused: 'rate',
      }),
    ]);
    expect(gw.logs.filter((l) => l.includes('"reqId":"over-1"'))[0]).not.toContain('refused');
  });
});

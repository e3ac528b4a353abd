// User JWTs through the real app over loopback, against a local JWKS server with keys made here:
// what verifies, what is refused (and that every refusal is a 401, never a 500), key rotation
// without a restart, the bound on refetches, and an unreachable JWKS (503 for JWT callers only,
// shown in /readyz and the metrics).
import { setTimeout as sleep } from 'node:timers/promises';
import { base64url, exportSPKI, SignJWT, UnsecuredJWT } from 'jose';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { JwtTuning } from '../../src/auth/jwt.js';
import type { ErrorBody } from '../../src/plugins/error-handler.js';
import { ADMIN_KEY, CALLER_KEY, type Gateway, startGateway } from '../helpers/gateway.js';
import {
  AUDIENCE,
  ISSUER,
  type JwksServer,
  jwtEnv,
  makeKey,
  signToken,
  startJwksServer,
  type TestKey,
} from '../helpers/jwks-server.js';

const ROUTE = '/v1/authors/a1/spread-info';
const KEYS = { API_KEYS: `acme:${CALLER_KEY}`, ADMIN_API_KEYS: `ops:${ADMIN_KEY}` };
// Short enough for tests to wait out; production uses 5 s / 10 s (src/auth/jwks.ts).
const FAST: JwtTuning = { cooldownMs: 300, retryMs: 300 };

let rsa: TestKey;
let ec: TestKey;
let ed: TestKey;
let spare: TestKey;
beforeAll(async () => {
  [rsa, ec, ed, spare] = await Promise.all([
    makeKey('rsa-1', 'RS256'),
    makeKey('ec-1', 'ES256'),
    makeKey('ed-1', 'EdDSA'),
    makeKey('rsa-2', 'RS256'),
  ]);
});

let open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.allSettled(open.map((o) => o.close()));
  open = [];
});

async function setup(
  keys: TestKey[],
  env: Record<string, string> = {},
  tuning: JwtTuning = FAST,
): Promise<{ gw: Gateway; jwks: JwksServer }> {
  const jwks = await startJwksServer(keys);
  open.push(jwks);
  const gw = await startGateway({
    env: { ...KEYS, ...jwtEnv(jwks), AUTH_FAILURES_PER_MINUTE: '1000', ...env },
    overrides: { jwt: tuning },
  });
  open.push(gw);
  return { gw, jwks };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
type Res = Awaited<ReturnType<Gateway['get']>>;
const error = (r: Res) => (r.json as ErrorBody).error;

describe('valid tokens', () => {
  it('RS256, ES256 and EdDSA tokens are let in as jwt:<sub>; API keys keep working in both headers', async () => {
    const { gw } = await setup([rsa, ec, ed]);
    for (const [key, sub] of [
      [rsa, 'user-rsa'],
      [ec, 'user-ec'],
      [ed, 'auth0|user.ed@example.com'],
    ] as const) {
      const res = await gw.get(ROUTE, bearer(await signToken(key, { claims: { sub } })));
      expect(res.status, key.alg).toBe(200);
      expect(res.headers.get('ratelimit-remaining')).toBe('599');
      expect(gw.logs.some((l) => l.includes(`"caller":"jwt:${sub}"`))).toBe(true);
    }
    expect((await gw.get(ROUTE, { 'x-api-key': CALLER_KEY })).status).toBe(200);
    expect((await gw.get(ROUTE, bearer(CALLER_KEY))).status).toBe(200);
    expect(gw.logs.join('')).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/); // no token in any log line
  });

  it('names the caller by JWT_CALLER_CLAIM, and tolerates a little clock skew', async () => {
    const { gw } = await setup([rsa], { JWT_CALLER_CLAIM: 'email' });
    const now = Math.floor(Date.now() / 1000);
    const token = await signToken(rsa, { claims: { email: 'ana@example.com', exp: now - 5, nbf: now + 5 } });
    expect((await gw.get(ROUTE, bearer(token))).status).toBe(200);
    expect(gw.logs.some((l) => l.includes('"caller":"jwt:ana@example.com"'))).toBe(true);
  });

  it('gives each user its own limit, apart from key callers; a JWT caller is never an admin', async () => {
    const { gw } = await setup([rsa], { CALLER_RATE_LIMIT: '2', CALLER_RATE_WINDOW: '30 seconds' });
    const ana = bearer(await signToken(rsa, { claims: { sub: 'ana' } }));
    const bob = bearer(await signToken(rsa, { claims: { sub: 'bob' } }));
    const seen = [await gw.get(ROUTE, ana), await gw.get(ROUTE, ana), await gw.get(ROUTE, ana)];
    expect(seen.map((r) => r.status)).toEqual([200, 200, 429]);
    expect(error(seen[2]!).code).toBe('RATE_LIMITED');
    expect((await gw.get(ROUTE, bob)).status).toBe(200);
    expect((await gw.get(ROUTE, { 'x-api-key': CALLER_KEY })).status).toBe(200);
    const purge = await fetch(`${gw.url}/v1/authors/a1/spread-info/cache`, {
      method: 'DELETE',
      headers: bob,
    });
    expect(purge.status).toBe(403);
  });
});

describe('refused tokens', () => {
  it('answers 401 UNAUTHORIZED, naming the check that failed, for every bad token', async () => {
    const { gw } = await setup([rsa, ec]);
    const now = Math.floor(Date.now() / 1000);
    const valid = await signToken(rsa);
    const [h, , s] = valid.split('.');
    const forged = base64url.encode(
      JSON.stringify({ iss: ISSUER, aud: AUDIENCE, sub: 'admin', exp: now + 300 }),
    );
    // The public key (PEM) misused as an HMAC secret: the classic algorithm confusion.
    const spki = new TextEncoder().encode(await exportSPKI(rsa.publicKey));
    const hs256 = await new SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: 'mallory', exp: now + 300 })
      .setProtectedHeader({ alg: 'HS256', kid: rsa.kid })
      .sign(spki);
    const cases: Array<[string, string, RegExp]> = [
      ['expired', await signToken(rsa, { claims: { exp: now - 120 } }), /expired/],
      ['not yet valid', await signToken(rsa, { claims: { nbf: now + 120 } }), /not yet valid/],
      ['wrong iss', await signToken(rsa, { claims: { iss: 'https://evil.example/' } }), /issuer/],
      ['wrong aud', await signToken(rsa, { claims: { aud: 'another-api' } }), /audience/],
      ['no exp', await signToken(rsa, { claims: { exp: undefined } }), /"exp"/],
      ['unknown kid', await signToken(spare, { kid: 'nobody-knows' }), /does not hold/],
      ['alg none', new UnsecuredJWT({ iss: ISSUER, aud: AUDIENCE, sub: 'x', exp: now + 300 }).encode(), /./],
      ['HS256 with the public key', hs256, /algorithm not accepted/],
      ['tampered payload', `${h}.${forged}.${s}`, /signature/],
      ['signed by a key not in the set', await signToken(spare, { kid: rsa.kid }), /signature/],
      [
        'sub unusable as a name',
        await signToken(ec, { claims: { sub: 'has spaces\nand newline' } }),
        /claim "sub"/,
      ],
      ['no sub', await signToken(ec, { claims: { sub: undefined } }), /claim "sub"/],
    ];
    for (const [what, token, message] of cases) {
      const res = await gw.get(ROUTE, bearer(token));
      expect(res.status, what).toBe(401);
      expect(error(res).code, what).toBe('UNAUTHORIZED');
      expect(error(res).message, what).toMatch(message);
      expect(res.headers.get('www-authenticate'), what).toBe('Bearer error="invalid_token"');
    }
    // A JWT in x-api-key is looked up as a key only.
    const misplaced = await gw.get(ROUTE, { 'x-api-key': valid });
    expect(misplaced.status).toBe(401);
    expect(error(misplaced).message).toMatch(/authorization: Bearer/);
    expect(gw.sim.callCount).toBe(0);
  });
});

describe('key rotation and refetches', () => {
  it('picks up a new key without a restart, and drops a removed one', async () => {
    const { gw, jwks } = await setup([rsa]);
    expect((await gw.get(ROUTE, bearer(await signToken(rsa)))).status).toBe(200);
    jwks.setKeys([spare]); // the provider rotates: rsa-1 out, rsa-2 in
    await sleep(FAST.cooldownMs! + 200);
    const before = jwks.fetches;
    expect((await gw.get(ROUTE, bearer(await signToken(spare)))).status).toBe(200);
    expect(jwks.fetches).toBe(before + 1);
    await sleep(FAST.cooldownMs! + 200);
    // rsa-1 is no longer in the set once a refetch for an unknown kid has run.
    expect((await gw.get(ROUTE, bearer(await signToken(spare, { kid: 'gone' })))).status).toBe(401);
    const old = await gw.get(ROUTE, bearer(await signToken(rsa)));
    expect(old.status).toBe(401);
    expect(error(old).message).toMatch(/does not hold/);
  });

  it('refetches at most once per cooldown however many unknown kids arrive', async () => {
    const cooldownMs = 3000;
    const { gw, jwks } = await setup([rsa], {}, { cooldownMs, retryMs: 300 });
    const burst = async () => {
      const tokens = await Promise.all(
        Array.from({ length: 30 }, (_, i) => signToken(rsa, { kid: `made-up-${i}` })),
      );
      const statuses = await Promise.all(tokens.map(async (t) => (await gw.get(ROUTE, bearer(t))).status));
      expect(new Set(statuses)).toEqual(new Set([401]));
    };
    const atStart = jwks.fetches; // the fetch at start-up
    expect(atStart).toBe(1);
    await burst(); // within the cooldown of that fetch: no refetch at all
    expect(jwks.fetches).toBe(atStart);
    await sleep(cooldownMs + 200);
    await burst(); // after it: one refetch for the whole burst (two if the burst outlived the cooldown)
    expect(jwks.fetches - atStart).toBeGreaterThanOrEqual(1);
    expect(jwks.fetches - atStart).toBeLessThanOrEqual(2);
  });
});

describe('a newly published key', () => {
  it('is let in within seconds (default cooldown), and its refusals until then lock out no one', async () => {
    // The default tuning (5 s cooldown) and a failed-credential limit of 3 per minute.
    const { gw, jwks } = await setup([rsa], { AUTH_FAILURES_PER_MINUTE: '3' }, {});
    expect((await gw.get(ROUTE, bearer(await signToken(rsa)))).status).toBe(200);
    jwks.setKeys([rsa, spare]); // the provider publishes rsa-2 and starts signing with it
    const token = await signToken(spare);
    const started = Date.now();
    const seen: number[] = [];
    for (let status = 0; status !== 200 && Date.now() - started < 15_000; await sleep(500)) {
      status = (await gw.get(ROUTE, bearer(token))).status;
      seen.push(status);
    }
    // 401 (unknown kid) until the cooldown of the start-up fetch ends, never a 429, then 200.
    expect(seen.at(-1)).toBe(200);
    expect(seen.length).toBeGreaterThan(4);
    expect(new Set(seen.slice(0, -1))).toEqual(new Set([401]));
    expect(Date.now() - started).toBeLessThan(9_000);
    // The same address's key callers were not locked out by those refusals either.
    expect((await gw.get(ROUTE, { 'x-api-key': CALLER_KEY })).status).toBe(200);
    // A refusal that is a guess (a bad signature with a known kid) still counts.
    const forged = await signToken(spare, { kid: rsa.kid });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await gw.get(ROUTE, bearer(forged))).status);
    expect(statuses).toEqual([401, 401, 401, 429]);
  });
});

describe('JWKS unreachable', () => {
  it('a key set trickled a byte at a time: given up after the fetch timeout, JWT callers 503', async () => {
    const jwks = await startJwksServer([rsa]);
    open.push(jwks);
    jwks.setMode('drip');
    const started = Date.now();
    const gw = await startGateway({
      env: { ...KEYS, ...jwtEnv(jwks), AUTH_FAILURES_PER_MINUTE: '1000' },
      overrides: { jwt: { ...FAST, fetchTimeoutMs: 1000, retryMs: 60_000 } },
    });
    open.push(gw);
    const refused = await gw.get(ROUTE, bearer(await signToken(rsa)));
    expect(refused.status).toBe(503);
    const ready = (await gw.get('/readyz')).json as { checks: { jwks: string } };
    expect(ready.checks.jwks).toMatch(/timed out/);
    expect(Date.now() - started).toBeLessThan(8_000);
  });

  it('at start-up: JWT callers get 503 AUTH_UNAVAILABLE, key callers 200, /readyz says why; all recover', async () => {
    const jwks = await startJwksServer([rsa]);
    open.push(jwks);
    jwks.setMode('http500');
    const gw = await startGateway({
      env: { ...KEYS, ...jwtEnv(jwks), AUTH_FAILURES_PER_MINUTE: '1000' },
      overrides: { jwt: FAST },
    });
    open.push(gw);
    const token = bearer(await signToken(rsa));
    const refused = await gw.get(ROUTE, token);
    expect(refused.status).toBe(503);
    expect(error(refused).code).toBe('AUTH_UNAVAILABLE');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await gw.get(ROUTE, { 'x-api-key': CALLER_KEY })).status).toBe(200);
    const ready = await gw.get('/readyz');
    expect(ready.status).toBe(200); // key callers are served: the instance stays in its load balancer
    expect(ready.json).toMatchObject({
      status: 'degraded',
      checks: { jwks: expect.stringMatching(/HTTP 500/) },
    });
    expect((await gw.get('/metrics')).body).toMatch(/^gateway_jwks_up 0$/m);
    expect(gw.logs.filter((l) => l.includes('JWKS unreachable')).length).toBe(1);

    jwks.setMode('serve'); // the provider is back: the background retry finds it without a request
    await expect
      .poll(async () => (await gw.get('/readyz')).json, { timeout: 10_000, interval: 100 })
      .toMatchObject({ status: 'ready', checks: { jwks: 'ok' } });
    expect((await gw.get(ROUTE, token)).status).toBe(200);
    expect((await gw.get('/metrics')).body).toMatch(/^gateway_jwks_up 1$/m);
  });

  it('later: known keys keep working, an unknown kid is 503 (it cannot be checked), and fetches stay bounded', async () => {
    const { gw, jwks } = await setup([rsa]);
    const token = bearer(await signToken(rsa));
    expect((await gw.get(ROUTE, token)).status).toBe(200);
    jwks.setMode('reset');
    await sleep(FAST.cooldownMs! + 200);
    const unknown = await gw.get(ROUTE, bearer(await signToken(spare, { kid: 'new-key' })));
    expect(unknown.status).toBe(503);
    expect(error(unknown).code).toBe('AUTH_UNAVAILABLE');
    expect((await gw.get(ROUTE, token)).status).toBe(200); // the cached key still verifies
    // Requests while failing are answered at once, without a fetch each.
    const before = jwks.fetches;
    const statuses = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const t = await signToken(spare, { kid: `new-${i}` });
        return (await gw.get(ROUTE, bearer(t))).status;
      }),
    );
    expect(new Set(statuses)).toEqual(new Set([503]));
    expect(jwks.fetches - before).toBeLessThanOrEqual(3);
    const ready = await gw.get('/readyz');
    expect(ready.json).toMatchObject({
      status: 'degraded',
      checks: { jwks: expect.stringMatching(/JWKS not fetched/) },
    });
  });
});

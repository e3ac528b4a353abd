// Existing JustOneAPI client code through the drop-in route of a production-configured gateway
// (NODE_ENV=production, keys required): its token is the caller's gateway key, and every outcome
// reaches it as the upstream would answer it, HTTP 200 with a business `code` (the drop-in
// section). One test per row of the mapping (src/http/drop-in-codes.ts), through a client that
// does what the official SDK does.
import { afterEach, describe, expect, it } from 'vitest';
import { msUntilNextDay } from '../../src/governance/quota-day.js';
import { DROP_IN_PATH } from '../../src/routes/drop-in.js';
import { type Behaviour, simSpreadData } from '../../src/sim/upstream-server.js';
import { QUERY_DEFAULTS } from '../../src/upstream/params.js';
import { ADMIN_KEY, CALLER_KEY, type Gateway, startGateway } from '../helpers/gateway.js';
import { type ApiResponse, JustOneApiLikeClient } from '../helpers/justoneapi-like-client.js';

const PRODUCTION = {
  NODE_ENV: 'production',
  API_KEYS: `svc:${CALLER_KEY}`,
  ADMIN_API_KEYS: `ops:${ADMIN_KEY}`,
};
const ISO_SECONDS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

let open: Gateway[] = [];
afterEach(async () => {
  await Promise.allSettled(open.map((g) => g.close()));
  open = [];
});

async function gateway(env: Record<string, string> = {}) {
  const gw = await startGateway({ env: { ...PRODUCTION, ...env } });
  open.push(gw);
  return { gw, client: new JustOneApiLikeClient(CALLER_KEY, gw.url) };
}

/** What the SDK's generated method sends: every parameter, defaults included. */
const spread = (client: JustOneApiLikeClient, oAuthorId: string, extra: Record<string, string> = {}) =>
  client.get(DROP_IN_PATH, {
    oAuthorId,
    platform: 'SHORT_VIDEO',
    range: 'DAY_30',
    type: 'PERSONAL_VIDEO',
    onlyAssign: false,
    flowType: 'EXCLUDE',
    ...extra,
  });

/** An error as an SDK user sees it, and the gateway's own error beside it. */
function expectError(r: ApiResponse, code: number, gatewayCode: string, upstreamCode?: number): void {
  expect(r.http.status, JSON.stringify(r.raw)).toBe(200);
  expect(r.code, JSON.stringify(r.raw)).toBe(code);
  expect(r.success).toBe(false);
  expect(r.data).toBeNull();
  expect(r.message).not.toBe('');
  expect(r.message).toBe((r.raw.error as { message: string }).message);
  expect(r.raw.requestId).toBe(r.http.headers.get('x-request-id'));
  expect(r.raw.recordTime).toMatch(ISO_SECONDS);
  expect(r.raw.error).toMatchObject({ code: gatewayCode, requestId: r.raw.requestId });
  expect((r.raw.error as { upstreamCode?: number }).upstreamCode).toBe(upstreamCode);
  // HTTP 200 all the same: no cache may keep it as if it were data.
  expect(r.http.headers.get('cache-control')).toBe('no-store');
}

function expectRetryAfter(r: ApiResponse, atLeast: number, atMost: number): void {
  const header = Number(r.http.headers.get('retry-after'));
  expect(header).toBeGreaterThanOrEqual(atLeast);
  expect(header).toBeLessThanOrEqual(atMost);
  expect((r.raw.error as { retryAfterSeconds?: number }).retryAfterSeconds).toBe(header);
}

const toUpstreamMidnight = () => Math.ceil(msUntilNextDay(Date.now(), 'Asia/Shanghai') / 1000);

describe('an existing client, its token now the gateway key, on a production-configured gateway', () => {
  it('gets code 0 and the upstream data, message and recordTime, again from cache', async () => {
    const { gw, client } = await gateway();
    const first = await spread(client, '7012345678901234567');
    expect(first.http.status).toBe(200);
    expect(first.success).toBe(true);
    expect(first.code).toBe(0);
    expect(first.message).toBe('success');
    expect(first.data).toEqual(simSpreadData({ ...QUERY_DEFAULTS, oAuthorId: '7012345678901234567' }));
    expect(first.raw.recordTime).toMatch(ISO_SECONDS);
    expect(Math.abs(Date.parse(String(first.raw.recordTime)) - Date.now())).toBeLessThan(60_000);
    // The upstream's request id, not the gateway's.
    expect(first.raw.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(first.raw.requestId).not.toBe(first.http.headers.get('x-request-id'));
    expect(Object.keys(first.raw).sort()).toEqual(['code', 'data', 'message', 'recordTime', 'requestId']);
    // The upstream saw the gateway's token (the simulated upstream accepts no other), once.
    expect(gw.sim.callCount).toBe(1);
    const again = await spread(client, '7012345678901234567');
    expect(again.http.headers.get('x-cache')).toBe('HIT');
    expect(again.raw).toEqual(first.raw);
    expect(gw.sim.callCount).toBe(1);
  });

  it('is named by its key in logs and limits, and the key is masked in every log line', async () => {
    const { gw, client } = await gateway();
    const r = await spread(client, 'named1');
    expect(r.code).toBe(0);
    expect(r.http.headers.get('ratelimit-limit')).toBe('600');
    const lines = gw.logs.join('').split('\n').filter(Boolean);
    expect(lines.some((l) => l.includes('"caller":"svc"'))).toBe(true);
    expect(lines.some((l) => l.includes('token=%5BREDACTED%5D'))).toBe(true);
    for (const line of lines) expect(line).not.toContain(CALLER_KEY);
  });

  it('loses to a key header: the header names the caller, whatever the token holds', async () => {
    const { gw } = await gateway();
    const url = (token: string) => `${DROP_IN_PATH}?oAuthorId=header1&token=${token}`;
    const headerWins = await gw.get(url('not-a-key'), { 'x-api-key': CALLER_KEY });
    expect(headerWins.json).toMatchObject({ code: 0 });
    const wrongHeader = await gw.get(url(CALLER_KEY), { authorization: 'Bearer not-a-key' });
    expect(wrongHeader.json).toMatchObject({ code: 100, error: { code: 'UNAUTHORIZED' } });
  });
});

describe('every outcome is HTTP 200 with the business code of the mapping', () => {
  it('100: a missing, unknown or repeated credential', async () => {
    const { gw } = await gateway();
    const unknown = await new JustOneApiLikeClient('unknown-key', gw.url).get(DROP_IN_PATH, {
      oAuthorId: 'cred1',
    });
    expectError(unknown, 100, 'UNAUTHORIZED');
    expect(unknown.message).toBe('unknown API key');
    const none = await gw.get(`${DROP_IN_PATH}?oAuthorId=cred1`);
    expect(none.json).toMatchObject({ code: 100, data: null, error: { code: 'UNAUTHORIZED' } });
    expect((none.json as { message: string }).message).toContain('token');
    const twice = await gw.get(`${DROP_IN_PATH}?oAuthorId=cred1&token=${CALLER_KEY}&token=${CALLER_KEY}`);
    expect(twice.json).toMatchObject({ code: 100, error: { code: 'UNAUTHORIZED' } });
    expect((twice.json as { message: string }).message).toMatch(/more than once/);
    expect(gw.sim.callCount).toBe(0);
  });

  // 600 (forbidden): the drop-in route needs a caller key, not an admin key, so no drop-in request
  // is refused as FORBIDDEN today; the row is covered by test/unit/drop-in-codes.test.ts.

  it('400: invalid parameters, named, without an upstream call', async () => {
    const { gw, client } = await gateway();
    expectError(await spread(client, 'bad1', { platform: 'TV' }), 400, 'INVALID_REQUEST');
    const missing = await client.get(DROP_IN_PATH, { platform: 'SHORT_VIDEO' });
    expectError(missing, 400, 'INVALID_REQUEST');
    expect(missing.message).toContain('oAuthorId');
    // An unknown parameter is ignored (named in x-ignored-params, family.test.ts); a bad value of a
    // known one is refused by name.
    const badRange = await client.get(DROP_IN_PATH, { oAuthorId: 'bad1', range: 'DAY_7' });
    expectError(badRange, 400, 'INVALID_REQUEST');
    expect(badRange.message).toContain('range');
    expect(gw.sim.callCount).toBe(0);
  });

  it('302: the caller over its own limit, with retry-after', async () => {
    const { client } = await gateway({ CALLER_RATE_LIMIT: '2', CALLER_RATE_WINDOW: '30 seconds' });
    expect((await spread(client, 'limit1')).code).toBe(0);
    expect((await spread(client, 'limit1')).code).toBe(0);
    const over = await spread(client, 'limit1');
    expectError(over, 302, 'RATE_LIMITED');
    expectRetryAfter(over, 1, 30);
  });

  it('302: the upstream answered 302', async () => {
    const { client } = await gateway();
    const r = await spread(client, 'code302a');
    expectError(r, 302, 'UPSTREAM_UNAVAILABLE', 302);
    expectRetryAfter(r, 1, 120);
  });

  it('302: no upstream budget within UPSTREAM_MAX_WAIT_MS', async () => {
    // One call per 5 s and no waiting: the second miss inside those 5 s is refused at once.
    const { gw, client } = await gateway({ UPSTREAM_MAX_RPS: '0.2', UPSTREAM_MAX_WAIT_MS: '0' });
    expect((await spread(client, 'budget1')).code).toBe(0);
    const r = await spread(client, 'budget2');
    expectError(r, 302, 'UPSTREAM_UNAVAILABLE');
    expectRetryAfter(r, 1, 5);
    expect(gw.sim.callCount).toBe(1);
  });

  it("303: the gateway's own daily quota is spent", async () => {
    const { gw, client } = await gateway({ UPSTREAM_DAILY_QUOTA: '1' });
    expect((await spread(client, 'quota1')).code).toBe(0);
    const r = await spread(client, 'quota2');
    expectError(r, 303, 'UPSTREAM_UNAVAILABLE');
    expectRetryAfter(r, toUpstreamMidnight() - 60, toUpstreamMidnight() + 1);
    expect(gw.sim.callCount).toBe(1);
  });

  it("303: the upstream's daily quota is spent (its 303)", async () => {
    const { client } = await gateway();
    const r = await spread(client, 'code303a');
    expectError(r, 303, 'UPSTREAM_UNAVAILABLE', 303);
    expectRetryAfter(r, toUpstreamMidnight() - 60, toUpstreamMidnight() + 1);
  });

  it('301: the upstream answered 301 after the retries', async () => {
    const { gw, client } = await gateway();
    expectError(await spread(client, 'code301a'), 301, 'UPSTREAM_ERROR', 301);
    expect(gw.sim.callsFor('code301a').length).toBe(3);
  });

  it('301: the upstream did not answer within UPSTREAM_TIMEOUT_MS', async () => {
    const { gw, client } = await gateway({ UPSTREAM_TIMEOUT_MS: '300' });
    expectError(await spread(client, 'hang1'), 301, 'UPSTREAM_TIMEOUT');
    expect(gw.sim.callsFor('hang1').length).toBe(1);
  });

  it('201: no content, remembered without a new call', async () => {
    const { gw, client } = await gateway();
    for (let i = 0; i < 2; i++) expectError(await spread(client, 'notfound1'), 201, 'AUTHOR_NOT_FOUND', 201);
    expect(gw.sim.callCount).toBe(1);
  });

  it("500: the upstream refused the gateway's own token, then while that circuit is open", async () => {
    const { gw, client } = await gateway();
    expectError(await spread(client, 'code100a'), 500, 'UPSTREAM_CREDENTIALS', 100);
    await gw.app.governor.idle();
    expectError(await spread(client, 'circuit2'), 500, 'UPSTREAM_UNAVAILABLE', 100);
    expect(gw.sim.callCount).toBe(1);
  });

  it('500: any other failure (HTTP error, malformed body, upstream 500, unknown code)', async () => {
    const { client } = await gateway();
    expectError(await spread(client, 'http502a'), 500, 'UPSTREAM_ERROR');
    expectError(await spread(client, 'malformed1'), 500, 'UPSTREAM_ERROR');
    expectError(await spread(client, 'code500a'), 500, 'UPSTREAM_ERROR', 500);
    expectError(await spread(client, 'code999a'), 500, 'UPSTREAM_ERROR', 999);
  });

  it('0 from a stale answer, which replaces an error exactly as on /v1', async () => {
    const { gw, client } = await gateway({ UPSTREAM_TIMEOUT_MS: '300' });
    const fresh = await spread(client, 'stale1');
    expect(fresh.code).toBe(0);
    // An admin forces a refresh (the SDK cannot send the header; a plain request can). The last
    // failure, a 302, pauses upstream calls; the stale answer stands in for that refusal too.
    const failures: Behaviour[] = [{ httpStatus: 502 }, { code: 500 }, { hang: true }, { code: 302 }];
    for (const b of failures) {
      gw.sim.setBehaviour(b);
      const r = await gw.get(`${DROP_IN_PATH}?oAuthorId=stale1&token=${ADMIN_KEY}`, {
        'cache-control': 'no-cache',
      });
      expect(r.status).toBe(200);
      expect(r.headers.get('x-cache'), JSON.stringify(b)).toBe('STALE');
      expect(r.json).toEqual(fresh.raw);
    }
    expect(gw.sim.callCount).toBe(1 + failures.length);
  });
});

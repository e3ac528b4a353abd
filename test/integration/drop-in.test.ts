// The drop-in route: JustOneAPI client code pointed at the gateway by base URL only.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DROP_IN_PATH } from '../../src/routes/drop-in.js';
import { type SimUpstream, simSpreadData, startSimUpstream } from '../../src/sim/upstream-server.js';
import { QUERY_DEFAULTS, UPSTREAM_PATH } from '../../src/upstream/params.js';
import { CALLER_KEY, type Gateway, startGateway, TEST_TOKEN } from '../helpers/gateway.js';

/** What a caller pastes from the upstream doc: their own JustOneAPI token, now useless to them. */
const CALLER_TOKEN = 'callers-own-justoneapi-token-5f1d2c9e';

describe('drop-in route', () => {
  let sim: SimUpstream;
  let gw: Gateway;
  beforeAll(async () => {
    // The sim accepts only the gateway's token: a forwarded caller token would be answered code 100.
    sim = await startSimUpstream({ token: TEST_TOKEN });
  });
  afterEach(async () => {
    await gw.close();
    sim.reset();
  });
  afterAll(() => sim.close());

  it("answers the upstream doc's own call, changed only in base URL, as the upstream would", async () => {
    gw = await startGateway({ sim });
    // The doc's JS sample, verbatim but for the origin.
    const response = await fetch(
      `${gw.url}${DROP_IN_PATH}?token=${CALLER_TOKEN}&oAuthorId=7012345678901234567`,
      {
        method: 'GET',
      },
    );
    const data = (await response.json()) as {
      code: number;
      message: string;
      requestId: unknown;
      data: unknown;
    };
    expect(response.status).toBe(200);
    expect(data.code).toBe(0);
    expect(data.data).toEqual(simSpreadData({ oAuthorId: '7012345678901234567', ...QUERY_DEFAULTS }));
    // The upstream itself, asked directly with the real token, has the same envelope fields.
    const direct = await fetch(
      `${sim.url}${UPSTREAM_PATH}?token=${TEST_TOKEN}&oAuthorId=7012345678901234567`,
    );
    const upstream = (await direct.json()) as Record<string, unknown>;
    expect(Object.keys(data).sort()).toEqual(Object.keys(upstream).sort());
    expect(data.message).toBe(upstream['message']);
    expect(typeof data.requestId).toBe('string');
  });

  it('ignores the token where no keys are configured: never forwarded, logged or echoed', async () => {
    gw = await startGateway({ sim });
    const res = await gw.get(`${DROP_IN_PATH}?oAuthorId=tok1&token=${CALLER_TOKEN}&platform=LIVE_STREAMING`);
    expect(res.status).toBe(200);
    expect(sim.calls).toHaveLength(1);
    expect(sim.calls[0]?.tokenSeen).toBe(true);
    expect(sim.calls[0]?.code).toBe(0); // the sim took the gateway's token, so the caller's was not sent
    expect(Object.keys(sim.calls[0]?.query ?? {}).sort()).toEqual(
      ['flowType', 'oAuthorId', 'onlyAssign', 'platform', 'range', 'type'].sort(),
    );
    const logs = gw.logs.join('');
    expect(logs).toContain(DROP_IN_PATH); // the request was logged...
    expect(logs).not.toContain(CALLER_TOKEN); // ...without the caller's token
    expect(logs).not.toContain(TEST_TOKEN);
    expect(gw.bodies.join('')).not.toContain(CALLER_TOKEN);
  });

  it('shares cache entries with the normalised route, both ways', async () => {
    gw = await startGateway({ sim });
    const first = await gw.get(`${DROP_IN_PATH}?token=${CALLER_TOKEN}&oAuthorId=shared1&range=DAY_90`);
    expect(first.headers.get('x-cache')).toBe('MISS');
    const v1 = await gw.get('/v1/authors/shared1/spread-info?range=DAY_90');
    expect(v1.headers.get('x-cache')).toBe('HIT');
    await gw.get('/v1/authors/shared2/spread-info?onlyAssign=true');
    const second = await gw.get(`${DROP_IN_PATH}?oAuthorId=shared2&onlyAssign=true`);
    expect(second.headers.get('x-cache')).toBe('HIT');
    expect((second.json as { data: unknown }).data).toEqual(
      simSpreadData({ ...QUERY_DEFAULTS, oAuthorId: 'shared2', onlyAssign: true }),
    );
    expect(sim.callCount).toBe(2);
  });

  it('has its own etag, and answers 304 to it', async () => {
    gw = await startGateway({ sim });
    const a = await gw.get(`${DROP_IN_PATH}?oAuthorId=etag1`);
    const b = await gw.get('/v1/authors/etag1/spread-info');
    const etag = a.headers.get('etag') ?? '';
    expect(etag).not.toBe('');
    expect(etag).not.toBe(b.headers.get('etag'));
    expect(a.headers.get('cache-control')).toMatch(/^private, max-age=\d+$/);
    const again = await gw.get(`${DROP_IN_PATH}?oAuthorId=etag1`, { 'if-none-match': etag });
    expect(again.status).toBe(304);
    expect(again.body).toBe('');
    const cross = await gw.get(`${DROP_IN_PATH}?oAuthorId=etag1`, {
      'if-none-match': b.headers.get('etag') ?? '',
    });
    expect(cross.status).toBe(200);
  });

  it('answers "no content" as the upstream does (HTTP 200, code 201), and remembers it', async () => {
    gw = await startGateway({ sim });
    for (let i = 0; i < 2; i++) {
      const res = await gw.get(`${DROP_IN_PATH}?oAuthorId=notfound7&token=${CALLER_TOKEN}`);
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({ code: 201, data: null });
    }
    expect(sim.callCount).toBe(1);
  });

  it("answers failures in the upstream's envelope too, with the gateway's error beside it", async () => {
    gw = await startGateway({ sim });
    const limited = await gw.get(`${DROP_IN_PATH}?oAuthorId=code302a`);
    expect(limited.status).toBe(200);
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(limited.json).toMatchObject({
      code: 302,
      data: null,
      error: { code: 'UPSTREAM_UNAVAILABLE', upstreamCode: 302 },
    });
    const bad = await gw.get(`${DROP_IN_PATH}?oAuthorId=x1&platform=TV`);
    expect(bad.status).toBe(200);
    expect(bad.json).toMatchObject({ code: 400, message: expect.stringContaining('platform') });
    const missing = await gw.get(`${DROP_IN_PATH}?token=${CALLER_TOKEN}`);
    expect(missing.json).toMatchObject({ code: 400, message: expect.stringContaining('oAuthorId') });
  });

  it('accepts an unknown parameter (older SDKs sent acceptCache): not forwarded, not keyed, named back', async () => {
    gw = await startGateway({ sim });
    const unknown = await gw.get(`${DROP_IN_PATH}?oAuthorId=x1&pageSize=10&acceptCache=true`);
    expect(unknown.json).toMatchObject({ code: 0 });
    expect(unknown.headers.get('x-ignored-params')).toBe('pageSize, acceptCache');
    const plain = await gw.get(`${DROP_IN_PATH}?oAuthorId=x1`);
    expect(plain.headers.get('x-cache')).toBe('HIT');
    expect(plain.headers.get('x-ignored-params')).toBeNull();
    expect(sim.calls.map((c) => Object.keys(c.query).sort())).toEqual([
      ['flowType', 'oAuthorId', 'onlyAssign', 'platform', 'range', 'type'],
    ]);
    const strange = await gw.get(`${DROP_IN_PATH}?oAuthorId=x1&constructor=1`);
    expect(strange.json).toMatchObject({ code: 400 });
  });

  it('takes the key from token (or a key header) when keys are configured', async () => {
    gw = await startGateway({ sim, env: { API_KEYS: `svc:${CALLER_KEY}` } });
    // The caller's old JustOneAPI token is no gateway key.
    const stranger = await gw.get(`${DROP_IN_PATH}?oAuthorId=key1&token=${CALLER_TOKEN}`);
    expect(stranger.status).toBe(200);
    expect(stranger.json).toMatchObject({ code: 100, error: { code: 'UNAUTHORIZED' } });
    const byToken = await gw.get(`${DROP_IN_PATH}?oAuthorId=key1&token=${CALLER_KEY}`);
    expect(byToken.json).toMatchObject({ code: 0 });
    const keyed = await gw.get(`${DROP_IN_PATH}?oAuthorId=key1`, { authorization: `Bearer ${CALLER_KEY}` });
    expect(keyed.status).toBe(200);
    expect(keyed.json).toMatchObject({ code: 0 });
    // The same per-caller limit as the /v1 routes.
    expect(keyed.headers.get('ratelimit-limit')).toBe('600');
    expect(keyed.headers.get('ratelimit-remaining')).toMatch(/^\d+$/);
    expect(sim.callCount).toBe(1);
  });
});

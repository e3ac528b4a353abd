// An upstream answer nested or sized beyond what the gateway accepts is a malformed answer
// (UPSTREAM_ERROR, 502; a cached answer stands in), never a 500 from a serialiser's stack overflow,
// on the normalised and the drop-in route, with the Redis tier storing what it accepted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DROP_IN_PATH } from '../../src/routes/drop-in.js';
import { nestedDataJson } from '../../src/sim/upstream-server.js';
import { QUERY_DEFAULTS } from '../../src/upstream/params.js';
import { ADMIN_KEY, CALLER_KEY, type Gateway, startGateway } from '../helpers/gateway.js';

let gw: Gateway;
beforeAll(async () => {
  gw = await startGateway({
    env: { API_KEYS: `svc:${CALLER_KEY}`, ADMIN_API_KEYS: `ops:${ADMIN_KEY}`, CACHE_L1_SECONDS: '0' },
  });
});
afterAll(async () => {
  await gw?.close();
});

const key = { 'x-api-key': CALLER_KEY };
const v1 = (id: string) => `/v1/authors/${id}/spread-info`;
const dropIn = (id: string) => `${DROP_IN_PATH}?oAuthorId=${id}`;

describe('upstream data beyond the bounds', () => {
  it('100 000 levels deep: UPSTREAM_ERROR on both routes, not a 500', async () => {
    const res = await gw.get(v1('deep100000a'), key);
    expect(res.status, res.body.slice(0, 300)).toBe(502);
    expect(res.json).toMatchObject({ error: { code: 'UPSTREAM_ERROR' } });
    // The drop-in route carries the gateway's error (HTTP 502 today; the contract's upstream-shaped
    // HTTP 200 with business code 500 once that route maps every failure).
    const dropped = await gw.get(dropIn('deep100000b'), key);
    expect([502, 200], dropped.body.slice(0, 300)).toContain(dropped.status);
    expect(dropped.json).toMatchObject(
      dropped.status === 502 ? { error: { code: 'UPSTREAM_ERROR' } } : { code: 500, data: null },
    );
    // Nothing was stored, so nothing half-broken is served later either.
    expect(gw.sim.callsFor('deep100000a')).toHaveLength(1);
    expect((await gw.get(v1('deep100000a'), key)).status).toBe(502);
    expect(gw.sim.callsFor('deep100000a')).toHaveLength(2);
    expect(gw.logs.join('')).not.toContain('Maximum call stack');
  });

  it('data 33 levels deep (nested 32 in it) is refused, 32 levels is served as sent', async () => {
    expect((await gw.get(v1('deep32x'), key)).status).toBe(502);
    const ok = await gw.get(dropIn('deep31x'), key);
    expect(ok.status, ok.body.slice(0, 300)).toBe(200);
    const expected = JSON.parse(nestedDataJson({ ...QUERY_DEFAULTS, oAuthorId: 'deep31x' }, 31));
    expect((ok.json as { data: unknown }).data).toEqual(expected);
    // The normalised route serves the same (Redis-cached) entry.
    const normalised = await gw.get(v1('deep31x'), key);
    expect(normalised.status).toBe(200);
    expect(normalised.headers.get('x-cache')).toBe('HIT');
  });

  it('too many values: 502 as well', async () => {
    const wide = `{${Array.from({ length: 20_000 }, (_, i) => `"k${i}":${i}`).join(',')}}`;
    gw.sim.script([{ code: 0, rawData: wide }]);
    const res = await gw.get(v1('widedata1'), key);
    expect(res.status, res.body.slice(0, 300)).toBe(502);
    expect(res.json).toMatchObject({ error: { code: 'UPSTREAM_ERROR' } });
  });

  it('a cached answer stands in for a deep one (stale rules), on both routes', async () => {
    const id = 'staledeep1';
    expect((await gw.get(v1(id), key)).status).toBe(200);
    const deep = nestedDataJson({ ...QUERY_DEFAULTS, oAuthorId: id }, 100_000);
    gw.sim.script([
      { code: 0, rawData: deep },
      { code: 0, rawData: deep },
    ]);
    const forced = { ...key, 'x-api-key': ADMIN_KEY, 'cache-control': 'no-cache' };
    for (const url of [v1(id), dropIn(id)]) {
      const res = await gw.get(url, forced);
      expect(res.status, res.body.slice(0, 300)).toBe(200);
      expect(res.headers.get('x-cache')).toBe('STALE');
    }
    expect(gw.sim.callsFor(id)).toHaveLength(3);
  });
});

// Hostile input on GET /v1/authors/:oAuthorId/spread-info (and the purge route that shares its
// path): any bad path segment, query or header combination is a 4xx in the error shape, with no
// upstream call, no cache entry, no token echoed or logged and nothing planted on Object.prototype.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anyQuery, badIdSegment, badQuery, headerSets, V1_NAMES, validId, validPair } from './arbitraries.js';
import { ADMIN_KEY, CALLER_KEY, expectRefused, type FuzzApp, startFuzzApp } from './harness.js';

const RUNS = { numRuns: 200 };
const path = (id: string, query = '') => `/v1/authors/${id}/spread-info${query}`;
const auth = { 'x-api-key': CALLER_KEY };

let fz: FuzzApp;
beforeAll(async () => {
  fz = await startFuzzApp('fuzz-v1');
});
afterAll(async () => {
  await fz?.close();
});

describe('the checks themselves', () => {
  it('see a valid request call the upstream and write a cache entry', async () => {
    const res = await fz.app.inject({ url: path('fuzzcontrol1'), headers: auth });
    expect(res.statusCode).toBe(200);
    expect(fz.sim.callsFor('fuzzcontrol1')).toHaveLength(1);
    expect((await fz.traces()).some((k) => k.startsWith(`${fz.prefix}v1:`))).toBe(true);
  });

  it('see an admin purge of a valid id answer 200', async () => {
    const res = await fz.app.inject({
      method: 'DELETE',
      url: `${path('fuzzcontrol2')}/cache`,
      headers: { 'x-api-key': ADMIN_KEY },
    });
    expect(res.statusCode).toBe(200);
  });
});

describe('named hostile cases', () => {
  it.each([
    ['duplicated parameter', path('abc', '?platform=SHORT_VIDEO&platform=LIVE_STREAMING')],
    ['duplicated identical parameter', path('abc', '?range=DAY_30&range=DAY_30')],
    ['array-style parameter', path('abc', '?platform[]=SHORT_VIDEO')],
    ['constructor.prototype', path('abc', '?constructor[prototype][x]=1')],
    ['__proto__ object', path('abc', '?__proto__[x]=1')],
    ['__proto__ value', path('abc', '?__proto__=1')],
    ['NUL in a value', path('abc', '?platform=SHORT_VIDEO%00')],
    ['NUL in the id', path('a%00b')],
    ['invalid escape in the id', path('%zz')],
    ['lone % in the id', path('%')],
    ['truncated UTF-8 in the id', path('%E0%A4%A')],
    ['invalid escape in a value', path('abc', '?flowType=%zz')],
    ['lone % in a value', path('abc', '?flowType=%')],
    ['5 KB value', path('abc', `?type=${'x'.repeat(5120)}`)],
    ['5 KB unknown name', path('abc', `?${'x'.repeat(5120)}=1`)],
    ['65-character id', path('a'.repeat(65))],
    ['300-character id', path('a'.repeat(300))],
    ['unicode id', path(encodeURIComponent('创作者'))],
    ['emoji id', path('%F0%9F%98%80')],
    ['empty id', path('')],
    ['empty value', path('abc', '?platform=')],
    ['bare name', path('abc', '?onlyAssign')],
    ['empty name', path('abc', '?=1')],
    ['token on the v1 route', path('abc', '?token=')],
    ['oAuthorId in the v1 query', path('abc', '?oAuthorId=abc')],
  ])('%s', async (_name, url) => {
    const mark = await fz.mark();
    await expectRefused(fz, await fz.app.inject({ url, headers: auth }), mark);
  });
});

describe('a caller token behind a URL the router cannot decode', () => {
  it.each([
    ['an invalid escape', '%zz'],
    ['truncated UTF-8', '%E0%A4%A'],
    ['300 characters', 'a'.repeat(300)],
  ])('is not echoed (id with %s)', async (_name, id) => {
    const secret = 'ctok_behind_bad_url_5f1e0c';
    const mark = await fz.mark();
    await expectRefused(
      fz,
      await fz.app.inject({ url: path(id, `?token=${secret}`), headers: auth }),
      mark,
      secret,
    );
  });
});

describe('properties', () => {
  it('a bad author id is refused, whatever the query and headers', async () => {
    await fc.assert(
      fc.asyncProperty(
        badIdSegment,
        anyQuery,
        headerSets,
        fc.boolean(),
        async (id, query, headers, purge) => {
          const mark = await fz.mark();
          const url = purge ? `${path(id)}/cache` : path(id, query);
          const res = await fz.app.inject({ method: purge ? 'DELETE' : 'GET', url, headers });
          await expectRefused(fz, res, mark);
        },
      ),
      RUNS,
    );
  });

  it('a bad query is refused, whatever the headers', async () => {
    await fc.assert(
      fc.asyncProperty(validId, badQuery(V1_NAMES), headerSets, async (id, query, headers) => {
        const mark = await fz.mark();
        await expectRefused(fz, await fz.app.inject({ url: path(id, query), headers }), mark);
      }),
      RUNS,
    );
  });

  it('a caller token is refused and never echoed or logged', async () => {
    const token = fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 16, maxLength: 40 });
    const rest = fc.uniqueArray(validPair(V1_NAMES), { selector: ([n]) => n, maxLength: 4 });
    await fc.assert(
      fc.asyncProperty(validId, token, rest, async (id, hex, pairs) => {
        const secret = `ctok_${hex}`;
        const query = `?${[...pairs.map(([n, v]) => `${n}=${v}`), `token=${secret}`].join('&')}`;
        const mark = await fz.mark();
        const res = await fz.app.inject({ url: path(id, query), headers: auth });
        expect(res.statusCode).toBe(400);
        expect(res.json().error.message).toMatch(/"token" is not accepted/);
        await expectRefused(fz, res, mark, secret);
      }),
      { numRuns: 50 },
    );
  });
});

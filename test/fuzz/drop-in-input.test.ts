// Hostile input on the drop-in route (the upstream's own path and query). Bad queries are refused
// as the upstream refuses them (HTTP 200, code 400 or 100); a `token` parameter next to a key header,
// whatever its value, is ignored: never forwarded, echoed or logged.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DROP_IN_PATH } from '../../src/routes/drop-in.js';
import {
  badQuery,
  DROP_IN_NAMES,
  headerSets,
  RAW,
  toQuery,
  V1_NAMES,
  validId,
  validPair,
} from './arbitraries.js';
import {
  CALLER_KEY,
  expectDropInRefused,
  expectNoPollution,
  type FuzzApp,
  startFuzzApp,
  TEST_TOKEN,
} from './harness.js';

const auth = { 'x-api-key': CALLER_KEY };
let fz: FuzzApp;
beforeAll(async () => {
  fz = await startFuzzApp('fuzz-dropin');
});
afterAll(async () => {
  await fz?.close();
});

describe('the checks themselves', () => {
  it('see a valid drop-in request call the upstream and write a cache entry', async () => {
    const res = await fz.app.inject({ url: `${DROP_IN_PATH}?oAuthorId=dropctl1&token=x`, headers: auth });
    expect(res.statusCode).toBe(200);
    expect(res.json().code).toBe(0);
    expect(fz.sim.callsFor('dropctl1')).toHaveLength(1);
    expect((await fz.traces()).some((k) => k.startsWith(`${fz.prefix}v1:`))).toBe(true);
  });
});

describe('a repeated token', () => {
  it('is ignored like a single one next to a key header: answered, never forwarded, echoed or logged', async () => {
    const mark = await fz.mark();
    const res = await fz.app.inject({
      url: `${DROP_IN_PATH}?oAuthorId=dropdup1&token=ctok_dup_a&token=ctok_dup_b`,
      headers: auth,
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().code).toBe(0);
    expect(fz.sim.callsFor('dropdup1')).toHaveLength(1);
    expect(res.body).not.toContain('ctok_dup_');
    const newLogs = fz.logs.slice(mark.logs).join('');
    expect(newLogs).toContain('dropdup1');
    expect(newLogs).not.toContain('ctok_dup_');
  });
});

describe('a token without a key header', () => {
  it('is refused with code 100 when repeated, whatever the copies hold', async () => {
    const mark = await fz.mark();
    const res = await fz.app.inject({
      url: `${DROP_IN_PATH}?oAuthorId=dropdup2&token=${CALLER_KEY}&token=ctok_dup_c`,
    });
    await expectDropInRefused(fz, res, mark, 'ctok_dup_');
    expect(res.json()).toMatchObject({ code: 100, error: { code: 'UNAUTHORIZED' } });
    expect(fz.logs.slice(mark.logs).join('')).not.toContain(CALLER_KEY);
  });
});

describe('named hostile queries', () => {
  it.each([
    ['no oAuthorId', ''],
    ['empty oAuthorId', '?oAuthorId='],
    ['duplicated oAuthorId', '?oAuthorId=a&oAuthorId=b'],
    ['array-style oAuthorId', '?oAuthorId[]=a'],
    ['object-style oAuthorId', '?oAuthorId[x]=a'],
    ['__proto__', '?oAuthorId=a&__proto__=1'],
    ['__proto__ object', '?oAuthorId=a&__proto__[x]=1'],
    ['constructor.prototype', '?oAuthorId=a&constructor[prototype][x]=1'],
    ['NUL in oAuthorId', '?oAuthorId=a%00'],
    ['invalid escape in oAuthorId', '?oAuthorId=%zz'],
    ['5 KB oAuthorId', `?oAuthorId=${'a'.repeat(5120)}`],
    ['unicode oAuthorId', `?oAuthorId=${encodeURIComponent('创作者')}`],
    ['object-style token', '?oAuthorId=a&token[x]=1'],
  ])('%s is refused', async (_name, query) => {
    const mark = await fz.mark();
    const res = await fz.app.inject({ url: DROP_IN_PATH + query, headers: auth });
    await expectDropInRefused(fz, res, mark, 'ctok_dup_');
  });
});

describe('properties', () => {
  it('a bad query is refused, whatever the headers', async () => {
    await fc.assert(
      fc.asyncProperty(badQuery(DROP_IN_NAMES, true), headerSets, async (query, headers) => {
        const mark = await fz.mark();
        await expectDropInRefused(fz, await fz.app.inject({ url: DROP_IN_PATH + query, headers }), mark);
      }),
      { numRuns: 200 },
    );
  });

  it('any token value that is not a key is refused with code 100, and goes nowhere', async () => {
    const hex = fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 16, maxLength: 32 });
    const tail = fc.oneof(
      fc.constant(''),
      fc.constantFrom(...RAW),
      fc.string({ maxLength: 40 }).map(encodeURIComponent),
    );
    await fc.assert(
      fc.asyncProperty(validId, hex, tail, async (id, h, t) => {
        const secret = `ctok_${h}`;
        const mark = await fz.mark();
        const res = await fz.app.inject({
          url:
            DROP_IN_PATH +
            toQuery([
              ['oAuthorId', id],
              ['token', secret + t],
            ]),
        });
        await expectDropInRefused(fz, res, mark, secret);
        expect(res.json()).toMatchObject({ code: 100, error: { code: 'UNAUTHORIZED' } });
      }),
      { numRuns: 100 },
    );
  });

  it('any token value next to a key header is ignored: the answer is the upstream body, and the value goes nowhere', async () => {
    const hex = fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 16, maxLength: 32 });
    const tail = fc.oneof(fc.constant(''), fc.constantFrom(...RAW), fc.constant('x'.repeat(5120)));
    const others = fc.uniqueArray(validPair(V1_NAMES), { selector: ([n]) => n, maxLength: 5 });
    await fc.assert(
      fc.asyncProperty(validId, hex, tail, others, async (id, h, t, pairs) => {
        const secret = `ctok_${h}`;
        const mark = await fz.mark();
        const query = toQuery([['oAuthorId', id], ...pairs, ['token', secret + t]]);
        const res = await fz.app.inject({ url: DROP_IN_PATH + query, headers: auth });
        expect(res.statusCode, res.body.slice(0, 200)).toBe(200);
        // The fake upstream accepts only the gateway's token: code 0 means the caller's was not sent.
        expect(res.json().code).toBe(0);
        expect(fz.sim.callsFor(id).length).toBeGreaterThanOrEqual(1);
        expect(fz.sim.calls.every((c) => c.tokenSeen && !JSON.stringify(c.query).includes(secret))).toBe(
          true,
        );
        const newLogs = fz.logs.slice(mark.logs).join('');
        for (const s of [secret, TEST_TOKEN]) {
          expect(res.body).not.toContain(s);
          expect(newLogs).not.toContain(s);
        }
        expectNoPollution();
      }),
      { numRuns: 60 },
    );
  });
});

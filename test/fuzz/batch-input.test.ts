// Hostile bodies on POST /v1/authors/spread-info/batch: broken JSON, wrong content types, bodies
// over the limit (413), bad items (400 naming items.N.field), 0 or 101+ items. Every one is
// refused before any upstream call or cache write, and nothing lands on Object.prototype.
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BATCH_BODY_LIMIT, BATCH_MAX_ITEMS, BATCH_PATH, batchBodySchema } from '../../src/routes/batch.js';
import { badItemCase, notJson, validBody } from './batch-arbitraries.js';
import { CALLER_KEY, expectRefused, type FuzzApp, startFuzzApp } from './harness.js';

const JSON_TYPE = 'application/json';
const NOT_JSON_TYPES = [
  ...['text/plain', 'text/html', 'text/json', 'json', 'application/', '*/*', 'application/xml'],
  ...['application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/octet-stream'],
  ...['application/jsonx', 'application/vnd.api+json', 'application/json-patch+json'],
];

let fz: FuzzApp;
beforeAll(async () => {
  fz = await startFuzzApp('fuzz-batch');
});
afterAll(async () => {
  await fz?.close();
});

/** `contentType` null: no content-type header at all. */
const post = (payload: string | Readable, contentType: string | null = JSON_TYPE) =>
  fz.app.inject({
    method: 'POST',
    url: BATCH_PATH,
    headers: { 'x-api-key': CALLER_KEY, ...(contentType === null ? {} : { 'content-type': contentType }) },
    payload,
  });

async function refused(payload: string | Readable, contentType: string | null = JSON_TYPE) {
  const mark = await fz.mark();
  const res = await post(payload, contentType);
  await expectRefused(fz, res, mark);
  return { status: res.statusCode, message: String(res.json().error.message) };
}

describe('the checks themselves', () => {
  it('see a valid batch call the upstream and write cache entries', async () => {
    const res = await post(
      JSON.stringify({ items: [{ oAuthorId: 'batchctl1' }, { oAuthorId: 'batchctl2' }] }),
    );
    expect(res.statusCode).toBe(200);
    expect(res.json().results.map((r: { status: number }) => r.status)).toEqual([200, 200]);
    expect(fz.sim.callsFor('batchctl1')).toHaveLength(1);
    expect((await fz.traces()).filter((k) => k.startsWith(`${fz.prefix}v1:`))).toHaveLength(2);
  });
});

describe('named hostile bodies', () => {
  it.each([
    ['empty', ''],
    ['truncated', '{"items":[{"oAuthorId":"a"}'],
    ['trailing comma', '{"items":[{"oAuthorId":"a"},]}'],
    ['__proto__ at the top', '{"__proto__":{"x":1},"items":[{"oAuthorId":"a"}]}'],
    ['__proto__ in an item', '{"items":[{"oAuthorId":"a","__proto__":{"x":1}}]}'],
    ['constructor.prototype in an item', '{"items":[{"oAuthorId":"a","constructor":{"prototype":{"x":1}}}]}'],
    ['null', 'null'],
    ['an array', '[{"oAuthorId":"a"}]'],
    ['items as an object', '{"items":{"0":{"oAuthorId":"a"}}}'],
    ['an extra top-level field', '{"items":[{"oAuthorId":"a"}],"token":"t"}'],
    ['a null item', '{"items":[null]}'],
    ['NUL in an id', '{"items":[{"oAuthorId":"a\\u0000b"}]}'],
  ])('%s is a 400', async (_name, body) => {
    expect((await refused(body)).status).toBe(400);
  });

  it('a chunked body over the limit is a 413', async () => {
    const big = Readable.from([
      Buffer.from('{"items":['),
      Buffer.alloc(BATCH_BODY_LIMIT + 1024, 0x20),
      Buffer.from(']}'),
    ]);
    expect((await refused(big)).status).toBe(413);
  });
});

describe('properties', () => {
  it('broken JSON is a 400', async () => {
    const broken = fc.oneof(
      validBody.chain((s) => fc.nat(s.length - 1).map((n) => s.slice(0, n))),
      fc.tuple(validBody, fc.nat(), fc.constantFrom(...'{}[]",:\\x')).map(([s, i, c]) => {
        const at = i % s.length;
        return s.slice(0, at) + c + s.slice(at);
      }),
      fc.string(),
    );
    await fc.assert(
      fc.asyncProperty(broken.filter(notJson), async (body) => {
        expect((await refused(body)).status).toBe(400);
      }),
      { numRuns: 150 },
    );
  });

  it('valid JSON of another shape is a 400', async () => {
    const other = fc.jsonValue().filter((v) => !batchBodySchema.safeParse(v).success);
    await fc.assert(
      fc.asyncProperty(other, async (v) => {
        expect((await refused(JSON.stringify(v))).status).toBe(400);
      }),
      { numRuns: 100 },
    );
  });

  it('a valid body with a content type other than JSON is refused', async () => {
    const types = fc.constantFrom(...NOT_JSON_TYPES);
    await fc.assert(
      fc.asyncProperty(validBody, fc.option(types, { nil: null }), async (body, type) => {
        expect([400, 415]).toContain((await refused(body, type)).status);
      }),
      { numRuns: 60 },
    );
  });

  it('a body over the limit is a 413, whatever it holds', async () => {
    const sizes = fc.integer({ min: BATCH_BODY_LIMIT + 1, max: 1024 * 1024 });
    await fc.assert(
      fc.asyncProperty(validBody, sizes, fc.boolean(), async (body, size, asJson) => {
        const padded = asJson
          ? body.slice(0, -1) + ' '.repeat(Math.max(0, size - body.length)) + '}'
          : 'x'.repeat(size);
        const r = await refused(padded);
        expect(r.status).toBe(413);
        expect(r.message).toMatch(/too large/i);
      }),
      { numRuns: 20 },
    );
  });

  it('one bad field in any item is a 400 naming items.N.field', async () => {
    await fc.assert(
      fc.asyncProperty(badItemCase, async ({ xs, n, change }) => {
        const bad: Record<string, unknown> = { ...xs[n] };
        if (change.drop) delete bad[change.name];
        else bad[change.name] = change.value;
        const r = await refused(JSON.stringify({ items: xs.map((x, j) => (j === n ? bad : x)) }));
        expect(r.status).toBe(400);
        expect(r.message).toContain(`items.${n}.${change.name}`);
      }),
      { numRuns: 150 },
    );
  });

  it('0 or more than 100 items is a 400 naming items', async () => {
    const count = fc.oneof(fc.constant(0), fc.integer({ min: BATCH_MAX_ITEMS + 1, max: 300 }));
    await fc.assert(
      fc.asyncProperty(count, async (n) => {
        const body = JSON.stringify({
          items: Array.from({ length: n }, (_, j) => ({ oAuthorId: `cnt${j}` })),
        });
        const r = await refused(body);
        expect(r.status).toBe(400);
        expect(r.message).toContain('"items"');
      }),
      { numRuns: 30 },
    );
  });
});

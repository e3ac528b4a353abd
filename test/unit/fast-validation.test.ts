// The validation fast paths against zod itself: for any query or path object, valid or not, a fast
// path either declines (zod decides) or outputs exactly what zod outputs. Inputs mix the routes'
// own names and values with near misses, unknown keys, prototype names, arrays and non-strings.
import fc from 'fast-check';
import { validatorCompiler } from 'fastify-type-provider-zod';
import { describe, expect, it } from 'vitest';
import type { ZodType } from 'zod';
import { fastPathOf, fastValidatorCompiler } from '../../src/http/fast-validation.js';
import { dropInQuerySchema, spreadParamsSchema, spreadQuerySchema } from '../../src/routes/schemas.js';
import { FLOW_TYPES, PLATFORMS, RANGES, VIDEO_TYPES } from '../../src/upstream/params.js';

type Result = { value?: unknown; error?: unknown };
const compile = (c: typeof validatorCompiler | typeof fastValidatorCompiler, schema: ZodType) =>
  c({ schema, method: 'GET', url: '/x', httpPart: 'querystring' }) as (data: unknown) => Result;

/** Each name's valid values; near misses come from the others' and from VALUES. */
const VALID: Record<string, readonly string[]> = {
  platform: PLATFORMS,
  range: RANGES,
  type: VIDEO_TYPES,
  flowType: FLOW_TYPES,
  onlyAssign: ['true', 'false'],
  oAuthorId: ['7012345678901234567', 'a-b_C', 'x'.repeat(64)],
  token: ['caller-key-0123456789abcdef', ''],
};
const NEAR_MISSES = [
  'TRUE',
  'False',
  '1',
  '',
  'short_video',
  'DAY_31',
  'x'.repeat(65),
  'bad id',
  '%00',
  ' true',
];
const ALL_VALUES = [...Object.values(VALID).flat(), ...NEAR_MISSES];
const pair = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .constantFrom(...Object.keys(VALID))
      .chain((name) =>
        fc.tuple(
          fc.constant(name),
          fc.oneof(
            { weight: 6, arbitrary: fc.constantFrom(...VALID[name]!) },
            { weight: 3, arbitrary: fc.constantFrom(...ALL_VALUES) },
            fc.string(),
            fc.array(fc.constantFrom(...ALL_VALUES), { maxLength: 3 }),
            fc.constantFrom<unknown>(1, true, null, undefined, {}),
          ),
        ),
      ),
  },
  fc.tuple(
    fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'x', 'Platform'),
    fc.constantFrom(...ALL_VALUES),
  ),
);

/** Objects as Fastify's parsers make them (null prototype), and as plain objects. */
const input = fc.tuple(fc.array(pair, { maxLength: 6 }), fc.boolean()).map(([pairs, bare]) => {
  const o: Record<string, unknown> = bare ? Object.create(null) : {};
  for (const [k, v] of pairs) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true });
  return o;
});

describe.each([
  ['spread-info query', spreadQuerySchema],
  ['spread-info path', spreadParamsSchema],
  ['drop-in query', dropInQuerySchema],
] as const)('%s: the fast path agrees with zod', (_name, schema) => {
  const zod = compile(validatorCompiler, schema);
  const fast = compile(fastValidatorCompiler, schema);

  it('on any input: the same value, or zod error for error', () => {
    fc.assert(
      fc.property(input, (data) => {
        const expected = zod(data);
        const actual = fast(data);
        if (expected.error) expect(actual.error).toBeDefined();
        else expect(actual).toStrictEqual(expected);
      }),
      { numRuns: 5000 },
    );
  });

  it('answers the common shapes itself, as zod would', () => {
    const path = fastPathOf(schema)!;
    const common = [
      { oAuthorId: '7012345678901234567' },
      { oAuthorId: 'a-b_C', platform: 'LIVE_STREAMING', onlyAssign: 'true', token: 'k'.repeat(20) },
      {},
      { range: 'DAY_90', type: 'XINTU_VIDEO', flowType: 'INCLUDE', onlyAssign: 'false' },
    ].map((o) => Object.assign(Object.create(null), o));
    let answered = 0;
    for (const data of common) {
      const value = path(data);
      if (value === undefined) continue;
      answered++;
      expect({ value }).toStrictEqual(zod(data));
    }
    expect(answered).toBeGreaterThan(0);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { spreadMetricsSchema } from '../../src/normalize/schema.js';
import { normalizeSpreadInfo } from '../../src/normalize/spread-info.js';

const RUNS = { numRuns: 400 };
// Upstream keys the normaliser maps (or, for base_resp, drops); anything else must reach `extra`.
const KNOWN_TOP = new Set(
  (
    'avg_duration item_num play_mid like_avg comment_avg share_avg interact_rate play_over_rate ' +
    'play_stability item_rate expect_cpm expect_cpe sales_expect_cpm base_resp'
  ).split(' '),
);

/** Every number in the output is finite and nothing is undefined: it is plain, lossless JSON. */
function assertJsonSafe(v: unknown): void {
  if (typeof v === 'number') expect(Number.isFinite(v)).toBe(true);
  else if (Array.isArray(v)) v.forEach(assertJsonSafe);
  else if (typeof v === 'object' && v !== null) Object.values(v).forEach(assertJsonSafe);
  else expect(v === null || typeof v === 'string' || typeof v === 'boolean').toBe(true);
}

function checkInvariants(input: unknown) {
  const out = normalizeSpreadInfo(input);
  expect(spreadMetricsSchema.safeParse(out).success).toBe(true);
  assertJsonSafe(out);
  if (typeof input === 'object' && input !== null && !Array.isArray(input)) {
    const unknown = Object.keys(input).filter((k) => !KNOWN_TOP.has(k) && k !== '__proto__');
    for (const k of unknown) expect(Object.hasOwn(out.extra ?? {}, k)).toBe(true);
  }
  return out;
}

const holds = (arb: fc.Arbitrary<unknown>) =>
  fc.assert(
    fc.property(arb, (v) => void checkInvariants(v)),
    RUNS,
  );

function isJson(v: unknown): boolean {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return true;
  if (typeof v === 'number') return Number.isFinite(v);
  if (Array.isArray(v)) return v.every(isJson);
  if (typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return (proto === Object.prototype || proto === null) && Object.values(v).every(isJson);
}

// ---- "plausible upstream data": each generator yields the raw value and the output it must give.
const MISSING = Symbol('missing');
interface Gen {
  raw: unknown;
  want: unknown;
  extraKeys: string[]; // unknown keys this value must add to `extra`, relative to its own key
}
const gen = (raw: unknown, want: unknown): Gen => ({ raw, want, extraKeys: [] });

/** Builds like JSON.parse does: "__proto__" becomes an own data property, never a prototype. */
function build(entries: [string, unknown][]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, value] of entries) {
    if (value !== MISSING)
      Object.defineProperty(o, k, { value, enumerable: true, writable: true, configurable: true });
  }
  return o;
}

const finite = fc.double({ noNaN: true, noDefaultInfinity: true });
const garbageScalar = fc.oneof(
  fc.constantFrom('abc', '', '  ', '1e999', '-1e999', 'NaN', 'Infinity', '0x1F', '1,5', '12px'),
  fc.constantFrom(true, false, null, [], [1], {}, { value: 1 }),
  fc.string().filter((s) => !/\d/.test(s)), // no digit, so never numeric
);
const numSlot: fc.Arbitrary<Gen> = fc.oneof(
  finite.map((d) => gen(d, d)),
  fc.integer().map((i) => gen(i, i)),
  fc
    .tuple(finite, fc.constantFrom('', ' ', '\t', '\n '))
    .chain(([d, pad]) => fc.constantFrom(`${pad}${d}${pad}`, d.toExponential(), String(d).toUpperCase()))
    .map((s) => gen(s, Number(s))),
  fc.nat().map((n) => gen(String(n), n)),
  garbageScalar.map((g) => gen(g, null)),
  fc.constant(gen(MISSING, null)),
);
const labelSlot: fc.Arbitrary<Gen> = fc.oneof(
  fc.string({ minLength: 1 }).map((s) => gen(s, s)),
  fc.constantFrom('剧情搞笑', '美食').map((s) => gen(s, s)),
  fc.integer().map((n) => gen(n, String(n))),
  fc.constantFrom('', true, null, {}, []).map((g) => gen(g, null)),
  fc.constant(gen(MISSING, null)),
);

/** An upstream object with known fields [upstreamKey, outputKey, slot], random unknown keys, or garbage. */
function objectSlot(fields: [string, string, fc.Arbitrary<Gen>][]): fc.Arbitrary<Gen> {
  const known = new Set(fields.map(([up]) => up));
  const unknownKey = fc
    .oneof(fc.string({ maxLength: 6 }), fc.constantFrom('__proto__', 'constructor', 'foo'))
    .filter((k) => !known.has(k));
  const unknowns = fc.uniqueArray(fc.tuple(unknownKey, fc.jsonValue({ maxDepth: 2 })), {
    maxLength: 2,
    selector: ([k]) => k,
  });
  const asObject = fc.tuple(fc.tuple(...fields.map(([, , slot]) => slot)), unknowns).map(([slots, extra]) => {
    const want = Object.fromEntries(fields.map(([, outKey], i) => [outKey, slots[i]?.want]));
    return {
      raw: build([...fields.map(([up], i): [string, unknown] => [up, slots[i]?.raw]), ...extra]),
      want: Object.values(want).every((w) => w === null) ? null : want,
      extraKeys: [
        ...extra.map(([k]) => k),
        ...fields.flatMap(([up], i) => (slots[i]?.extraKeys ?? []).map((k) => `${up}.${k}`)),
      ],
    };
  });
  return fc.oneof(
    { arbitrary: asObject, weight: 4 },
    garbageScalar
      .filter((g) => !(typeof g === 'object' && g !== null && !Array.isArray(g)))
      .map((g) => gen(g, null)),
    fc.constant(gen(MISSING, null)),
  );
}

const metricSlot = objectSlot([
  ['value', 'value', numSlot],
  ['overtake', 'overtake', numSlot],
  ['label', 'label', labelSlot],
]);
const tierSlot = (p: string) =>
  objectSlot([
    [`${p}_1_20`, 's1to20', numSlot],
    [`${p}_21_60`, 's21to60', numSlot],
    [`${p}_60`, 's60plus', numSlot],
  ]);
const TOP: [string, string, fc.Arbitrary<Gen>][] = [
  ['avg_duration', 'avgDuration', numSlot],
  ['item_num', 'itemCount', numSlot],
  ['play_mid', 'playMedian', numSlot],
  ['like_avg', 'likeAvg', numSlot],
  ['comment_avg', 'commentAvg', numSlot],
  ['share_avg', 'shareAvg', numSlot],
  ['interact_rate', 'interactRate', metricSlot],
  ['play_over_rate', 'playOverRate', metricSlot],
  ['play_stability', 'playStability', metricSlot],
  [
    'item_rate',
    'itemRate',
    objectSlot([
      ['interact_rate', 'interactRate', metricSlot],
      ['item_num', 'itemCount', metricSlot],
      ['play_mid', 'playMedian', metricSlot],
    ]),
  ],
  ['expect_cpm', 'expectedCpm', tierSlot('cpm')],
  ['expect_cpe', 'expectedCpe', tierSlot('cpe')],
  ['sales_expect_cpm', 'salesExpectedCpm', tierSlot('cpm')],
  ['base_resp', '', fc.jsonValue({ maxDepth: 2 }).map((j) => gen(j, undefined))],
];
const topUnknownKey = fc
  .oneof(fc.string({ maxLength: 8 }), fc.constantFrom('__proto__', 'constructor', 'toString', 'fans_num'))
  .filter((k) => !KNOWN_TOP.has(k));
const topUnknowns = fc.uniqueArray(fc.tuple(topUnknownKey, fc.jsonValue({ maxDepth: 3 })), {
  maxLength: 4,
  selector: ([k]) => k,
});
const plausible = fc.tuple(fc.tuple(...TOP.map(([, , slot]) => slot)), topUnknowns).map(([slots, extra]) => ({
  raw: build([...TOP.map(([up], i): [string, unknown] => [up, slots[i]?.raw]), ...extra]),
  want: Object.fromEntries(TOP.flatMap(([, out], i) => (out === '' ? [] : [[out, slots[i]?.want]]))),
  extraKeys: [
    ...extra.map(([k]) => k),
    ...TOP.flatMap(([up], i) => (slots[i]?.extraKeys ?? []).map((k) => `${up}.${k}`)),
  ].filter((k) => k !== '__proto__'),
}));

describe('normalizeSpreadInfo properties', () => {
  it('any JSON value: no throw, schema-valid, finite, unknown keys kept', () => {
    holds(fc.jsonValue());
  });

  it('fc.anything filtered to JSON: same invariants', () => {
    holds(fc.anything().filter(isJson));
  });

  it('fc.anything unfiltered (Maps, -0, NaN, null prototypes...): no throw, schema-valid, finite', () => {
    holds(fc.anything({ withNullPrototype: true, withMap: true }));
  });

  it('plausible upstream data: known fields as Number(x) or null, unknown keys exactly in extra', () => {
    fc.assert(
      fc.property(plausible, ({ raw, want, extraKeys }) => {
        const { extra, ...known } = checkInvariants(raw);
        expect(known).toStrictEqual(want);
        expect(Object.keys(extra ?? {}).sort()).toStrictEqual([...new Set(extraKeys)].sort());
        expect(extra === undefined).toBe(extraKeys.length === 0);
      }),
      RUNS,
    );
  });
});

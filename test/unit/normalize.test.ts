import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { spreadMetricsSchema } from '../../src/normalize/schema.js';
import { normalizeSpreadInfo, toNumber } from '../../src/normalize/spread-info.js';

// Verbatim `data` of the example response in the upstream's own documentation.
const UPSTREAM_EXAMPLE = JSON.parse(`{
  "avg_duration": "2600",
  "base_resp": { "status_code": 0, "status_message": "" },
  "comment_avg": "4192",
  "expect_cpe": { "cpe_1_20": "253", "cpe_21_60": "633", "cpe_60": "633" },
  "expect_cpm": { "cpm_1_20": "5618", "cpm_21_60": "14043", "cpm_60": "14043" },
  "interact_rate": { "label": "剧情搞笑", "overtake": 5973, "value": 244 },
  "item_num": "3",
  "item_rate": {
    "interact_rate": {},
    "item_num": { "label": "", "overtake": 10800, "value": 3 },
    "play_mid": { "label": "", "overtake": 9993, "value": 3642403 }
  },
  "like_avg": "95028",
  "play_mid": "3642403",
  "play_over_rate": { "label": "剧情搞笑", "overtake": 6400, "value": 1113 },
  "play_stability": { "label": "剧情搞笑", "overtake": 8865, "value": 540887 },
  "sales_expect_cpm": { "cpm_1_20": "6619", "cpm_21_60": "16543", "cpm_60": "16543" },
  "share_avg": "9637"
}`);

// The agreed example `metrics` of the normalised route, written out literally.
const CONTRACT_METRICS = {
  avgDuration: 2600,
  itemCount: 3,
  playMedian: 3642403,
  likeAvg: 95028,
  commentAvg: 4192,
  shareAvg: 9637,
  interactRate: { value: 244, overtake: 5973, label: '剧情搞笑' },
  playOverRate: { value: 1113, overtake: 6400, label: '剧情搞笑' },
  playStability: { value: 540887, overtake: 8865, label: '剧情搞笑' },
  itemRate: {
    interactRate: null,
    itemCount: { value: 3, overtake: 10800, label: null },
    playMedian: { value: 3642403, overtake: 9993, label: null },
  },
  expectedCpm: { s1to20: 5618, s21to60: 14043, s60plus: 14043 },
  expectedCpe: { s1to20: 253, s21to60: 633, s60plus: 633 },
  salesExpectedCpm: { s1to20: 6619, s21to60: 16543, s60plus: 16543 },
};

const NOT_NUMERIC = ['abc', '', '   ', '1e999', '-1e999', 'NaN', 'Infinity', '0x10', '1,234', '12abc'];
const ALL_NULL = Object.fromEntries(Object.keys(CONTRACT_METRICS).map((k) => [k, null]));

/** Normalise, and insist the result is what the response schema accepts. */
function norm(data: unknown) {
  const out = normalizeSpreadInfo(data);
  expect(() => spreadMetricsSchema.parse(out)).not.toThrow();
  return out;
}

describe('normalizeSpreadInfo: upstream example', () => {
  it('gives exactly the contract example metrics', () => {
    expect(norm(UPSTREAM_EXAMPLE)).toStrictEqual(CONTRACT_METRICS);
  });

  it('serialises with the contract key order and drops base_resp', () => {
    const json = JSON.stringify(norm(UPSTREAM_EXAMPLE));
    expect(json).toBe(JSON.stringify(CONTRACT_METRICS));
    expect(json).not.toContain('base_resp');
    expect(json).not.toContain('extra');
  });

  it('is stable whatever key order the upstream uses', () => {
    const reversed = Object.fromEntries(Object.entries({ ...UPSTREAM_EXAMPLE, z: 1, a: 2 }).reverse());
    const a = JSON.stringify(norm({ ...UPSTREAM_EXAMPLE, a: 2, z: 1 }));
    expect(JSON.stringify(norm(reversed))).toBe(a);
  });
});

describe('normalizeSpreadInfo: hostile input', () => {
  it.each([null, undefined, [], [1, 2], 'x', '', 42, true, Symbol('s'), () => 1])('non-object %s', (v) => {
    expect(norm(v)).toStrictEqual(ALL_NULL);
  });

  it('missing fields and empty objects become null', () => {
    expect(norm({})).toStrictEqual(ALL_NULL);
    const empties = { interact_rate: {}, item_rate: {}, expect_cpm: {}, play_stability: { label: '' } };
    expect(norm(empties)).toStrictEqual(ALL_NULL);
    expect(norm({ item_rate: { item_num: {}, play_mid: {} } }).itemRate).toBeNull();
  });

  it('keeps numbers as numbers and converts numeric strings', () => {
    const out = norm({ avg_duration: 12, item_num: ' 12 ', play_mid: '1.5e3', like_avg: '-0.25' });
    expect(out).toMatchObject({ avgDuration: 12, itemCount: 12, playMedian: 1500, likeAvg: -0.25 });
    const rate = norm({ interact_rate: { value: '244', overtake: ' 5973 ' } }).interactRate;
    expect(rate).toStrictEqual({ value: 244, overtake: 5973, label: null });
  });

  it.each<unknown>([...NOT_NUMERIC, true, false, [], [1], {}, { value: 1 }, Number.NaN, -Infinity])(
    'numeric slot with %j becomes null',
    (v) => {
      const out = norm({ avg_duration: v, expect_cpm: { cpm_1_20: v, cpm_60: 1 }, play_mid: v });
      expect(out.avgDuration).toBeNull();
      expect(out.playMedian).toBeNull();
      expect(out.expectedCpm).toStrictEqual({ s1to20: null, s21to60: null, s60plus: 1 });
    },
  );

  it('labels: non-empty string kept, number stringified, other types null', () => {
    const label = (l: unknown) => norm({ interact_rate: { value: 1, label: l } }).interactRate?.label;
    expect(['剧情', 7, '', true, {}, Number.NaN].map(label)).toStrictEqual([
      '剧情',
      '7',
      null,
      null,
      null,
      null,
    ]);
  });

  it('a known object field of the wrong type is null', () => {
    const out = norm({ interact_rate: 'high', item_rate: [1], expect_cpe: 5, sales_expect_cpm: null });
    expect(out).toStrictEqual(ALL_NULL);
  });
});

describe('normalizeSpreadInfo: extra', () => {
  it('keeps unknown top-level fields with numeric strings converted', () => {
    const out = norm({
      ...UPSTREAM_EXAMPLE,
      fans_num: '1024',
      ratio: ' 0.5 ',
      name: 'abc',
      flag: true,
      nothing: null,
      huge: '1e999',
      big_id: '7012345678901234567',
      list: ['1', 'x', { n: '2' }],
    });
    expect(out.extra).toStrictEqual({
      big_id: '7012345678901234567',
      fans_num: 1024,
      flag: true,
      huge: '1e999',
      list: [1, 'x', { n: 2 }],
      name: 'abc',
      nothing: null,
      ratio: 0.5,
    });
    expect(Object.keys(out).at(-1)).toBe('extra');
  });

  it('keeps unknown keys of known objects as "parent.key"', () => {
    const out = norm({
      interact_rate: { value: 1, foo: '3' },
      item_rate: { bar: 1, interact_rate: { baz: 'q' } },
      expect_cpm: { cpm_61_120: '99' },
    });
    expect(out.extra).toStrictEqual({
      'expect_cpm.cpm_61_120': 99,
      'interact_rate.foo': 3,
      'item_rate.bar': 1,
      'item_rate.interact_rate.baz': 'q',
    });
    expect(out.expectedCpm).toBeNull();
  });

  it('never emits NaN or Infinity in extra', () => {
    const out = norm({ a: Number.NaN, b: [Number.POSITIVE_INFINITY], c: { d: Number.NEGATIVE_INFINITY } });
    expect(out.extra).toStrictEqual({ a: null, b: [null], c: { d: null } });
  });

  it('caps nesting depth and survives cycles', () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < 100_000; i++) deep = { n: deep };
    expect(JSON.stringify(norm({ deep }).extra)).toContain('null');
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic['self'] = cyclic;
    expect(() => JSON.stringify(norm(cyclic))).not.toThrow();
  });

  it('__proto__ and constructor keys do not pollute prototypes', () => {
    const data = JSON.parse(
      '{"__proto__": {"polluted": 1}, "constructor": {"prototype": {"polluted": 2}},' +
        '"interact_rate": {"__proto__": {"polluted": 3}, "value": 1}, "x": {"__proto__": {"polluted": 4}}}',
    );
    const out = norm(data);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(Object.getPrototypeOf(out.extra)).toBe(Object.prototype);
    expect(out.extra?.['x']).toStrictEqual({});
    expect(out.extra?.['constructor']).toStrictEqual({ prototype: { polluted: 2 } });
    expect(out.extra?.['interact_rate.__proto__']).toStrictEqual({ polluted: 3 });
  });

  it('does not throw on throwing getters', () => {
    const evil = Object.defineProperty({}, 'avg_duration', {
      enumerable: true,
      get() {
        throw new Error('boom');
      },
    });
    expect(norm(evil)).toStrictEqual(ALL_NULL);
  });
});

describe('toNumber', () => {
  it('accepts finite numbers and trimmed decimal/exponent strings only', () => {
    expect([1, '  42\n', '.5', '5.', '1E3', '-0.5e-1'].map(toNumber)).toStrictEqual([
      1, 42, 0.5, 5, 1000, -0.05,
    ]);
    expect([...NOT_NUMERIC, '0b1', null, Number.NaN, 1n].map(toNumber).every((n) => n === null)).toBe(true);
  });
});

describe('spreadMetricsSchema', () => {
  it('converts to JSON Schema with descriptions', () => {
    const json = JSON.stringify(z.toJSONSchema(spreadMetricsSchema));
    for (const word of ['avg_duration', 'basis points', 'fen', 'appears', 'item_rate.interact_rate']) {
      expect(json).toContain(word);
    }
  });
});

// Upstream `data` -> the normalised route's `metrics`. Pure and total: upstream bodies are untrusted (the example
// already mixes "2600" strings, numbers and `{}`), and a normaliser that throws would turn one odd
// field into a 502 for a response the caller has already been billed for.
import type { SpreadMetrics } from './schema.js';

type Metric = NonNullable<SpreadMetrics['interactRate']>;
type Tiers = NonNullable<SpreadMetrics['expectedCpm']>;
type ItemRate = NonNullable<SpreadMetrics['itemRate']>;
type Bag = Record<string, unknown>;

// Plain decimal/exponent only: Number() would also accept "0x10", "0b1", "Infinity" and "" (as 0).
// Written without nested quantifiers so a long digit run cannot backtrack quadratically.
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
// Bounds hostile nesting (and cycles, for non-JSON input) in `extra`; real upstream data is 2 deep.
const MAX_DEPTH = 8;

const METRIC_KEYS = ['value', 'overtake', 'label'];
const ITEM_RATE_KEYS = ['interact_rate', 'item_num', 'play_mid'];
const KNOWN_TOP = new Set<string>([
  'avg_duration',
  'item_num',
  'play_mid',
  'like_avg',
  'comment_avg',
  'share_avg',
  'interact_rate',
  'play_over_rate',
  'play_stability',
  'item_rate',
  'expect_cpm',
  'expect_cpe',
  'sales_expect_cpm',
  'base_resp', // upstream status echo; the envelope's `code` already said everything it says
]);

/** A finite number from a number or a trimmed decimal/exponent string; anything else is null. */
export function toNumber(v: unknown): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v !== 'string') return null;
  const s = v.trim();
  if (!DECIMAL.test(s)) return null;
  const n = Number(s);
  return Number.isFinite(n) ? n : null;
}

/**
 * Normalise the upstream `data` member (not the `{code, data}` envelope) into the contract's
 * `metrics`. Never throws; unknown fields go to `extra` so nothing the upstream adds is lost.
 */
export function normalizeSpreadInfo(data: unknown): SpreadMetrics {
  try {
    return normalize(isBag(data) ? data : {});
  } catch {
    // Only reachable with non-JSON input (throwing getters, revoked proxies): degrade, don't 500.
    return normalize({});
  }
}

function normalize(d: Bag): SpreadMetrics {
  const extra: Bag = {};
  // Literal order = the contract example's order, so serialised JSON (and its ETag) is stable.
  const out: SpreadMetrics = {
    avgDuration: toNumber(own(d, 'avg_duration')),
    itemCount: toNumber(own(d, 'item_num')),
    playMedian: toNumber(own(d, 'play_mid')),
    likeAvg: toNumber(own(d, 'like_avg')),
    commentAvg: toNumber(own(d, 'comment_avg')),
    shareAvg: toNumber(own(d, 'share_avg')),
    interactRate: metric(d, 'interact_rate', '', extra),
    playOverRate: metric(d, 'play_over_rate', '', extra),
    playStability: metric(d, 'play_stability', '', extra),
    itemRate: itemRate(own(d, 'item_rate'), extra),
    expectedCpm: tiers(d, 'expect_cpm', 'cpm', extra),
    expectedCpe: tiers(d, 'expect_cpe', 'cpe', extra),
    salesExpectedCpm: tiers(d, 'sales_expect_cpm', 'cpm', extra),
  };
  for (const key of Object.keys(d)) {
    if (!KNOWN_TOP.has(key)) put(extra, key, toJson(d[key], 0));
  }
  if (Object.keys(extra).length > 0) out.extra = sorted(extra);
  return out;
}

function metric(parent: Bag, key: string, prefix: string, extra: Bag): Metric | null {
  const v = own(parent, key);
  if (!isBag(v)) return null;
  keepUnknown(v, METRIC_KEYS, prefix + key, extra);
  const m: Metric = {
    value: toNumber(own(v, 'value')),
    overtake: toNumber(own(v, 'overtake')),
    label: toLabel(own(v, 'label')),
  };
  // `{}` or `{"label": ""}` carries no information; null is easier for callers than an all-null object.
  return m.value === null && m.overtake === null && m.label === null ? null : m;
}

function itemRate(v: unknown, extra: Bag): ItemRate | null {
  if (!isBag(v)) return null;
  keepUnknown(v, ITEM_RATE_KEYS, 'item_rate', extra);
  const r: ItemRate = {
    interactRate: metric(v, 'interact_rate', 'item_rate.', extra),
    itemCount: metric(v, 'item_num', 'item_rate.', extra),
    playMedian: metric(v, 'play_mid', 'item_rate.', extra),
  };
  return r.interactRate === null && r.itemCount === null && r.playMedian === null ? null : r;
}

function tiers(parent: Bag, key: string, prefix: string, extra: Bag): Tiers | null {
  const v = own(parent, key);
  if (!isBag(v)) return null;
  const names = [`${prefix}_1_20`, `${prefix}_21_60`, `${prefix}_60`];
  keepUnknown(v, names, key, extra);
  const t: Tiers = {
    s1to20: toNumber(own(v, `${prefix}_1_20`)),
    s21to60: toNumber(own(v, `${prefix}_21_60`)),
    s60plus: toNumber(own(v, `${prefix}_60`)),
  };
  return t.s1to20 === null && t.s21to60 === null && t.s60plus === null ? null : t;
}

function toLabel(v: unknown): string | null {
  if (typeof v === 'string') return v === '' ? null : v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return null;
}

/** Unknown keys of a known object are flattened as "parent.key" so `extra` stays one level to scan. */
function keepUnknown(obj: Bag, known: readonly string[], path: string, extra: Bag): void {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) put(extra, `${path}.${key}`, toJson(obj[key], 0));
  }
}

/** Any value -> JSON-safe value: numeric strings become numbers, except beyond 2^53 (see below). */
function toJson(v: unknown, depth: number): unknown {
  if (v === null || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'string') {
    const n = toNumber(v);
    // Beyond 2^53 a double rounds (ids, big counters), and "1e999" has no number: keep the text.
    return n !== null && Math.abs(n) <= Number.MAX_SAFE_INTEGER ? n : v;
  }
  if (typeof v === 'bigint')
    return v <= Number.MAX_SAFE_INTEGER && -v <= Number.MAX_SAFE_INTEGER ? Number(v) : String(v);
  if (typeof v !== 'object' || depth >= MAX_DEPTH) return null;
  if (Array.isArray(v)) return v.map((x) => toJson(x, depth + 1));
  const out: Bag = {};
  for (const key of Object.keys(v)) put(out, key, toJson((v as Bag)[key], depth + 1));
  return sorted(out);
}

/** "__proto__" would set the prototype of a plain object instead of adding data: skip it. */
function put(target: Bag, key: string, value: unknown): void {
  if (key !== '__proto__') target[key] = value;
}

/** Sorted keys: the same upstream data gives byte-identical JSON (and ETag) whatever its key order. */
function sorted(obj: Bag): Bag {
  const out: Bag = {};
  for (const key of Object.keys(obj).sort()) put(out, key, obj[key]);
  return out;
}

function own(obj: Bag, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

function isBag(v: unknown): v is Bag {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

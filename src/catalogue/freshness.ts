// How long an answer stays fresh, per freshness class of the catalogue (author profiles and metrics
// change slowly, search results quickly, a daily-fans range wholly in the past never), with
// ENDPOINT_FRESH_SECONDS overriding per endpoint. The stale and not-found windows are the same for all.
import type { Windows } from '../cache/entry.js';
import { quotaDayId } from '../governance/quota-day.js';
import type { EndpointCall } from './call.js';
import type { EndpointSpec, FreshnessClass } from './types.js';

/** Search results: short (a new creator or a changed ranking shows within minutes). */
const SEARCH_FRESH_MS = 5 * 60_000;
/** Per-video reports: a video's counts move while it is young. */
const PER_VIDEO_FRESH_MS = 6 * 3600_000;
/** A date range wholly in the past: its figures cannot change any more. */
const PAST_RANGE_FRESH_MS = 30 * 86_400_000;

export interface FreshnessSettings {
  /** CACHE_FRESH_SECONDS, CACHE_STALE_SECONDS, CACHE_NOT_FOUND_SECONDS in ms. */
  base: Windows;
  /** ENDPOINT_FRESH_SECONDS. */
  overrides: ReadonlyMap<string, number>;
  /** UPSTREAM_QUOTA_TZ: whose calendar says which days are past. */
  tz: string;
  now?: () => number;
}

function classFreshMs(cls: FreshnessClass, base: Windows): number {
  if (cls === 'search') return Math.min(base.freshMs, SEARCH_FRESH_MS);
  if (cls === 'per-video') return Math.min(base.freshMs, PER_VIDEO_FRESH_MS);
  return base.freshMs;
}

/** `2026-11-30` or `20261130` as `20261130`, or undefined. */
function compactDate(v: string | undefined): string | undefined {
  const d = v?.replaceAll('-', '');
  return d !== undefined && /^[0-9]{8}$/.test(d) ? d : undefined;
}

/** The windows of a call's answers; one object per endpoint (no allocation on the hit path). */
export function freshnessFor(s: FreshnessSettings): (call: EndpointCall) => Windows {
  const now = s.now ?? Date.now;
  const bySpec = new Map<EndpointSpec, Windows>();
  const windowsOf = (spec: EndpointSpec): Windows => {
    let w = bySpec.get(spec);
    if (w === undefined) {
      const override = s.overrides.get(spec.name);
      const freshMs = override === undefined ? classFreshMs(spec.freshness, s.base) : override * 1000;
      w = freshMs === s.base.freshMs ? s.base : { ...s.base, freshMs };
      bySpec.set(spec, w);
    }
    return w;
  };
  const past = new Map<EndpointSpec, Windows>();
  return (call) => {
    const w = windowsOf(call.spec);
    if (call.spec.freshness !== 'date-range' || s.overrides.has(call.spec.name)) return w;
    const end = compactDate(call.tuple.endDate);
    if (end === undefined || end >= quotaDayId(now(), s.tz).replaceAll('-', '')) return w;
    let p = past.get(call.spec);
    if (p === undefined) {
      p = { ...w, freshMs: Math.max(w.freshMs, PAST_RANGE_FRESH_MS) };
      past.set(call.spec, p);
    }
    return p;
  };
}

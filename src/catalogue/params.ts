// A request's query against its catalogue entry: each known parameter checked by its kind, defaults
// filled, unknown ones set aside (accepted, never forwarded, never keyed). The tuple this returns is
// the only thing the cache key and the upstream query are built from.
import { AUTHOR_ID_PATTERN } from '../upstream/params.js';
import type { EndpointSpec, ParamSpec } from './types.js';

/** Known parameters after defaults, as query-string values; absent optional ones are left out. */
export type Tuple = Readonly<Record<string, string>>;

export type Parsed =
  | { ok: true; tuple: Tuple; ignored: string[] }
  | { ok: false; param: string; problem: string };

/** Parameters that are never the upstream's: the caller's credential. */
const NOT_PARAMS = new Set(['token']);

const INTEGER = /^(0|[1-9][0-9]{0,5})$/;
/** yyyy-MM-dd (daily fans) or yyyyMMdd (homepage videos): the SDK's two spellings, one of them only. */
const DATE = /^([0-9]{4})(?:-([0-9]{2})-|([0-9]{2}))([0-9]{2})$/;

/** A date in one of the SDK's two spellings that is a real calendar day (no month 50, no 30 February). */
function isCalendarDate(v: string): boolean {
  const m = DATE.exec(v);
  if (!m) return false;
  const [year, month, day] = [Number(m[1]), Number(m[2] ?? m[3]), Number(m[4])];
  if (year < 1 || month < 1 || month > 12 || day < 1) return false;
  // Day 0 of the next month is the last day of this one (UTC: no time zone moves it).
  return day <= new Date(Date.UTC(year, month, 0)).getUTCDate();
}
/** "min-max" of numbers, either bound optional; "30:8-" for task counts. */
const RANGE = /^[0-9.:-]*$/;
/** Free text: any character a person types (Chinese included), no control characters. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Why a value does not fit its parameter, or undefined when it does. */
export function checkValue(p: ParamSpec, v: string): string | undefined {
  if (v === '' && p.required) return 'must not be empty';
  switch (p.kind) {
    case 'author-id':
    case 'id':
      return AUTHOR_ID_PATTERN.test(v) ? undefined : 'must be 1 to 64 characters of 0-9 A-Z a-z _ -';
    case 'boolean':
      return v === 'true' || v === 'false' ? undefined : 'must be true or false';
    case 'integer':
      return INTEGER.test(v) ? undefined : 'must be a whole number from 0 to 999999';
    case 'date':
      return v === '' || isCalendarDate(v) ? undefined : 'must be a real date as yyyy-MM-dd or yyyyMMdd';
    case 'range':
      return RANGE.test(v) && v.length <= (p.maxLength ?? 64)
        ? undefined
        : `must be a range like 1000-2000 (digits . : -, at most ${p.maxLength ?? 64} characters)`;
    case 'enum':
      if (p.values?.includes(v) || p.aliases?.includes(v) || p.default === v) return undefined;
      if (p.open) return text(p, v);
      return `must be one of ${[...(p.values ?? []), ...(p.aliases ?? [])].join(', ')}`;
    case 'text':
      return text(p, v);
  }
}

function text(p: ParamSpec, v: string): string | undefined {
  const max = p.maxLength ?? 200;
  if ([...v].length > max) return `must be at most ${max} characters`;
  return CONTROL.test(v) ? 'must not contain control characters' : undefined;
}

/** The tuple of a request, or the first parameter that does not fit (named in the 400). */
export function parseQuery(spec: EndpointSpec, query: Record<string, unknown>): Parsed {
  const tuple: Record<string, string> = {};
  for (const p of spec.params) {
    const raw = query[p.name];
    if (Array.isArray(raw)) return { ok: false, param: p.name, problem: 'must be given once' };
    if (raw === undefined) {
      if (p.required) return { ok: false, param: p.name, problem: 'is required' };
      if (p.default !== undefined) tuple[p.name] = p.default;
      continue;
    }
    const v = String(raw);
    const problem = checkValue(p, v);
    if (problem !== undefined) return { ok: false, param: p.name, problem };
    tuple[p.name] = v;
  }
  const ignored: string[] = [];
  for (const name of Object.keys(query))
    if (!NOT_PARAMS.has(name) && !spec.params.some((p) => p.name === name)) ignored.push(name);
  return { ok: true, tuple, ignored };
}

/** The query the upstream receives, without the token (the client adds it): catalogued params only. */
export function upstreamQuery(spec: EndpointSpec, tuple: Tuple): URLSearchParams {
  const q = new URLSearchParams();
  for (const p of spec.params) {
    const v = tuple[p.name];
    if (v !== undefined) q.append(p.name, v);
  }
  return q;
}

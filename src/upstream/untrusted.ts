// What the upstream sends back is untrusted: an upstream (or anything between) that echoes the
// request puts the gateway's token into strings that are then cached, logged and answered, and
// hostile nesting crashes recursive serialisers. Every value the gateway keeps from an answer passes
// through here first, in the client, so nothing downstream (cache, etag, logs, the drop-in body,
// metrics.extra) holds the token or data deeper or larger than UPSTREAM_DATA_BOUNDS.

export const SCRUBBED = '[REDACTED]';

export type Scrub = (s: string) => string;

/**
 * Replaces `secret` in a string in every form a URL can carry it: as sent, percent-encoded by
 * encodeURIComponent (which keeps `~ ! ' ( ) *`), form-encoded as URLSearchParams writes the
 * gateway's own query (which encodes those but `*`, and writes a space as `+`), fully
 * percent-encoded, with upper- or lower-case hex, and any mix of these per character. One pattern
 * per character rather than a list of whole forms: a list misses every encoder it does not name.
 */
export function secretScrubber(secret: string): Scrub {
  if (secret.length === 0) return (s) => s;
  const pattern = new RegExp([...secret].map(charForms).join(''), 'g');
  return (s) => (s.length < secret.length ? s : s.replace(pattern, SCRUBBED));
}

/** The alternatives for one character: itself, its UTF-8 bytes as %XX (any case), `+` for a space. */
function charForms(c: string): string {
  const bytes = [...Buffer.from(c, 'utf8')]
    .map((b) => `%${[...b.toString(16).padStart(2, '0')].map(hexDigit).join('')}`)
    .join('');
  const forms = [c.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&'), bytes];
  if (c === ' ') forms.push('\\+');
  return `(?:${forms.join('|')})`;
}

function hexDigit(d: string): string {
  return /[a-f]/.test(d) ? `[${d}${d.toUpperCase()}]` : d;
}

type Container = Record<string, unknown> | unknown[];
type Frame = [src: Container, dst: Container, depth: number];

export interface JsonBounds {
  /** Nesting levels of objects and arrays (the data object itself is level 1). */
  maxDepth: number;
  /** Values in all: every key's value and every array item, at any level. */
  maxValues: number;
}

/**
 * What the gateway accepts as an upstream `data` (real answers are 3 levels deep and hold about 60
 * values). Deeper data would crash recursive serialisers (JSON.stringify, for the cache and the
 * drop-in body) with a RangeError; more would only cost memory in every cache tier.
 */
export const UPSTREAM_DATA_BOUNDS: JsonBounds = { maxDepth: 32, maxValues: 10_000 };

/** scrubJson's answer when the value is deeper or larger than its bounds. */
export const OUT_OF_BOUNDS = Symbol('out of bounds');

/**
 * A copy of a parsed JSON value with `scrub` applied to every string and every object key, or
 * OUT_OF_BOUNDS. Iterative (an explicit stack), so a hostile nesting depth cannot overflow the call
 * stack here; it stops at the first level or value past the bounds.
 */
export function scrubJson(
  value: unknown,
  scrub: Scrub,
  bounds: JsonBounds = UPSTREAM_DATA_BOUNDS,
): unknown | typeof OUT_OF_BOUNDS {
  if (typeof value === 'string') return scrub(value);
  if (typeof value !== 'object' || value === null) return value;
  const root = emptyLike(value as Container);
  const stack: Frame[] = [[value as Container, root, 1]];
  let values = 0;
  for (let frame = stack.pop(); frame; frame = stack.pop()) {
    const [src, dst, depth] = frame;
    if (depth > bounds.maxDepth) return OUT_OF_BOUNDS;
    const keys = Array.isArray(src) ? null : Object.keys(src);
    values += keys ? keys.length : (src as unknown[]).length;
    if (values > bounds.maxValues) return OUT_OF_BOUNDS;
    if (!keys) {
      for (const item of src as unknown[]) (dst as unknown[]).push(copyOf(item, scrub, stack, depth));
      continue;
    }
    const obj = src as Record<string, unknown>;
    for (const key of keys)
      setOwn(dst as Record<string, unknown>, scrub(key), copyOf(obj[key], scrub, stack, depth));
  }
  return root;
}

function copyOf(v: unknown, scrub: Scrub, stack: Frame[], depth: number): unknown {
  if (typeof v === 'string') return scrub(v);
  if (typeof v !== 'object' || v === null) return v;
  const copy = emptyLike(v as Container);
  stack.push([v as Container, copy, depth + 1]);
  return copy;
}

function emptyLike(v: Container): Container {
  return Array.isArray(v) ? [] : {};
}

/** An own data property, even for "__proto__" (JSON.parse makes it one; `=` would set the prototype). */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  } else target[key] = value;
}

// What the upstream sends back is untrusted: an upstream (or anything between) that echoes the
// request puts the gateway's token into strings that are then cached, logged and answered. Every
// string the gateway keeps from an answer passes through here first, in the client, so nothing
// downstream (cache, etag, logs, the drop-in body, metrics.extra) ever holds it.

export const SCRUBBED = '[REDACTED]';

export type Scrub = (s: string) => string;

/**
 * Replaces `secret` in a string, as sent and in its URL-encoded forms (encodeURIComponent, and
 * with `+` for spaces as in a form-encoded query).
 */
export function secretScrubber(secret: string): Scrub {
  const encoded = encodeURIComponent(secret);
  const forms = [...new Set([secret, encoded, encoded.replaceAll('%20', '+')])]
    .filter((f) => f.length > 0)
    // Longest first: a form that contains another is replaced whole.
    .sort((a, b) => b.length - a.length);
  return (s) => {
    let out = s;
    for (const f of forms) if (out.includes(f)) out = out.replaceAll(f, SCRUBBED);
    return out;
  };
}

type Container = Record<string, unknown> | unknown[];

/**
 * A copy of a parsed JSON value with `scrub` applied to every string and every object key.
 * Iterative (an explicit stack), so a hostile nesting depth cannot overflow the call stack here.
 */
export function scrubJson(value: unknown, scrub: Scrub): unknown {
  if (typeof value === 'string') return scrub(value);
  if (typeof value !== 'object' || value === null) return value;
  const root = emptyLike(value as Container);
  const stack: Array<[Container, Container]> = [[value as Container, root]];
  for (let frame = stack.pop(); frame; frame = stack.pop()) {
    const [src, dst] = frame;
    if (Array.isArray(src)) {
      for (const item of src) (dst as unknown[]).push(copyOf(item, scrub, stack));
      continue;
    }
    for (const key of Object.keys(src))
      setOwn(dst as Record<string, unknown>, scrub(key), copyOf(src[key], scrub, stack));
  }
  return root;
}

function copyOf(v: unknown, scrub: Scrub, stack: Array<[Container, Container]>): unknown {
  if (typeof v === 'string') return scrub(v);
  if (typeof v !== 'object' || v === null) return v;
  const copy = emptyLike(v as Container);
  stack.push([v as Container, copy]);
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

import { describe, expect, it } from 'vitest';
import {
  OUT_OF_BOUNDS,
  SCRUBBED,
  scrubJson,
  secretScrubber,
  UPSTREAM_DATA_BOUNDS,
} from '../../src/upstream/untrusted.js';

// A token with characters that URL-encoding changes, so every form differs from the others.
const TOKEN = 'tok a/b+c=d&e';
const scrub = secretScrubber(TOKEN);

describe('secretScrubber', () => {
  it('replaces the token as sent, URL-encoded, and form-encoded', () => {
    const encoded = encodeURIComponent(TOKEN);
    const form = encoded.replaceAll('%20', '+');
    expect(encoded).not.toBe(form);
    expect(scrub(`a ${TOKEN} b`)).toBe(`a ${SCRUBBED} b`);
    expect(scrub(`?token=${encoded}&x=1`)).toBe(`?token=${SCRUBBED}&x=1`);
    expect(scrub(`?token=${form}`)).toBe(`?token=${SCRUBBED}`);
    expect(scrub(`${TOKEN}${TOKEN}`)).toBe(`${SCRUBBED}${SCRUBBED}`);
    expect(scrub('nothing here')).toBe('nothing here');
  });

  // The characters encodeURIComponent keeps but URLSearchParams (the gateway's own query) encodes.
  it("replaces every form the gateway's own query building can produce, and any mix of them", () => {
    const token = "k~!'()* é_x";
    const s = secretScrubber(token);
    const form = new URLSearchParams({ token }).toString().slice('token='.length);
    const component = encodeURIComponent(token);
    const all = [...Buffer.from(token)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
    const forms = [token, form, component, component.replaceAll('%20', '+'), all, all.toUpperCase()];
    forms.push(form.toLowerCase(), `${form.slice(0, 7)}${token.slice(3)}`);
    expect(form).toContain('%7E%21%27%28%29*+');
    expect(new Set(forms).size).toBe(forms.length);
    for (const f of forms) expect(s(`?a=1&token=${f}&b=2`), f).toBe(`?a=1&token=${SCRUBBED}&b=2`);
    expect(s(`${form}${token}`)).toBe(`${SCRUBBED}${SCRUBBED}`);
    // Near misses stay: another character in place of one of the token's.
    expect(s(token.replace('~', '-'))).toBe(token.replace('~', '-'));
    expect(s(form.replace('%7E', '%7F'))).toBe(form.replace('%7E', '%7F'));
  });
});

describe('scrubJson', () => {
  it('scrubs every string and key, nested in objects and arrays, and keeps everything else', () => {
    const input = {
      n: 1,
      b: true,
      z: null,
      s: `x${TOKEN}`,
      [TOKEN]: [TOKEN, 2, { [`k${encodeURIComponent(TOKEN)}`]: [[TOKEN]] }],
    };
    expect(scrubJson(input, scrub)).toEqual({
      n: 1,
      b: true,
      z: null,
      s: `x${SCRUBBED}`,
      [SCRUBBED]: [SCRUBBED, 2, { [`k${SCRUBBED}`]: [[SCRUBBED]] }],
    });
    expect(scrubJson(TOKEN, scrub)).toBe(SCRUBBED);
    expect(scrubJson(7, scrub)).toBe(7);
  });

  it('keeps a "__proto__" key as data, not as the prototype', () => {
    const out = scrubJson(JSON.parse('{"__proto__":{"polluted":1},"a":1}'), scrub) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.hasOwn(out, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('walks 100 000 levels of nesting without overflowing the stack', () => {
    const deep = JSON.parse(`${'['.repeat(100_000)}"${TOKEN}"${']'.repeat(100_000)}`);
    let v = scrubJson(deep, scrub, { maxDepth: Infinity, maxValues: Infinity });
    for (let i = 0; i < 100_000; i++) v = (v as unknown[])[0];
    expect(v).toBe(SCRUBBED);
  });

  it('answers OUT_OF_BOUNDS past the depth or the number of values, and not at them', () => {
    const nested = (levels: number) => JSON.parse(`${'['.repeat(levels)}1${']'.repeat(levels)}`);
    const { maxDepth, maxValues } = UPSTREAM_DATA_BOUNDS;
    expect(scrubJson(nested(maxDepth), scrub)).toEqual(nested(maxDepth));
    expect(scrubJson(nested(maxDepth + 1), scrub)).toBe(OUT_OF_BOUNDS);
    expect(scrubJson(nested(1_000_000), scrub)).toBe(OUT_OF_BOUNDS);
    const wide = (n: number) => ({ a: Array.from({ length: n - 1 }, (_, i) => i) });
    expect(scrubJson(wide(maxValues), scrub)).toEqual(wide(maxValues));
    expect(scrubJson(wide(maxValues + 1), scrub)).toBe(OUT_OF_BOUNDS);
  });
});

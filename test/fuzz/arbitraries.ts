// Hostile request parts. Each generator is invalid by construction (checked against the contract's
// rules, not the gateway's code), so a property never re-implements the validator it tests.
import fc from 'fast-check';
import { AUTHOR_ID_PATTERN, FLOW_TYPES, PLATFORMS, RANGES, VIDEO_TYPES } from '../../src/upstream/params.js';
import { ADMIN_KEY, CALLER_KEY } from './harness.js';

/** A name and value as they appear in the URL (already percent-encoded, or deliberately not). */
export type Pair = [string, string];

export const ENUMS: Record<string, readonly string[]> = {
  platform: PLATFORMS,
  range: RANGES,
  type: VIDEO_TYPES,
  onlyAssign: ['true', 'false'],
  flowType: FLOW_TYPES,
};
export const V1_NAMES = Object.keys(ENUMS);
export const DROP_IN_NAMES = [...V1_NAMES, 'oAuthorId', 'token'];

/** Raw fragments a parser must survive: NUL, invalid and overlong escapes, CRLF, traversal, punctuation. */
export const RAW = ['%00', '%zz', '%', '%E0%A4%A', '%ED%A0%80', '%C0%AF', '%FF', '%0d%0a', '%2F', '%2e%2e'];
const RAW_TOO = [...RAW, '..', '.', '%u0041', '%25', '+', ';', ',', "'", '(', '*', '!', '~', '@', '$', '%20'];

/** How the router decodes a path segment; undefined when it cannot (a 400 by itself). */
function decodePath(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

/** How the query parser decodes: '+' is a space, an undecodable escape stays as sent. */
function decodeQuery(s: string): string {
  const spaced = s.replaceAll('+', ' ');
  try {
    return decodeURIComponent(spaced);
  } catch {
    return spaced;
  }
}

const idChar = fc.constantFrom(...'0123456789AZaz_-');
export const validId = fc.string({ unit: idChar, minLength: 1, maxLength: 64 });
const anyText = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 24 }),
  fc.string({ unit: 'binary-ascii', maxLength: 24 }),
);
const fiveKb = fc.integer({ min: 5 * 1024, max: 6 * 1024 }).map((n) => 'x'.repeat(n));

/** Any author path segment the contract refuses: unicode, NUL, bad escapes, 65 to 300 characters, empty. */
export const badIdSegment = fc
  .oneof(
    anyText.map(encodeURIComponent),
    fc.integer({ min: 65, max: 300 }).chain((n) => fc.string({ unit: idChar, minLength: n, maxLength: n })),
    fc
      .array(fc.oneof(idChar, fc.constantFrom(...RAW_TOO)), { minLength: 1, maxLength: 12 })
      .map((a) => a.join('')),
    fc.constantFrom('', '%00', '%zz', '%', '..', '中文', '%E4%B8%AD', '%F0%9F%98%80', 'a%00b'),
  )
  .filter((s) => {
    const d = decodePath(s);
    return d === undefined || !AUTHOR_ID_PATTERN.test(d);
  });

const anyValue = fc.oneof(anyText.map(encodeURIComponent), fc.constantFrom(...RAW, ''), fiveKb);

function valueAllowed(name: string, raw: string): boolean {
  const v = decodeQuery(raw);
  if (name === 'oAuthorId') return AUTHOR_ID_PATTERN.test(v);
  if (name === 'token') return true;
  return ENUMS[name]?.includes(v) ?? false;
}

function validValue(name: string): fc.Arbitrary<string> {
  if (name === 'oAuthorId') return validId;
  if (name === 'token') return anyValue;
  return fc.constantFrom(...(ENUMS[name] ?? []));
}

const STRANGE_NAMES = [
  ...['token', 'oAuthorId', '__proto__', '__proto__[x]', 'constructor[prototype][x]', 'constructor'],
  ...['prototype', 'toString', 'hasOwnProperty', 'platform[]', 'platform[0]', 'platform.x', 'PLATFORM'],
  ...['', ' platform', '%00', '%zz', '%', 'plat%00form', 'token[x]', 'x'.repeat(5 * 1024)],
];

/** Unknown names the drop-in routes accept and set aside (x-ignored-params), as the family's do. */
const PLAIN_UNKNOWN = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
const PROTOTYPE_NAMES = ['constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf'];

/**
 * One to two pairs that make a query over `names` invalid, whatever else it holds. `plainAccepted`:
 * an unknown plain name is no poison there (the drop-in route ignores it), a stranger one still is.
 */
function poison(names: readonly string[], plainAccepted = false): fc.Arbitrary<Pair[]> {
  const known = fc.constantFrom(...names);
  const accepted = (n: string) => plainAccepted && PLAIN_UNKNOWN.test(n) && !PROTOTYPE_NAMES.includes(n);
  const unknownName = fc
    .oneof(fc.constantFrom(...STRANGE_NAMES), anyText.map(encodeURIComponent))
    .filter((n) => !names.includes(decodeQuery(n)) && !accepted(decodeQuery(n)));
  return fc.oneof(
    fc.tuple(unknownName, anyValue).map((p): Pair[] => [p]),
    known
      .filter((n) => n !== 'token')
      .chain((n) => anyValue.filter((v) => !valueAllowed(n, v)).map((v): Pair[] => [[n, v]])),
    // Duplicated: `platform=A&platform=B` (the parser makes an array of it). A repeated `token` is
    // ignored like a single one on the drop-in route, so it poisons nothing.
    known
      .filter((n) => n !== 'token')
      .chain((n) =>
        fc
          .tuple(fc.oneof(validValue(n), anyValue), fc.oneof(validValue(n), anyValue))
          .map(([a, b]): Pair[] => [
            [n, a],
            [n, b],
          ]),
      ),
  );
}

export const validPair = (names: readonly string[]): fc.Arbitrary<Pair> =>
  fc.constantFrom(...names).chain((n) => validValue(n).map((v): Pair => [n, v]));

export const toQuery = (pairs: Pair[]) =>
  pairs.length ? `?${pairs.map(([n, v]) => `${n}=${v}`).join('&')}` : '';

/** An invalid query string: the poison shuffled among up to four valid pairs. */
export function badQuery(names: readonly string[], plainAccepted = false): fc.Arbitrary<string> {
  return fc
    .tuple(poison(names, plainAccepted), fc.array(validPair(names), { maxLength: 4 }))
    .chain(([p, rest]) => {
      const all = [...p, ...rest];
      return fc.shuffledSubarray(all, { minLength: all.length, maxLength: all.length });
    })
    .map(toQuery);
}

/** Any query, valid or not, for combining with a bad path. */
export const anyQuery = fc.oneof(
  fc.array(validPair(V1_NAMES), { maxLength: 5 }).map(toQuery),
  badQuery(V1_NAMES),
);

const printable = (max: number) =>
  fc.string({
    unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
    maxLength: max,
  });

/** Header combinations: the caller's or admin's key, a junk key or none, plus odd extras. */
export const headerSets = fc
  .tuple(
    fc.constantFrom<Record<string, string>>(
      { 'x-api-key': CALLER_KEY },
      { authorization: `Bearer ${CALLER_KEY}` },
      { 'x-api-key': ADMIN_KEY },
      { 'x-api-key': 'junk-key-0000000000000000' },
      { authorization: 'Basic Zm9vOmJhcg==' },
      {},
    ),
    fc.record(
      {
        'x-request-id': fc.oneof(printable(200), fc.constant('ok-id-1')),
        'cache-control': fc.oneof(fc.constantFrom('no-cache', 'no-store', 'max-age=0'), printable(40)),
        'if-none-match': fc.oneof(fc.constant('*'), printable(80)),
        'user-agent': fc.oneof(printable(60), fiveKb),
        'content-type': fc.oneof(fc.constantFrom('application/json', 'text/plain'), printable(40)),
        'x-forwarded-for': printable(40),
      },
      { requiredKeys: [] },
    ),
  )
  .map(([auth, extra]) => ({ ...extra, ...auth }));

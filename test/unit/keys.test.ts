import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allVariants } from '../../src/cache/cache-service.js';
import { authorKeyPrefix, encodeAuthorId, tupleKey } from '../../src/cache/keys.js';
import { spreadQuerySchema } from '../../src/routes/schemas.js';
import { QUERY_DEFAULTS, type SpreadParams } from '../../src/upstream/params.js';

const params = (oAuthorId: string, over: Partial<SpreadParams> = {}): SpreadParams => ({
  ...QUERY_DEFAULTS,
  oAuthorId,
  ...over,
});

/** The slot-defining part of a key, as Redis Cluster reads it: between the first '{' and the next '}'. */
function hashTag(key: string): string | null {
  const open = key.indexOf('{');
  if (open < 0) return null;
  const close = key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : null;
}

const HOSTILE = [
  'a:b',
  '{x}',
  '*',
  'a}',
  '{',
  '}:v1',
  'a:b:c',
  '?',
  '[ab]',
  'a b',
  '\n',
  'x'.repeat(64),
  'y'.repeat(4096),
];

describe('tupleKey', () => {
  it('is stable: the same tuple gives the same key, in a documented format', () => {
    expect(tupleKey(params('7012345678901234567'))).toBe(
      `v1:{a:${Buffer.from('7012345678901234567').toString('base64url')}}:SHORT_VIDEO:DAY_30:PERSONAL_VIDEO:0:EXCLUDE`,
    );
    expect(tupleKey(params('abc', { onlyAssign: true }))).toBe(tupleKey(params('abc', { onlyAssign: true })));
  });

  it('gives omitted parameters and explicit defaults one key', () => {
    const implicit = { oAuthorId: 'abc', ...spreadQuerySchema.parse({}) };
    const explicit = {
      oAuthorId: 'abc',
      ...spreadQuerySchema.parse({
        platform: 'SHORT_VIDEO',
        range: 'DAY_30',
        type: 'PERSONAL_VIDEO',
        onlyAssign: 'false',
        flowType: 'EXCLUDE',
      }),
    };
    expect(tupleKey(explicit)).toBe(tupleKey(implicit));
    expect(tupleKey(implicit)).toBe(tupleKey(params('abc')));
    const changed = { oAuthorId: 'abc', ...spreadQuerySchema.parse({ onlyAssign: 'true' }) };
    expect(tupleKey(changed)).not.toBe(tupleKey(implicit));
  });

  it('gives the 64 variants of an author 64 keys, all under its prefix and in one cluster slot', () => {
    const keys = allVariants('abc').map(tupleKey);
    expect(new Set(keys).size).toBe(64);
    for (const k of keys) {
      expect(k.startsWith(authorKeyPrefix('abc'))).toBe(true);
      expect(hashTag(k)).toBe(`a:${encodeAuthorId('abc')}`);
    }
  });

  it.each(HOSTILE)('keeps the id %j inside its own field and hash tag', (id) => {
    const key = tupleKey(params(id));
    expect(encodeAuthorId(id)).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(key.split(':')).toHaveLength(8);
    expect(key.match(/[{}]/g)).toEqual(['{', '}']);
    expect(key).not.toContain('*');
    expect(hashTag(key)).toBe(`a:${encodeAuthorId(id)}`);
  });

  it('never lets one author id collide with, or sit under the prefix of, another', () => {
    const ids = [...HOSTILE, 'a', 'ab', 'a:', 'YQ', 'a}:SHORT_VIDEO'];
    for (const a of ids) {
      for (const b of ids) {
        if (a === b) continue;
        expect(tupleKey(params(a))).not.toBe(tupleKey(params(b)));
        expect(tupleKey(params(a)).startsWith(authorKeyPrefix(b))).toBe(false);
      }
    }
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), fc.string({ maxLength: 80 }), (a, b) => {
        fc.pre(a !== b);
        return (
          tupleKey(params(a)) !== tupleKey(params(b)) && !tupleKey(params(a)).startsWith(authorKeyPrefix(b))
        );
      }),
      { numRuns: 500 },
    );
  });
});

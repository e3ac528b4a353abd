// The API key lookup (src/auth/key-ring.ts): every configured key finds its caller, and nothing
// else does (neighbours of a key, its prefixes and extensions, other cases, other keys' parts).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeyRing, keyHash } from '../../src/auth/key-ring.js';

const API_KEYS = [
  { name: 'svc-a', key: 'k-aaaaaaaaaaaaaaaaaaaaaaaa' },
  { name: 'svc-b', key: 'k-bbbbbbbbbbbbbbbbbbbbbbbb' },
  { name: 'unicode', key: 'ключ-密钥-🔑' },
];
const ADMIN_API_KEYS = [{ name: 'ops', key: 'admin-0123456789abcdef' }];

describe('KeyRing', () => {
  const ring = new KeyRing({ API_KEYS, ADMIN_API_KEYS });

  it('finds each configured key, named, admin only for admin keys', () => {
    expect(ring.size).toBe(4);
    for (const { name, key } of API_KEYS)
      expect(ring.lookup(key)).toEqual({ name, kind: 'key', admin: false, anonymous: false });
    expect(ring.lookup('admin-0123456789abcdef')).toEqual({
      name: 'ops',
      kind: 'key',
      admin: true,
      anonymous: false,
    });
  });

  it('finds nothing for a key that differs by one character, is cut short, extended or in another case', () => {
    for (const { key } of [...API_KEYS, ...ADMIN_API_KEYS]) {
      const near = [
        key.slice(0, -1),
        `${key}x`,
        `${key}\u0000`,
        `x${key}`,
        key.toUpperCase(),
        `${key.slice(0, -1)}${String.fromCharCode(key.charCodeAt(key.length - 1) ^ 1)}`,
        `${String.fromCharCode(key.charCodeAt(0) ^ 1)}${key.slice(1)}`,
        '',
      ];
      for (const k of near) if (k !== key) expect(ring.lookup(k), JSON.stringify(k)).toBeUndefined();
    }
  });

  it('finds nothing for any other string (property)', () => {
    const known = new Set([...API_KEYS, ...ADMIN_API_KEYS].map((k) => k.key));
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 64 }), (k) => {
        if (!known.has(k)) expect(ring.lookup(k)).toBeUndefined();
      }),
      { numRuns: 2000 },
    );
  });

  it('an empty ring finds nothing', () => {
    const empty = new KeyRing({ API_KEYS: [], ADMIN_API_KEYS: [] });
    expect(empty.size).toBe(0);
    expect(empty.lookup('k-aaaaaaaaaaaaaaaaaaaaaaaa')).toBeUndefined();
  });

  it('a second ring (another process, another random seed) finds the same callers', () => {
    const other = new KeyRing({ API_KEYS, ADMIN_API_KEYS });
    for (const { key } of [...API_KEYS, ...ADMIN_API_KEYS])
      expect(other.lookup(key)).toEqual(ring.lookup(key));
  });
});

/** Two different strings with the same hash under `seed` (a birthday search: about 2^16 tries). */
function collidingPair(seed: number, length: number): [string, string] {
  const seen = new Map<number, string>();
  for (let i = 0; ; i++) {
    const s = `key-${i.toString(36).padStart(length, '0')}`;
    const h = keyHash(s, seed);
    const other = seen.get(h);
    if (other !== undefined) return [other, s];
    seen.set(h, s);
  }
}

describe('KeyRing, a presented key whose hash equals a configured key', () => {
  it('is compared in full and refused (the hash only picks the bucket)', () => {
    const seed = 0x5eed;
    const [configured, presented] = collidingPair(seed, 8);
    expect(keyHash(presented, seed)).toBe(keyHash(configured, seed));
    const ring = new KeyRing({ API_KEYS: [{ name: 'svc', key: configured }], ADMIN_API_KEYS: [] }, seed);
    expect(ring.lookup(configured)?.name).toBe('svc');
    expect(ring.lookup(presented)).toBeUndefined();
  });

  it('two keys in one bucket each find their own caller', () => {
    const seed = 0xbeef;
    const [a, b] = collidingPair(seed, 8);
    const ring = new KeyRing(
      { API_KEYS: [{ name: 'a', key: a }], ADMIN_API_KEYS: [{ name: 'b', key: b }] },
      seed,
    );
    expect(ring.lookup(a)).toMatchObject({ name: 'a', admin: false });
    expect(ring.lookup(b)).toMatchObject({ name: 'b', admin: true });
  });
});

import { describe, expect, it } from 'vitest';
import { sameSlotKey } from '../../src/redis/same-slot.js';

/** The part of a key Redis Cluster hashes (its hash tag rule). */
function hashed(key: string): string {
  const open = key.indexOf('{');
  if (open < 0) return key;
  const close = key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

describe('sameSlotKey', () => {
  it.each(['xtg:share:2026-12-04', 'xtg:{gov}:quota:2026-12-04', 't:drill:abc123:usage:2026-12-04'])(
    'hashes %s and its companion alike',
    (key) => {
      const companion = sameSlotKey(key, ':ids');
      expect(companion).not.toBe(key);
      expect(companion.endsWith(':ids')).toBe(true);
      expect(hashed(companion)).toBe(hashed(key));
    },
  );
});

// The configured API keys (API_KEYS, ADMIN_API_KEYS) and who each one names, looked up without
// timing that depends on the keys (see KeyRing).
import { randomBytes } from 'node:crypto';
import type { Config } from '../config.js';
import type { Caller } from '../plugins/auth.js';

interface KeyRecord {
  key: string;
  caller: Caller;
}

/**
 * The configured keys, found by a seeded hash of the presented key. Hashing a SHA-256 per request
 * cost ~3% of a cache hit's CPU; what it protected against is timing that depends on the secret
 * keys, and this lookup has none that an attacker can use:
 *  - the hash's time depends only on the presented key's length (one multiply per character);
 *  - the seed is random per process and never leaves it, so nobody can choose a guess that lands
 *    in a key's bucket: a wrong key finds none, except by a 1-in-2^32 accident per guess;
 *  - inside a bucket, the comparison reads every character whatever differs (no early exit).
 * So the answer time of an unknown key is the same whatever the configured keys are, and a guess
 * learns nothing about them (each also counts against AUTH_FAILURES_PER_MINUTE for its address).
 */
export class KeyRing {
  private readonly byHash = new Map<number, KeyRecord[]>();
  readonly size: number;

  /** `seed`: random unless a test needs to know it (to build colliding keys). */
  constructor(
    config: Pick<Config, 'API_KEYS' | 'ADMIN_API_KEYS'>,
    private readonly seed = randomBytes(4).readUInt32LE(0),
  ) {
    const records: KeyRecord[] = [
      ...config.API_KEYS.map(({ name, key }) => ({
        key,
        caller: { name, kind: 'key' as const, admin: false, anonymous: false },
      })),
      ...config.ADMIN_API_KEYS.map(({ name, key }) => ({
        key,
        caller: { name, kind: 'key' as const, admin: true, anonymous: false },
      })),
    ];
    for (const r of records) {
      const h = keyHash(r.key, this.seed);
      const bucket = this.byHash.get(h);
      if (bucket) bucket.push(r);
      else this.byHash.set(h, [r]);
    }
    this.size = records.length;
  }

  lookup(key: string): Caller | undefined {
    const bucket = this.byHash.get(keyHash(key, this.seed));
    if (bucket === undefined) return undefined;
    let found: Caller | undefined;
    for (const r of bucket) if (sameText(r.key, key) && !found) found = r.caller;
    return found;
  }
}

/** FNV-1a over UTF-16 code units, seeded: 32 bits, no allocation. */
export function keyHash(s: string, seed: number): number {
  let h = (seed ^ 0x811c9dc5) >>> 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Equal strings, comparing every character of `secret` (no early exit on the first difference). */
function sameText(secret: string, given: string): boolean {
  let diff = secret.length ^ given.length;
  for (let i = 0; i < secret.length; i++) diff |= secret.charCodeAt(i) ^ (given.charCodeAt(i) | 0);
  return diff === 0;
}

// The address limits count by (http/address-bucket.ts): the expected forms are what
// @fastify/rate-limit 11.2's normalizeIP returned for the same input, which the gateway used before.
import { describe, expect, it } from 'vitest';
import { normalizeIP } from '../../src/http/address-bucket.js';

describe('normalizeIP', () => {
  it.each([
    ['10.0.0.1', 64, '10.0.0.1'],
    ['::ffff:10.0.0.1', 64, '10.0.0.1'],
    ['::FFFF:10.0.0.1', 64, '10.0.0.1'],
    ['0:0:0:0:0:ffff:102:304', 64, '1.2.3.4'],
    ['::ffff:1.2.3.4', 48, '1.2.3.4'],
    ['2001:DB8:1:2:3:4:5:6', 64, '2001:db8:1:2::'],
    ['2001:db8::1', 64, '2001:db8::'],
    ['2001:0db8:0000:0000:1:2:3:4', 64, '2001:db8::'],
    ['::1', 64, '::'],
    ['::', 64, '::'],
    ['fe80::1%eth0', 64, 'fe80::'],
    ['1:0:0:2:3:4:5:6', 64, '1:0:0:2::'],
    ['1:0:0:2:3:4:5:6', 128, '1::2:3:4:5:6'],
    ['1:0:2:3:4:5:6:7', 128, '1:0:2:3:4:5:6:7'],
    ['1:0:0:2:0:0:3:4', 128, '1::2:0:0:3:4'],
    ['1:0:0:0:2:0:0:3', 128, '1::2:0:0:3'],
    ['2001:db8:abcd:12::', 48, '2001:db8:abcd::'],
    ['2001:db8:abcd:12:ff::1', 56, '2001:db8:abcd::'],
    ['2001:db8::1.2.3.4', 128, '2001:db8::102:304'],
    ['64:ff9b::1.2.3.4', 128, '64:ff9b::102:304'],
    ['unknown', 64, 'unknown'],
  ])('%s (IPv6 /%i) -> %s', (ip, prefix, expected) => {
    expect(normalizeIP(ip, prefix)).toBe(expected);
  });

  it('puts every address of one /64 in one bucket, and the next /64 in another', () => {
    const a = normalizeIP('2001:db8:0:1:aaaa::1');
    expect(normalizeIP('2001:db8:0:1:ffff:ffff:ffff:ffff')).toBe(a);
    expect(normalizeIP('2001:db8:0:2::1')).not.toBe(a);
  });
});

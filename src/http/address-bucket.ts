// The form of a client address that limits count by: an IPv4 address as is, an IPv4-mapped IPv6
// address as its IPv4 address, and any other IPv6 address as the start of its /64 (one host has a
// whole /64, so per-address counting would let it take 2^64 buckets), written in RFC 5952's
// canonical form so every spelling of one network is one key. The same rule as @fastify/rate-limit's
// normalizeIP, which was the only part of that library the gateway still used (its per-caller
// limit is a hook of our own, plugins/access.ts: the bench's `limiter` scenario measures why).
import { isIPv6 } from 'node:net';

/** The bucket of `ip` for limits: see the file's comment. Anything not IPv6 is only lower-cased. */
export function normalizeIP(ip: string, ipv6Prefix = 64): string {
  if (!isIPv6(ip)) return ip.toLowerCase();
  const g = ipv6Groups(ip);
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
    const [hi, lo] = [g[6] ?? 0, g[7] ?? 0];
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  for (let i = 0; i < 8; i++) {
    const kept = Math.max(0, Math.min(16, ipv6Prefix - 16 * i));
    g[i] = (g[i] ?? 0) & ((0xffff << (16 - kept)) & 0xffff);
  }
  return canonical(g);
}

/** The eight 16-bit groups of an address that node:net's isIPv6 accepted (zone id dropped). */
function ipv6Groups(ip: string): number[] {
  let text = ip.split('%')[0] ?? ip;
  // A dotted IPv4 tail is two groups.
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((h) => Number.parseInt(h, 16)));
  const left = parse(head);
  if (tail === undefined) return left;
  const right = parse(tail);
  return [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
}

/** RFC 5952: lower-case hex without leading zeros, the longest run of two or more zero groups as `::`. */
function canonical(g: number[]): string {
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLength) [best, bestLength] = [i, j - i];
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLength))}`;
}

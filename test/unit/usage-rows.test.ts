// The /v1/usage rows: usage counters by caller name (and by endpoint) joined with share counters by
// limit bucket.
import { describe, expect, it } from 'vitest';
import { usageRows } from '../../src/routes/usage.js';

describe('usage rows', () => {
  it('joins counters and shares; anonymous callers are one row with one share', () => {
    const counts = new Map([
      [
        'etl',
        new Map([
          ['requests', 12],
          ['cacheHits', 2],
          ['upstreamCalls', 10],
          ['billedCalls', 9],
          ['refused.daily_share', 3],
          ['requests@get_author_base_info', 7],
          ['cacheHits@get_author_base_info', 2],
          ['requests@get-kol-info', 5],
          ['upstreamCalls@get-kol-info', 10],
          ['billedCalls@get-kol-info', 9],
        ]),
      ],
      ['anonymous', new Map([['requests', 4]])],
    ]);
    const used = new Map([
      ['caller:etl', 10],
      ['anonymous', 1],
      ['ip:10.0.0.2', 1], // a per-address bucket of the day before an upgrade: anonymous too
      ['caller:jwt:alice', 2], // charged, its usage not written yet: still listed
    ]);
    const shareOf = (name: string, anonymous: boolean) => (anonymous ? 3 : name === 'etl' ? 10 : null);
    expect(usageRows(counts, used, shareOf)).toEqual([
      {
        caller: 'anonymous',
        requests: 4,
        cacheHits: 0,
        upstreamCalls: 0,
        billedCalls: 0,
        refused: { rate: 0, daily_share: 0, pending: 0, credentials: 0 },
        endpoints: {},
        share: { limit: 3, used: 2, left: 1 },
      },
      {
        caller: 'etl',
        requests: 12,
        cacheHits: 2,
        upstreamCalls: 10,
        billedCalls: 9,
        refused: { rate: 0, daily_share: 3, pending: 0, credentials: 0 },
        endpoints: {
          get_author_base_info: { requests: 7, cacheHits: 2, upstreamCalls: 0, billedCalls: 0 },
          'get-kol-info': { requests: 5, cacheHits: 0, upstreamCalls: 10, billedCalls: 9 },
        },
        share: { limit: 10, used: 10, left: 0 },
      },
      {
        caller: 'jwt:alice',
        requests: 0,
        cacheHits: 0,
        upstreamCalls: 0,
        billedCalls: 0,
        refused: { rate: 0, daily_share: 0, pending: 0, credentials: 0 },
        endpoints: {},
        share: null,
      },
    ]);
  });
});

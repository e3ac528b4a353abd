// The failed-credential limit in process (Redis down or unset): what each failure answers, when an
// address is blocked and for how long. The shared Redis count is in test/integration/callers.test.ts.
import { describe, expect, it } from 'vitest';
import { AuthFailureLimiter } from '../../src/limits/auth-failures.js';

describe('AuthFailureLimiter without Redis', () => {
  it('lets `limit` failures through, then blocks the address until its window ends', async () => {
    let now = 1_000_000;
    const limiter = new AuthFailureLimiter({
      redis: null,
      namespace: 't:',
      limit: 2,
      instances: 1,
      now: () => now,
    });
    expect(await limiter.fail('10.0.0.1')).toBe(0);
    expect(await limiter.fail('10.0.0.1')).toBe(0);
    expect(limiter.retryAfter('10.0.0.1')).toBe(0);
    const wait = await limiter.fail('10.0.0.1');
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(60);
    expect(limiter.retryAfter('10.0.0.1')).toBeCloseTo(wait, 3);
    expect(limiter.retryAfter('10.0.0.2')).toBe(0);
    now += wait * 1000;
    expect(limiter.retryAfter('10.0.0.1')).toBe(0);
  });

  it('counts each instance as EXPECTED_INSTANCES while it counts alone', async () => {
    const limiter = new AuthFailureLimiter({ redis: null, namespace: 't:', limit: 5, instances: 3 });
    expect(await limiter.fail('10.0.0.3')).toBe(0); // 3
    expect(await limiter.fail('10.0.0.3')).toBeGreaterThan(0); // 6 > 5
  });

  it('does nothing with a limit of 0', async () => {
    const limiter = new AuthFailureLimiter({ redis: null, namespace: 't:', limit: 0, instances: 1 });
    for (let i = 0; i < 50; i++) expect(await limiter.fail('10.0.0.4')).toBe(0);
    expect(limiter.retryAfter('10.0.0.4')).toBe(0);
  });
});

// The `_today` gauges (limits/usage.ts) count the upstream's day, midnight to midnight in
// UPSTREAM_QUOTA_TZ, as the quota and the bill do: the dashboard's "today" panels read them, where a
// counter's increase over 24 h would be a rolling day.
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { callerRef } from '../../src/limits/caller-ref.js';
import { CallerUsage } from '../../src/limits/usage.js';
import { GatewayMetrics } from '../../src/metrics.js';

afterEach(() => {
  vi.useRealTimers();
});

async function gauge(metrics: GatewayMetrics, name: string): Promise<Record<string, number>> {
  const m = await metrics.registry.getSingleMetric(name)!.get();
  return Object.fromEntries(m.values.map((v) => [JSON.stringify(v.labels), v.value]));
}

describe('usage of the upstream day', () => {
  it('counts since midnight in UPSTREAM_QUOTA_TZ and starts again at the next one', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const metrics = new GatewayMetrics();
    const usage = new CallerUsage({
      metrics,
      redis: null,
      keyPrefix: 't:',
      tz: 'Asia/Shanghai',
      log: pino({ level: 'silent' }),
    });
    const etl = callerRef({ name: 'etl', anonymous: false }, 'caller:etl');
    // 23:59 in Shanghai (15:59 UTC): two billed calls, one not billed, one cache hit.
    vi.setSystemTime(new Date('2026-12-04T15:59:00Z'));
    usage.call(etl, true, 'get_author_spread_info');
    usage.call(etl, true, 'get_author_spread_info');
    usage.call(etl, false, 'get_author_spread_info');
    usage.served(etl, true, 'get_author_spread_info');
    expect(await gauge(metrics, 'gateway_caller_upstream_calls_today')).toEqual({
      '{"caller":"etl","billed":"true"}': 2,
      '{"caller":"etl","billed":"false"}': 1,
    });
    expect(await gauge(metrics, 'gateway_caller_cache_hits_today')).toEqual({ '{"caller":"etl"}': 1 });
    // Two minutes later it is the next upstream day (16:01 UTC): nothing yet, whatever a rolling
    // 24 h window says; a call now counts from 1.
    vi.setSystemTime(new Date('2026-12-04T16:01:00Z'));
    expect(
      (await gauge(metrics, 'gateway_caller_upstream_calls_today'))['{"caller":"etl","billed":"true"}'],
    ).toBe(0);
    expect(await gauge(metrics, 'gateway_caller_cache_hits_today')).toEqual({ '{"caller":"etl"}': 0 });
    usage.call(etl, true, 'get_author_spread_info');
    expect(
      (await gauge(metrics, 'gateway_caller_upstream_calls_today'))['{"caller":"etl","billed":"true"}'],
    ).toBe(1);
    // The counters of all time keep everything.
    expect(
      (await metrics.registry.getSingleMetric('gateway_caller_upstream_calls_total')!.get()).values,
    ).toContainEqual(expect.objectContaining({ labels: { caller: 'etl', billed: 'true' }, value: 3 }));
    await usage.close();
  });
});

// Many requests waiting for upstream budget at once: no listener piles up on a shared signal (Node
// warns past 10: MaxListenersExceededWarning), and closing still ends every wait at once.
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { GatewayError } from '../../src/errors.js';
import { UpstreamGovernor } from '../../src/governance/governor.js';
import { GatewayMetrics } from '../../src/metrics.js';

const WAITERS = 40;
const warnings: Error[] = [];
const onWarning = (w: Error) => warnings.push(w);

function governor(rps: number): UpstreamGovernor {
  const config = loadConfig({
    NODE_ENV: 'test',
    JUSTONEAPI_TOKEN: 't',
    UPSTREAM_MAX_RPS: String(rps),
    UPSTREAM_MAX_WAIT_MS: '60000',
    UPSTREAM_TIMEOUT_MS: '2000',
    CALLER_MAX_PENDING_UPSTREAM: '100',
  });
  return new UpstreamGovernor({
    config,
    redis: null,
    metrics: new GatewayMetrics(),
    log: pino({ level: 'silent' }),
    keyPrefix: 'unused:',
  });
}

afterEach(() => {
  process.off('warning', onWarning);
  warnings.length = 0;
});

describe('budget waits', () => {
  it(`${WAITERS} concurrent waits: all admitted, no MaxListenersExceededWarning`, async () => {
    process.on('warning', onWarning);
    const gov = governor(200); // 5 ms apart: the last waiter waits about 200 ms
    try {
      const deadline = Date.now() + 60_000;
      const waits = Array.from({ length: WAITERS }, () => gov.beforeCall(deadline));
      expect(await Promise.allSettled(waits)).toEqual(
        Array(WAITERS).fill({ status: 'fulfilled', value: undefined }),
      );
      // Warnings are emitted on a later tick.
      await new Promise((r) => setTimeout(r, 50));
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    } finally {
      await gov.close();
    }
  });

  it('closing ends every pending wait with a 503 at once', async () => {
    process.on('warning', onWarning);
    const gov = governor(1); // 1 s apart: the waiters would wait up to 40 s
    const deadline = Date.now() + 120_000;
    const waits = Array.from({ length: WAITERS }, () =>
      gov.beforeCall(deadline).then(
        () => 'go',
        (err: unknown) => (err instanceof GatewayError ? `${err.statusCode} ${err.code}` : String(err)),
      ),
    );
    await new Promise((r) => setTimeout(r, 50));
    await gov.close();
    const outcomes = await Promise.all(waits);
    // The first slot is free at once; every other waiter is released by close, not by its timer.
    expect(outcomes.filter((o) => o === 'go').length).toBeLessThanOrEqual(1);
    expect(outcomes.filter((o) => o === '503 UPSTREAM_UNAVAILABLE').length).toBeGreaterThanOrEqual(
      WAITERS - 1,
    );
    await new Promise((r) => setTimeout(r, 50));
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
  });
});

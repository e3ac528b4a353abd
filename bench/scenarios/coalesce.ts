// Single flight across instances: 1000 requests fired at once over 20 cold keys, spread round robin
// over three gateway processes sharing one Redis, against an upstream that takes ~200 ms (so every
// request arrives while the first call for its key is still running). The upstream counts calls.
import { Pool } from 'undici';
import { startSimUpstream } from '../../src/sim/upstream-server.js';
import { AUTH, type Server, startGateway } from '../lib/gateway.js';
import { type Ctx, int } from '../lib/report.js';

const REQUESTS = 1000;
const KEYS = 20;
const INSTANCES = 3;
const UPSTREAM_DELAY_MS = 200;

export async function coalesceScenario(ctx: Ctx): Promise<void> {
  const sim = await startSimUpstream({ delayMs: UPSTREAM_DELAY_MS });
  const gateways: Server[] = [];
  const pools: Pool[] = [];
  const statuses = new Map<number, number>();
  let elapsed = 0;
  try {
    for (let i = 0; i < INSTANCES; i++)
      gateways.push(
        await startGateway(ctx.runner, {
          upstreamUrl: sim.url,
          redisUrl: ctx.redis.url,
          prefix: `bc${ctx.runId}:`,
          extra: { EXPECTED_INSTANCES: String(INSTANCES) },
        }),
      );
    // One socket per request in flight, so no request queues in the client and all are concurrent.
    for (const g of gateways) pools.push(new Pool(g.url, { connections: Math.ceil(REQUESTS / INSTANCES) }));
    const started = performance.now();
    await Promise.all(
      Array.from({ length: REQUESTS }, async (_, i) => {
        const res = await pools[i % INSTANCES]!.request({
          method: 'GET',
          path: `/v1/authors/coal-${ctx.runId}-${i % KEYS}/spread-info`,
          headers: AUTH,
        });
        await res.body.text();
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      }),
    );
    elapsed = performance.now() - started;
  } finally {
    await Promise.all(pools.map((p) => p.close()));
    await Promise.all(gateways.map((g) => g.stop()));
    await sim.close();
  }

  const perKey = new Map<string, number>();
  for (const c of sim.calls)
    perKey.set(c.query['oAuthorId'] ?? '', (perKey.get(c.query['oAuthorId'] ?? '') ?? 0) + 1);
  const ratio = sim.callCount / KEYS;
  const maxPerKey = Math.max(0, ...perKey.values());
  const codes = [...statuses].map(([s, n]) => `${int(n)}x${s}`).join(', ');
  ctx.rows.push({
    measure: `upstream calls per key (${REQUESTS} req, ${KEYS} keys, ${INSTANCES} instances)`,
    result:
      `${ratio.toFixed(2)} (${sim.callCount} calls, max ${maxPerKey} per key; ${codes}; ` +
      `all answered in ${int(elapsed)} ms, upstream ${UPSTREAM_DELAY_MS} ms)`,
    target: 'exactly 1.00',
    met: sim.callCount === KEYS && perKey.size === KEYS && statuses.get(200) === REQUESTS,
  });
}

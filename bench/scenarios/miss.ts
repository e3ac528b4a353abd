// What the gateway adds to a miss: sequential requests for distinct authors (each one a miss),
// each paired with a direct call to the same zero-delay simulated upstream by the same client, so
// both distributions share the machine state of the moment. Added time = gateway - upstream.
import { QUERY_DEFAULTS, UPSTREAM_PATH, upstreamSearchParams } from '../../src/upstream/params.js';
import { cpuMs } from '../lib/children.js';
import { AUTH, startGateway } from '../lib/gateway.js';
import { percentile, sortNumbers, TimedClient } from '../lib/load.js';
import { RedisStats } from '../lib/redis-stats.js';
import { type Ctx, ms } from '../lib/report.js';

const TARGET_P50_MS = 1;
const TARGET_P99_MS = 3;

export async function missScenario(ctx: Ctx): Promise<void> {
  const warm = ctx.quick ? 100 : 300;
  const n = ctx.quick ? 300 : 1000;
  const gw = await startGateway(
    ctx.runner,
    { upstreamUrl: ctx.sim.url, redisUrl: ctx.redis.url, prefix: `bm${ctx.runId}:` },
    ctx.nodeArgs,
  );
  if (ctx.nodeArgs.length > 0) process.stderr.write(` [profiled: miss gateway pid ${gw.pid}]`);
  const client = new TimedClient();
  const direct: number[] = [];
  const through: number[] = [];
  let commands = new Map<string, number>();
  let cpu = 0;
  let sent = new Map<string, number>();
  const MONITORED = 100;
  try {
    let before = await ctx.stats.snapshot();
    let cpu0 = 0;
    for (let i = 0; i < warm + n; i++) {
      if (i === warm) {
        before = await ctx.stats.snapshot();
        cpu0 = cpuMs(gw.pid);
      }
      const id = `miss-${ctx.runId}-${i}`;
      // The exact query the gateway's client sends, so the upstream does the same work both times.
      const query = upstreamSearchParams({ oAuthorId: id, ...QUERY_DEFAULTS });
      query.set('token', 'bench-token');
      const up = await client.get(ctx.sim.url, `${UPSTREAM_PATH}?${query}`);
      const gwRes = await client.get(gw.url, `/v1/authors/${id}/spread-info`, AUTH);
      if (up.status !== 200 || gwRes.status !== 200 || !gwRes.body.includes('"cache":"MISS"'))
        throw new Error(
          `miss ${id}: upstream ${up.status}, gateway ${gwRes.status} ${gwRes.body.slice(0, 200)}`,
        );
      if (i < warm) continue;
      direct.push(up.ms);
      through.push(gwRes.ms);
    }
    cpu = cpuMs(gw.pid) - cpu0;
    commands = RedisStats.delta(before, await ctx.stats.snapshot());
    // Round trips versus commands run inside scripts, on a few more misses (MONITOR slows Redis).
    ({ sent } = await ctx.stats.monitor(async () => {
      for (let i = 0; i < MONITORED; i++)
        await client.get(gw.url, `/v1/authors/miss-${ctx.runId}-m${i}/spread-info`, AUTH);
    }));
  } finally {
    await client.close();
    await gw.stop();
  }

  const d = sortNumbers(direct);
  const t = sortNumbers(through);
  const add50 = percentile(t, 50) - percentile(d, 50);
  const add99 = percentile(t, 99) - percentile(d, 99);
  ctx.rows.push(
    {
      measure: `miss: upstream alone (${n} sequential calls)`,
      result: `p50 ${ms(percentile(d, 50))}, p99 ${ms(percentile(d, 99))}`,
    },
    {
      measure: 'miss: through the gateway (same authors)',
      result:
        `p50 ${ms(percentile(t, 50))}, p99 ${ms(percentile(t, 99))}; gateway CPU ` +
        `${Math.round((cpu * 1000) / n)} us per miss (the measured misses' own, from /proc)`,
    },
    {
      measure: 'miss: time the gateway adds',
      result: `p50 ${ms(add50)}, p99 ${ms(add99)}`,
      target: `p50 < ${TARGET_P50_MS} ms, p99 < ${TARGET_P99_MS} ms`,
      met: add50 < TARGET_P50_MS && add99 < TARGET_P99_MS,
    },
    {
      measure: 'Redis commands per miss',
      result:
        `commandstats ${(RedisStats.total(commands) / n).toFixed(2)} (${RedisStats.describe(commands, n)}); ` +
        `sent ${(RedisStats.total(sent) / MONITORED).toFixed(2)} (${RedisStats.describe(sent, MONITORED)}), ` +
        'the rest run inside scripts',
    },
  );
}

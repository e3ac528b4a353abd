// Memory with 100k distinct keys cached. Filling them with real misses costs ~8 Redis round trips
// and an upstream call each (minutes on a 2-core machine), so the bench writes the entries to Redis
// itself, in the store's own format, and then reads every key through the gateway with batch
// requests (100 tuples each): each key takes the gateway's real read path into its in-process copy,
// with its pre-serialised metrics. CACHE_MEMORY_MAX_ENTRIES is raised to 100k so every key is held
// in process too: the worst case for RSS. Keys the gateway did not find become real misses, and the
// upstream's call count says how many did.
import { randomUUID } from 'node:crypto';
import { Pool } from 'undici';
import type { CacheEntry } from '../../src/cache/entry.js';
import { tupleKey } from '../../src/cache/keys.js';
import { simSpreadData } from '../../src/sim/upstream-server.js';
import { QUERY_DEFAULTS, type SpreadParams } from '../../src/upstream/params.js';
import { API_KEY, MEMORY_PROBE, startGateway } from '../lib/gateway.js';
import { type Ctx, int, mib } from '../lib/report.js';

const BATCH = 100;
const IN_FLIGHT = 8;
const MAX_ENTRIES = 100_000;
const TTL_SECONDS = 3600;

export async function memoryScenario(ctx: Ctx): Promise<void> {
  // --quick fills a quarter: the per-key figure is what carries over.
  const KEYS = ctx.quick ? 25_000 : 100_000;
  const prefix = `br${ctx.runId}:`;
  const params = (i: number): SpreadParams => ({ oAuthorId: `mem-${ctx.runId}-${i}`, ...QUERY_DEFAULTS });
  const gw = await startGateway(
    ctx.runner,
    {
      upstreamUrl: ctx.sim.url,
      redisUrl: ctx.redis.url,
      prefix,
      extra: { CACHE_MEMORY_MAX_ENTRIES: String(MAX_ENTRIES) },
    },
    MEMORY_PROBE,
  );
  const pool = new Pool(gw.url, { connections: IN_FLIGHT });
  try {
    const redisBefore = await ctx.stats.usedMemoryMiB();
    const preloadStarted = performance.now();
    for (let i = 0; i < KEYS; i += 1000) {
      const pipe = ctx.stats.raw.pipeline();
      for (let j = i; j < Math.min(KEYS, i + 1000); j++) {
        const p = params(j);
        const entry: CacheEntry = {
          kind: 'ok',
          data: simSpreadData(p),
          fetchedAt: Date.now(),
          requestId: randomUUID(),
        };
        pipe.set(prefix + tupleKey(p), JSON.stringify(entry), 'EX', TTL_SECONDS);
      }
      await pipe.exec();
    }
    const preloadSeconds = (performance.now() - preloadStarted) / 1000;
    // One batch first, so "before" includes the read path's own warm-up, not just start-up.
    await postBatch(pool, [params(-1)]);
    const before = await gw.memory();
    const calls0 = ctx.sim.callCount;
    const started = performance.now();
    let next = 0;
    let failed = 0;
    const worker = async () => {
      while (next < KEYS) {
        const items = Array.from({ length: Math.min(BATCH, KEYS - next) }, () => params(next++));
        failed += await postBatch(pool, items);
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    const readSeconds = (performance.now() - started) / 1000;
    const after = await gw.memory();
    const misses = ctx.sim.callCount - calls0;
    const perKey = (mb: number) => int((mb * 1048576) / KEYS);
    ctx.rows.push({
      measure: `RSS with ${int(KEYS)} keys cached (CACHE_MEMORY_MAX_ENTRIES=${int(MAX_ENTRIES)})`,
      result:
        `gateway RSS ${mib(before.rssMiB)} -> ${mib(after.rssMiB)} (~${perKey(after.rssMiB - before.rssMiB)} B/key), ` +
        `live heap ${mib(before.heapMiB)} -> ${mib(after.heapMiB)} (~${perKey(after.heapMiB - before.heapMiB)} B/key); Redis used_memory +${mib((await ctx.stats.usedMemoryMiB()) - redisBefore)}; ` +
        `filled: Redis preloaded in ${preloadSeconds.toFixed(1)} s, then all keys read through ` +
        `${int(KEYS / BATCH)} batch requests in ${readSeconds.toFixed(1)} s (${int(misses)} became misses)` +
        (failed ? `, ${failed} items failed` : ''),
    });
  } finally {
    await pool.close();
    await gw.stop();
  }
}

/** Returns how many items did not come back 200. */
async function postBatch(pool: Pool, items: SpreadParams[]): Promise<number> {
  const res = await pool.request({
    method: 'POST',
    path: '/v1/authors/spread-info/batch',
    headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
    body: JSON.stringify({ items }),
  });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`batch: ${res.statusCode} ${text.slice(0, 200)}`);
  const { results } = JSON.parse(text) as { results: Array<{ status: number }> };
  return results.filter((r) => r.status !== 200).length;
}

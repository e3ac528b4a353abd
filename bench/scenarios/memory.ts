// Memory of the in-process copy. Filling keys with real misses costs a few Redis round trips and an
// upstream call each (minutes on a 2-core machine), so the bench writes the entries to Redis itself,
// in the store's own format, and then reads every key through the gateway with batch requests (100
// tuples each): each key takes the gateway's real read path into its in-process copy. Keys the
// gateway did not find become real misses, and the upstream's call count says how many did.
// Two gateways: one whose bound holds every key (the cost of a key: RSS and live heap per key, and
// that beyond the bytes of the key's own answer), and one at the default CACHE_MEMORY_MAX_BYTES
// filled past it (what the process holds once the bound is reached: what a container must fit).
import { randomUUID } from 'node:crypto';
import { Pool } from 'undici';
import type { CacheEntry } from '../../src/cache/entry.js';
import { tupleKey } from '../../src/cache/keys.js';
import { envSchema } from '../../src/config.js';
import { simSpreadData } from '../../src/sim/upstream-server.js';
import { QUERY_DEFAULTS, type SpreadParams } from '../../src/upstream/params.js';
import { rssMiB } from '../lib/children.js';
import { API_KEY, MEMORY_PROBE, type Server, startGateway } from '../lib/gateway.js';
import { type Ctx, int, mib } from '../lib/report.js';

const BATCH = 100;
const IN_FLIGHT = 8;
const TTL_SECONDS = 3600;
/** Far above what the keys need: the first gateway holds them all. */
const UNBOUNDED_BYTES = 4 * 1024 ** 3;
/** The default bound (a build before CACHE_MEMORY_MAX_BYTES had only CACHE_MEMORY_MAX_ENTRIES). */
const shape = envSchema.shape as Record<string, { parse(v: unknown): unknown } | undefined>;
const DEFAULT_BYTES = shape['CACHE_MEMORY_MAX_BYTES']?.parse(undefined) as number | undefined;
const DEFAULT_ENTRIES = shape['CACHE_MEMORY_MAX_ENTRIES']?.parse(undefined) as number | undefined;
/** Target: in-process bytes per entry beyond the body's own (issue 14). */
const TARGET_BEYOND_BODY = 1536;

export async function memoryScenario(ctx: Ctx): Promise<void> {
  // --quick fills a quarter: the per-key figure is what carries over.
  const keys = ctx.quick ? 25_000 : 100_000;
  const preloadStarted = performance.now();
  const prefix = `br${ctx.runId}:`;
  const params = (i: number): SpreadParams => ({ oAuthorId: `mem-${ctx.runId}-${i}`, ...QUERY_DEFAULTS });
  const redisBefore = await ctx.stats.usedMemoryMiB();
  await preload(ctx, prefix, params, keys);
  const redisMiB = (await ctx.stats.usedMemoryMiB()) - redisBefore;
  const preloadSeconds = (performance.now() - preloadStarted) / 1000;

  const all = await fill(ctx, prefix, params, keys, {
    CACHE_MEMORY_MAX_BYTES: String(UNBOUNDED_BYTES),
    CACHE_MEMORY_MAX_ENTRIES: String(keys),
  });
  const perKey = (mb: number, n = keys) => (mb * 1048576) / n;
  const rssPerKey = perKey(all.after.rssMiB - all.before.rssMiB);
  const marginal = perKey(all.after.rssMiB - all.half.rssMiB, keys / 2);
  const beyond = marginal - all.bodyBytes;
  ctx.rows.push({
    measure: `memory per key held in process (${int(keys)} keys, all held)`,
    result:
      `RSS ${mib(all.before.rssMiB)} -> ${mib(all.half.rssMiB)} at half -> ${mib(all.after.rssMiB)}: ` +
      `~${int(rssPerKey)} B/key over all, ~${int(marginal)} B/key for the second half; the answer's body ` +
      `${int(all.bodyBytes)} B, so ${int(beyond)} B beyond it; live heap ${mib(all.before.heapMiB)} -> ` +
      `${mib(all.after.heapMiB)} (~${int(perKey(all.after.heapMiB - all.before.heapMiB))} B/key; reserved ` +
      `${mib(all.before.heapTotalMiB)} -> ${mib(all.after.heapTotalMiB)}), external ` +
      `${mib(all.before.externalMiB)} -> ${mib(all.after.externalMiB)}; Redis used_memory +${mib(redisMiB)}; ` +
      `filled: Redis preloaded in ${preloadSeconds.toFixed(1)} s, read through ${int(keys / BATCH)} batch ` +
      `requests in ${all.readSeconds.toFixed(1)} s (${int(all.misses)} became misses)` +
      (all.failed ? `, ${all.failed} items failed` : ''),
    target: `<= ${int(TARGET_BEYOND_BODY)} B beyond the body`,
    met: beyond <= TARGET_BEYOND_BODY && all.failed === 0 && all.misses === 0,
  });

  const bounded = await fill(ctx, prefix, params, keys, {});
  const bound =
    DEFAULT_BYTES !== undefined
      ? `CACHE_MEMORY_MAX_BYTES=${mib(DEFAULT_BYTES / 1048576)}`
      : `CACHE_MEMORY_MAX_ENTRIES=${int(DEFAULT_ENTRIES ?? 0)}`;
  ctx.rows.push({
    measure: `RSS at the default bound (${bound}, ${int(keys)} keys read)`,
    result:
      `RSS ${mib(bounded.before.rssMiB)} -> ${mib(bounded.after.rssMiB)} after a full GC, ` +
      `${mib(bounded.peakRssMiB)} at most while reading; live heap ${mib(bounded.after.heapMiB)}, external ` +
      `${mib(bounded.after.externalMiB)}`,
    target: 'fits a 512 MiB container',
    met: bounded.peakRssMiB < 512 && bounded.after.rssMiB < 512,
  });
}

async function preload(ctx: Ctx, prefix: string, params: (i: number) => SpreadParams, keys: number) {
  for (let i = 0; i < keys; i += 1000) {
    const pipe = ctx.stats.raw.pipeline();
    for (let j = i; j < Math.min(keys, i + 1000); j++) {
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
}

/** A gateway with these bounds (none: the defaults), every key read through it; memory before and after. */
async function fill(
  ctx: Ctx,
  prefix: string,
  params: (i: number) => SpreadParams,
  keys: number,
  bounds: Record<string, string>,
) {
  const gw: Server = await startGateway(
    ctx.runner,
    { upstreamUrl: ctx.sim.url, redisUrl: ctx.redis.url, prefix, extra: bounds },
    MEMORY_PROBE,
  );
  const pool = new Pool(gw.url, { connections: IN_FLIGHT });
  try {
    // One batch first, so "before" includes the read path's own warm-up, not just start-up.
    await postBatch(pool, [params(-1)]);
    const bodyBytes = await answerBytes(gw.url, params(0));
    const before = await gw.memory();
    const calls0 = ctx.sim.callCount;
    const started = performance.now();
    let next = 0;
    let failed = 0;
    let peakRssMiB = 0;
    const sampler = setInterval(() => {
      peakRssMiB = Math.max(peakRssMiB, rssMiB(gw.pid));
    }, 250);
    const readUpTo = async (end: number) => {
      const worker = async () => {
        while (next < end) {
          const items = Array.from({ length: Math.min(BATCH, end - next) }, () => params(next++));
          failed += await postBatch(pool, items);
        }
      };
      await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    };
    // Half, then the rest: the second half's growth is what one more key costs, once the process
    // has the heap its batch traffic needs (the first half pays for that too).
    await readUpTo(keys / 2);
    const half = await gw.memory();
    await readUpTo(keys);
    clearInterval(sampler);
    const readSeconds = (performance.now() - started) / 1000;
    const after = await gw.memory();
    return {
      before,
      half,
      after,
      bodyBytes,
      readSeconds,
      misses: ctx.sim.callCount - calls0,
      failed,
      peakRssMiB,
    };
  } finally {
    await pool.close();
    await gw.stop();
  }
}

/** The bytes of a key's answer on the normalised route (a hit: the key is preloaded). */
async function answerBytes(url: string, p: SpreadParams): Promise<number> {
  const res = await fetch(`${url}/v1/authors/${p.oAuthorId}/spread-info`, {
    headers: { 'x-api-key': API_KEY },
  });
  return (await res.arrayBuffer()).byteLength;
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

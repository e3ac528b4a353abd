// Soak (issue 6, "No leaks"): a long run over 2000 keys against one gateway, mostly hits, with a
// share of the other paths a real caller takes (drop-in route, 404 for an unknown author, 401 for a
// wrong key, 400 for a bad query), so a leak on any of them shows. RSS and open fds are read after a
// warm-up (every key cached, code paths compiled) and at the end, each time with the load stopped
// and after a forced full collection (the live heap, not the garbage awaiting collection). RSS
// is judged under load, by the median of the run's first quarter against its last: idle readings,
// even after a collection, move with how much of its heap V8 happens to give back to the system.

import { setTimeout as sleep } from 'node:timers/promises';
import autocannon, { type RawRequest } from 'autocannon';
import { openFds, rssMiB } from '../lib/children.js';
import { AUTH, MEMORY_PROBE, startGateway } from '../lib/gateway.js';
import { type Ctx, int, mib } from '../lib/report.js';

const KEYS = 2000;
/** Growth that counts as a leak rather than the allocator's rhythm. */
const TOLERANCE = 0.1;
const FD_TOLERANCE = 2;

export async function soakScenario(ctx: Ctx): Promise<void> {
  const warmup = ctx.quick ? 10_000 : 20_000;
  const total = ctx.soakRequests ?? (ctx.quick ? 40_000 : 200_000);
  const gw = await startGateway(
    ctx.runner,
    {
      upstreamUrl: ctx.sim.url,
      redisUrl: ctx.redis.url,
      prefix: `bs${ctx.runId}:`,
      // Every request comes from one address: its 1% of wrong keys would soon block the address for
      // a minute (failed-credential limit), and the soak would measure 429s instead of its mix.
      extra: { AUTH_FAILURES_PER_MINUTE: '0' },
    },
    MEMORY_PROBE,
  );
  let i = 0;
  // Shared by all connections: request n of the run, whichever connection sends it.
  const next = (req: RawRequest): RawRequest => {
    const n = i++;
    const id = `soak-${ctx.runId}-${n % KEYS}`;
    const mix = n % 100;
    let path = `/v1/authors/${id}/spread-info`;
    let headers: Record<string, string> = AUTH;
    if (mix < 5) path = `/api/douyin-xingtu/gw/api/data_sp/get_author_spread_info/v1?oAuthorId=${id}`;
    else if (mix === 5) path = `/v1/authors/notfound-${ctx.runId}-${n % 50}/spread-info`;
    else if (mix === 6) headers = { 'x-api-key': 'not-a-key-of-this-gateway' };
    else if (mix === 7) path += '?platform=NOT_A_PLATFORM';
    return { ...req, path, headers };
  };
  const run = (amount: number) =>
    autocannon({
      url: gw.url,
      connections: ctx.connections,
      amount,
      timeout: 10,
      requests: [{ setupRequest: next }],
    });
  const sample = async () => {
    // Let closed sockets be reaped and timers fire before counting.
    await sleep(1000);
    const m = await gw.memory();
    return {
      rss: m.rssMiB,
      fds: openFds(gw.pid),
      heap: m.heapMiB,
      heapTotal: m.heapTotalMiB,
      ext: m.externalMiB,
    };
  };

  try {
    const first = await run(warmup);
    const start = await sample();
    const rss: number[] = [];
    const sampler = setInterval(() => rss.push(rssMiB(gw.pid)), 1000);
    const started = performance.now();
    const main = await run(total);
    clearInterval(sampler);
    const seconds = (performance.now() - started) / 1000;
    const end = await sample();
    const codes = mergeCodes(first.statusCodeStats, main.statusCodeStats);
    const errors = first.errors + first.timeouts + main.errors + main.timeouts;
    const q = quarter(rss);
    const rssTrend = (median(rss.slice(-q)) - median(rss.slice(0, q))) / median(rss.slice(0, q));
    const heapGrowth = (end.heap - start.heap) / start.heap;
    const rssGrowth = (end.rss - start.rss) / start.rss;
    const fdGrowth = end.fds - start.fds;
    const met = rssTrend <= TOLERANCE && heapGrowth <= TOLERANCE && fdGrowth <= FD_TOLERANCE && errors === 0;
    ctx.rows.push({
      measure: `soak: ${int(warmup)} warm-up + ${int(total)} req over ${int(KEYS)} keys`,
      result:
        `RSS under load ${mib(median(rss.slice(0, q)))} first quarter -> ${mib(median(rss.slice(-q)))} last ` +
        `(${pct(rssTrend)}, max ${mib(Math.max(...rss))}); idle after GC ${mib(start.rss)} after warm-up -> ` +
        `${mib(end.rss)} at end (${pct(rssGrowth)}); live heap ${mib(start.heap)} -> ${mib(end.heap)} ` +
        `(${pct(heapGrowth)}; reserved ${mib(start.heapTotal)} -> ${mib(end.heapTotal)}, external ` +
        `${mib(start.ext)} -> ${mib(end.ext)}); open fds ${start.fds} -> ${end.fds}; ` +
        `${int(main.requests.total / seconds)} req/s; ${codes}` +
        (errors ? `; ${errors} errors/timeouts` : ''),
      // A --quick soak lasts seconds: V8 is still growing its heap, so flatness cannot be judged.
      target: ctx.quick
        ? 'judged in the full run'
        : `RSS, heap +<=${TOLERANCE * 100}%; fds +<=${FD_TOLERANCE}`,
      ...(ctx.quick ? {} : { met }),
    });
  } finally {
    await gw.stop();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

const quarter = (samples: number[]) => Math.max(1, Math.floor(samples.length / 4));

const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;

function mergeCodes(...stats: Array<Record<string, { count: number }>>): string {
  const sum = new Map<string, number>();
  for (const s of stats)
    for (const [code, { count }] of Object.entries(s)) sum.set(code, (sum.get(code) ?? 0) + count);
  return [...sum].map(([code, n]) => `${int(n)}x${code}`).join(' ');
}

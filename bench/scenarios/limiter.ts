// The per-caller limit's own cost, @fastify/rate-limit against our hook (issue 23): the same
// in-process counting (limits/caller-limit.ts against the bench's Redis) behind the library's store
// interface and behind a hook written as plugins/access.ts writes it, each in a bare Fastify
// process serving the gateway's body (bench/limit-server.ts). Measured in interleaved slices with
// the full gateway's cache hit, so the library's extra CPU per request is set against a hit's.
import type { Options } from 'autocannon';
import { cpuMs } from '../lib/children.js';
import { AUTH, type Server, startGateway, startLimitServer } from '../lib/gateway.js';
import { load } from '../lib/load.js';
import { type Ctx, int } from '../lib/report.js';
import { describe, fetchBody, medianRatio, ratioSpread, summary, type Target } from './hit.js';

export async function limiterScenario(ctx: Ctx): Promise<void> {
  const path = `/v1/authors/limit-${ctx.runId}/spread-info`;
  const servers: Server[] = [];
  try {
    const gw = await startGateway(ctx.runner, {
      upstreamUrl: ctx.sim.url,
      redisUrl: ctx.redis.url,
      prefix: `bl${ctx.runId}:`,
    });
    servers.push(gw);
    await fetchBody(gw.url + path);
    const body = await fetchBody(gw.url + path);
    const hook = await startLimitServer('hook', body, ctx.redis.url, `bl${ctx.runId}:`);
    servers.push(hook);
    const library = await startLimitServer('library', body, ctx.redis.url, `bl${ctx.runId}:`);
    servers.push(library);

    const target = (name: string, server: Server, headers: Record<string, string>): Target => ({
      name,
      url: server.url,
      cpuNow: () => cpuMs(server.pid),
      headers,
      slices: [],
      commands: new Map(),
      cpu: 0,
    });
    const targets = [target('hook', hook, {}), target('library', library, {}), target('gateway', gw, AUTH)];
    const opts = (t: Target, more: Partial<Options>): Options => ({
      url: t.url + path,
      connections: ctx.connections,
      headers: t.headers,
      ...more,
    });
    for (const t of targets) await load(opts(t, { duration: ctx.warmup }));
    const sliceSeconds = ctx.seconds / ctx.rounds;
    // CPU per request of each slice: on a loaded machine it moves far less than req/s.
    const cpuUs = new Map<string, number[]>(targets.map((t) => [t.name, []]));
    for (let round = 0; round < ctx.rounds; round++) {
      for (const t of round % 2 ? [...targets].reverse() : targets) {
        const cpu0 = t.cpuNow();
        const slice = await load(opts(t, { duration: sliceSeconds }));
        const used = t.cpuNow() - cpu0;
        t.slices.push(slice);
        t.cpu += used;
        cpuUs.get(t.name)?.push((used * 1000) / slice.total);
      }
    }
    // The median over rounds of library/hook CPU per request, and its range.
    const cpuRatios = (cpuUs.get('library') ?? []).map((x, i) => x / (cpuUs.get('hook')?.[i] ?? Number.NaN));
    const sorted = [...cpuRatios].sort((a, b) => a - b);
    const cpuRatio = sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
    const [own, lib, hit] = targets.map(summary) as [
      ReturnType<typeof summary>,
      ReturnType<typeof summary>,
      ReturnType<typeof summary>,
    ];
    const extraUs = lib.cpuUs - own.cpuUs;
    ctx.rows.push(
      { measure: 'per-caller limit, our hook (plugins/access.ts shape)', result: describe(own) },
      {
        measure: 'per-caller limit, @fastify/rate-limit with the same counting as its store',
        result:
          `${describe(lib)}; library/hook req/s ${medianRatio(lib, own).toFixed(2)} ${ratioSpread(lib, own)}, ` +
          `CPU per request ${cpuRatio.toFixed(2)} (rounds ${sorted[0]?.toFixed(2)}-${sorted.at(-1)?.toFixed(2)})`,
      },
      {
        measure: "the library's extra CPU per request against a gateway cache hit's (warn)",
        result: `${extraUs.toFixed(1)} us of ${int(hit.cpuUs)} us (${((100 * extraUs) / hit.cpuUs).toFixed(1)}%); hit ${describe(hit)}`,
      },
    );
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

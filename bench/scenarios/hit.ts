// Cache hits against the ceiling: the bare Fastify route serving the gateway's own body, the full
// gateway (key auth, per-caller limit, Redis) at LOG_LEVEL=warn and at the default info (one line
// per request), and the gateway with its in-process L1 off (every hit read from Redis). All are
// measured in interleaved slices (ceiling, gateway, ..., then the reverse order) so that a
// neighbour's burst of CPU on this shared machine lands on all of them alike. nginx with
// proxy_cache in front of the gateway is measured alike as a reference (when nginx is installed).
// A catalogued endpoint's drop-in hit (get_author_base_info) is measured beside spread-info's drop-in
// hit on the same warn gateway, in the same slices: the family must cost no more per hit.
import type { Options } from 'autocannon';
import { cpuMs } from '../lib/children.js';
import { AUTH, type Server, startBare, startGateway } from '../lib/gateway.js';
import { type LoadFigures, load } from '../lib/load.js';
import { type NginxCache, nginxBinary, startNginxCache } from '../lib/nginx.js';
import { RedisStats } from '../lib/redis-stats.js';
import { type Ctx, int } from '../lib/report.js';

const TARGET_RATIO = 0.6;
const TARGET_RATIO_INFO = 0.45;
/** A catalogued endpoint's hit against spread-info's (issue 20: within 15%). */
const TARGET_FAMILY_RATIO = 0.85;
const SPREAD_DROP_IN = '/api/douyin-xingtu/gw/api/data_sp/get_author_spread_info/v1';
const FAMILY_DROP_IN = '/api/douyin-xingtu/gw/api/author/get_author_base_info/v1';
const AIM_RATIO = 0.85;
// Long enough that what a caller costs per window or per flush (not per hit) is spread as it is in use.
const MONITORED_REQUESTS = 20_000;

export interface Target {
  name: string;
  url: string;
  /** Path and query asked (the scenario's own path unless set). */
  path?: string;
  /** CPU of the process(es) serving it so far (ms). */
  cpuNow: () => number;
  headers: Record<string, string>;
  slices: LoadFigures[];
  commands: Map<string, number>;
  /** CPU the server process used during the measured slices (ms). */
  cpu: number;
}

export async function hitScenario(ctx: Ctx): Promise<void> {
  const path = `/v1/authors/hit-${ctx.runId}/spread-info`;
  const spreadDropIn = `${SPREAD_DROP_IN}?oAuthorId=hit-${ctx.runId}`;
  const familyDropIn = `${FAMILY_DROP_IN}?oAuthorId=hit-${ctx.runId}`;
  const servers: Array<Pick<Server, 'stop'>> = [];
  try {
    const start = async (prefix: string, extra: Record<string, string> = {}, nodeArgs: string[] = []) => {
      const env = {
        upstreamUrl: ctx.sim.url,
        redisUrl: ctx.redis.url,
        prefix: prefix + ctx.runId + ':',
        extra,
      };
      const s = await startGateway(ctx.runner, env, nodeArgs);
      servers.push(s);
      return s;
    };
    const gw = await start('bh', {}, ctx.nodeArgs);
    const info = await start('bi', { LOG_LEVEL: 'info' }, ctx.nodeArgs);
    if (ctx.nodeArgs.length > 0)
      process.stderr.write(` [profiled: warn gateway pid ${gw.pid}, info gateway pid ${info.pid}]`);
    const noL1 = await start('bn', { CACHE_L1_SECONDS: '0' });
    // The first call is the miss that fills the cache; the second is the hit body the ceiling serves.
    await fetchBody(gw.url + path);
    const body = await fetchBody(gw.url + path);
    await fetchBody(noL1.url + path);
    await fetchBody(info.url + path);
    // The drop-in spread-info answer shares /v1's entry; the family's is its own miss, then hits.
    await fetchBody(gw.url + spreadDropIn);
    await fetchBody(gw.url + familyDropIn);
    if (!(await fetchBody(gw.url + familyDropIn)).includes('"code":0'))
      throw new Error(`${FAMILY_DROP_IN}: not a code 0 answer`);
    const bare = await startBare(body);
    servers.push(bare);
    // nginx in front of the warn gateway; its first answer is a miss that it then keeps.
    let nginx: NginxCache | null = null;
    if (nginxBinary()) {
      nginx = await startNginxCache(gw.url);
      servers.push(nginx);
      await fetchBody(nginx.url + path);
      const cached = await fetch(nginx.url + path, { headers: AUTH });
      await cached.arrayBuffer();
      if (cached.headers.get('x-nginx-cache') !== 'HIT')
        throw new Error(`nginx did not cache the answer (${cached.headers.get('x-nginx-cache')})`);
    }

    const target = (name: string, server: Server, headers: Record<string, string>, at = path): Target => ({
      name,
      url: server.url,
      path: at,
      cpuNow: () => cpuMs(server.pid),
      headers,
      slices: [],
      commands: new Map(),
      cpu: 0,
    });
    const targets = [
      target('ceiling', bare, {}),
      target('hit', gw, AUTH),
      target('info', info, AUTH),
      target('noL1', noL1, AUTH),
      target('spreadDropIn', gw, AUTH, spreadDropIn),
      target('familyDropIn', gw, AUTH, familyDropIn),
    ];
    if (nginx) {
      const n = nginx;
      targets.push({ ...target('nginx', bare, AUTH), url: n.url, cpuNow: () => n.cpuMs() });
    }
    const opts = (t: Target, more: Partial<Options>): Options => ({
      url: t.url + (t.path ?? path),
      connections: ctx.connections,
      headers: t.headers,
      ...more,
    });
    // Unmeasured: JIT warm-up and connection set-up for each server.
    for (const t of targets) await load(opts(t, { duration: ctx.warmup }));
    const sliceSeconds = ctx.seconds / ctx.rounds;
    for (let round = 0; round < ctx.rounds; round++) {
      for (const t of round % 2 ? [...targets].reverse() : targets) {
        const before = await ctx.stats.snapshot();
        const cpu0 = t.cpuNow();
        t.slices.push(await load(opts(t, { duration: sliceSeconds })));
        t.cpu += t.cpuNow() - cpu0;
        addInto(t.commands, RedisStats.delta(before, await ctx.stats.snapshot()));
      }
    }
    // Round trips versus commands run inside scripts, on a small fixed load (MONITOR slows Redis).
    const monitored = [];
    for (const t of [targets[1]!, targets[3]!])
      monitored.push(await ctx.stats.monitor(() => load(opts(t, { amount: MONITORED_REQUESTS }))));

    const [ceiling, hit, infoHit, redisHit, spreadHit, familyHit] = targets.map(summary) as [
      Summary,
      Summary,
      Summary,
      Summary,
      Summary,
      Summary,
    ];
    const nginxHit = nginx ? summary(targets[6]!) : undefined;
    const familyRatio = medianRatio(familyHit, spreadHit);
    // The median of the rounds' ratios: a neighbour's burst of CPU during one slice moves one round,
    // not the figure (the ratio of totals is shown too).
    const ratio = medianRatio(hit, ceiling);
    const infoRatio = medianRatio(infoHit, ceiling);
    const l1 = commandFigures(targets[1]!, hit, monitored[0]!);
    const l2 = commandFigures(targets[3]!, redisHit, monitored[1]!);
    ctx.rows.push(
      { measure: `ceiling: bare Fastify, same body (${ctx.connections} conns)`, result: describe(ceiling) },
      {
        measure: 'gateway cache hit (L1): auth + limit + Redis, LOG_LEVEL=warn',
        result:
          `${describe(hit)}; ratio ${ratio.toFixed(2)} ${ratioSpread(hit, ceiling)}, ` +
          `of totals ${(hit.total / ceiling.total).toFixed(2)}, ` +
          `by CPU per request ${(ceiling.cpuUs / hit.cpuUs).toFixed(2)}`,
        target: `ratio >= ${TARGET_RATIO} (aim ${AIM_RATIO})`,
        met: ratio >= TARGET_RATIO && hit.bad === 0,
      },
      {
        measure: 'gateway cache hit (L1), LOG_LEVEL=info (default)',
        result:
          `${describe(infoHit)}; ratio ${infoRatio.toFixed(2)} ${ratioSpread(infoHit, ceiling)}, ` +
          `of totals ${(infoHit.total / ceiling.total).toFixed(2)}, ` +
          `by CPU per request ${(ceiling.cpuUs / infoHit.cpuUs).toFixed(2)}`,
        target: `ratio >= ${TARGET_RATIO_INFO}`,
        met: infoRatio >= TARGET_RATIO_INFO && infoHit.bad === 0,
      },
      {
        measure: 'reference: nginx proxy_cache (1 worker) in front of the gateway',
        result: nginxHit
          ? `${describe(nginxHit)}; ratio ${medianRatio(nginxHit, ceiling).toFixed(2)} ` +
            `${ratioSpread(nginxHit, ceiling)}, by CPU per request ${(ceiling.cpuUs / nginxHit.cpuUs).toFixed(2)}; ` +
            `gateway/nginx ${medianRatio(hit, nginxHit).toFixed(2)}`
          : 'not measured: nginx is not installed (apt-get install -y nginx)',
      },
      {
        measure: 'drop-in cache hit, spread-info (L1), LOG_LEVEL=warn',
        result: `${describe(spreadHit)}; ratio to the ceiling ${medianRatio(spreadHit, ceiling).toFixed(2)}`,
      },
      {
        measure: 'drop-in cache hit, catalogued get_author_base_info (L1), LOG_LEVEL=warn',
        result:
          `${describe(familyHit)}; to spread-info's drop-in hit ${familyRatio.toFixed(2)} ` +
          `${ratioSpread(familyHit, spreadHit)}, by CPU per request ${(spreadHit.cpuUs / familyHit.cpuUs).toFixed(2)}`,
        target: `ratio >= ${TARGET_FAMILY_RATIO}`,
        met: familyRatio >= TARGET_FAMILY_RATIO && familyHit.bad === 0,
      },
      {
        measure: 'gateway cache hit, CACHE_L1_SECONDS=0',
        result: `${describe(redisHit)}; ratio ${medianRatio(redisHit, ceiling).toFixed(2)}`,
      },
      {
        measure: 'Redis commands per hit, L1 on',
        result: l1.text,
        target: '0 for L1 hits',
        // Two decimals: the governor's once-a-second status read is not a hit's doing.
        met: round2(l1.sentPerRequest) === 0,
      },
      {
        measure: 'Redis commands per hit, L1 off',
        result: l2.text,
        target: '<= 1 on average',
        met: round2(l2.sentPerRequest) <= 1,
      },
    );
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

const round2 = (x: number) => Math.round(x * 100) / 100;

export interface Summary {
  /** CPU time of the server per request, in microseconds: steadier than req/s on a shared machine. */
  cpuUs: number;
  total: number;
  rps: number;
  p50: number;
  p99: number;
  bad: number;
  slices: LoadFigures[];
}

/** Sums over the slices; percentiles are the median slice's (autocannon gives no merged histogram). */
export function summary(t: Target): Summary {
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
  const total = t.slices.reduce((n, s) => n + s.total, 0);
  const seconds = t.slices.reduce((n, s) => n + s.total / s.rps, 0);
  const bad = t.slices.reduce((n, s) => n + s.bad, 0);
  const p50 = median(t.slices.map((s) => s.p50));
  const p99 = median(t.slices.map((s) => s.p99));
  return { cpuUs: (t.cpu * 1000) / total, total, rps: total / seconds, p50, p99, bad, slices: t.slices };
}

export const describe = (s: Summary) =>
  `${int(s.rps)} req/s, p50 ${s.p50} ms, p99 ${s.p99} ms, ${int(s.cpuUs)} us CPU/req` +
  (s.bad ? `, ${s.bad} not 2xx/errors` : '');

const roundRatios = (a: Summary, b: Summary) =>
  a.slices.map((s, i) => s.rps / (b.slices[i]?.rps ?? Number.NaN));

export function medianRatio(a: Summary, b: Summary): number {
  const rs = roundRatios(a, b).sort((x, y) => x - y);
  const mid = Math.floor(rs.length / 2);
  return rs.length % 2 ? rs[mid]! : (rs[mid - 1]! + rs[mid]!) / 2;
}

/** The per-round ratios' range: how much the machine's noise moved the figure during this run. */
export function ratioSpread(a: Summary, b: Summary): string {
  const rs = roundRatios(a, b);
  return `(rounds ${Math.min(...rs).toFixed(2)}-${Math.max(...rs).toFixed(2)})`;
}

function commandFigures(
  t: Target,
  s: Summary,
  m: { sent: Map<string, number>; inScripts: Map<string, number> },
): { sentPerRequest: number; text: string } {
  const sentPerRequest = RedisStats.total(m.sent) / MONITORED_REQUESTS;
  const stats = RedisStats.total(t.commands) / s.total;
  const text =
    `commandstats ${stats.toFixed(2)}/req (${RedisStats.describe(t.commands, s.total)}); ` +
    `sent ${sentPerRequest.toFixed(2)}/req (${RedisStats.describe(m.sent, MONITORED_REQUESTS)})` +
    (m.inScripts.size ? `, rest run inside scripts` : '');
  return { sentPerRequest, text };
}

function addInto(into: Map<string, number>, add: Map<string, number>): void {
  for (const [k, n] of add) into.set(k, (into.get(k) ?? 0) + n);
}

export async function fetchBody(url: string): Promise<string> {
  const res = await fetch(url, { headers: AUTH });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${body}`);
  return body;
}

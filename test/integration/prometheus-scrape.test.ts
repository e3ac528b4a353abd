// A real Prometheus scraping a real gateway (loopback, simulated upstream, real Redis) every second
// with the rules loaded: the series an operator queries exist with the labels the rules and the
// dashboard use, the recording rules evaluate on them, an alert goes pending on a real fault, and a
// burst of distinct authors and callers adds a bounded number of series that does not grow with the
// number of authors. The dashboard's queries run here too, against real data.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parse } from 'yaml';
import { BATCH_PATH } from '../../src/routes/batch.js';
import { DROP_IN_PATH } from '../../src/routes/drop-in.js';
import { dashboardQueries, loadDashboard } from '../helpers/dashboard.js';
import { type Gateway, startGateway } from '../helpers/gateway.js';
import { until } from '../helpers/prometheus.js';
import {
  describePrometheus,
  JOB,
  type PrometheusServer,
  RULES_DIR,
  startPrometheus,
} from '../helpers/prometheus-server.js';
import { interpolate, selectors } from '../helpers/promql.js';

const CALLERS = ['team-a', 'team-b', 'team-c', 'team-d', 'team-e'];
const keyOf = (caller: string) => `key-${caller}-0123456789abcdef`;
const SPREAD = '/v1/authors/:oAuthorId/spread-info';

interface RuleGroup {
  name: string;
  lastEvaluation: string;
  rules: { name: string; type: 'recording' | 'alerting'; health: string; lastError?: string }[];
}

const ruleFiles = readdirSync(RULES_DIR)
  .filter((f) => f.endsWith('.yml'))
  .map((f) => join(RULES_DIR, f));

describePrometheus('Prometheus scraping a running gateway', () => {
  let gw: Gateway;
  let prom: PrometheusServer;
  let since: number;

  const call = async (path: string, caller = 'team-a') =>
    (await gw.get(path, { 'x-api-key': keyOf(caller) })).status;
  const batch = async (ids: string[]) =>
    (
      await fetch(gw.url + BATCH_PATH, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': keyOf('team-a') },
        body: JSON.stringify({ items: ids.map((oAuthorId) => ({ oAuthorId })) }),
      })
    ).status;

  /** Until Prometheus has scraped everything done so far and evaluated its rules on it. */
  async function caughtUp(): Promise<void> {
    const after = Date.now() / 1000;
    let scrapedAt = 0;
    const scraped = await until(async () => {
      const [up] = await prom.query(`timestamp(up{job="${JOB}"})`);
      scrapedAt = Number(up?.value[1] ?? 0);
      return scrapedAt > after;
    }, 15_000);
    expect(scraped, `no scrape after ${after}; prometheus output:\n${prom.output()}`).toBe(true);
    const evaluated = await until(async () => {
      const { groups } = await prom.api<{ groups: RuleGroup[] }>('rules');
      return groups.length > 0 && groups.every((g) => Date.parse(g.lastEvaluation) / 1000 > scrapedAt + 1);
    }, 15_000);
    expect(evaluated, 'rules not evaluated after the scrape').toBe(true);
  }

  const values = async (expr: string) => (await prom.query(expr)).map((s) => Number(s.value[1]));
  const gatewaySeries = () => prom.series('{__name__=~"gateway_.+"}', since);

  beforeAll(async () => {
    since = Math.floor(Date.now() / 1000) - 1;
    gw = await startGateway({
      env: {
        API_KEYS: CALLERS.map((c) => `${c}:${keyOf(c)}`).join(','),
        CACHE_FRESH_SECONDS: '2',
        CACHE_STALE_SECONDS: '600',
        CACHE_L1_SECONDS: '0',
        // An endpoint with a daily quota of its own, so the panel of quotas left has a series to show
        // (an endpoint without one exports -1, which the panel leaves out).
        UPSTREAM_ENDPOINT_DAILY_QUOTA: 'get_author_spread_info=100000',
      },
    });
    prom = await startPrometheus({ targets: [new URL(gw.url).host], ruleFiles });

    // Phase 1 creates every series once; phase 2 moves them, so rate() sees an increase (a series'
    // first sample is not one).
    const cacheOf = async (path: string) =>
      (await gw.get(path, { 'x-api-key': keyOf('team-a') })).headers.get('x-cache');
    const slow1 = call('/v1/authors/slow3000p1/spread-info'); // upstream timeout (UPSTREAM_TIMEOUT_MS 2 s)
    const phase1 = [
      await call('/v1/authors/stale2/spread-info'), // miss; stale in phase 2
      await call('/v1/authors/stale1/spread-info'), // miss; stale below
    ];
    const staleFrom = Date.now() + 2_500; // CACHE_FRESH_SECONDS 2, with a margin
    phase1.push(
      await call('/v1/authors/m1/spread-info'), // miss
      await call('/v1/authors/m1/spread-info'), // hit
      await call(`${DROP_IN_PATH}?oAuthorId=m1`), // hit, drop-in route
      await call('/v1/authors/notfoundp1/spread-info'), // 404, billed 201
      await call('/v1/authors/code500p1/spread-info'), // 502, unbilled error
      await call('/v1/authors/http502p1/spread-info'), // 502, HTTP error
      await call('/v1/authors/bad!id/spread-info'), // 400
      (await gw.get('/v1/authors/m1/spread-info', { 'x-api-key': 'not-a-key-0123456789' })).status, // 401
      await batch(['m1', 'b1']),
    );
    expect(phase1).toEqual([200, 200, 200, 200, 200, 404, 502, 502, 400, 401, 200]);
    await new Promise((r) => setTimeout(r, Math.max(0, staleFrom - Date.now())));
    expect(await cacheOf('/v1/authors/stale1/spread-info')).toBe('STALE'); // refreshed in the background
    expect(await slow1).toBe(504);
    await caughtUp();

    const slow2 = call('/v1/authors/slow3000p2/spread-info');
    expect(await cacheOf('/v1/authors/stale2/spread-info')).toBe('STALE');
    const phase2 = [
      await call('/v1/authors/m2/spread-info'),
      await call('/v1/authors/m2/spread-info'),
      await call(`${DROP_IN_PATH}?oAuthorId=m2`),
      await call('/v1/authors/notfoundp2/spread-info'),
      await call('/v1/authors/code500p2/spread-info'),
      await call('/v1/authors/http502p2/spread-info'),
      await call('/v1/authors/bad!id/spread-info'),
      await batch(['m2', 'b2']),
    ];
    expect(phase2).toEqual([200, 200, 200, 404, 502, 502, 400, 200]);
    expect(await slow2).toBe(504);
    await caughtUp();
  }, 90_000);

  afterAll(async () => {
    await prom?.stop();
    await gw?.close();
  });

  it('scrapes the gateway, with the labels the rules and the dashboard use', async () => {
    expect(await values(`up{job="${JOB}"}`)).toEqual([1]);
    const labels = async (metric: string, label: string) =>
      new Set((await prom.query(metric)).map((s) => s.metric[label]));
    const routes = await labels('gateway_http_requests_total', 'route');
    for (const r of [SPREAD, DROP_IN_PATH, BATCH_PATH]) expect(routes).toContain(r);
    const statuses = await labels(`gateway_http_requests_total{route="${SPREAD}"}`, 'status_code');
    for (const s of ['200', '400', '401', '404', '502', '504']) expect(statuses).toContain(s);

    const outcomes = await prom.query('gateway_cache_outcomes_total');
    const pairs = new Set(outcomes.map((s) => `${s.metric['route']}/${s.metric['outcome']}`));
    for (const p of [
      'spread-info/miss',
      'spread-info/hit',
      'spread-info/stale',
      'spread-info/not_found',
      'spread-info/error',
      'drop-in/hit',
      'batch/miss',
      'background/revalidated',
    ])
      expect(pairs).toContain(p);

    const calls = await prom.query('gateway_upstream_calls_total');
    const triples = new Set(
      calls.map((s) => `${s.metric['code']}/${s.metric['outcome']}/${s.metric['billed']}`),
    );
    for (const t of [
      '0/ok/true',
      '201/not_found/true',
      '500/error/false',
      'none/http_error/false',
      'none/timeout/false',
    ])
      expect(triples).toContain(t);
    for (const s of [...outcomes, ...calls]) {
      expect(s.metric['job']).toBe(JOB);
      expect(s.metric['instance']).toBe(new URL(gw.url).host);
    }

    expect(await values('gateway_redis_up')).toEqual([1]);
    expect(await values('gateway_upstream_quota_remaining')).toEqual([-1]);
    expect(await values('gateway_upstream_circuit_state')).toEqual([0]);
    expect((await values('gateway_upstream_calls_avoided_total{reason="hit"}'))[0]).toBeGreaterThan(0);
    expect((await values('gateway_upstream_budget_wait_seconds_count'))[0]).toBeGreaterThan(0);
    expect((await values('gateway_http_request_duration_seconds_bucket{le="+Inf"}')).length).toBeGreaterThan(
      0,
    );
  });

  it('reads HELP and TYPE of the per-caller series (their samples come with caller sharing)', async () => {
    const declared = {
      gateway_caller_requests_total: 'counter',
      gateway_caller_cache_hits_total: 'counter',
      gateway_caller_upstream_calls_total: 'counter',
      gateway_caller_refusals_total: 'counter',
      gateway_caller_upstream_share_used_ratio: 'gauge',
    };
    for (const [metric, type] of Object.entries(declared)) {
      const meta = await prom.api<{ type: string; help: string }[]>(`targets/metadata?metric=${metric}`);
      expect(
        meta.map((m) => m.type),
        metric,
      ).toEqual([type]);
      expect(meta[0]?.help).toMatch(/caller/);
    }
  });

  it('loads every rule of the rules file, healthy, and the recording rules evaluate', async () => {
    const { groups } = await prom.api<{ groups: RuleGroup[] }>('rules');
    const loaded = groups.flatMap((g) => g.rules);
    expect(loaded.filter((r) => r.health !== 'ok' || r.lastError)).toEqual([]);
    const inFiles = ruleFiles.flatMap((f) =>
      (
        parse(readFileSync(f, 'utf8')) as { groups: { rules: { record?: string; alert?: string }[] }[] }
      ).groups
        .flatMap((g) => g.rules)
        .map((r) => r.record ?? r.alert),
    );
    expect(loaded.map((r) => r.name).sort()).toEqual(inFiles.sort());
    const recording = loaded.filter((r) => r.type === 'recording').map((r) => r.name);
    expect(recording.length).toBeGreaterThanOrEqual(10);

    const finite: Record<string, number[]> = {};
    for (const name of recording) {
      finite[name] = (await values(name)).filter(Number.isFinite);
    }
    // Every recording rule has a value on real traffic (none silently names a missing series).
    expect(Object.entries(finite).filter(([, v]) => v.length === 0)).toEqual([]);

    const ratio = (name: string) => finite[name]?.[0] ?? Number.NaN;
    // Phase 2 had hits and misses, stale answers among fresh ones, failures among successes.
    for (const name of [
      'job:gateway_cache_hit_ratio:rate5m',
      'job:gateway_cache_hit_ratio:rate1h',
      'job:gateway_cache_stale_ratio:rate15m',
      'job:gateway_upstream_error_ratio:rate10m',
      'job:gateway_upstream_timeout_ratio:rate10m',
    ]) {
      expect(ratio(name), name).toBeGreaterThan(0);
      expect(ratio(name), name).toBeLessThan(1);
    }
    const [p99] = await values(
      `job_route:gateway_http_request_duration_seconds:p99_rate5m{route="${SPREAD}"}`,
    );
    expect(p99).toBeGreaterThan(0);
    const [billedOk] = await values(
      'job_code_outcome_billed:gateway_upstream_calls:rate5m{code="0",outcome="ok",billed="true"}',
    );
    expect(billedOk).toBeGreaterThan(0);
    const [avoided] = await values('job_reason:gateway_upstream_calls_avoided:rate5m{reason="hit"}');
    expect(avoided).toBeGreaterThan(0);
  });

  it('answers every dashboard query (valid PromQL), with data wherever its metrics have series', async () => {
    const empty: string[] = [];
    for (const q of dashboardQueries(loadDashboard())) {
      const result = await prom.query(interpolate(q.expr)); // throws on invalid PromQL
      const names = selectors(q.expr).map((s) => s.metric);
      const present = await Promise.all(names.map(async (m) => (await prom.query(`count(${m})`)).length > 0));
      if (present.every(Boolean) && result.length === 0) empty.push(q.where);
    }
    expect(empty).toEqual([]);
  });

  it('keeps label cardinality bounded under 400 distinct authors from five callers', async () => {
    const burst = async (tag: string) => {
      const ids = Array.from({ length: 200 }, (_, i) => {
        const kind = ['notfound', 'code500', 'http502'][i % 10] ?? '';
        return `${kind}card${tag}x${i}`;
      });
      for (let i = 0; i < ids.length; i += 20) {
        const chunk = ids.slice(i, i + 20);
        // Each author twice (a miss, then a hit or a second failure), by one of the callers.
        for (let round = 0; round < 2; round++) {
          const got = await Promise.all(
            chunk.map((id, j) => call(`/v1/authors/${id}/spread-info`, CALLERS[(i + j) % CALLERS.length])),
          );
          expect(got.every((s) => s === 200 || s === 404 || s === 502)).toBe(true);
        }
      }
      await caughtUp();
      return gatewaySeries();
    };
    const before = await gatewaySeries();
    const afterFirst = await burst('a');
    const afterSecond = await burst('b');
    const ids = (list: Record<string, string>[]) => new Set(list.map((s) => JSON.stringify(s)));
    const added = (from: Record<string, string>[], to: Record<string, string>[]) =>
      [...ids(to)].filter((s) => !ids(from).has(s));

    // New callers may add their own per-caller series (a handful each); authors add none.
    expect(added(before, afterFirst).length).toBeLessThanOrEqual(12 * CALLERS.length);
    expect(added(afterFirst, afterSecond), 'series added by 200 more authors').toEqual([]);
    // No label value carries an author id or a key, and callers are the configured names.
    const all = JSON.stringify(afterSecond);
    expect(all).not.toMatch(/card[ab]x/);
    expect(all).not.toContain('0123456789abcdef');
    const callers = new Set(afterSecond.flatMap((s) => (s['caller'] ? [s['caller']] : [])));
    for (const c of callers) expect([...CALLERS, 'jwt', 'anonymous']).toContain(c);
  }, 90_000);

  it('raises UpstreamCredentialCircuitOpen (pending) when the upstream refuses the token', async () => {
    expect(await call('/v1/authors/code100circuit/spread-info')).toBe(503);
    const pending = await until(async () => {
      const { alerts } = await prom.api<{ alerts: { labels: Record<string, string>; state: string }[] }>(
        'alerts',
      );
      return alerts.some(
        (a) =>
          a.labels['alertname'] === 'UpstreamCredentialCircuitOpen' &&
          a.labels['job'] === JOB &&
          a.labels['severity'] === 'critical' &&
          (a.state === 'pending' || a.state === 'firing'),
      );
    }, 15_000);
    expect(pending).toBe(true);
    expect(await values('gateway_upstream_circuit_state')).toEqual([3]);
  });
});

// The Grafana dashboard as data (Grafana itself is not on these machines): every query names
// metrics and labels a running gateway exports (or a recording rule makes), so a renamed metric
// leaves no dead panel, and no alert rule that can never fire; the panels cover what the issue
// lists; provisioning and compose agree on paths and the data source.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { BATCH_PATH } from '../../src/routes/batch.js';
import { allPanels, type Dashboard, dashboardQueries, loadDashboard } from '../helpers/dashboard.js';
import { type Gateway, startGateway } from '../helpers/gateway.js';
import { exported, groupingLabels, type Selector, selectors } from '../helpers/promql.js';

const REPO = join(import.meta.dirname, '../..');
const RULES_DIR = join(REPO, 'deploy/prometheus/rules');
const KEY = 'dashboard-key-0123456789abcdef';
const dashboard = loadDashboard();

interface RuleDoc {
  groups: { rules: { record?: string; alert?: string; expr: string }[] }[];
}

/** Recording rules: name and the labels they keep (job and their `by (…)` labels). */
function recordingRules(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const f of readdirSync(RULES_DIR).filter((n) => n.endsWith('.yml'))) {
    const doc = parse(readFileSync(join(RULES_DIR, f), 'utf8')) as RuleDoc;
    for (const r of doc.groups.flatMap((g) => g.rules)) {
      if (!r.record) continue;
      const by = [...r.expr.matchAll(/\bby\s*\(([^)]*)\)/g)].flatMap((m) => (m[1] ?? '').split(','));
      out.set(r.record, new Set(['job', ...by.map((l) => l.trim()).filter((l) => l && l !== 'le')]));
    }
  }
  return out;
}

/** What is wrong with one query: unknown metrics, unknown labels, or no metric at all. */
function problems(expr: string, known: Map<string, Set<string>>): string[] {
  const found: Selector[] = selectors(expr);
  if (found.length === 0) return ['names no metric'];
  const out: string[] = [];
  for (const s of found) {
    const labels = known.get(s.metric);
    if (!labels) {
      out.push(s.metric ? `unknown metric ${s.metric}` : 'a selector without a metric name');
      continue;
    }
    for (const l of s.labels) if (!labels.has(l)) out.push(`${s.metric} has no label ${l}`);
  }
  const carried = new Set(found.flatMap((s) => [...(known.get(s.metric) ?? [])]));
  for (const l of groupingLabels(expr)) if (!carried.has(l)) out.push(`no metric in it has label ${l}`);
  return out;
}

describe('Grafana dashboard', () => {
  let gw: Gateway;
  let known: Map<string, Set<string>>;

  beforeAll(async () => {
    gw = await startGateway({ env: { API_KEYS: `dash:${KEY}` } });
    const k = { 'x-api-key': KEY };
    // Enough traffic that most labelled series carry samples (and so their label names).
    for (const id of ['dash1', 'dash1', 'notfound-d', 'code500d', 'slow10d'])
      await gw.get(`/v1/authors/${id}/spread-info`, k);
    await fetch(gw.url + BATCH_PATH, {
      method: 'POST',
      headers: { ...k, 'content-type': 'application/json' },
      body: JSON.stringify({ items: [{ oAuthorId: 'dash1' }] }),
    });
    known = exported((await gw.get('/metrics')).body);
    // Declared series with no sample yet (per-caller series until callers are counted): their
    // label names come from the same registry that serves /metrics.
    for (const m of gw.app.metrics.registry.getMetricsAsArray()) {
      const names = (m as unknown as { labelNames?: readonly string[] }).labelNames ?? [];
      for (const suffix of ['', '_bucket', '_sum', '_count']) {
        for (const l of names) known.get(m.name + suffix)?.add(l);
      }
    }
    for (const [name, labels] of recordingRules()) known.set(name, labels);
    // Made by Prometheus for every target.
    known.set('up', new Set());
    for (const labels of known.values()) for (const l of ['job', 'instance']) labels.add(l);
    for (const [name, labels] of known) if (name.endsWith('_bucket')) labels.add('le');
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('queries only metrics and labels the gateway exports or the rules record', () => {
    const queries = dashboardQueries(dashboard);
    expect(queries.length).toBeGreaterThanOrEqual(30);
    const bad = queries.flatMap((q) => problems(q.expr, known).map((p) => `${q.where}: ${p}`));
    expect(bad).toEqual([]);
  });

  it('rules query only metrics and labels the gateway exports (no alert that can never fire)', () => {
    const exprs = readdirSync(RULES_DIR)
      .filter((n) => n.endsWith('.yml'))
      .flatMap((f) => {
        const doc = parse(readFileSync(join(RULES_DIR, f), 'utf8')) as RuleDoc;
        return doc.groups.flatMap((g) =>
          g.rules.map((r) => ({ where: r.record ?? r.alert ?? '', expr: r.expr })),
        );
      });
    expect(exprs.length).toBeGreaterThanOrEqual(20);
    const bad = exprs.flatMap((q) => problems(q.expr, known).map((p) => `${q.where}: ${p}`));
    expect(bad).toEqual([]);
  });

  it('catches a renamed metric or label (the check can fail)', () => {
    const renamed = JSON.parse(
      JSON.stringify(dashboard).replace('gateway_upstream_quota_remaining', 'gateway_upstream_quota_left'),
    ) as Dashboard;
    const relabelled = JSON.parse(
      JSON.stringify(dashboard).replace('billed=\\"true\\"', 'charged=\\"true\\"'),
    ) as Dashboard;
    const bad = (d: Dashboard) => dashboardQueries(d).flatMap((q) => problems(q.expr, known));
    expect(bad(renamed)).toContain('unknown metric gateway_upstream_quota_left');
    expect(bad(relabelled)).toContain('gateway_caller_upstream_calls_today has no label charged');
    expect(problems('sum(rate(gateway_http_request_total[5m]))', known)).toEqual([
      'unknown metric gateway_http_request_total',
    ]);
    expect(
      problems(
        'histogram_quantile(0.99, sum by (le) (rate(gateway_upstream_call_duration_seconds[5m])))',
        known,
      ),
    ).toContain('unknown metric gateway_upstream_call_duration_seconds'); // the histogram's name alone: no series
    expect(problems('sum by (calller) (rate(gateway_caller_requests_total[5m]))', known)).toEqual([
      'no metric in it has label calller',
    ]);
    expect(problems('{__name__=~"gateway_.+"}', known)).toEqual(['a selector without a metric name']);
    expect(problems('1 + 1', known)).toEqual(['names no metric']);
  });

  it('covers what an operator asks: requests, latency, cache, upstream spend, budget, callers, Redis, circuit', () => {
    const used = new Set(dashboardQueries(dashboard).flatMap((q) => selectors(q.expr).map((s) => s.metric)));
    for (const m of [
      'gateway_http_requests_total',
      'gateway_http_request_duration_seconds_bucket',
      'gateway_cache_outcomes_total',
      'gateway_upstream_calls_total',
      'gateway_upstream_calls_avoided_total',
      'gateway_upstream_quota_remaining',
      'gateway_upstream_budget_wait_seconds_bucket',
      'gateway_upstream_refusals_total',
      'gateway_upstream_circuit_state',
      'gateway_redis_up',
      'gateway_caller_requests_total',
      'gateway_caller_cache_hits_total',
      'gateway_caller_upstream_calls_total',
      'gateway_caller_refusals_total',
      'gateway_caller_upstream_share_used_ratio',
      'gateway_caller_upstream_calls_today',
      'gateway_caller_cache_hits_today',
      'gateway_jwks_up',
    ])
      expect(used, m).toContain(m);
  });

  it('every panel follows $instance: raw series filtered by instance, no recording rule (they sum instances away)', () => {
    const rules = recordingRules();
    const bad = dashboardQueries(dashboard)
      .filter((q) => q.where.startsWith('panel'))
      .flatMap((q) =>
        selectors(q.expr)
          .filter((s) => rules.has(s.metric) || !s.labels.includes('instance'))
          .map((s) => `${q.where}: ${s.metric}`),
      );
    expect(bad).toEqual([]);
  });

  it("counts the upstream's day, not a rolling 24 h: no panel takes a day-long range", () => {
    const rolling = dashboardQueries(dashboard).filter((q) => /\[(24h|1d|86400s)\]/.test(q.expr));
    expect(rolling.map((q) => q.where)).toEqual([]);
    const today = allPanels(dashboard.panels).filter((p) => p.title.includes('(today)'));
    expect(today.length).toBeGreaterThanOrEqual(3);
    for (const p of today)
      expect(
        p.targets?.every((t) => /_today\{/.test(t.expr ?? '')),
        p.title,
      ).toBe(true);
  });

  it('uses the provisioned data source, with unique panel ids', () => {
    const ds = parse(
      readFileSync(join(REPO, 'deploy/grafana/provisioning/datasources/prometheus.yml'), 'utf8'),
    ) as {
      datasources: { uid: string; type: string; url: string }[];
    };
    const [prom] = ds.datasources;
    expect(prom?.type).toBe('prometheus');
    const variable = dashboard.templating.list.find((v) => v.name === 'datasource');
    expect(variable?.current?.value).toBe(prom?.uid);
    const panels = allPanels(dashboard.panels);
    const variable$ = ['$', '{datasource}'].join('');
    for (const p of panels.filter((x) => x.type !== 'row')) {
      expect(p.datasource?.uid, p.title).toBe(variable$);
      for (const t of p.targets ?? []) expect(t.datasource?.uid, p.title).toBe(variable$);
    }
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
  });

  it('is provisioned by the compose monitoring profile from these files', () => {
    const compose = parse(readFileSync(join(REPO, 'docker-compose.yml'), 'utf8')) as {
      services: Record<
        string,
        { image?: string; profiles?: string[]; volumes?: string[]; environment?: Record<string, string> }
      >;
    };
    const { grafana, prometheus } = compose.services;
    expect(grafana?.profiles).toEqual(['monitoring']);
    expect(prometheus?.profiles).toEqual(['monitoring']);
    // Pinned images, not "latest".
    expect(grafana?.image).toMatch(/^grafana\/grafana:\d+\.\d+\.\d+$/);
    expect(prometheus?.image).toMatch(/^prom\/prometheus:v\d+\.\d+\.\d+$/);
    const mounts = (vs: string[] = []) => new Map(vs.map((v) => v.split(':') as [string, string]));
    const g = mounts(grafana?.volumes);
    expect(g.get('./deploy/grafana/provisioning')).toBe('/etc/grafana/provisioning');
    const provider = parse(
      readFileSync(join(REPO, 'deploy/grafana/provisioning/dashboards/xingtu-gateway.yml'), 'utf8'),
    ) as { providers: { options: { path: string } }[] };
    const dashboardsDir = provider.providers[0]?.options.path;
    expect(g.get('./deploy/grafana/dashboards')).toBe(dashboardsDir);
    expect(grafana?.environment?.['GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH']).toBe(
      `${dashboardsDir}/xingtu-gateway.json`,
    );
    expect(mounts(prometheus?.volumes).get('./deploy/prometheus')).toBe('/etc/prometheus');
    const ds = readFileSync(join(REPO, 'deploy/grafana/provisioning/datasources/prometheus.yml'), 'utf8');
    expect(ds).toContain('url: http://prometheus:9090');
  });
});

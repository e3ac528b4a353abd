// /metrics after real traffic: each kind of answer shows up in the counter an operator would look at.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BATCH_PATH } from '../../src/routes/batch.js';
import { DROP_IN_PATH } from '../../src/routes/drop-in.js';
import { type SimUpstream, startSimUpstream } from '../../src/sim/upstream-server.js';
import { type Gateway, startGateway, TEST_TOKEN } from '../helpers/gateway.js';
import { sample, until } from '../helpers/prometheus.js';

describe('/metrics after real traffic', () => {
  let sim: SimUpstream;
  let gw: Gateway;
  let text: string;
  const SPREAD = '/v1/authors/:oAuthorId/spread-info';

  beforeAll(async () => {
    sim = await startSimUpstream({ token: TEST_TOKEN });
    gw = await startGateway({
      sim,
      env: { CACHE_FRESH_SECONDS: '2', CACHE_STALE_SECONDS: '600', CACHE_L1_SECONDS: '0' },
    });
    const statuses: number[] = [];
    const get = async (path: string) => statuses.push((await gw.get(path)).status);
    await get('/v1/authors/met1/spread-info'); // miss
    await get('/v1/authors/met1/spread-info'); // hit
    await get(`${DROP_IN_PATH}?oAuthorId=met1`); // hit, drop-in
    await get('/v1/authors/notfound5/spread-info'); // 404, billed 201
    await get('/v1/authors/code500a/spread-info'); // 502, unbilled 500
    await get('/v1/authors/bad!id/spread-info'); // 400, no upstream call
    sim.setDelay(300);
    await Promise.all(Array.from({ length: 5 }, () => get('/v1/authors/met2/spread-info'))); // 1 miss, 4 coalesced
    sim.setDelay(0);
    const batch = await fetch(gw.url + BATCH_PATH, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ items: [{ oAuthorId: 'met1' }, { oAuthorId: 'met3' }] }),
    });
    statuses.push(batch.status);
    expect(statuses).toEqual([200, 200, 200, 404, 502, 400, 200, 200, 200, 200, 200, 200]);
    // Past the fresh window: answered stale, refreshed in the background.
    await new Promise((r) => setTimeout(r, 2100));
    const stale = await gw.get('/v1/authors/met1/spread-info');
    expect(stale.headers.get('x-cache')).toBe('STALE');
    expect(await until(async () => sim.callsFor('met1').length === 2)).toBe(true);
    const metrics = await gw.get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    text = metrics.body;
  });
  afterAll(async () => {
    await gw.close();
    await sim.close();
  });

  it('counts HTTP requests by route template, method and status', () => {
    expect(
      sample(text, 'gateway_http_requests_total', { route: SPREAD, method: 'GET', status_code: '200' }),
    ).toBe(8);
    expect(sample(text, 'gateway_http_requests_total', { route: SPREAD, status_code: '404' })).toBe(1);
    expect(sample(text, 'gateway_http_requests_total', { route: SPREAD, status_code: '502' })).toBe(1);
    expect(sample(text, 'gateway_http_requests_total', { route: SPREAD, status_code: '400' })).toBe(1);
    expect(sample(text, 'gateway_http_requests_total', { route: DROP_IN_PATH, status_code: '200' })).toBe(1);
    expect(sample(text, 'gateway_http_requests_total', { route: BATCH_PATH, method: 'POST' })).toBe(1);
    // Route templates, not raw URLs: an author id never becomes a label value.
    expect(text).not.toContain('met1');
    expect(
      sample(text, 'gateway_http_request_duration_seconds_count', { route: SPREAD, status_code: '200' }),
    ).toBe(8);
  });

  it('counts cache outcomes by route, and the upstream calls they avoided', () => {
    const outcome = (route: string, o: string) =>
      sample(text, 'gateway_cache_outcomes_total', { route, outcome: o });
    expect(outcome('spread-info', 'miss')).toBe(6); // met1, and met2 five times: coalesced followers are misses too
    expect(outcome('spread-info', 'hit')).toBe(1);
    expect(outcome('spread-info', 'stale')).toBe(1);
    expect(outcome('spread-info', 'not_found')).toBe(1);
    expect(outcome('spread-info', 'error')).toBe(1);
    expect(outcome('drop-in', 'hit')).toBe(1);
    expect(outcome('batch', 'hit')).toBe(1);
    expect(outcome('batch', 'miss')).toBe(1);
    expect(outcome('background', 'revalidated')).toBe(1);
    expect(sample(text, 'gateway_coalesced_requests_total', { scope: 'local' })).toBe(4);
    expect(sample(text, 'gateway_upstream_calls_avoided_total', { reason: 'coalesced' })).toBe(4);
    expect(sample(text, 'gateway_upstream_calls_avoided_total', { reason: 'hit' })).toBe(3);
    expect(sample(text, 'gateway_upstream_calls_avoided_total', { reason: 'stale' })).toBe(1);
  });

  it('counts upstream calls by business code and billing, with their latency', () => {
    const calls = (code: string, billed: string) =>
      sample(text, 'gateway_upstream_calls_total', { code, billed });
    expect(calls('0', 'true')).toBe(4); // met1, met2, met3, met1 refreshed
    expect(calls('201', 'true')).toBe(1);
    expect(calls('500', 'false')).toBe(1);
    expect(sim.billedCount).toBe(5);
    expect(sample(text, 'gateway_upstream_call_duration_seconds_count', { outcome: 'ok' })).toBe(4);
    expect(sample(text, 'gateway_upstream_call_duration_seconds_bucket', { outcome: 'ok', le: '+Inf' })).toBe(
      4,
    );
    // The coalesced calls waited ~300 ms upstream: at least one observation sits above 0.25 s.
    expect(
      sample(text, 'gateway_upstream_call_duration_seconds_bucket', { outcome: 'ok', le: '0.25' }),
    ).toBeLessThan(4);
  });

  it('reports Redis, governance gauges and the process', () => {
    expect(sample(text, 'gateway_redis_up')).toBe(1);
    expect(sample(text, 'gateway_upstream_quota_remaining')).toBe(-1); // no UPSTREAM_DAILY_QUOTA
    expect(sample(text, 'gateway_upstream_circuit_state')).toBe(0);
    expect(sample(text, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(sample(text, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(sample(text, 'process_start_time_seconds')).toBeGreaterThan(0);
  });

  it('follows Prometheus naming: counters end in _total, durations are in seconds', () => {
    const types = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => ({
      name: m[1] ?? '',
      type: m[2] ?? '',
    }));
    const ours = types.filter((t) => t.name.startsWith('gateway_'));
    expect(ours.length).toBeGreaterThanOrEqual(12);
    for (const t of ours) {
      if (t.type === 'counter') expect(t.name).toMatch(/_total$/);
      if (t.type === 'histogram') expect(t.name).toMatch(/_seconds$/);
    }
  });
});

describe('/metrics with a daily quota', () => {
  it('shows the quota left after billed calls', async () => {
    const gw = await startGateway({ env: { UPSTREAM_DAILY_QUOTA: '10' } });
    try {
      expect((await gw.get('/v1/authors/quota1/spread-info')).status).toBe(200);
      expect((await gw.get('/v1/authors/notfound-q/spread-info')).status).toBe(404);
      expect((await gw.get('/v1/authors/quota1/spread-info')).headers.get('x-cache')).toBe('HIT');
      const left = async () => sample((await gw.get('/metrics')).body, 'gateway_upstream_quota_remaining');
      expect(await until(async () => (await left()) === 8, 5000)).toBe(true);
    } finally {
      await gw.close();
    }
  });
});

import { execFileSync } from 'node:child_process';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type SimUpstream, simSpreadData, startSimUpstream } from '../../src/sim/upstream-server.js';
import { QUERY_DEFAULTS, type SpreadParams, UPSTREAM_PATH } from '../../src/upstream/params.js';

const TOKEN = 'sim-secret-token-3f9a';
const AUTHOR = '7012345678901234567';
const LABELS = [
  '剧情搞笑',
  '美食',
  '旅行',
  '美妆',
  '游戏',
  '萌宠',
  '母婴亲子',
  '时尚穿搭',
  '科技数码',
  '运动健身',
];

// Top-level keys of the doc's example `data`, in its order.
const EXAMPLE_KEYS =
  'avg_duration base_resp comment_avg expect_cpe expect_cpm interact_rate item_num item_rate like_avg play_mid play_over_rate play_stability sales_expect_cpm share_avg'.split(
    ' ',
  );

interface Envelope {
  code: number;
  message: string;
  requestId: string;
  data: Record<string, unknown> | null;
}

// Keep-alive pool like the gateway's, so reset/hang are exercised on pooled connections.
const agent = new Agent({ keepAliveTimeout: 10_000 });
let sim: SimUpstream;

async function call(s: SimUpstream, query: Record<string, string>, signal?: AbortSignal) {
  const res = await request(`${s.url}${UPSTREAM_PATH}?${new URLSearchParams(query)}`, {
    dispatcher: agent,
    signal,
  });
  const text = await res.body.text();
  return { status: res.statusCode, text, env: () => JSON.parse(text) as Envelope };
}
const get = (query: Record<string, string>) => call(sim, { token: TOKEN, ...query });
const code = async (query: Record<string, string>) => (await get(query)).env().code;

beforeAll(async () => {
  sim = await startSimUpstream({ token: TOKEN });
});
beforeEach(() => sim.reset());
afterAll(async () => {
  await sim.close();
  await agent.close();
});

describe('data', () => {
  const params = (over: Partial<SpreadParams> = {}): SpreadParams => ({
    ...QUERY_DEFAULTS,
    oAuthorId: AUTHOR,
    ...over,
  });

  it('is deterministic per tuple and differs between tuples', async () => {
    const a = JSON.stringify(simSpreadData(params()));
    expect(JSON.stringify(simSpreadData(params()))).toBe(a);
    expect(JSON.stringify(simSpreadData(params({ range: 'DAY_90' })))).not.toBe(a);
    expect(JSON.stringify(simSpreadData(params({ onlyAssign: true })))).not.toBe(a);
    expect(JSON.stringify(simSpreadData(params({ oAuthorId: 'other' })))).not.toBe(a);
    const first = (await get({ oAuthorId: AUTHOR })).env();
    const second = (await get({ oAuthorId: AUTHOR })).env();
    expect(first.code).toBe(0);
    expect(JSON.stringify(first.data)).toBe(a);
    expect(JSON.stringify(second.data)).toBe(a);
    expect(second.requestId).not.toBe(first.requestId);
  });

  it('is byte-identical in another process', () => {
    const script =
      "import { simSpreadData } from './src/sim/upstream-server.ts';" +
      `process.stdout.write(JSON.stringify(simSpreadData(${JSON.stringify(params())})));`;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
    });
    expect(out).toBe(JSON.stringify(simSpreadData(params())));
  });

  it('has the shape of the documented example', () => {
    let emptyInteract = 0;
    for (let i = 0; i < 100; i++) {
      const d = simSpreadData(
        params({ oAuthorId: `author${i}`, platform: i % 2 ? 'LIVE_STREAMING' : 'SHORT_VIDEO' }),
      );
      expect(Object.keys(d)).toEqual(EXAMPLE_KEYS);
      for (const k of ['avg_duration', 'comment_avg', 'item_num', 'like_avg', 'play_mid', 'share_avg']) {
        expect(d[k]).toMatch(/^\d+$/);
      }
      expect(d['base_resp']).toEqual({ status_code: 0, status_message: '' });
      expect(Object.keys(d['expect_cpm'] as object)).toEqual(['cpm_1_20', 'cpm_21_60', 'cpm_60']);
      expect(Object.keys(d['sales_expect_cpm'] as object)).toEqual(['cpm_1_20', 'cpm_21_60', 'cpm_60']);
      expect(Object.values(d['expect_cpe'] as object).every((v) => /^\d+$/.test(v))).toBe(true);
      const rate = d['interact_rate'] as { label: string; overtake: number; value: number };
      expect(LABELS).toContain(rate.label);
      expect(Number.isInteger(rate.overtake) && Number.isInteger(rate.value)).toBe(true);
      const itemRate = d['item_rate'] as Record<string, { label?: string; value?: number }>;
      expect(itemRate['item_num']).toMatchObject({ label: '', value: Number(d['item_num']) });
      expect(itemRate['play_mid']).toMatchObject({ label: '', value: Number(d['play_mid']) });
      if (Object.keys(itemRate['interact_rate'] ?? {}).length === 0) emptyInteract++;
    }
    expect(emptyInteract).toBeGreaterThan(10);
    expect(emptyInteract).toBeLessThan(90);
  });

  it('treats absent parameters as their defaults', async () => {
    const implicit = (await get({ oAuthorId: AUTHOR })).text;
    const explicit = (await get({ oAuthorId: AUTHOR, platform: 'SHORT_VIDEO', range: 'DAY_30' })).text;
    const all = await get({
      oAuthorId: AUTHOR,
      type: 'PERSONAL_VIDEO',
      onlyAssign: 'false',
      flowType: 'EXCLUDE',
    });
    const data = (t: string) => JSON.stringify((JSON.parse(t) as Envelope).data);
    expect(data(explicit)).toBe(data(implicit));
    expect(data(all.text)).toBe(data(implicit));
  });
});

describe('envelope codes', () => {
  it('answers 100 for a missing or wrong token', async () => {
    expect((await call(sim, { oAuthorId: AUTHOR })).env().code).toBe(100);
    expect((await call(sim, { oAuthorId: AUTHOR, token: 'nope' })).env()).toMatchObject({
      code: 100,
      data: null,
    });
    expect(sim.billedCount).toBe(0);
  });

  it('answers 400 for a bad or missing parameter', async () => {
    const bads: Record<string, string>[] = [
      { platform: 'TV' },
      { range: 'DAY_7' },
      { type: 'x' },
      { onlyAssign: 'yes' },
      { flowType: '' },
    ];
    for (const bad of bads) {
      const env = (await get({ oAuthorId: AUTHOR, ...bad })).env();
      expect(env).toMatchObject({ code: 400, data: null });
      expect(env.message).toContain(Object.keys(bad)[0]);
    }
    expect(await code({})).toBe(400);
  });

  it('bills 0 and 201 only', async () => {
    expect((await get({ oAuthorId: 'notfound42' })).env()).toMatchObject({ code: 201, data: null });
    expect(sim.billedCount).toBe(1);
    expect(await code({ oAuthorId: 'flaky301a' })).toBe(301);
    expect(await code({ oAuthorId: 'flaky301a' })).toBe(0);
    expect(await code({ oAuthorId: 'flaky301a', range: 'DAY_90' })).toBe(301);
    expect(await code({ oAuthorId: 'code302x' })).toBe(302);
    expect(await code({ oAuthorId: 'code601' })).toBe(601);
    expect(sim.callsFor('flaky301a').map((c) => [c.code, c.billed])).toEqual([
      [301, false],
      [0, true],
      [301, false],
    ]);
    expect(sim.billedCount).toBe(2);
    expect(sim.callCount).toBe(6);
  });

  it('answers 404 on other paths', async () => {
    const res = await request(`${sim.url}/api/other?token=${TOKEN}`, { dispatcher: agent });
    expect(res.statusCode).toBe(404);
    expect(await res.body.json()).toMatchObject({ code: 404 });
  });

  it('never records the token value', async () => {
    await get({ oAuthorId: AUTHOR });
    await get({ oAuthorId: 'code500' });
    await call(sim, { oAuthorId: AUTHOR });
    expect(JSON.stringify(sim.calls)).not.toContain(TOKEN);
    expect(sim.calls.map((c) => c.tokenSeen)).toEqual([true, true, false]);
    expect(sim.calls[0]?.query).toEqual({ oAuthorId: AUTHOR });
  });
});

describe('failure modes', () => {
  it('consumes scripted behaviours in order, then answers normally', async () => {
    sim.script([{ code: 301 }, { httpStatus: 503, body: 'busy' }, { malformed: true }, { delayMs: 120 }]);
    expect(await code({ oAuthorId: AUTHOR })).toBe(301);
    expect(await get({ oAuthorId: AUTHOR })).toMatchObject({ status: 503, text: 'busy' });
    const malformed = await get({ oAuthorId: AUTHOR });
    expect(malformed.status).toBe(200);
    expect(() => malformed.env()).toThrow();
    const t0 = performance.now();
    expect(await code({ oAuthorId: AUTHOR })).toBe(0);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(100);
    expect(await code({ oAuthorId: AUTHOR })).toBe(0);
    expect(sim.calls.map((c) => c.outcome)).toEqual(['json', 'http', 'malformed', 'json', 'json']);
  });

  it('applies a persistent behaviour until cleared, and setDelay to every call', async () => {
    sim.setBehaviour({ code: 500 });
    expect(await code({ oAuthorId: AUTHOR })).toBe(500);
    expect(await code({ oAuthorId: AUTHOR })).toBe(500);
    sim.setBehaviour(null);
    sim.setDelay(80);
    expect(await code({ oAuthorId: AUTHOR })).toBe(0);
    expect(sim.calls.at(-1)?.latencyMs).toBeGreaterThanOrEqual(75);
  });

  it('serves special author ids: malformed, http<status>, slow<ms>', async () => {
    const malformed = await get({ oAuthorId: 'malformed1' });
    expect(malformed.status).toBe(200);
    expect(() => malformed.env()).toThrow();
    const html = await get({ oAuthorId: 'http502x' });
    expect(html.status).toBe(502);
    expect(html.text).toMatch(/<html>/);
    const t0 = performance.now();
    expect(await code({ oAuthorId: 'slow150x' })).toBe(0);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
  });

  it('resets the connection without an answer', async () => {
    await expect(get({ oAuthorId: 'reset1' })).rejects.toThrow();
    sim.script([{ reset: true }]);
    await expect(get({ oAuthorId: AUTHOR })).rejects.toThrow();
    expect(await code({ oAuthorId: AUTHOR })).toBe(0);
    expect(sim.calls.map((c) => c.outcome)).toEqual(['reset', 'reset', 'json']);
  });

  it('hangs until closed, and close() still returns promptly', async () => {
    const own = await startSimUpstream();
    own.setBehaviour({ hang: true });
    const hung = call(own, { token: 'x', oAuthorId: AUTHOR }, AbortSignal.timeout(300));
    await expect(hung).rejects.toThrow();
    const pending = call(own, { token: 'x', oAuthorId: 'hang1' }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 50));
    const t0 = performance.now();
    await own.close();
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(await pending).toBeInstanceOf(Error);
    expect(own.calls.map((c) => [c.outcome, c.latencyMs])).toEqual([
      ['hang', undefined],
      ['hang', undefined],
    ]);
  });
});

describe('own limits', () => {
  it('answers 302 past maxRps in a rolling second', async () => {
    const own = await startSimUpstream({ maxRps: 3 });
    try {
      const q = { token: 'x', oAuthorId: AUTHOR };
      const codes = await Promise.all(
        Array.from({ length: 5 }, () => call(own, q).then((r) => r.env().code)),
      );
      expect(codes.filter((c) => c === 0)).toHaveLength(3);
      expect(codes.filter((c) => c === 302)).toHaveLength(2);
      await new Promise((r) => setTimeout(r, 1_050));
      expect((await call(own, q)).env().code).toBe(0);
    } finally {
      await own.close();
    }
  });

  it('answers 303 past dailyQuota until reset', async () => {
    const own = await startSimUpstream({ dailyQuota: 2 });
    try {
      const q = { token: 'x', oAuthorId: AUTHOR };
      const codes = [];
      for (let i = 0; i < 4; i++) codes.push((await call(own, q)).env().code);
      expect(codes).toEqual([0, 0, 303, 303]);
      expect(own.billedCount).toBe(2);
      own.reset();
      expect((await call(own, q)).env().code).toBe(0);
    } finally {
      await own.close();
    }
  });
});

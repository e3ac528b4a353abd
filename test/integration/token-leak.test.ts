// Every upstream scenario through a real gateway; afterwards the upstream token (and a caller's token)
// must be in none of the captured log lines and response bodies. The same for a caller's gateway key
// sent as `token=` on the drop-in route, where JustOneAPI clients put it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DROP_IN_PATH } from '../../src/routes/drop-in.js';
import type { UpstreamGate } from '../../src/upstream/client.js';
import { CALLER_KEY, type Gateway, startGateway, TEST_TOKEN } from '../helpers/gateway.js';

const CALLER_TOKEN = `tok_${'c0ffee'.repeat(4)}`;
const path = (id: string, query = '') => `/v1/authors/${id}/spread-info${query}`;

let gw: Gateway;
const statuses: number[] = [];
/** Answers to an upstream that echoes the token back into data, keys and its request id. */
const echoed: Array<{ status: number; headers: Headers; body: string }> = [];

async function ask(url: string, headers: Record<string, string> = {}): Promise<number> {
  const res = await gw.get(url, headers);
  statuses.push(res.status);
  return res.status;
}

beforeAll(async () => {
  // trace: the most the gateway ever logs; a short timeout so the hang scenario ends quickly. The open
  // gate keeps governance from backing off after 302/303/100 so every scenario reaches the upstream.
  const openGate: UpstreamGate = { beforeCall: async () => {}, afterCall: () => {} };
  gw = await startGateway({
    redis: 'none',
    env: { LOG_LEVEL: 'trace', UPSTREAM_TIMEOUT_MS: '500' },
    overrides: { upstreamGate: openGate },
  });
  const run = `leak${Date.now().toString(36)}`;
  const expected: Array<[string, number]> = [
    [path(`ok${run}`), 200],
    [path(`ok${run}`), 200], // HIT
    [path(`notfound${run}`), 404],
    [path(`code301${run}`), 502],
    [path(`code302${run}`), 503],
    [path(`code303${run}`), 503],
    [path(`code100${run}`), 503],
    [path(`code600${run}`), 503],
    [path(`code601${run}`), 503],
    [path(`code602${run}`), 503],
    [path(`code400${run}`), 502],
    [path(`code500${run}`), 502],
    [path(`code999${run}`), 502],
    [path(`http500${run}`), 502],
    [path(`malformed${run}`), 502],
    [path(`hang${run}`), 504],
    [path(`reset${run}`), 502],
    [path(`ok${run}`, `?token=${CALLER_TOKEN}`), 400],
    [path(`ok${run}`, '?foo=1&platform=TV'), 400],
    [`${DROP_IN_PATH}?oAuthorId=ok${run}&token=${CALLER_TOKEN}`, 200],
    [`/nowhere?token=${CALLER_TOKEN}`, 404],
    // Matrix and path parameters: masked in the logged URL, and the path is not echoed in the 404.
    [`/nowhere;token=${CALLER_TOKEN}`, 404],
    [`/nowhere/token=${CALLER_TOKEN}/x`, 404],
    [`${DROP_IN_PATH};token=${CALLER_TOKEN}?oAuthorId=ok${run}`, 404],
    [`${path(`ok${run};token=${CALLER_TOKEN}`)}`, 400],
    [`${path(`ok${run}`)}?platform=SHORT_VIDEO;token=${CALLER_TOKEN}`, 400],
  ];
  for (const [url, status] of expected) {
    expect(await ask(url), url).toBe(status);
  }
  // Code 0 without data, scripted (no author id triggers it).
  gw.sim.script([{ code: 0 }]);
  expect(await ask(path(`nodata${run}`))).toBe(502);
  // An upstream answer that echoes the token back must not carry it further.
  gw.sim.script([{ httpStatus: 502, body: `bad gateway for token=${TEST_TOKEN}` }]);
  expect(await ask(path(`echo${run}`))).toBe(502);
  // An upstream that echoes the token: the normalised route (MISS, then HIT), the drop-in route.
  for (const url of [
    path(`echotoken${run}`),
    path(`echotoken${run}`),
    `${DROP_IN_PATH}?oAuthorId=echotoken${run}`,
    `${DROP_IN_PATH}?oAuthorId=echotoken2${run}`,
  ]) {
    const res = await gw.get(url);
    statuses.push(res.status);
    echoed.push(res);
  }
  // Give pino's stream and the hung upstream socket a moment to flush their last lines.
  await new Promise((r) => setTimeout(r, 100));
});
afterAll(async () => {
  await gw?.close();
});

describe('the upstream token', () => {
  it('was really used: the upstream saw it on every call', () => {
    expect(gw.sim.callCount).toBeGreaterThan(15);
    expect(gw.sim.calls.every((c) => c.tokenSeen)).toBe(true);
  });

  it('is in no log line, and the logs hold every upstream call', () => {
    const lines = gw.logs.flatMap((l) => l.split('\n')).filter(Boolean);
    const upstreamLines = lines.filter((l) => l.includes('"upstream call"'));
    expect(upstreamLines.length).toBe(gw.sim.callCount);
    expect(lines.filter((l) => l.includes('"incoming request"')).length).toBe(statuses.length);
    // The drop-in request's own URL is logged, with the caller's token masked.
    expect(lines.some((l) => l.includes('&token=%5BREDACTED%5D'))).toBe(true);
    for (const line of lines) {
      expect(line).not.toContain(TEST_TOKEN);
      expect(line).not.toContain(CALLER_TOKEN);
      // The upstream query (fixed order, token last) is never logged; a caller's token only masked.
      expect(line).not.toMatch(/flowType=[A-Z]+&token=/);
      expect(line).not.toMatch(/token=(?!%5BREDACTED%5D)/);
    }
  });

  it('is scrubbed from what an echoing upstream sends back: etag, request id, extra, drop-in body', () => {
    expect(echoed.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    for (const r of echoed) {
      for (const [name, value] of r.headers) expect(value, name).not.toContain(TEST_TOKEN);
      expect(r.headers.get('etag')).toBeTruthy();
      expect(r.body).not.toContain(TEST_TOKEN);
      expect(r.body).toContain('[REDACTED]');
    }
    const v1 = JSON.parse(echoed[0]!.body) as {
      meta: { upstreamRequestId: string };
      metrics: { extra: object };
    };
    expect(v1.meta.upstreamRequestId).toBe('req-[REDACTED]');
    expect(Object.keys(v1.metrics.extra)).toContain('echo_[REDACTED]');
    const dropIn = JSON.parse(echoed[2]!.body) as { requestId: string; data: Record<string, unknown> };
    expect(dropIn.requestId).toBe('req-[REDACTED]');
    expect(dropIn.data['echo_[REDACTED]']).toBe('[REDACTED]');
    expect(dropIn.data['echo_url']).toMatch(/&token=\[REDACTED\]$/);
  });

  it('is in no response body, and every answer had one', () => {
    expect(gw.bodies.length).toBe(statuses.length);
    for (const body of gw.bodies) {
      expect(body.length).toBeGreaterThan(0);
      expect(body).not.toContain(TEST_TOKEN);
      expect(body).not.toContain(CALLER_TOKEN);
      // Only a masked one (an echoing upstream's URL, scrubbed).
      expect(body).not.toMatch(/token=(?!\[REDACTED\])/);
    }
  });
});

describe("a caller's gateway key sent as token= on the drop-in route", () => {
  let keyed: Gateway;
  const answers: Array<{ code: unknown; body: string }> = [];
  beforeAll(async () => {
    const openGate: UpstreamGate = { beforeCall: async () => {}, afterCall: () => {} };
    keyed = await startGateway({
      redis: 'none',
      env: { LOG_LEVEL: 'trace', UPSTREAM_TIMEOUT_MS: '500', API_KEYS: `svc:${CALLER_KEY}` },
      overrides: { upstreamGate: openGate },
    });
    const run = `keyleak${Date.now().toString(36)}`;
    const ids = ['ok', 'ok', 'notfound', 'code301', 'code302', 'code303', 'code100', 'code500', 'http502'];
    const urls = [
      ...ids.map((id) => `${DROP_IN_PATH}?oAuthorId=${id}${run}&token=${CALLER_KEY}`),
      `${DROP_IN_PATH}?oAuthorId=hang${run}&token=${CALLER_KEY}`,
      `${DROP_IN_PATH}?token=${CALLER_KEY}&oAuthorId=ok${run}&platform=TV`,
      `${DROP_IN_PATH}?oAuthorId=ok${run}&token=${CALLER_KEY}&token=${CALLER_KEY}`,
      `${DROP_IN_PATH}?oAuthorId=ok${run}&token=${CALLER_KEY}x`,
      `/v1/authors/ok${run}/spread-info?token=${CALLER_KEY}`,
    ];
    for (const url of urls) {
      const res = await keyed.get(url);
      answers.push({ code: (res.json as { code?: unknown }).code, body: res.body });
    }
    await new Promise((r) => setTimeout(r, 100));
  });
  afterAll(async () => {
    await keyed?.close();
  });

  it('was used: it let the caller in, and the upstream saw only the gateway token', () => {
    expect(answers.slice(0, 9).map((a) => a.code)).toEqual([0, 0, 201, 301, 302, 303, 500, 500, 500]);
    expect(answers.slice(9, 13).map((a) => a.code)).toEqual([301, 400, 100, 100]);
    expect(keyed.sim.calls.every((c) => c.tokenSeen && !JSON.stringify(c.query).includes(CALLER_KEY))).toBe(
      true,
    );
  });

  it('is masked in every log line, and in no body', () => {
    const lines = keyed.logs.flatMap((l) => l.split('\n')).filter(Boolean);
    expect(lines.filter((l) => l.includes('token=%5BREDACTED%5D')).length).toBeGreaterThanOrEqual(
      answers.length,
    );
    for (const line of lines) {
      expect(line).not.toContain(CALLER_KEY);
      expect(line).not.toContain(TEST_TOKEN);
      expect(line).not.toMatch(/token=(?!%5BREDACTED%5D)/);
    }
    for (const body of keyed.bodies) {
      expect(body).not.toContain(CALLER_KEY);
      expect(body).not.toContain(TEST_TOKEN);
    }
  });
});

// URLSearchParams (the gateway's query) writes `~ ! ' ( )` as %7E %21 %27 %28 %29 and a space as
// `+`, where encodeURIComponent keeps them: an upstream echoing the query it received sends that form.
describe('an upstream token with characters the two URL encoders treat differently', () => {
  const token = `tok ~!'()*_${TEST_TOKEN.slice(4)}`;
  const sentForm = new URLSearchParams({ token }).toString().slice('token='.length);
  let odd: Gateway;
  const bodies: string[] = [];
  beforeAll(async () => {
    const openGate: UpstreamGate = { beforeCall: async () => {}, afterCall: () => {} };
    odd = await startGateway({
      redis: 'none',
      env: { LOG_LEVEL: 'trace', JUSTONEAPI_TOKEN: token },
      simOptions: { token },
      overrides: { upstreamGate: openGate },
    });
    const run = `odd${Date.now().toString(36)}`;
    for (const url of [path(`echotoken${run}`), `${DROP_IN_PATH}?oAuthorId=echotoken2${run}`]) {
      const res = await odd.get(url);
      expect(res.status).toBe(200);
      bodies.push(res.body);
    }
  });
  afterAll(async () => {
    await odd?.close();
  });

  it('is scrubbed in the form the gateway sent it, from the bodies and the logs', () => {
    expect(sentForm).toContain('%7E%21%27%28%29*_');
    expect(odd.sim.calls.every((c) => c.tokenSeen)).toBe(true);
    const dropIn = JSON.parse(bodies[1]!) as { data: Record<string, unknown> };
    expect(dropIn.data['echo_query']).toMatch(/&token=\[REDACTED\]$/);
    const lines = odd.logs.flatMap((l) => l.split('\n')).filter(Boolean);
    for (const text of [...bodies, ...odd.bodies, ...lines]) {
      for (const form of [token, sentForm, encodeURIComponent(token), TEST_TOKEN.slice(4)]) {
        expect(text).not.toContain(form);
      }
    }
  });
});

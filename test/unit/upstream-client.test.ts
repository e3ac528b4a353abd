// The upstream client against the simulated upstream over loopback (real sockets, real undici pool).

import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spreadInfoCall } from '../../src/catalogue/call.js';
import { GatewayError } from '../../src/errors.js';
import { type SimUpstream, simSpreadData, startSimUpstream } from '../../src/sim/upstream-server.js';
import { type UpstreamCallRecord, UpstreamClient, type UpstreamGate } from '../../src/upstream/client.js';
import { QUERY_DEFAULTS, type SpreadParams, UPSTREAM_PATH } from '../../src/upstream/params.js';

const TOKEN = 'tok_client_test_5d1e9a7c3b';
const AUTHOR = '7012345678901234567';
const params = (over: Partial<SpreadParams> = {}): SpreadParams => ({
  ...QUERY_DEFAULTS,
  oAuthorId: AUTHOR,
  ...over,
});

let sim: SimUpstream;
const clients: UpstreamClient[] = [];

function client(timeoutMs = 2000): UpstreamClient {
  const c = new UpstreamClient({ baseUrl: sim.url, token: TOKEN, timeoutMs, retryBaseMs: 5 });
  clients.push(c);
  return c;
}

/** Runs one fetch, collecting the per-attempt records and the error (if any). */
async function run(c: UpstreamClient, p: SpreadParams = params(), gate?: UpstreamGate, deadline?: number) {
  const records: UpstreamCallRecord[] = [];
  try {
    const result = await c.fetch(spreadInfoCall(p), gate, (r) => records.push(r), deadline);
    return { result, records, error: undefined };
  } catch (error) {
    return { result: undefined, records, error: error as GatewayError };
  }
}

function expectNoSecrets(value: unknown): void {
  const text = JSON.stringify(value, (_k, v) => (v instanceof Error ? { ...v, message: v.message } : v));
  expect(text).not.toContain(TOKEN);
  expect(text).not.toContain('token=');
  expect(text).not.toContain('oAuthorId=');
}

beforeAll(async () => {
  sim = await startSimUpstream({ token: TOKEN });
});
afterEach(() => sim.reset());
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await sim.close();
});

describe('request', () => {
  it('sends the parameters in a fixed order with defaults, and the token only in the query', async () => {
    const seen: Array<{ url: string; headers: IncomingHttpHeaders }> = [];
    const raw = createServer((req, res) => {
      seen.push({ url: req.url ?? '', headers: req.headers });
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end('{"code":0,"data":{"avg_duration":"1"}}');
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    const c = new UpstreamClient({
      baseUrl: `http://127.0.0.1:${(raw.address() as AddressInfo).port}`,
      token: TOKEN,
      timeoutMs: 2000,
    });
    try {
      await c.fetch(
        spreadInfoCall(params({ oAuthorId: 'a_b-C', range: 'DAY_90', onlyAssign: true })),
        undefined,
        () => {},
      );
    } finally {
      await c.close();
      raw.closeAllConnections();
      await new Promise((resolve) => raw.close(resolve));
    }
    expect(seen).toHaveLength(1);
    const url = new URL(seen[0]!.url, 'http://x');
    expect(url.pathname).toBe(UPSTREAM_PATH);
    expect([...url.searchParams]).toEqual([
      ['oAuthorId', 'a_b-C'],
      ['platform', 'SHORT_VIDEO'],
      ['range', 'DAY_90'],
      ['type', 'PERSONAL_VIDEO'],
      ['onlyAssign', 'true'],
      ['flowType', 'EXCLUDE'],
      ['token', TOKEN],
    ]);
    expect(JSON.stringify(seen[0]!.headers)).not.toContain(TOKEN);
  });

  it('answers code 0 with the data, one billed record, and nothing secret in it', async () => {
    const { result, records, error } = await run(client());
    expect(error).toBeUndefined();
    expect(result).toMatchObject({ kind: 'ok', data: simSpreadData(params()) });
    expect(sim.callCount).toBe(1);
    expect(sim.calls[0]!.tokenSeen).toBe(true);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      authorId: AUTHOR,
      attempt: 1,
      code: 0,
      httpStatus: 200,
      outcome: 'ok',
      billed: true,
    });
    expect(records[0]!.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(result?.requestId).toBe(records[0]!.requestId);
    expect(records[0]!.latencyMs).toBeGreaterThanOrEqual(0);
    expectNoSecrets({ result, records });
  });

  it("keeps the upstream's message and recordTime as sent, short strings or null", async () => {
    const sent = (await run(client())).result;
    expect(sent).toMatchObject({ message: 'success', recordTime: expect.stringMatching(/^\d{4}-.+Z$/) });
    const body = (message: unknown, recordTime: unknown) =>
      JSON.stringify({ code: 0, message, recordTime, requestId: 'r-1', data: { play_mid: '1' } });
    sim.script([
      { httpStatus: 200, body: body(null, '2025-12-31T14:55:21Z') },
      { httpStatus: 200, body: body('x'.repeat(600), 1767192921) },
    ]);
    expect((await run(client())).result).toMatchObject({ message: null, recordTime: '2025-12-31T14:55:21Z' });
    expect((await run(client())).result).toMatchObject({ message: null, recordTime: null });
  });

  it('answers any JSON value under code 0 as sent (a list, a string, a number), token scrubbed; null is not an answer', async () => {
    const listed = await run(client(), params({ oAuthorId: 'listdata1' }));
    expect(listed.error).toBeUndefined();
    expect(listed.result).toMatchObject({
      kind: 'ok',
      data: [simSpreadData(params({ oAuthorId: 'listdata1' }))],
    });
    const body = (data: unknown) => JSON.stringify({ code: 0, requestId: 'r-2', data });
    sim.script([
      { httpStatus: 200, body: body(['a', TOKEN, { k: `x${TOKEN}` }]) },
      { httpStatus: 200, body: body('just text') },
      { httpStatus: 200, body: body(0) },
      { httpStatus: 200, body: body(false) },
      { httpStatus: 200, body: body(null) },
    ]);
    const list = await run(client());
    expect(list.result).toMatchObject({ kind: 'ok', data: ['a', '[REDACTED]', { k: 'x[REDACTED]' }] });
    expect((await run(client())).result).toMatchObject({ kind: 'ok', data: 'just text' });
    expect((await run(client())).result).toMatchObject({ kind: 'ok', data: 0 });
    expect((await run(client())).result).toMatchObject({ kind: 'ok', data: false });
    const none = await run(client());
    expect([none.error?.statusCode, none.error?.code, none.records[0]?.outcome]).toEqual([
      502,
      'UPSTREAM_ERROR',
      'malformed',
    ]);
  });

  it('takes the token out of everything an echoing upstream sends back, before anyone keeps it', async () => {
    const { result, records, error } = await run(client(), params({ oAuthorId: 'echotoken1' }));
    expect(error).toBeUndefined();
    expect(result).toMatchObject({ kind: 'ok', requestId: 'req-[REDACTED]' });
    expect(records[0]!.requestId).toBe('req-[REDACTED]');
    const data = (result?.kind === 'ok' ? result.data : {}) as Record<string, unknown>;
    expect(data['echo_[REDACTED]']).toBe('[REDACTED]');
    expect(JSON.stringify(data)).toContain('&token=[REDACTED]');
    expect(JSON.stringify({ result, records })).not.toContain(TOKEN);
  });

  it('answers code 201 as not found, billed', async () => {
    const { result, records } = await run(client(), params({ oAuthorId: 'notfound1' }));
    expect(result?.kind).toBe('not_found');
    expect(records).toMatchObject([{ code: 201, outcome: 'not_found', billed: true, attempt: 1 }]);
  });
});

describe('301 retries', () => {
  it('retries 301 twice more, then gives 502 carrying 301', async () => {
    sim.setBehaviour({ code: 301 });
    const { error, records } = await run(client());
    expect(sim.callCount).toBe(3);
    expect(error).toBeInstanceOf(GatewayError);
    expect([error?.statusCode, error?.code, error?.upstreamCode]).toEqual([502, 'UPSTREAM_ERROR', 301]);
    expect(records.map((r) => [r.attempt, r.code, r.outcome, r.billed])).toEqual([
      [1, 301, 'retry', false],
      [2, 301, 'retry', false],
      [3, 301, 'retry', false],
    ]);
    expectNoSecrets({ error, records });
  });

  it('succeeds on attempt 2 after one 301', async () => {
    sim.script([{ code: 301 }]);
    const { result, records } = await run(client());
    expect(result?.kind).toBe('ok');
    expect(sim.callCount).toBe(2);
    expect(records.map((r) => [r.attempt, r.code, r.billed])).toEqual([
      [1, 301, false],
      [2, 0, true],
    ]);
  });

  it('consults the gate before every attempt, so retries spend budget', async () => {
    sim.script([{ code: 301 }, { code: 301 }]);
    const events: string[] = [];
    const gate: UpstreamGate = {
      beforeCall: async (deadline) => {
        expect(deadline).toBeGreaterThan(Date.now());
        events.push(`before:${sim.callCount}`);
      },
      afterCall: (r) => void events.push(`after:${r.attempt}:${r.outcome}`),
    };
    const { result } = await run(client(), params(), gate);
    expect(result?.kind).toBe('ok');
    expect(events).toEqual([
      'before:0',
      'after:1:retry',
      'before:1',
      'after:2:retry',
      'before:2',
      'after:3:ok',
    ]);
  });

  it('makes no call when the gate refuses', async () => {
    const refusal = new GatewayError('UPSTREAM_UNAVAILABLE', 'budget spent', { retryAfterSeconds: 1 });
    const gate: UpstreamGate = {
      beforeCall: async () => {
        throw refusal;
      },
      afterCall: () => {},
    };
    const { error, records } = await run(client(), params(), gate);
    expect(error).toBe(refusal);
    expect(records).toEqual([]);
    expect(sim.callCount).toBe(0);
  });
});

describe('timeouts', () => {
  it('gives 504 after one attempt and never retries a timeout', async () => {
    sim.setBehaviour({ hang: true });
    const started = Date.now();
    const { error, records } = await run(client(300));
    expect(Date.now() - started).toBeLessThan(2000);
    expect([error?.statusCode, error?.code]).toEqual([504, 'UPSTREAM_TIMEOUT']);
    expect(records).toMatchObject([
      { attempt: 1, code: null, outcome: 'timeout', billed: false, httpStatus: null },
    ]);
    // A retry would show up as a second call on the upstream shortly after.
    await new Promise((r) => setTimeout(r, 300));
    expect(sim.callCount).toBe(1);
    expectNoSecrets({ error, records });
  });

  it('gives 504 for an answer slower than the timeout', async () => {
    sim.script([{ delayMs: 1500 }]);
    const { error } = await run(client(300));
    expect(error?.statusCode).toBe(504);
    expect(sim.callCount).toBe(1);
  });

  it('stops at the caller deadline when it comes before the timeout', async () => {
    sim.setBehaviour({ hang: true });
    const started = Date.now();
    const { error } = await run(client(10_000), params(), undefined, Date.now() + 300);
    expect(error?.statusCode).toBe(504);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe('failures', () => {
  const cases: Array<
    [string, Parameters<SimUpstream['script']>[0][number], Partial<UpstreamCallRecord>, number?]
  > = [
    ['HTTP 500', { httpStatus: 500 }, { outcome: 'http_error', httpStatus: 500, code: null }],
    ['HTTP 404', { httpStatus: 404 }, { outcome: 'http_error', httpStatus: 404, code: null }],
    [
      'HTTP 200 with HTML',
      { httpStatus: 200, body: '<html>oops</html>' },
      { outcome: 'malformed', code: null },
    ],
    ['truncated JSON', { malformed: true }, { outcome: 'malformed', code: null }],
    ['code 0 without data', { code: 0 }, { outcome: 'malformed', code: 0 }, 0],
    ['unknown code 999', { code: 999 }, { outcome: 'error', code: 999, billed: false }, 999],
    ['code 500', { code: 500 }, { outcome: 'error', code: 500, billed: false }, 500],
    ['connection reset', { reset: true }, { outcome: 'network', code: null, httpStatus: null }],
    [
      'a body over 1 MiB',
      { httpStatus: 200, body: `{"code":0,"data":{"a":"${'x'.repeat(1024 * 1024)}"}}` },
      { outcome: 'malformed', code: null, httpStatus: 200 },
    ],
    [
      'data nested deeper than 32 levels',
      { code: 0, rawData: `${'['.repeat(1000)}${']'.repeat(1000)}` },
      { outcome: 'malformed', code: 0, billed: true },
      0,
    ],
  ];

  it.each(cases)('%s gives 502 after exactly one call', async (_name, behaviour, record, upstreamCode) => {
    sim.setBehaviour(behaviour);
    const { error, records } = await run(client());
    expect(error).toBeInstanceOf(GatewayError);
    expect([error?.statusCode, error?.code]).toEqual([502, 'UPSTREAM_ERROR']);
    expect(error?.upstreamCode).toBe(upstreamCode);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ attempt: 1, ...record });
    expect(sim.callCount).toBe(1);
    expectNoSecrets({ error, message: error?.message, records });
  });

  it.each([
    [302, 503, 'UPSTREAM_UNAVAILABLE'],
    [303, 503, 'UPSTREAM_UNAVAILABLE'],
    [100, 503, 'UPSTREAM_CREDENTIALS'],
    [601, 503, 'UPSTREAM_CREDENTIALS'],
  ])('code %i gives %i %s after exactly one call', async (code, status, errorCode) => {
    sim.setBehaviour({ code });
    const { error, records } = await run(client());
    expect([error?.statusCode, error?.code, error?.upstreamCode]).toEqual([status, errorCode, code]);
    expect(records).toMatchObject([{ attempt: 1, code, outcome: 'error', billed: false }]);
    expect(sim.callCount).toBe(1);
  });

  // The upstream's published OpenAPI declares HTTP 429 with the same envelope: the code decides.
  it.each([
    [429, 302, 503, 'UPSTREAM_UNAVAILABLE'],
    [401, 100, 503, 'UPSTREAM_CREDENTIALS'],
    [402, 601, 503, 'UPSTREAM_CREDENTIALS'],
    [500, 500, 502, 'UPSTREAM_ERROR'],
  ])('HTTP %i with code %i is judged by the code: %i %s', async (httpStatus, code, status, errorCode) => {
    sim.setBehaviour({ code, httpStatus });
    const { error, records } = await run(client());
    expect([error?.statusCode, error?.code, error?.upstreamCode]).toEqual([status, errorCode, code]);
    expect(records).toMatchObject([{ attempt: 1, code, httpStatus, outcome: 'error', billed: false }]);
  });

  it('a success code under an error status is not believed, and a non-JSON error body stays an HTTP error', async () => {
    sim.script([
      { code: 0, httpStatus: 503 },
      { httpStatus: 429, body: 'Too Many Requests' },
    ]);
    for (const httpStatus of [503, 429]) {
      const { error, records } = await run(client());
      expect([error?.statusCode, error?.code]).toEqual([502, 'UPSTREAM_ERROR']);
      expect(records).toMatchObject([{ outcome: 'http_error', code: null, httpStatus }]);
    }
  });

  it('a wrong token is a credentials error, and the token is not echoed', async () => {
    const c = new UpstreamClient({ baseUrl: sim.url, token: 'tok_wrong_value_123', timeoutMs: 2000 });
    clients.push(c);
    const { error } = await run(c);
    expect(error?.code).toBe('UPSTREAM_CREDENTIALS');
    expect(error?.message).not.toContain('tok_wrong_value_123');
  });
});

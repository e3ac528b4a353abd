// Fault drill: the upstream resets connections, hangs, answers slowly, answers garbage. Each gives
// the contract's status (502/504), or the cached answer as STALE when there is one; never a 500,
// never a wait past the timeout plus a margin, never the token in a body or a log line.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Behaviour } from '../../src/sim/upstream-server.js';
import { ADMIN_KEY, CALLER_KEY, type Gateway, startGateway, TEST_TOKEN } from '../helpers/gateway.js';

const TIMEOUT_MS = 500;
/** Scheduling slack on a busy CI machine; a hang would blow through it by far. */
const MARGIN_MS = 1500;
const CONCURRENT = 8;

let gw: Gateway;
beforeAll(async () => {
  gw = await startGateway({
    env: {
      UPSTREAM_TIMEOUT_MS: String(TIMEOUT_MS),
      API_KEYS: `caller:${CALLER_KEY}`,
      ADMIN_API_KEYS: `admin:${ADMIN_KEY}`,
      CALLER_RATE_LIMIT: '100000',
    },
  });
});
afterAll(async () => {
  await gw?.close();
});

interface Timed {
  status: number;
  ms: number;
  cache: string | null;
  body: string;
  json: { error?: { code: string; message: string }; meta?: { stale: boolean } };
}

async function timedGet(id: string, headers: Record<string, string> = {}): Promise<Timed> {
  const started = performance.now();
  const res = await fetch(`${gw.url}/v1/authors/${id}/spread-info`, {
    headers: { 'x-api-key': CALLER_KEY, ...headers },
    signal: AbortSignal.timeout(TIMEOUT_MS + 10_000),
  });
  const body = await res.text();
  return {
    status: res.status,
    ms: performance.now() - started,
    cache: res.headers.get('x-cache'),
    body,
    json: JSON.parse(body),
  };
}

function expectClean(r: Timed): void {
  expect(r.status).not.toBe(500);
  expect(r.ms).toBeLessThan(TIMEOUT_MS + MARGIN_MS);
  expect(r.body).not.toContain(TEST_TOKEN);
  expect(r.body).not.toContain(gw.sim.url);
}

// The simulated upstream picks the fault from the author id's prefix, so retries see it too.
describe.each([
  { fault: 'reset', id: 'resetdrill', status: 502, code: 'UPSTREAM_ERROR' },
  { fault: 'hang', id: 'hangdrill', status: 504, code: 'UPSTREAM_TIMEOUT', atLeastMs: TIMEOUT_MS - 50 },
  { fault: 'malformed JSON', id: 'malformeddrill', status: 502, code: 'UPSTREAM_ERROR' },
  { fault: 'HTML with HTTP 502', id: 'http502drill', status: 502, code: 'UPSTREAM_ERROR' },
  {
    fault: 'slow, under the timeout',
    id: `slow${TIMEOUT_MS - 150}drill`,
    status: 200,
    atLeastMs: TIMEOUT_MS - 150,
  },
])('upstream fault: $fault, nothing cached', ({ id, status, code, atLeastMs }) => {
  it(`answers ${status} to ${CONCURRENT} concurrent callers with one upstream call`, async () => {
    const answers = await Promise.all(Array.from({ length: CONCURRENT }, () => timedGet(id)));
    for (const r of answers) {
      expectClean(r);
      expect(r.status, r.body.slice(0, 200)).toBe(status);
      if (code) expect(r.json.error?.code).toBe(code);
      else expect(r.cache).toBe('MISS');
      if (atLeastMs) expect(r.ms).toBeGreaterThanOrEqual(atLeastMs);
    }
    expect(gw.sim.callsFor(id)).toHaveLength(1);
  });
});

describe.each<{ fault: string; behaviour: Behaviour }>([
  { fault: 'reset', behaviour: { reset: true } },
  { fault: 'hang', behaviour: { hang: true } },
  { fault: 'malformed JSON', behaviour: { malformed: true } },
  { fault: 'HTML with HTTP 502', behaviour: { httpStatus: 502 } },
  { fault: 'business code 500', behaviour: { code: 500 } },
])('upstream fault: $fault, answer cached', ({ fault, behaviour }) => {
  it('an admin forced refresh gets the cached answer as STALE, after asking the upstream', async () => {
    const id = `cached${fault.replace(/\W/g, '')}`;
    expect((await timedGet(id)).status).toBe(200);
    gw.sim.setBehaviour(behaviour);
    try {
      const r = await timedGet(id, { 'x-api-key': ADMIN_KEY, 'cache-control': 'no-cache' });
      expectClean(r);
      expect(r.status, r.body.slice(0, 200)).toBe(200);
      expect(r.cache).toBe('STALE');
      expect(r.json.meta?.stale).toBe(true);
      expect(gw.sim.callsFor(id).length).toBeGreaterThanOrEqual(2);
      // The warning names the author, the cache key and the error, none of them a secret.
      const warning = gw.logs
        .map((l) => JSON.parse(l))
        .find((l) => l.msg === 'upstream failed; answering stale' && l.author === id);
      expect(warning).toMatchObject({
        cacheKey: expect.stringContaining(gw.prefix),
        error: { code: expect.stringMatching(/^UPSTREAM_/), message: expect.stringMatching(/\w/) },
      });
    } finally {
      gw.sim.setBehaviour(null);
    }
  });
});

describe('after every drill', () => {
  it('no log line or body holds the token, and nothing was a 500', async () => {
    // Runs last in this file; each drill above also checks its own answers.
    const hung = await timedGet('hangfinal');
    expect(hung.status).toBe(504);
    expect(gw.logs.length).toBeGreaterThan(0);
    expect(gw.logs.join('\n')).not.toContain(TEST_TOKEN);
    expect(gw.bodies.join('\n')).not.toContain(TEST_TOKEN);
    expect(gw.logs.some((l) => l.includes('"level":50') && l.includes('unhandled error'))).toBe(false);
  });
});

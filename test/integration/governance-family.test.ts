// Governance per endpoint through the app, on two catalogued endpoints served by the catalogue's
// routes: two gateway instances on one Redis prefix in front of a fake family upstream over
// loopback (the repo's sim serves spread-info only; this one serves every catalogued path, counts
// the calls it receives per path, and can be told to answer one path with an envelope under any
// HTTP status). The upstream's own count decides every bound.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CATALOGUE } from '../../src/catalogue/index.js';
import type { SimUpstream } from '../../src/sim/upstream-server.js';
import { ADMIN_KEY, CALLER_KEY, type Gateway, startGateway } from '../helpers/gateway.js';
import { uniquePrefix } from '../helpers/redis.js';
import { mostInOneSecond } from '../helpers/windows.js';

const KEYS = { API_KEYS: `svc:${CALLER_KEY}`, ADMIN_API_KEYS: `ops:${ADMIN_KEY}` };
const LIMITED = 'get_author_base_info';
const OTHER = 'get_author_marketing_info';
const P = (name: string) => CATALOGUE.get(name).upstreamPath;
const url = (name: string, oAuthorId: string) =>
  `${P(name)}?${new URLSearchParams({ token: CALLER_KEY, oAuthorId })}`;

interface Call {
  path: string;
  at: number;
}

/** Code 0 on every catalogued path, unless `answer` holds a reply for the path. */
async function startFamilyUpstream() {
  const calls: Call[] = [];
  const answer = new Map<string, { status: number; code: number }>();
  const server: Server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const spec = CATALOGUE.byPath(u.pathname);
    if (!spec) {
      res.writeHead(404).end();
      return;
    }
    calls.push({ path: u.pathname, at: Date.now() });
    const a = answer.get(u.pathname);
    const body = a
      ? { code: a.code, message: 'scripted', data: null }
      : {
          code: 0,
          message: 'success',
          data: { path: u.pathname, oAuthorId: u.searchParams.get('oAuthorId') },
        };
    res.writeHead(a?.status ?? 200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    answer,
    on: (name: string) => calls.filter((c) => c.path === P(name)),
    reset: () => {
      calls.splice(0);
      answer.clear();
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

let up: Awaited<ReturnType<typeof startFamilyUpstream>>;
const open: Gateway[] = [];
async function pair(env: Record<string, string> = {}) {
  const prefix = uniquePrefix('govfam');
  const sim = up as unknown as SimUpstream;
  const a = await startGateway({ sim, prefix, env: { ...KEYS, ...env } });
  const b = await startGateway({ sim, prefix, env: { ...KEYS, ...env } });
  open.push(a, b);
  return [a, b] as const;
}
beforeAll(async () => {
  up = await startFamilyUpstream();
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((g) => g.close()));
  up.reset();
});
afterAll(() => up.close());

const codeOf = (r: Awaited<ReturnType<Gateway['get']>>) => (r.json as { code: number }).code;
describe('governance per endpoint, through the catalogue routes', () => {
  it(`with ${LIMITED}=1 and a ceiling of 20, five misses on another endpoint are answered at once; the limited one's calls stay at most 2 in any second and all are answered`, async () => {
    const [a, b] = await pair({
      UPSTREAM_MAX_RPS: '20',
      UPSTREAM_ENDPOINT_MAX_RPS: `${LIMITED}=1`,
      UPSTREAM_MAX_WAIT_MS: '8000',
      UPSTREAM_TIMEOUT_MS: '5000',
    });
    const t0 = Date.now();
    const limited = [0, 1, 2, 3, 4].map((i) =>
      (i % 2 ? a : b).get(url(LIMITED, `70000000000000000${10 + i}`)),
    );
    await new Promise((r) => setTimeout(r, 50));
    const others = await Promise.all(
      [0, 1, 2, 3, 4].map((i) =>
        (i % 2 ? b : a)
          .get(url(OTHER, `70000000000000000${20 + i}`))
          .then((r) => ({ r, ms: Date.now() - t0 })),
      ),
    );
    for (const { r, ms } of others) {
      expect(codeOf(r)).toBe(0);
      expect(ms).toBeLessThan(1500);
    }
    const done = await Promise.all(limited);
    expect(done.map(codeOf)).toEqual([0, 0, 0, 0, 0]);
    const at = up.on(LIMITED).map((c) => c.at);
    expect(at).toHaveLength(5);
    expect(mostInOneSecond(at)).toBeLessThanOrEqual(2);
    console.log(
      `[figure] other endpoint answered at ${others.map((o) => o.ms).join(', ')} ms; limited calls at ` +
        `${at.map((t) => t - t0).join(', ')} ms (upstream's clock)`,
    );
  }, 20_000);

  it('HTTP 429 with code 302 on one endpoint is answered as 302 and pauses it on both instances; another answers at once', async () => {
    const [a, b] = await pair();
    up.answer.set(P(LIMITED), { status: 429, code: 302 });
    expect(codeOf(await a.get(url(LIMITED, '7000000000000000031')))).toBe(302);
    up.answer.clear();
    expect(up.on(LIMITED)).toHaveLength(1);
    // Paused: the other instance refuses the next miss of that endpoint without a call ...
    expect(codeOf(await b.get(url(LIMITED, '7000000000000000032')))).toBe(302);
    expect(up.on(LIMITED)).toHaveLength(1);
    // ... while another endpoint answers at once, on both instances.
    const t0 = Date.now();
    expect(codeOf(await b.get(url(OTHER, '7000000000000000033')))).toBe(0);
    expect(codeOf(await a.get(url(OTHER, '7000000000000000034')))).toBe(0);
    expect(Date.now() - t0).toBeLessThan(1000);
    const ready = await a.get('/readyz');
    expect(ready.json).toMatchObject({ status: 'degraded' });
    expect(JSON.stringify(ready.json)).toContain(`${LIMITED} paused by the upstream (302)`);
  });

  it('a 601 on one endpoint stops every endpoint', async () => {
    const [a, b] = await pair();
    up.answer.set(P(LIMITED), { status: 200, code: 601 });
    // The drop-in envelope never passes the gateway's own credential codes on; its error says 601.
    const first = await a.get(url(LIMITED, '7000000000000000041'));
    expect((first.json as { error: { code: string; upstreamCode: number } }).error).toMatchObject({
      code: 'UPSTREAM_CREDENTIALS',
      upstreamCode: 601,
    });
    up.answer.clear();
    const other = await b.get(url(OTHER, '7000000000000000042'));
    expect(codeOf(other)).not.toBe(0);
    expect((other.json as { error: { upstreamCode: number } }).error).toMatchObject({ upstreamCode: 601 });
    expect(up.calls).toHaveLength(1);
  });

  it('a share of 3 units is spent by a 1-unit and a 2-unit call; the next miss is refused without a call', async () => {
    const [a, b] = await pair({ CALLER_UPSTREAM_DAILY: 'svc=3', UPSTREAM_ENDPOINT_COST: `${OTHER}=2` });
    expect(codeOf(await a.get(url(LIMITED, '7000000000000000051')))).toBe(0);
    expect(codeOf(await b.get(url(OTHER, '7000000000000000052')))).toBe(0);
    const refused = await a.get(url(LIMITED, '7000000000000000053'));
    expect(codeOf(refused)).toBe(302); // the drop-in envelope's code for any caller limit
    expect(JSON.stringify(refused.json)).toContain('CALLER_UPSTREAM_DAILY');
    expect(up.calls).toHaveLength(2);
    await b.app.usage.flush(); // the other instance's counts (written once a second otherwise)
    const usage = await a.get('/v1/usage', { 'x-api-key': ADMIN_KEY });
    const row = (usage.json as { callers: Array<Record<string, unknown>> }).callers.find(
      (c) => c.caller === 'svc',
    );
    expect(row).toMatchObject({ upstreamCalls: 2, upstreamUnits: 3, share: { limit: 3, used: 3, left: 0 } });
  });
});

// A real browser (Debian's headless Chromium, driven by playwright-core) calling the gateway the
// way docs/frontend.md tells front-end developers to: a page on an allowed origin sends the user's
// JWT in `authorization`, passes the CORS preflight, and reads the exposed `x-cache` and
// `ratelimit-remaining`; the same page served from another origin is refused by the browser.
import { accessSync, constants } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CALLER_KEY, type Gateway, startGateway } from '../helpers/gateway.js';
import { type JwksServer, jwtEnv, makeKey, signToken, startJwksServer } from '../helpers/jwks-server.js';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = (() => {
  try {
    accessSync(CHROMIUM, constants.X_OK);
    return true;
  } catch {
    return false;
  }
})();

/** The front-end code under test: the docs/frontend.md example, as a page would run it. */
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>gateway caller</title></head><body>
<script>
  async function callGateway(gateway, path, token, cache) {
    try {
      const res = await fetch(gateway + path, {
        headers: { authorization: 'Bearer ' + token },
        cache: cache || 'default',
      });
      const body = await res.json();
      return {
        status: res.status,
        xCache: res.headers.get('x-cache'),
        remaining: res.headers.get('ratelimit-remaining'),
        code: body.error ? body.error.code : null,
        authorId: body.authorId || null,
      };
    } catch (err) {
      return { error: String(err) };
    }
  }
  window.callGateway = callGateway;
</script></body></html>`;

async function servePage(): Promise<{ origin: string; server: Server }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

type Result = {
  status?: number;
  xCache?: string | null;
  remaining?: string | null;
  code?: string | null;
  authorId?: string | null;
  error?: string;
};

describe.skipIf(!hasChromium)('a browser app on an allowed origin', () => {
  let browser: Browser;
  let gw: Gateway;
  let jwks: JwksServer;
  let allowed: { origin: string; server: Server };
  let other: { origin: string; server: Server };
  let token: string;

  beforeAll(async () => {
    const key = await makeKey('browser-key', 'ES256');
    jwks = await startJwksServer([key]);
    allowed = await servePage();
    other = await servePage(); // same page, another port: another origin
    gw = await startGateway({
      env: {
        API_KEYS: `acme:${CALLER_KEY}`,
        ...jwtEnv(jwks),
        CORS_ORIGINS: allowed.origin,
        CALLER_RATE_LIMIT: '10',
      },
    });
    token = await signToken(key, { claims: { sub: 'browser-user' } });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await gw?.close();
    await jwks?.close();
    for (const s of [allowed?.server, other?.server]) {
      s?.closeAllConnections();
      await new Promise((r) => s?.close(r));
    }
  });

  async function pageOn(origin: string): Promise<Page> {
    const page = await browser.newPage();
    await page.goto(`${origin}/`);
    return page;
  }

  const call = (page: Page, path: string, bearer: string, cache?: string) =>
    page.evaluate(
      ([g, p, t, c]) =>
        (globalThis as unknown as { callGateway: (...a: unknown[]) => Promise<unknown> }).callGateway(
          g,
          p,
          t,
          c,
        ),
      [gw.url, path, bearer, cache] as const,
    ) as Promise<Result>;

  it('calls with the user token and reads x-cache and ratelimit-remaining; errors are readable too', async () => {
    const page = await pageOn(allowed.origin);
    const first = await call(page, '/v1/authors/browser1/spread-info', token);
    expect(first).toMatchObject({ status: 200, xCache: 'MISS', remaining: '9', authorId: 'browser1' });
    // no-store: past the browser's own cache, so the gateway answers (from its cache).
    const second = await call(page, '/v1/authors/browser1/spread-info', token, 'no-store');
    expect(second).toMatchObject({ status: 200, xCache: 'HIT', remaining: '8' });
    // A refused token: the page sees the 401 and its code, not an opaque CORS failure.
    const refused = await call(
      page,
      '/v1/authors/browser1/spread-info',
      `${token.slice(0, -4)}AAAA`,
      'no-store',
    );
    expect(refused).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
    expect(gw.logs.some((l) => l.includes('"caller":"jwt:browser-user"'))).toBe(true);
    await page.close();
  });

  it('is refused by the browser when the page comes from an origin not in CORS_ORIGINS', async () => {
    const callsBefore = gw.sim.callCount;
    const page = await pageOn(other.origin);
    const result = await call(page, '/v1/authors/browser2/spread-info', token);
    expect(result.error).toMatch(/TypeError|Failed to fetch/);
    expect(result.status).toBeUndefined();
    // The preflight failed, so the GET was never sent: no upstream call for browser2.
    expect(gw.sim.callCount).toBe(callsBefore);
    await page.close();
  });
});

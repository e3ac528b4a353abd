// A real browser (Debian's headless Chromium, driven by playwright-core) calling the gateway the
// way docs/frontend.md tells front-end developers to: a page on an allowed origin sends the user's
// JWT in `authorization`, passes the CORS preflight, and reads the exposed `x-cache` and
// `ratelimit-remaining`; the same page served from another origin is refused by the browser.
import { accessSync, constants, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CALLER_KEY, type Gateway, startGateway } from '../helpers/gateway.js';
import { type JwksServer, jwtEnv, makeKey, signToken, startJwksServer } from '../helpers/jwks-server.js';
import { describeWithTool } from '../helpers/tools.js';

const CHROMIUM = '/usr/bin/chromium';
const describeBrowser = describeWithTool(
  'chromium',
  (() => {
    try {
      accessSync(CHROMIUM, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  })(),
  '`apt-get install -y chromium`; playwright-core drives it and downloads no browser',
);

/**
 * The page runs docs/frontend.md's own example (its first js block), pointed at the test gateway,
 * so the example the docs give front-end developers is the code this browser runs.
 */
function pageHtml(gateway: string): string {
  const doc = readFileSync(new URL('../../docs/frontend.md', import.meta.url), 'utf8');
  const example = /```js\n([\s\S]*?)```/.exec(doc)?.[1];
  if (!example?.includes('const GATEWAY =')) throw new Error('docs/frontend.md: no js example with GATEWAY');
  const script = example
    .replace(/const GATEWAY = '[^']*';/, `const GATEWAY = ${JSON.stringify(gateway)};`)
    .replace(/^export /gm, '');
  return `<!doctype html><html><head><meta charset="utf-8"><title>app</title></head><body>
<script>${script}</script></body></html>`;
}

async function servePage(html: () => string): Promise<{ origin: string; server: Server }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

type Result = {
  status?: number;
  cache?: string | null;
  remaining?: number;
  code?: string;
  authorId?: string;
  error?: string;
};

describeBrowser('a browser app on an allowed origin', () => {
  let browser: Browser;
  let gw: Gateway;
  let jwks: JwksServer;
  let allowed: { origin: string; server: Server };
  let other: { origin: string; server: Server };
  let token: string;
  let expired: string;

  beforeAll(async () => {
    const key = await makeKey('browser-key', 'ES256');
    jwks = await startJwksServer([key]);
    let gatewayUrl = '';
    allowed = await servePage(() => pageHtml(gatewayUrl));
    other = await servePage(() => pageHtml(gatewayUrl)); // the same page on another port: another origin
    gw = await startGateway({
      env: {
        API_KEYS: `acme:${CALLER_KEY}`,
        ...jwtEnv(jwks),
        CORS_ORIGINS: allowed.origin,
        CALLER_RATE_LIMIT: '10',
      },
    });
    gatewayUrl = gw.url;
    token = await signToken(key, { claims: { sub: 'browser-user' } });
    expired = await signToken(key, {
      claims: { sub: 'browser-user', exp: Math.floor(Date.now() / 1000) - 600 },
    });
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

  /** The docs' spreadInfo(), with a token source that hands out `current`, and `fresh` on refresh. */
  const spreadInfo = (page: Page, authorId: string, current: string, fresh: string) =>
    page.evaluate(
      async ([id, cur, next]) => {
        type Fn = (
          id: string,
          getToken: (o?: { refresh?: boolean }) => Promise<string>,
        ) => Promise<{
          status: number;
          cache: string | null;
          remaining: number;
          data: { authorId: string };
        }>;
        const fn = (globalThis as unknown as { spreadInfo: Fn }).spreadInfo;
        try {
          const r = await fn(id, async (o) => (o?.refresh ? next : cur));
          return { status: r.status, cache: r.cache, remaining: r.remaining, authorId: r.data.authorId };
        } catch (err) {
          const e = err as { status?: number; code?: string };
          return e.status ? { status: e.status, code: e.code } : { error: String(err) };
        }
      },
      [authorId, current, fresh] as const,
    ) as Promise<Result>;

  /** A plain fetch from the page past the browser's cache: what the gateway itself answers. */
  const fetchNoStore = (page: Page, path: string, bearer: string) =>
    page.evaluate(
      async ([url, t]) => {
        // `cache` is the browser's RequestInit; Node's types lack it.
        const init = { headers: { authorization: `Bearer ${t}` }, cache: 'no-store' } as RequestInit;
        const res = await fetch(url, init);
        return {
          status: res.status,
          cache: res.headers.get('x-cache'),
          remaining: Number(res.headers.get('ratelimit-remaining')),
        };
      },
      [gw.url + path, bearer] as const,
    ) as Promise<Result>;

  it("runs the docs' example: the user token in, x-cache and ratelimit-remaining out, an expired token refreshed once", async () => {
    const page = await pageOn(allowed.origin);
    const first = await spreadInfo(page, 'browser1', token, token);
    expect(first).toEqual({ status: 200, cache: 'MISS', remaining: 9, authorId: 'browser1' });
    // The same request again: the browser's own cache answers (private, max-age), the gateway is not asked.
    expect(await spreadInfo(page, 'browser1', token, token)).toEqual(first);
    // Past the browser's cache, the gateway answers from its own.
    expect(await fetchNoStore(page, '/v1/authors/browser1/spread-info?platform=SHORT_VIDEO', token)).toEqual({
      status: 200,
      cache: 'HIT',
      remaining: 8,
    });
    // An expired token: a 401 the page can read (CORS headers on errors too), then one retry with a fresh token.
    const renewed = await spreadInfo(page, 'browser3', expired, token);
    expect(renewed).toMatchObject({ status: 200, cache: 'MISS', authorId: 'browser3' });
    // Refused twice: the error reaches the page with its code, not as an opaque CORS failure.
    expect(await spreadInfo(page, 'browser4', expired, expired)).toEqual({
      status: 401,
      code: 'UNAUTHORIZED',
    });
    expect(gw.logs.some((l) => l.includes('"caller":"jwt:browser-user"'))).toBe(true);
    await page.close();
  });

  it('is refused by the browser when the page comes from an origin not in CORS_ORIGINS', async () => {
    const callsBefore = gw.sim.callCount;
    const page = await pageOn(other.origin);
    const result = await spreadInfo(page, 'browser2', token, token);
    expect(result.error).toMatch(/TypeError|Failed to fetch/);
    // The preflight got no CORS headers, so the GET was never sent: no upstream call for browser2.
    expect(gw.sim.callCount).toBe(callsBefore);
    const browser2 = gw.logs.filter((l) => l.includes('/v1/authors/browser2/'));
    expect(browser2.length).toBeGreaterThan(0); // the preflight reached the gateway...
    expect(browser2.every((l) => l.includes('"method":"OPTIONS"'))).toBe(true); // ...and nothing else
    await page.close();
  });
});

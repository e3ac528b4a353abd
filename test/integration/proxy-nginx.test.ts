// Client addresses behind the shipped nginx (deploy/nginx.conf, run by the Debian binary): whatever
// X-Forwarded-For a client writes, its per-IP limit bucket is its own address, for every TRUST_PROXY
// form the README offers. Anonymous callers are limited per IP, so a client that could pick its
// address could dodge the limit (the issue saw 8 of 8 answered 200 with a limit of 5).

import { Agent, request } from 'undici';
import { afterEach, expect, it } from 'vitest';
import { CALLER_KEY, type Gateway, startGateway } from '../helpers/gateway.js';
import { type Nginx, nginxBinary, startNginx } from '../helpers/nginx.js';
import { describeWithTool } from '../helpers/tools.js';

const ROUTE = '/v1/authors/a1/spread-info';

let open: Array<{ close(): Promise<void> } | { stop(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.allSettled(open.map((o) => ('close' in o ? o.close() : o.stop())));
  open = [];
});

async function behindNginx(trustProxy: string): Promise<{ gw: Gateway; nginx: Nginx }> {
  const gw = await startGateway({
    env: {
      API_KEYS: `acme:${CALLER_KEY}`,
      ALLOW_ANONYMOUS: 'true',
      CALLER_RATE_LIMIT: '3',
      CALLER_RATE_WINDOW: '30 seconds',
      AUTH_FAILURES_PER_MINUTE: '2',
      TRUST_PROXY: trustProxy,
    },
  });
  open.push(gw);
  const nginx = await startNginx(new URL(gw.url).host);
  open.push(nginx);
  return { gw, nginx };
}

function client(address: string) {
  const dispatcher = new Agent({ localAddress: address });
  open.push(dispatcher);
  return async (nginx: Nginx, headers: Record<string, string> = {}) => {
    const res = await request(nginx.url + ROUTE, { dispatcher, headers });
    await res.body.dump();
    return res.statusCode;
  };
}

describeWithTool(
  'nginx',
  nginxBinary() !== null,
  '`apt-get install -y nginx`',
)('behind the shipped nginx', () => {
  it('is the shipped file: X-Forwarded-For is set to the address nginx saw, not appended to', async () => {
    const { nginx } = await behindNginx('127.0.0.1');
    expect(nginx.shippedConfig).toMatch(/^\s*proxy_set_header X-Forwarded-For \$remote_addr;/m);
    const directives = nginx.shippedConfig.replace(/#.*$/gm, '');
    expect(directives).not.toContain('$proxy_add_x_forwarded_for');
  });

  // nginx reaches the gateway from 127.0.0.1; the clients come from 127.0.0.2 and 127.0.0.3.
  it.each([
    ['127.0.0.1', "nginx's address"],
    ['loopback', "nginx's network (a CIDR or named range)"],
    ['1', 'one hop'],
    ['true', 'any peer'],
  ])('TRUST_PROXY=%s (%s): a client-written X-Forwarded-For does not change its bucket', async (trust) => {
    const { gw, nginx } = await behindNginx(trust);
    const mallory = client('127.0.0.2');
    const alice = client('127.0.0.3');
    const statuses: number[] = [];
    for (let i = 1; i <= 5; i++) {
      statuses.push(await mallory(nginx, { 'x-forwarded-for': `203.0.113.${i}` }));
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    // Another client has a bucket of its own, and a key caller from the spent address its own too.
    expect(await alice(nginx)).toBe(200);
    expect(await mallory(nginx, { 'x-api-key': CALLER_KEY, 'x-forwarded-for': '198.51.100.1' })).toBe(200);
    // The logs name the client's real address, never the one it wrote.
    const lines = gw.logs.filter((l) => l.includes('"request completed"'));
    expect(lines.some((l) => l.includes('"remoteAddress":"127.0.0.2"'))).toBe(true);
    expect(lines.some((l) => l.includes('203.0.113.'))).toBe(false);
  });

  it('failed credentials count against the real address too', async () => {
    const { nginx } = await behindNginx('127.0.0.1');
    const mallory = client('127.0.0.2');
    const wrong = (i: number) => ({
      'x-api-key': `wrong-key-${i}-0123456789abcdef`,
      'x-forwarded-for': `203.0.113.${i}`,
    });
    expect([
      await mallory(nginx, wrong(1)),
      await mallory(nginx, wrong(2)),
      await mallory(nginx, wrong(3)),
    ]).toEqual([401, 401, 429]);
    expect(await client('127.0.0.3')(nginx, wrong(4))).toBe(401);
  });
});

// Clients that send their request slowly (a body one byte at a time, headers that never end) over
// raw sockets: each gets an answer in the contract's shape and its connection is closed within
// REQUEST_TIMEOUT_MS (plus Node's check interval), whether or not it was already answered.
import { createConnection, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CALLER_KEY, type Gateway, startGateway } from '../helpers/gateway.js';

const REQUEST_TIMEOUT_MS = 1000;
/** Generous: the bound is the timeout plus a 100 ms check interval; "never" is what failed. */
const CLOSED_WITHIN_MS = 10_000;

interface SlowClient {
  name: string;
  received: () => string;
  closed: Promise<number>;
}

let gw: Gateway;
beforeAll(async () => {
  gw = await startGateway({
    redis: 'none',
    env: { API_KEYS: `svc:${CALLER_KEY}`, REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS), LOG_LEVEL: 'info' },
  });
});
afterAll(async () => {
  await gw?.close();
});

function port(): number {
  const address = gw.app.server.address();
  return typeof address === 'object' && address ? address.port : 0;
}

/** Sends `head`, then one byte of `trickle` every 200 ms, forever (until the server closes). */
function slowClient(name: string, head: string, trickle = ' '): SlowClient {
  const socket: Socket = createConnection({ host: '127.0.0.1', port: port() });
  const started = Date.now();
  let data = '';
  socket.on('data', (b) => (data += b.toString()));
  socket.on('error', () => {});
  socket.write(head);
  const timer = setInterval(() => {
    if (!socket.destroyed && socket.writable) socket.write(trickle);
  }, 200);
  const closed = new Promise<number>((resolve) =>
    socket.once('close', () => {
      clearInterval(timer);
      resolve(Date.now() - started);
    }),
  );
  // Whatever happens, the test's own sockets do not outlive it.
  setTimeout(() => socket.destroy(), CLOSED_WITHIN_MS + 5000).unref();
  return { name, received: () => data, closed };
}

function post(path: string, headers = ''): string {
  return (
    `POST ${path} HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n` +
    `content-length: 5000\r\n${headers}\r\n{"items":[`
  );
}

function parse(raw: string): { status: number; headers: string; body: unknown } {
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, end);
  return {
    status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0),
    headers: head.toLowerCase(),
    body: JSON.parse(raw.slice(end + 4)),
  };
}

describe('slow clients', () => {
  it('are answered and disconnected within the request timeout, key or no key', async () => {
    const clients = [
      ...Array.from({ length: 20 }, (_, i) => slowClient(`nokey${i}`, post('/v1/authors/spread-info/batch'))),
      ...Array.from({ length: 5 }, (_, i) => slowClient(`nope${i}`, post('/nope'))),
      ...Array.from({ length: 10 }, (_, i) =>
        slowClient(`key${i}`, post('/v1/authors/spread-info/batch', `x-api-key: ${CALLER_KEY}\r\n`)),
      ),
      ...Array.from({ length: 5 }, (_, i) =>
        slowClient(`headers${i}`, 'GET /v1/authors/a/spread-info HTTP/1.1\r\nhost: gw\r\nx-slow: ', 'a'),
      ),
    ];
    const outcomes = await Promise.all(
      clients.map(async (c) => {
        const ms = await Promise.race([
          c.closed,
          new Promise<null>((r) => setTimeout(r, CLOSED_WITHIN_MS, null)),
        ]);
        return { name: c.name, ms, raw: c.received() };
      }),
    );
    const open = outcomes.filter((o) => o.ms === null).map((o) => o.name);
    expect(open, 'connections still open').toEqual([]);

    for (const o of outcomes) {
      const res = parse(o.raw);
      const expected = o.name.startsWith('nokey') ? 401 : 408;
      expect(res.status, `${o.name}: ${o.raw}`).toBe(expected);
      expect(res.headers).toContain('connection: close');
      expect(res.headers).toMatch(/x-request-id: \S+/);
      expect(res.body).toMatchObject({
        error: { code: expected === 401 ? 'UNAUTHORIZED' : 'REQUEST_TIMEOUT', requestId: expect.any(String) },
      });
    }
    // Answered before their body arrived, the keyless ones were closed then, not left to the timeout
    // (which would have written a 408 after the 401).
    for (const o of outcomes) expect(o.raw.match(/HTTP\/1\.1 \d{3}/g), o.name).toHaveLength(1);

    // The server closes its side once the client has closed (lingering close), so shortly after.
    const connections = () =>
      new Promise<number>((resolve, reject) =>
        gw.app.server.getConnections((err, n) => (err ? reject(err) : resolve(n))),
      );
    for (const end = Date.now() + 2000; Date.now() < end && (await connections()) > 0; ) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await connections()).toBe(0);
  }, 30_000);
});

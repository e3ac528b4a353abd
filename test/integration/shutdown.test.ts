// SIGTERM on the real server process (src/server.ts): stop accepting, answer everything in flight,
// exit 0; past SHUTDOWN_GRACE_MS, exit 1 rather than hang.
import { createConnection } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type SimUpstream, startSimUpstream } from '../../src/sim/upstream-server.js';
import { TEST_TOKEN } from '../helpers/gateway.js';
import { until } from '../helpers/prometheus.js';
import { uniquePrefix } from '../helpers/redis.js';
import { type ServerProcess, startServerProcess } from '../helpers/server-process.js';

const startServer = (sim: SimUpstream, env: Record<string, string>) =>
  startServerProcess({ upstreamUrl: sim.url, env: { REDIS_KEY_PREFIX: uniquePrefix('shut'), ...env } });

/** True when nothing accepts a TCP connection on the port any more. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

describe('graceful shutdown of the server process', () => {
  let sim: SimUpstream;
  let server: ServerProcess | undefined;
  beforeAll(async () => {
    sim = await startSimUpstream({ token: TEST_TOKEN, delayMs: 500 });
  });
  afterEach(() => {
    if (server?.child.exitCode === null) server.child.kill('SIGKILL');
    server = undefined;
    sim.reset();
  });
  afterAll(() => sim.close());

  it('answers every request in flight, refuses new connections, and exits 0', async () => {
    server = await startServer(sim, { SHUTDOWN_GRACE_MS: '10000' });
    const { base, port } = server;
    const inFlight = Array.from({ length: 20 }, (_, i) =>
      fetch(`${base}/v1/authors/shut${i}/spread-info`).then(async (r) => ({
        status: r.status,
        body: await r.text(),
      })),
    );
    // Every request has reached the upstream (which holds each for 500 ms) before the signal.
    expect(await until(async () => sim.callCount === 20, 5000)).toBe(true);
    server.child.kill('SIGTERM');

    expect(await until(() => refused(port), 3000)).toBe(true);
    const answers = await Promise.all(inFlight);
    for (const [i, a] of answers.entries()) {
      expect(a.status, a.body).toBe(200);
      expect(JSON.parse(a.body)).toMatchObject({ authorId: `shut${i}`, metrics: expect.any(Object) });
    }
    expect(await server.exited).toBe(0);
    expect(server.output()).toContain('shutting down');
    expect(server.output()).toContain('shut down cleanly');
    expect(server.output()).not.toContain(TEST_TOKEN);
  });

  it('gives up after SHUTDOWN_GRACE_MS when a request outlives it, and exits 1', async () => {
    server = await startServer(sim, { SHUTDOWN_GRACE_MS: '300', UPSTREAM_TIMEOUT_MS: '60000' });
    const stuck = fetch(`${server.base}/v1/authors/hang1/spread-info`).then(
      (r) => r.status,
      () => 'connection closed',
    );
    expect(await until(async () => sim.callCount === 1, 5000)).toBe(true);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(1);
    expect(await stuck).toBe('connection closed');
    expect(server.output()).toContain('outlived the shutdown grace');
  });
});

// Fault drill: the real server process (src/server.ts) gets SIGTERM with ~30 requests in flight.
// Every one of them gets its complete 200, the process exits 0, and a new process on the same port
// and Redis answers the same keys from the cache without calling the upstream again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SimUpstream, startSimUpstream } from '../../src/sim/upstream-server.js';
import { TEST_TOKEN } from '../helpers/gateway.js';
import { uniquePrefix } from '../helpers/redis.js';
import { freePort } from '../helpers/redis-server.js';
import { killServerProcesses, type ServerProcess, startServerProcess } from '../helpers/server-process.js';

const IN_FLIGHT = 30;
// Long enough that the whole burst is inside the gateway before the first answer, even on a busy box.
const UPSTREAM_DELAY_MS = 1000;
const KEYS = Array.from({ length: IN_FLIGHT }, (_, i) => `restart${i}`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let sim: SimUpstream;
let port: number;
let base: string;
const env = {
  REDIS_KEY_PREFIX: uniquePrefix('drill-restart'),
  UPSTREAM_MAX_RPS: '1000',
  CALLER_RATE_LIMIT: '100000',
  // The burst is one (anonymous) caller's 30 misses at once: above the default pending cap of 20.
  CALLER_MAX_PENDING_UPSTREAM: '100',
  SHUTDOWN_GRACE_MS: '10000',
};

beforeAll(async () => {
  sim = await startSimUpstream({ token: TEST_TOKEN, delayMs: UPSTREAM_DELAY_MS });
  port = await freePort();
  base = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  killServerProcesses();
  await sim?.close();
});

/** Both processes share the port and the Redis prefix: the second is the first one restarted. */
const startServer = () => startServerProcess({ upstreamUrl: sim.url, port, env });

async function exitCode(s: ServerProcess): Promise<number | null | 'timeout'> {
  return Promise.race([s.exited, sleep(20_000).then(() => 'timeout' as const)]);
}

async function ask(id: string) {
  const res = await fetch(`${base}/v1/authors/${id}/spread-info`, { signal: AbortSignal.timeout(15_000) });
  const body = await res.text();
  return { id, status: res.status, cache: res.headers.get('x-cache'), body, doneAt: Date.now() };
}

describe('gateway restarted with SIGTERM under load', () => {
  it('finishes every in-flight request, exits 0, and the next process serves them from cache', async () => {
    const first = await startServer();
    // A first request warms the process up (module loading, JIT, connections), so the burst is quick.
    expect((await ask('restartwarmup')).status).toBe(200);
    const answers = Promise.all(KEYS.map(ask));
    // All requests are inside the gateway once the upstream has seen each; its answers take a second.
    const upstreamSaw = () => KEYS.filter((k) => sim.callsFor(k).length > 0).length;
    for (const end = Date.now() + 10_000; upstreamSaw() < IN_FLIGHT && Date.now() < end; ) await sleep(5);
    expect(upstreamSaw()).toBe(IN_FLIGHT);
    const termAt = Date.now();
    first.child.kill('SIGTERM');
    const got = await answers;
    for (const a of got) {
      expect(a.status, a.body.slice(0, 200)).toBe(200);
      expect((JSON.parse(a.body) as { authorId: string }).authorId).toBe(a.id);
      expect(a.cache).toBe('MISS');
      expect(a.doneAt).toBeGreaterThanOrEqual(termAt);
    }
    expect(await exitCode(first), first.output()).toBe(0);

    const second = await startServer();
    try {
      const again = await Promise.all(KEYS.map(ask));
      expect(again.map((a) => `${a.status} ${a.cache}`)).toEqual(KEYS.map(() => '200 HIT'));
      expect(sim.callCount).toBe(IN_FLIGHT + 1);
    } finally {
      second.child.kill('SIGTERM');
    }
    expect(await exitCode(second), second.output()).toBe(0);
    expect(first.output() + second.output()).not.toContain(TEST_TOKEN);
  }, 90_000);
});

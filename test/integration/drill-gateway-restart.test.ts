// Fault drill: the real server process (src/server.ts) gets SIGTERM with ~30 requests in flight.
// Every one of them gets its complete 200, the process exits 0, and a new process on the same port
// and Redis answers the same keys from the cache without calling the upstream again.
import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SimUpstream, startSimUpstream } from '../../src/sim/upstream-server.js';
import { TEST_TOKEN } from '../helpers/gateway.js';
import { testRedisUrl, uniquePrefix } from '../helpers/redis.js';
import { freePort } from '../helpers/redis-server.js';

const IN_FLIGHT = 30;
// Long enough that the whole burst is inside the gateway before the first answer, even on a busy box.
const UPSTREAM_DELAY_MS = 1000;
const KEYS = Array.from({ length: IN_FLIGHT }, (_, i) => `restart${i}`);

interface Server {
  proc: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const live = new Set<ChildProcess>();
let sim: SimUpstream;
let env: Record<string, string>;
let base: string;

beforeAll(async () => {
  sim = await startSimUpstream({ token: TEST_TOKEN, delayMs: UPSTREAM_DELAY_MS });
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  env = {
    PATH: process.env['PATH'] ?? '',
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: String(port),
    JUSTONEAPI_TOKEN: TEST_TOKEN,
    JUSTONEAPI_BASE_URL: sim.url,
    REDIS_URL: testRedisUrl(),
    REDIS_KEY_PREFIX: uniquePrefix('drill-restart'),
    UPSTREAM_MAX_RPS: '1000',
    CALLER_RATE_LIMIT: '100000',
    SHUTDOWN_GRACE_MS: '10000',
    LOG_LEVEL: 'info',
  };
});
afterAll(async () => {
  for (const p of live) p.kill('SIGKILL');
  await sim?.close();
});

function startServer(): Server {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], { env, stdio: 'pipe' });
  live.add(proc);
  const output: string[] = [];
  proc.stdout?.on('data', (d) => output.push(String(d)));
  proc.stderr?.on('data', (d) => output.push(String(d)));
  const exited = new Promise<number | null>((resolve) =>
    proc.once('exit', (code) => {
      live.delete(proc);
      resolve(code);
    }),
  );
  return { proc, output, exited };
}

async function waitHealthy(s: Server): Promise<void> {
  for (const end = Date.now() + 30_000; Date.now() < end; await sleep(100)) {
    if (s.proc.exitCode !== null) break;
    try {
      if ((await fetch(`${base}/healthz`)).status === 200) return;
    } catch {}
  }
  throw new Error(`gateway did not start:\n${s.output.join('')}`);
}

async function exitCode(s: Server): Promise<number | null | 'timeout'> {
  return Promise.race([s.exited, sleep(20_000).then(() => 'timeout' as const)]);
}

async function ask(id: string) {
  const res = await fetch(`${base}/v1/authors/${id}/spread-info`, { signal: AbortSignal.timeout(15_000) });
  const body = await res.text();
  return { id, status: res.status, cache: res.headers.get('x-cache'), body, doneAt: Date.now() };
}

describe('gateway restarted with SIGTERM under load', () => {
  it('finishes every in-flight request, exits 0, and the next process serves them from cache', async () => {
    const first = startServer();
    await waitHealthy(first);
    // A first request warms the process up (module loading, JIT, connections), so the burst is quick.
    expect((await ask('restartwarmup')).status).toBe(200);
    const answers = Promise.all(KEYS.map(ask));
    // All requests are inside the gateway once the upstream has seen each; its answers take a second.
    const upstreamSaw = () => KEYS.filter((k) => sim.callsFor(k).length > 0).length;
    for (const end = Date.now() + 10_000; upstreamSaw() < IN_FLIGHT && Date.now() < end; ) await sleep(5);
    expect(upstreamSaw()).toBe(IN_FLIGHT);
    const termAt = Date.now();
    first.proc.kill('SIGTERM');
    const got = await answers;
    for (const a of got) {
      expect(a.status, a.body.slice(0, 200)).toBe(200);
      expect((JSON.parse(a.body) as { authorId: string }).authorId).toBe(a.id);
      expect(a.cache).toBe('MISS');
      expect(a.doneAt).toBeGreaterThanOrEqual(termAt);
    }
    expect(await exitCode(first), first.output.join('')).toBe(0);

    const second = startServer();
    try {
      await waitHealthy(second);
      const again = await Promise.all(KEYS.map(ask));
      expect(again.map((a) => `${a.status} ${a.cache}`)).toEqual(KEYS.map(() => '200 HIT'));
      expect(sim.callCount).toBe(IN_FLIGHT + 1);
    } finally {
      second.proc.kill('SIGTERM');
    }
    expect(await exitCode(second), second.output.join('')).toBe(0);
    expect(first.output.join('') + second.output.join('')).not.toContain(TEST_TOKEN);
  }, 90_000);
});

// The real production entry (src/server.ts) as a child process on loopback, for the tests that
// send it signals. Resolves once /healthz answers; every process started is killed at exit.
import { type ChildProcess, spawn } from 'node:child_process';
import { TEST_TOKEN } from './gateway.js';
import { testRedisUrl, uniquePrefix } from './redis.js';
import { freePort } from './redis-server.js';
import { dirWithoutDotEnv, SERVER_FROM_SOURCE, TSX_ENV } from './server-entry.js';

export interface ServerProcess {
  child: ChildProcess;
  base: string;
  port: number;
  output(): string;
  exited: Promise<number | null>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/** Kills what is still running (for afterAll). */
export function killServerProcesses(): void {
  for (const c of live) c.kill('SIGKILL');
}

export async function startServerProcess(o: {
  upstreamUrl: string;
  /** Reuse a port (a restart); default a free one. */
  port?: number;
  env?: Record<string, string>;
  /** What the process's stdout pipe does: read (default), never read (a stalled log shipper), or
   *  closed at once (writes get EPIPE). output() then holds stderr only. */
  stdout?: 'read' | 'stall' | 'closed';
}): Promise<ServerProcess> {
  const port = o.port ?? (await freePort());
  const child = spawn(process.execPath, SERVER_FROM_SOURCE, {
    cwd: dirWithoutDotEnv(),
    env: {
      PATH: process.env['PATH'] ?? '',
      ...TSX_ENV,
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      PORT: String(port),
      JUSTONEAPI_TOKEN: TEST_TOKEN,
      JUSTONEAPI_BASE_URL: o.upstreamUrl,
      REDIS_URL: testRedisUrl(),
      REDIS_KEY_PREFIX: uniquePrefix('proc'),
      LOG_LEVEL: 'info',
      ...o.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let out = '';
  const stdout = o.stdout ?? 'read';
  if (stdout === 'read') child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  // Paused: nothing is read, so the pipe fills once the child has written its buffer's worth.
  else if (stdout === 'stall') child.stdout?.pause();
  else child.stdout?.destroy();
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      live.delete(child);
      resolve(code);
    }),
  );
  const base = `http://127.0.0.1:${port}`;
  for (const end = Date.now() + 30_000; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
    if (child.exitCode !== null) break;
    const ok = await fetch(`${base}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { child, base, port, output: () => out, exited };
  }
  child.kill('SIGKILL');
  throw new Error(`server did not start:\n${out}`);
}

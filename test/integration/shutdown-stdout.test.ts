// SIGTERM on the real server process (src/server.ts) whose stdout is a pipe nobody reads (a stalled
// log shipper) or a pipe whose reader is gone (EPIPE): logging never blocks serving, and the process
// still ends within SHUTDOWN_GRACE_MS.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type SimUpstream, startSimUpstream } from '../../src/sim/upstream-server.js';
import { TEST_TOKEN } from '../helpers/gateway.js';
import { type ServerProcess, startServerProcess } from '../helpers/server-process.js';

const GRACE_MS = 2000;
/** Generous slack over the grace: what failed was "never" (SIGKILL 12 s later). */
const EXITED_WITHIN_MS = GRACE_MS + 6000;
/** ~170 bytes of log per line, two lines per request: far past a 64 KiB pipe and Node's buffer. */
const REQUESTS = 1500;

let sim: SimUpstream;
let server: ServerProcess | undefined;
beforeAll(async () => {
  sim = await startSimUpstream({ token: TEST_TOKEN });
});
afterEach(() => {
  if (server?.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
  server = undefined;
});
afterAll(() => sim.close());

/** Requests that each write log lines; all must be answered however stdout behaves. */
async function logHeavily(base: string): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < REQUESTS; i += 50) {
    const batch = Array.from({ length: 50 }, (_, j) =>
      fetch(`${base}/nope/${i + j}`, { signal: AbortSignal.timeout(10_000) }).then(
        async (r) => {
          await r.arrayBuffer();
          return r.status;
        },
        () => -1,
      ),
    );
    statuses.push(...(await Promise.all(batch)));
  }
  return statuses;
}

async function exitAfterSigterm(s: ServerProcess): Promise<{ code: number | null; ms: number | null }> {
  const started = Date.now();
  s.child.kill('SIGTERM');
  const code = await Promise.race([
    s.exited,
    new Promise<'running'>((r) => setTimeout(r, EXITED_WITHIN_MS, 'running')),
  ]);
  return code === 'running' ? { code: null, ms: null } : { code, ms: Date.now() - started };
}

describe('shutdown whatever stdout does', () => {
  it('stdout never read: requests are answered, SIGTERM ends the process within the grace', async () => {
    server = await startServerProcess({
      upstreamUrl: sim.url,
      stdout: 'stall',
      env: { SHUTDOWN_GRACE_MS: String(GRACE_MS), LOG_LEVEL: 'info' },
    });
    const statuses = await logHeavily(server.base);
    expect(statuses.filter((s) => s !== 404)).toEqual([]);
    const { code, ms } = await exitAfterSigterm(server);
    expect(ms, `still running ${EXITED_WITHIN_MS} ms after SIGTERM:\n${server.output()}`).not.toBeNull();
    expect(code).toBe(0);
  }, 60_000);

  it('stdout stalled, then its reader gone (EPIPE) during shutdown: the process still ends', async () => {
    server = await startServerProcess({
      upstreamUrl: sim.url,
      stdout: 'stall',
      env: { SHUTDOWN_GRACE_MS: String(GRACE_MS), LOG_LEVEL: 'info' },
    });
    expect((await logHeavily(server.base)).filter((s) => s !== 404)).toEqual([]);
    const exit = exitAfterSigterm(server);
    await new Promise((r) => setTimeout(r, 300));
    server.child.stdout?.destroy();
    const { ms } = await exit;
    expect(ms, `still running ${EXITED_WITHIN_MS} ms after SIGTERM:\n${server.output()}`).not.toBeNull();
  }, 60_000);

  it('stdout closed from the start (EPIPE on every write): answered, and SIGTERM ends the process', async () => {
    server = await startServerProcess({
      upstreamUrl: sim.url,
      stdout: 'closed',
      env: { SHUTDOWN_GRACE_MS: String(GRACE_MS), LOG_LEVEL: 'info' },
    });
    expect((await logHeavily(server.base)).filter((s) => s !== 404)).toEqual([]);
    const { code, ms } = await exitAfterSigterm(server);
    expect(ms, `still running ${EXITED_WITHIN_MS} ms after SIGTERM:\n${server.output()}`).not.toBeNull();
    expect(code).toBe(0);
  }, 60_000);
});

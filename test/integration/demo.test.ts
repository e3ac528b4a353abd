// `npm run demo` must stay usable after a newcomer tries the simulated upstream's `code303…` author
// ("today's quota is spent"): the pause lasts until the demo's short day ends, not until the real
// upstream's midnight, and the gateway calls upstream again afterwards.
import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { FixedLengthDays } from '../../src/governance/quota-day.js';
import { type Gateway, startGateway } from '../helpers/gateway.js';
import { freePort } from '../helpers/redis-server.js';

interface ErrorJson {
  error: { code: string; upstreamCode?: number };
}

describe.each(['none', 'single'] as const)('an upstream 303 with short days (redis: %s)', (redis) => {
  let gw: Gateway | undefined;
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
  });

  it('pauses every upstream call until the day ends, then calls again', async () => {
    const day = new FixedLengthDays(3000);
    gw = await startGateway({ redis, overrides: { governor: { day } } });
    // Far enough from the day's end that the two refusals below fall in the same day.
    while (day.at(Date.now()).msLeft < 2000) await new Promise((r) => setTimeout(r, 100));
    const first = await gw.get('/v1/authors/code303a/spread-info');
    expect(first.status).toBe(503);
    expect((first.json as ErrorJson).error.upstreamCode).toBe(303);
    expect(Number(first.headers.get('retry-after'))).toBeLessThanOrEqual(3);
    const paused = await gw.get('/v1/authors/after303/spread-info');
    expect(paused.status).toBe(503);
    expect((paused.json as ErrorJson).error).toMatchObject({
      code: 'UPSTREAM_UNAVAILABLE',
      upstreamCode: 303,
    });
    expect(Number(paused.headers.get('retry-after'))).toBeLessThanOrEqual(3);
    expect(gw.sim.callCount).toBe(1);

    await new Promise((r) => setTimeout(r, day.at(Date.now()).msLeft + 100));
    const next = await gw.get('/v1/authors/after303/spread-info');
    expect(next.status).toBe(200);
    expect(gw.sim.callCount).toBe(2);
  });
});

describe('npm run demo', () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    child?.kill('SIGKILL');
  });

  it('says how long a code303 author pauses it, and the pause is the demo day, not hours', async () => {
    const port = await freePort();
    child = spawn(process.execPath, ['--import', 'tsx', 'src/demo.ts'], {
      cwd: process.cwd(),
      env: {
        PATH: process.env['PATH'] ?? '',
        HOME: process.env['HOME'] ?? '',
        PORT: String(port),
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
    for (const end = Date.now() + 30_000; !out.includes('Ctrl-C stops it') && Date.now() < end; ) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const base = `http://127.0.0.1:${port}`;
    const quota = await fetch(`${base}/v1/authors/code303x/spread-info`);
    expect(quota.status).toBe(503);
    expect(Number(quota.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    const paused = await fetch(`${base}/v1/authors/7012345678901234567/spread-info`);
    expect(paused.status).toBe(503);
    expect(Number(paused.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    // And the demo's own list of things to try says so.
    expect(out).toMatch(/code303x.*60 s days/);
  }, 60_000);
});

// A hostile or broken identity provider: a 300 MB key set must be refused after reading at most
// JWKS_MAX_BYTES, with the gateway process's peak memory (read from /proc) nowhere near the body's
// size. The gateway runs as a child process so its memory is its own, not the test runner's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JWKS_MAX_BYTES } from '../../src/auth/jwks.js';
import { type SimUpstream, startSimUpstream } from '../../src/sim/upstream-server.js';
import { CALLER_KEY, TEST_TOKEN } from '../helpers/gateway.js';
import { jwtEnv, makeKey, startJwksServer } from '../helpers/jwks-server.js';
import { residentMb } from '../helpers/proc-memory.js';
import { until } from '../helpers/prometheus.js';
import { killServerProcesses, startServerProcess } from '../helpers/server-process.js';

let sim: SimUpstream;
beforeAll(async () => {
  sim = await startSimUpstream({ token: TEST_TOKEN });
});
afterAll(async () => {
  killServerProcesses();
  await sim.close();
});

describe('a 300 MB JWKS', () => {
  it('is refused as too large, and the gateway stays under 300 MB of RSS', { timeout: 60_000 }, async () => {
    const jwks = await startJwksServer([await makeKey('rsa-1')], 300e6);
    jwks.setMode('huge');
    try {
      const gw = await startServerProcess({
        upstreamUrl: sim.url,
        env: { ...jwtEnv(jwks), API_KEYS: `acme:${CALLER_KEY}` },
      });
      const pid = gw.child.pid!;
      let reason: unknown;
      await until(async () => {
        const ready = (await (await fetch(`${gw.base}/readyz`)).json()) as { checks?: { jwks?: unknown } };
        reason = ready.checks?.jwks;
        return typeof reason === 'string' && reason !== 'ok';
      }, 20_000);
      const { rss, peak } = residentMb(pid);
      console.log(
        `gateway with a 300 MB JWKS: RSS ${rss.toFixed(0)} MB, peak ${peak.toFixed(0)} MB (${reason})`,
      );
      expect(peak).toBeLessThan(300);
      expect(reason).toContain(`more than ${JWKS_MAX_BYTES} bytes`);
      // Key callers are unaffected.
      const res = await fetch(`${gw.base}/v1/authors/a1/spread-info`, {
        headers: { 'x-api-key': CALLER_KEY },
      });
      expect(res.status).toBe(200);
    } finally {
      await jwks.close();
    }
  });
});

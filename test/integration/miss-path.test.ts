// The Redis work of a miss, counted on a Redis of its own (INFO commandstats and MONITOR see only
// this file's gateway): scripts go by SHA once loaded, never their text on every miss, and a miss
// sends a bounded number of commands in a bounded number of round trips.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CALLER_KEY, type Gateway, startGateway } from '../helpers/gateway.js';
import { redisClient } from '../helpers/redis.js';
import { hasBinary, type RedisProcess, startRedisServer } from '../helpers/redis-server.js';

describe.skipIf(!hasBinary('redis-server'))('a miss against Redis', () => {
  let srv: RedisProcess;
  let gw: Gateway;
  beforeAll(async () => {
    srv = await startRedisServer();
    gw = await startGateway({ env: { API_KEYS: `svc:${CALLER_KEY}`, REDIS_URL: srv.url } });
  });
  afterAll(async () => {
    await gw?.close();
    await srv?.stop();
  });

  const miss = async (id: string) => {
    const res = await gw.get(`/v1/authors/${id}/spread-info`, { 'x-api-key': CALLER_KEY });
    expect(res.headers.get('x-cache')).toBe('MISS');
  };

  const calls = async () => {
    const r = redisClient(srv.url);
    try {
      const out = new Map<string, number>();
      for (const m of (await r.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm))
        out.set(m[1]!, Number(m[2]));
      return out;
    } finally {
      r.disconnect();
    }
  };

  it('sends its scripts by SHA: their text only the first time on a connection', async () => {
    for (let i = 0; i < 3; i++) await miss(`sha-warm-${i}`);
    const before = await calls();
    for (let i = 0; i < 10; i++) await miss(`sha-${i}`);
    const after = await calls();
    // A script used for the first time on a connection meanwhile (a periodic one) may go as text.
    expect((after.get('eval') ?? 0) - (before.get('eval') ?? 0)).toBeLessThanOrEqual(3);
    // The lease release and the governor's gate at least, once per miss each.
    expect((after.get('evalsha') ?? 0) - (before.get('evalsha') ?? 0)).toBeGreaterThanOrEqual(20);
  });

  it('sends at most 8 commands of its own per miss, the release publishing by itself', async () => {
    for (let i = 0; i < 3; i++) await miss(`count-warm-${i}`);
    const monitor = await redisClient(srv.url).monitor();
    const sent: string[] = [];
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (source !== 'lua') sent.push(String(args[0]).toLowerCase());
    });
    try {
      for (let i = 0; i < 10; i++) await miss(`count-${i}`);
      await new Promise((r) => setTimeout(r, 200)); // MONITOR lines trail the replies
    } finally {
      monitor.disconnect();
    }
    // GET; lease SET NX with a fresh GET; the governor's gate and record; the entry's SET with the
    // release: 7 (in 4 round trips). The once-a-second work (usage counts, the governor's status
    // read) may add a few.
    const own = sent.filter((c) => !['hincrby', 'multi', 'exec', 'pexpire', 'info'].includes(c));
    expect(own.length).toBeLessThanOrEqual(10 * 8);
    expect(own.filter((c) => c === 'publish')).toEqual([]); // published by the release script
  });
});

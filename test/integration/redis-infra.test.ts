import type { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { describeCluster, redisClient, redisClusterClient, uniquePrefix } from '../helpers/redis.js';
import { hasBinary, type RedisProcess, startRedisServer } from '../helpers/redis-server.js';

describe('shared single Redis', () => {
  const client = redisClient();
  const prefix = uniquePrefix('infra');
  afterAll(async () => {
    await client.del(`${prefix}k`);
    client.disconnect();
  });

  it('answers PING and SET/GET', async () => {
    expect(await client.ping()).toBe('PONG');
    await client.set(`${prefix}k`, 'v', 'EX', 60);
    expect(await client.get(`${prefix}k`)).toBe('v');
  });
});

// Fault drills need a redis-server we own; a REDIS_URL/Testcontainers-only host cannot stop its Redis.
const noBinary = !hasBinary('redis-server');
if (noBinary) console.log('[redis] fault drill skipped: redis-server not on PATH');

describe.skipIf(noBinary)('startRedisServer fault drill', () => {
  let srv: RedisProcess | undefined;
  let client: Redis | undefined;
  afterAll(async () => {
    client?.disconnect();
    await srv?.stop();
  });

  it('stops (clients fail) and restarts on the same port (clients reconnect)', async () => {
    srv = await startRedisServer();
    const { port } = srv;
    const firstPid = srv.pid;
    // Fast, bounded reconnects so the drill stays well inside the file's time budget.
    client = redisClient(srv.url, { retryStrategy: () => 100 });
    client.on('error', () => {});
    expect(await client.ping()).toBe('PONG');

    await srv.stop();
    expect(() => process.kill(firstPid, 0)).toThrow();
    await expect(client.ping()).rejects.toThrow();
    const fresh = redisClient(srv.url, { retryStrategy: () => null });
    fresh.on('error', () => {});
    await expect(fresh.ping()).rejects.toThrow();
    fresh.disconnect();

    await srv.restart();
    expect(srv.port).toBe(port);
    expect(srv.pid).not.toBe(firstPid);
    const c = client;
    await vi.waitFor(async () => expect(await c.ping()).toBe('PONG'), { timeout: 5_000, interval: 100 });
    await c.set('after-restart', '1');
    expect(await c.get('after-restart')).toBe('1');
  });
});

async function countKeys(node: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [next, found] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    n += found.length;
  } while (cursor !== '0');
  return n;
}

describeCluster('local Redis Cluster', () => {
  // Suite bodies run even when skipped, so the client is only created in a hook.
  let cluster: Cluster;
  beforeAll(() => {
    cluster = redisClusterClient();
  });
  const prefix = uniquePrefix('cluster');
  const keys = Array.from({ length: 24 }, (_, i) => `${prefix}${i}`);
  afterAll(async () => {
    await Promise.all(keys.map((k) => cluster.del(k)));
    cluster.disconnect();
  });

  it('reports cluster_state:ok on every master', async () => {
    await cluster.ping();
    const masters = cluster.nodes('master');
    expect(masters.length).toBeGreaterThanOrEqual(3);
    for (const node of masters) expect(await node.cluster('INFO')).toMatch(/cluster_state:ok/);
  });

  it('SET/GETs keys that land on different slots and masters', async () => {
    for (const k of keys) await cluster.set(k, k, 'EX', 60);
    for (const k of keys) expect(await cluster.get(k)).toBe(k);

    const slots = new Set(await Promise.all(keys.map((k) => cluster.cluster('KEYSLOT', k))));
    expect(slots.size).toBeGreaterThan(1);
    const holders = await Promise.all(cluster.nodes('master').map((node) => countKeys(node, prefix)));
    expect(holders.filter((n) => n > 0).length).toBeGreaterThan(1);
    expect(holders.reduce((a, b) => a + b, 0)).toBe(keys.length);
  });
});

import { randomBytes } from 'node:crypto';
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import { describe, inject } from 'vitest';

/** URL of the shared single Redis chosen by global setup. Shared across files: isolate by key prefix. */
export function testRedisUrl(): string {
  return inject('redisUrl');
}

/** 'host:port' seeds of the shared cluster, or null when cluster tests must be skipped. */
export function testClusterNodes(): string[] | null {
  const raw = inject('redisClusterNodes');
  const nodes = raw
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return nodes?.length ? nodes : null;
}

/** Nothing is flushed globally, so every test owns the keys under its own prefix. */
export function uniquePrefix(label: string): string {
  return `t:${label}:${randomBytes(6).toString('hex')}:`;
}

/** A test's own client. Connection errors reject its commands; they are not also printed as unhandled. */
export function redisClient(url: string = testRedisUrl(), opts: RedisOptions = {}): Redis {
  const client = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1, ...opts });
  client.on('error', () => {});
  return client;
}

export function redisClusterClient(opts: ClusterOptions = {}): Cluster {
  const nodes = testClusterNodes();
  if (!nodes) throw new Error('no Redis cluster available (guard the suite with describeCluster)');
  const seeds = nodes.map((n) => {
    const i = n.lastIndexOf(':');
    return { host: n.slice(0, i), port: Number(n.slice(i + 1)) };
  });
  return new Cluster(seeds, { ...opts, redisOptions: { maxRetriesPerRequest: 1, ...opts.redisOptions } });
}

/** `describe` for cluster-only suites: skipped (global setup printed why) when there is no cluster. */
export const describeCluster = describe.skipIf(testClusterNodes() === null);

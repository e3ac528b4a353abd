import type { TestProject } from 'vitest/node';
import { startRedisCluster } from './redis-cluster.js';
import { hasBinary, startRedisServer } from './redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    redisClusterNodes: string | null;
  }
}

interface Chosen {
  url: string;
  label: string;
  stop: () => Promise<void>;
}

const DOCKER_PROBE_MS = 3_000;
const HOW_TO_GET_REDIS =
  'No Redis available for the test suite. Do one of: set REDIS_URL=redis://host:port; ' +
  'run a Docker engine (Testcontainers starts redis:7-alpine); or install redis-server on PATH ' +
  '(e.g. `apt-get install -y redis-server`, `brew install redis`).';

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Null when no engine answers quickly: without Docker this must cost well under a second. */
async function fromTestcontainers(): Promise<Chosen | null> {
  const tc = await import('testcontainers');
  try {
    await withTimeout(tc.getContainerRuntimeClient(), DOCKER_PROBE_MS, 'container runtime probe');
  } catch {
    return null;
  }
  try {
    const container = await new tc.GenericContainer('redis:7-alpine')
      .withExposedPorts(6379)
      .withWaitStrategy(tc.Wait.forLogMessage('Ready to accept connections'))
      .start();
    const url = `redis://${container.getHost()}:${container.getMappedPort(6379)}`;
    return {
      url,
      label: `testcontainers redis:7-alpine at ${url}`,
      stop: async () => void (await container.stop()),
    };
  } catch (err) {
    // An engine that answers but cannot pull/run the image should not block the binary fallback.
    console.warn(`[redis] Testcontainers failed (${(err as Error).message}); trying redis-server`);
    return null;
  }
}

async function chooseSingle(): Promise<Chosen> {
  const envUrl = process.env['REDIS_URL'];
  if (envUrl) return { url: envUrl, label: `REDIS_URL ${envUrl}`, stop: async () => {} };
  const viaDocker = await fromTestcontainers();
  if (viaDocker) return viaDocker;
  if (hasBinary('redis-server')) {
    const srv = await startRedisServer();
    return { url: srv.url, label: `redis-server binary at ${srv.url} (pid ${srv.pid})`, stop: srv.stop };
  }
  throw new Error(HOW_TO_GET_REDIS);
}

async function chooseCluster(): Promise<{ nodes: string | null; stop: () => Promise<void> }> {
  const envNodes = process.env['REDIS_CLUSTER_NODES']?.trim();
  if (envNodes) {
    console.log(`[redis] cluster: REDIS_CLUSTER_NODES ${envNodes}`);
    return { nodes: envNodes, stop: async () => {} };
  }
  const t0 = Date.now();
  try {
    const cluster = await startRedisCluster();
    console.log(`[redis] cluster: 3 local masters ${cluster.nodes.join(',')} (${Date.now() - t0} ms)`);
    return { nodes: cluster.nodes.join(','), stop: cluster.stop };
  } catch (err) {
    // CI must run the cluster suites (issue: single Redis AND cluster); a laptop may skip them.
    if (process.env['REQUIRE_REDIS_CLUSTER'] === '1') {
      throw new Error(
        `REQUIRE_REDIS_CLUSTER=1 but no Redis Cluster could be started: ${(err as Error).message}`,
      );
    }
    console.log(
      `[redis] cluster: UNAVAILABLE, cluster tests will be skipped: ${(err as Error).message}. ` +
        'Install redis-server + redis-cli (e.g. `apt-get install -y redis-server`) or set REDIS_CLUSTER_NODES.',
    );
    return { nodes: null, stop: async () => {} };
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const t0 = Date.now();
  const single = await chooseSingle();
  console.log(`[redis] single: ${single.label} (${Date.now() - t0} ms)`);
  const cluster = await chooseCluster();

  project.provide('redisUrl', single.url);
  project.provide('redisClusterNodes', cluster.nodes);

  return async () => {
    await Promise.allSettled([cluster.stop(), single.stop()]);
  };
}

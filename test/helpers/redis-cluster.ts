import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { hasBinary, isPortFree, type RedisProcess, startRedisServer } from './redis-server.js';

const run = promisify(execFile);

export interface RedisCluster {
  /** 'host:port' seeds, one per master. */
  nodes: string[];
  stop(): Promise<void>;
}

const MASTERS = 3;
const READY_TIMEOUT_MS = 20_000;
// Redis derives each node's cluster-bus port as port + 10000 (cluster-port only exists from 7.0).
const BUS_OFFSET = 10_000;

/** Ports whose bus port is also free and <= 65535, which an OS-assigned ephemeral port may not be. */
async function clusterPorts(count: number): Promise<number[]> {
  const picked: number[] = [];
  const reserved = new Set<number>();
  for (let tries = 0; picked.length < count && tries < 500; tries++) {
    const p = 20_000 + Math.floor(Math.random() * 30_000);
    if (reserved.has(p) || reserved.has(p + BUS_OFFSET)) continue;
    if ((await isPortFree(p)) && (await isPortFree(p + BUS_OFFSET))) {
      picked.push(p);
      reserved.add(p).add(p + BUS_OFFSET);
    }
  }
  if (picked.length < count) throw new Error('could not find free loopback ports for the cluster');
  return picked;
}

async function clusterState(port: number): Promise<string> {
  try {
    const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'cluster', 'info'], {
      timeout: 2_000,
    });
    return /cluster_state:(\w+)/.exec(stdout)?.[1] ?? 'unknown';
  } catch (err) {
    return `error: ${(err as Error).message}`;
  }
}

/**
 * Starts a throwaway 3-master cluster on loopback. Throws (after cleaning up) with the reason
 * when redis-server/redis-cli are missing or the cluster does not converge in time.
 */
export async function startRedisCluster(): Promise<RedisCluster> {
  const missing = ['redis-server', 'redis-cli'].filter((b) => !hasBinary(b));
  if (missing.length) throw new Error(`${missing.join(' and ')} not on PATH`);

  const servers: RedisProcess[] = [];
  const stop = async () => {
    await Promise.allSettled(servers.map((s) => s.stop()));
  };
  try {
    const ports = await clusterPorts(MASTERS);
    const started = await Promise.allSettled(ports.map((port) => startRedisServer({ port, cluster: true })));
    for (const r of started) if (r.status === 'fulfilled') servers.push(r.value);
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;

    const nodes = servers.map((s) => `127.0.0.1:${s.port}`);
    const args = ['--cluster', 'create', ...nodes, '--cluster-replicas', '0', '--cluster-yes'];
    try {
      await run('redis-cli', args, { timeout: 15_000 });
    } catch (err) {
      const e = err as Error & { stdout?: string; stderr?: string };
      throw new Error(`redis-cli --cluster create failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    }

    const deadline = Date.now() + READY_TIMEOUT_MS;
    let states: string[] = [];
    while (Date.now() < deadline) {
      states = await Promise.all(servers.map((s) => clusterState(s.port)));
      if (states.every((s) => s === 'ok')) return { nodes, stop };
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(
      `cluster not ok after ${READY_TIMEOUT_MS} ms: ${nodes.map((n, i) => `${n}=${states[i]}`)}`,
    );
  } catch (err) {
    await stop();
    throw err;
  }
}

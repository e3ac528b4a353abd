// One Redis connection (single node or Cluster) set up to fail fast: no offline queue, short
// connect and command timeouts, one retry. A Redis outage must turn into "Redis down" at once,
// never into a request that hangs. Reconnection goes on in the background forever.
import { EventEmitter } from 'node:events';
import type { FastifyBaseLogger } from 'fastify';
import { Cluster, Redis, type RedisOptions } from 'ioredis';

export type RedisClient = Redis | Cluster;

export interface RedisTarget {
  url?: string | undefined;
  clusterNodes?: string[] | undefined;
}

const FAIL_FAST: RedisOptions = {
  enableOfflineQueue: false,
  connectTimeout: 2000,
  commandTimeout: 1000,
  maxRetriesPerRequest: 1,
  // Reconnect forever, at most every 2 s: Redis coming back must be noticed without a restart.
  retryStrategy: (times) => Math.min(100 * times, 2000),
  // ioredis's auto-pipelining batches commands issued in one tick: fewer syscalls on the hot path.
  enableAutoPipelining: true,
};

/**
 * A subscriber only listens, so it may queue its SUBSCRIBE until connected (and ioredis
 * re-subscribes after every reconnect); commands on the normal client never queue.
 */
export const SUBSCRIBER: RedisOptions = {
  enableOfflineQueue: true,
  maxRetriesPerRequest: null,
  commandTimeout: undefined,
};

export function createRedisClient(target: RedisTarget, extra: RedisOptions = {}): RedisClient {
  if (target.clusterNodes?.length) {
    const nodes = target.clusterNodes.map((hp) => {
      const i = hp.lastIndexOf(':');
      return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) };
    });
    return new Cluster(nodes, {
      enableOfflineQueue: extra.enableOfflineQueue ?? false,
      enableAutoPipelining: true,
      clusterRetryStrategy: (times) => Math.min(100 * times, 2000),
      redisOptions: { ...FAIL_FAST, ...extra },
      slotsRefreshTimeout: 2000,
    });
  }
  if (!target.url) throw new Error('no Redis target');
  return new Redis(target.url, { ...FAIL_FAST, ...extra });
}

/**
 * A client plus its up/down state. `up` is what every caller checks before using Redis; a change
 * is logged once (not per request) and emitted as 'up' / 'down'.
 */
export class RedisConnection extends EventEmitter {
  readonly client: RedisClient;
  private isUp = false;
  private closing = false;
  /** When the current connection became ready (epoch ms): anything remembered before may be gone from Redis. */
  upSince = 0;

  constructor(
    readonly target: RedisTarget,
    private readonly log: FastifyBaseLogger,
    readonly role = 'cache',
    extra: RedisOptions = {},
  ) {
    super();
    this.client = createRedisClient(target, extra);
    this.client.on('ready', () => this.setUp(true));
    this.client.on('end', () => this.setUp(false));
    this.client.on('close', () => this.setUp(false));
    // Without a listener ioredis prints every connection error; the state change is logged once.
    this.client.on('error', () => this.setUp(false));
  }

  get up(): boolean {
    return this.isUp && this.client.status === 'ready';
  }

  /** Waits (bounded) for the first connection. Resolves either way: the caller reads `up`. */
  async waitReady(timeoutMs = 3000): Promise<boolean> {
    if (this.up) return true;
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, timeoutMs);
      this.once('up', done);
      function done() {
        clearTimeout(t);
        resolve();
      }
    });
    if (!this.up)
      this.log.warn(
        { redis: this.role },
        'Redis not reachable at start-up; using in-process fallbacks until it is',
      );
    return this.up;
  }

  private setUp(up: boolean): void {
    if (up === this.isUp) return;
    this.isUp = up;
    if (up) this.upSince = Date.now();
    if (this.closing) return;
    if (up) this.log.info({ redis: this.role }, 'Redis connection up');
    else this.log.error({ redis: this.role }, 'Redis connection down; using in-process fallbacks');
    this.emit(up ? 'up' : 'down');
  }

  async close(): Promise<void> {
    this.closing = true;
    this.removeAllListeners('up');
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }
}

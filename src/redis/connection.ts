// One Redis connection (single node or Cluster) set up to fail fast: no offline queue, short
// connect and command timeouts, one retry. A Redis outage must turn into "Redis down" at once,
// never into a request that hangs. Reconnection goes on in the background forever. A Redis that
// keeps its connections open but stops answering (a long fork, a failover's silent old address,
// packet loss) is down too: a PING with its own short deadline tells (STALL_DEADLINE_MS, 1 s).
import { EventEmitter } from 'node:events';
import type { FastifyBaseLogger } from 'fastify';
import { Cluster, type Command, Redis, type RedisOptions } from 'ioredis';

export type RedisClient = Redis | Cluster;

export interface RedisTarget {
  url?: string | undefined;
  clusterNodes?: string[] | undefined;
}

/** How often the connection is probed, and how long a PING may go unanswered before Redis is down. */
const PROBE_EVERY_MS = 250;
const STALL_DEADLINE_MS = 1000;

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
  /** The connection is open but Redis did not answer the last PING within STALL_DEADLINE_MS. */
  private stalled = false;
  /** When the PING under way was sent (0: none). */
  private pingSentAt = 0;
  private readonly probe: NodeJS.Timeout;
  private readonly stallDeadlineMs: number;
  /** When the current connection became ready (epoch ms): anything remembered before may be gone from Redis. */
  upSince = 0;

  constructor(
    readonly target: RedisTarget,
    private readonly log: FastifyBaseLogger,
    readonly role = 'cache',
    extra: RedisOptions = {},
    opts: { probeEveryMs?: number; stallDeadlineMs?: number } = {},
  ) {
    super();
    this.client = createRedisClient(target, extra);
    this.stallDeadlineMs = opts.stallDeadlineMs ?? STALL_DEADLINE_MS;
    this.client.on('ready', () => {
      const wasUp = this.isUp && !this.stalled;
      this.stalled = false; // a new connection
      this.pingSentAt = 0;
      this.isUp = true;
      if (!wasUp) this.emitChange(true, 'connected');
    });
    this.client.on('end', () => this.setDown());
    this.client.on('close', () => this.setDown());
    // Without a listener ioredis prints every connection error; the state change is logged once.
    this.client.on('error', () => this.setDown());
    this.probe = setInterval(() => this.checkStall(), opts.probeEveryMs ?? PROBE_EVERY_MS).unref();
    this.watchTimeouts();
  }

  /**
   * A command that times out tells as much as an unanswered PING, and sooner: without this, one
   * request could wait out several command timeouts in a row before the PING's deadline passed.
   */
  private watchTimeouts(): void {
    const client = this.client as unknown as {
      sendCommand: (command: Command, ...rest: unknown[]) => unknown;
    };
    const send = client.sendCommand.bind(client);
    client.sendCommand = (command, ...rest) => {
      const sent = send(command, ...rest);
      command.promise.catch((err: unknown) => {
        if (err instanceof Error && err.message === 'Command timed out')
          this.declareStall('a command timed out');
      });
      return sent;
    };
  }

  private declareStall(why: string): void {
    if (this.stalled || this.closing || !this.isUp) return;
    this.stalled = true;
    this.emitChange(false, why);
  }

  get up(): boolean {
    return this.isUp && !this.stalled && this.client.status === 'ready';
  }

  /**
   * One PING at a time. Unanswered past its deadline: Redis is down (every user of the connection
   * switches to its in-process path at once, no request waits on it). Answered again: up.
   */
  private checkStall(): void {
    if (this.closing || !this.isUp || this.client.status !== 'ready') return;
    const now = Date.now();
    if (this.pingSentAt > 0) {
      const sent = this.pingSentAt;
      if (this.stalled || now - sent <= this.stallDeadlineMs) return;
      // After this loop's I/O: a busy event loop runs timers before it reads a PONG already here.
      setImmediate(() => {
        if (this.pingSentAt === sent)
          this.declareStall(`no answer to PING within ${this.stallDeadlineMs} ms`);
      });
      return;
    }
    this.pingSentAt = now;
    this.client.ping().then(
      () => {
        this.pingSentAt = 0;
        if (this.stalled && !this.closing) {
          this.stalled = false;
          this.emitChange(true, 'Redis answers again');
        }
      },
      () => {
        this.pingSentAt = 0; // timed out or refused: the next tick sends another
      },
    );
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

  private setDown(): void {
    if (!this.isUp) return;
    this.isUp = false;
    // A stalled connection that closes was already reported down.
    if (!this.stalled) this.emitChange(false, 'connection lost');
  }

  private emitChange(up: boolean, why: string): void {
    // Anything remembered before may be gone from Redis (a restart, or a stall that ended in one).
    if (up) this.upSince = Date.now();
    if (this.closing) return;
    if (up) this.log.info({ redis: this.role, why }, 'Redis connection up');
    else this.log.error({ redis: this.role, why }, 'Redis connection down; using in-process fallbacks');
    this.emit(up ? 'up' : 'down');
  }

  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.probe);
    this.removeAllListeners('up');
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }
}

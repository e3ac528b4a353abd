// Redis commands executed, from INFO commandstats: the server's own count, so nothing the
// gateway does (pipelined, scripted or retried) escapes it.
import { Redis } from 'ioredis';

export type CommandCounts = Map<string, number>;

/** The bench's own snapshots are INFO commands; the gateway sends INFO only when it connects. */
const OURS = new Set(['info']);

export class RedisStats {
  private readonly client: Redis;

  constructor(url: string) {
    this.client = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1 });
  }

  async snapshot(): Promise<CommandCounts> {
    const text = await this.client.info('commandstats');
    const counts: CommandCounts = new Map();
    for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) counts.set(m[1]!, Number(m[2]));
    return counts;
  }

  /** Calls per command between two snapshots, without the bench's own. */
  static delta(before: CommandCounts, after: CommandCounts): Map<string, number> {
    const out = new Map<string, number>();
    for (const [name, n] of after) {
      const d = n - (before.get(name) ?? 0);
      if (d > 0 && !OURS.has(name)) out.set(name, d);
    }
    return out;
  }

  static total(delta: Map<string, number>): number {
    let sum = 0;
    for (const n of delta.values()) sum += n;
    return sum;
  }

  /** "get 1000, set 20": what a reader needs to see where the commands went. */
  static describe(delta: Map<string, number>, per = 1): string {
    const parts = [...delta].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${fmt(n / per)}`);
    return parts.length ? parts.join(', ') : 'none';
  }

  /**
   * Commands seen by MONITOR while `fn` runs, split into those a client sent (round trips) and
   * those a Lua script ran: commandstats counts both alike, so an EVALSHA running INCR and PTTL
   * looks like three commands there. MONITOR slows Redis, so throughput runs never use it.
   */
  async monitor(
    fn: () => Promise<unknown>,
  ): Promise<{ sent: Map<string, number>; inScripts: Map<string, number> }> {
    const sent = new Map<string, number>();
    const inScripts = new Map<string, number>();
    const m = await this.client.monitor();
    m.on('monitor', (_time: string, args: string[], source: string) => {
      const name = String(args[0]).toLowerCase();
      const into = source === 'lua' ? inScripts : sent;
      into.set(name, (into.get(name) ?? 0) + 1);
    });
    try {
      await fn();
      // MONITOR lines trail the replies the load generator already read.
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      m.disconnect();
    }
    for (const own of OURS) sent.delete(own);
    return { sent, inScripts };
  }

  /** The bench's own connection, for preloading entries. */
  get raw(): Redis {
    return this.client;
  }

  async usedMemoryMiB(): Promise<number> {
    const m = /used_memory:(\d+)/.exec(await this.client.info('memory'));
    return m ? Number(m[1]) / 1048576 : Number.NaN;
  }

  async close(): Promise<void> {
    await this.client.quit();
  }
}

const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(n < 0.01 ? 4 : 2));

// Load generation: autocannon for throughput, and a one-at-a-time undici client for latencies that
// need microseconds (autocannon's histogram has 1 ms resolution).
import autocannon, { type Options, type Result } from 'autocannon';
import { Pool } from 'undici';

export interface LoadFigures {
  rps: number;
  p50: number;
  p99: number;
  meanMs: number;
  total: number;
  /** Non-2xx answers, errors and timeouts: a measurement with any of these is not a hit-path one. */
  bad: number;
}

export async function load(opts: Options): Promise<LoadFigures> {
  const r: Result = await autocannon({ timeout: 10, ...opts });
  return {
    // Completed requests over the run's real duration: autocannon's per-second average drops the
    // last partial second, which matters for the short interleaved slices.
    rps: r.requests.total / r.duration,
    p50: r.latency.p50,
    p99: r.latency.p99,
    meanMs: r.latency.average,
    total: r.requests.total,
    bad: r.non2xx + r.errors + r.timeouts,
  };
}

export interface Timed {
  status: number;
  ms: number;
  body: string;
}

/** A keep-alive client with one connection per origin: sequential requests, timed with performance.now(). */
export class TimedClient {
  private readonly pools = new Map<string, Pool>();

  async get(origin: string, path: string, headers: Record<string, string> = {}): Promise<Timed> {
    let pool = this.pools.get(origin);
    if (!pool) {
      pool = new Pool(origin, { connections: 1 });
      this.pools.set(origin, pool);
    }
    const started = performance.now();
    const res = await pool.request({ method: 'GET', path, headers });
    const body = await res.body.text();
    return { status: res.statusCode, ms: performance.now() - started, body };
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close()));
  }
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? Number.NaN;
}

export const sortNumbers = (xs: number[]) => [...xs].sort((a, b) => a - b);

// The bench's output: one row per figure, each with its target (if the issue sets one) and
// whether this run met it. Printed as a plain-text table that pastes into Markdown as is.

import type { SimUpstream } from '../../src/sim/upstream-server.js';
import type { RedisProcess } from '../../test/helpers/redis-server.js';
import type { Runner } from './gateway.js';
import type { RedisStats } from './redis-stats.js';

export interface Row {
  measure: string;
  result: string;
  target?: string;
  /** undefined: no target, the figure is reported for information. */
  met?: boolean;
}

/** Everything a scenario needs; each scenario starts and stops its own gateways. */
export interface Ctx {
  runner: Runner;
  redis: RedisProcess;
  stats: RedisStats;
  /** A zero-delay simulated upstream in this process (its latency is the miss baseline). */
  sim: SimUpstream;
  quick: boolean;
  /** Seconds per throughput figure (split into `rounds` interleaved slices), and its unmeasured warm-up. */
  seconds: number;
  rounds: number;
  warmup: number;
  connections: number;
  /** Unique per run, so author ids never collide with a previous run's keys. */
  runId: string;
  rows: Row[];
  /** `--soak=N`: requests in the soak's measured part, for a longer leak hunt than the default. */
  soakRequests?: number;
  /** Extra node flags for the gateway under hit load (e.g. --cpu-prof). */
  nodeArgs: string[];
}

export const int = (n: number) => Math.round(n).toLocaleString('en-US');
export const ms = (n: number, digits = 2) => `${n.toFixed(digits)} ms`;
export const mib = (n: number) => `${n.toFixed(1)} MiB`;

export function printTable(rows: Row[]): void {
  const head: Row = { measure: 'measure', result: 'result', target: 'target', met: undefined };
  const cells = [head, ...rows].map((r, i) => [
    r.measure,
    r.result,
    r.target ?? '',
    i === 0 ? 'met' : r.met === undefined ? '' : r.met ? 'yes' : 'NO',
  ]);
  const widths = [0, 1, 2, 3].map((c) => Math.max(...cells.map((row) => (row[c] ?? '').length)));
  const line = (row: string[]) => `| ${row.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join(' | ')} |`;
  console.log(line(cells[0]!));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const row of cells.slice(1)) console.log(line(row));
}

// `npm run bench [-- --quick] [--tsx] [--cpu-prof] [--only=hit,limiter,miss,...] [--soak=N]`: every figure of
// issue 6's "Speed" part and the soak of "No leaks", measured in one run on this machine, on
// loopback only. It starts Redis, a simulated upstream and the gateways itself, stops them when
// done, and stops by itself (a watchdog ends a run that overstays).
import { randomBytes } from 'node:crypto';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimUpstream } from '../src/sim/upstream-server.js';
import { startRedisServer } from '../test/helpers/redis-server.js';
import './lib/children.js';
import { prepareRunner } from './lib/gateway.js';
import { RedisStats } from './lib/redis-stats.js';
import { type Ctx, printTable, type Row } from './lib/report.js';
import { coalesceScenario } from './scenarios/coalesce.js';
import { hitScenario } from './scenarios/hit.js';
import { limiterScenario } from './scenarios/limiter.js';
import { memoryScenario } from './scenarios/memory.js';
import { missScenario } from './scenarios/miss.js';
import { soakScenario } from './scenarios/soak.js';

const SCENARIOS = {
  hit: hitScenario,
  limiter: limiterScenario,
  miss: missScenario,
  coalesce: coalesceScenario,
  memory: memoryScenario,
  soak: soakScenario,
} as const;
type Name = keyof typeof SCENARIOS;

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const quick = flag('quick');
const soakArg = args.find((a) => a.startsWith('--soak='))?.slice('--soak='.length);
const onlyArg = args.find((a) => a.startsWith('--only='))?.slice('--only='.length);
const only = (onlyArg ? onlyArg.split(',') : Object.keys(SCENARIOS)) as Name[];
for (const n of only) if (!(n in SCENARIOS)) throw new Error(`unknown scenario "${n}" in --only`);
if (soakArg !== undefined && !/^[1-9]\d*$/.test(soakArg))
  throw new Error('--soak=N: N must be a positive integer');

// The whole run must end on its own even if a child hangs: children die with us ('exit' hook).
// A longer soak asked for with --soak=N gets time for it (at a pessimistic 2000 req/s).
const WATCHDOG_S = (quick ? 150 : 360) + (soakArg ? Number(soakArg) / 2000 : 0);
setTimeout(() => {
  process.stderr.write(`bench: still running after ${WATCHDOG_S} s; giving up\n`);
  process.exit(1);
}, WATCHDOG_S * 1000).unref();

// Outside the repository, so a profiling run leaves nothing to commit by mistake.
const PROFILES = join(tmpdir(), 'xtg-bench-profiles');

async function main(): Promise<void> {
  const started = performance.now();
  const load0 = loadavg()[0]!;
  const runner = prepareRunner(flag('tsx'));
  const redis = await startRedisServer();
  const stats = new RedisStats(redis.url);
  const sim = await startSimUpstream({ delayMs: 0, keepCalls: 10_000 });
  const rows: Row[] = [];
  const ctx: Ctx = {
    runner,
    redis,
    stats,
    sim,
    quick,
    seconds: quick ? 3 : 10,
    rounds: quick ? 3 : 10,
    warmup: quick ? 1 : 2,
    connections: 32,
    runId: randomBytes(3).toString('hex'),
    rows,
    ...(soakArg ? { soakRequests: Number(soakArg) } : {}),
    nodeArgs: flag('cpu-prof') ? ['--cpu-prof', `--cpu-prof-dir=${PROFILES}`] : [],
  };
  try {
    for (const name of only) {
      const t = performance.now();
      process.stderr.write(`bench: ${name}...`);
      await SCENARIOS[name](ctx);
      process.stderr.write(` ${((performance.now() - t) / 1000).toFixed(1)} s\n`);
    }
  } finally {
    await sim.close();
    await stats.close();
    await redis.stop();
  }

  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  console.log(
    `\nxingtu-metrics-gateway bench, ${new Date().toISOString()}${quick ? ' (--quick)' : ''}\n` +
      `machine: ${availableParallelism()} cores (${cpu}), Node ${process.version}, ${process.platform}\n` +
      `gateway: ${runner.label}; load: autocannon, ${ctx.connections} connections, ` +
      `${ctx.warmup} s warm-up + ${ctx.seconds} s per throughput figure in ${ctx.rounds} interleaved slices\n` +
      `load average (1 min) at start ${load0.toFixed(2)}, at end ${loadavg()[0]!.toFixed(2)}: ` +
      'this machine is shared, figures move with what else runs\n',
  );
  printTable(rows);
  if (flag('cpu-prof'))
    console.log(`\nCPU profiles of the cache-hit and miss gateways written to ${PROFILES}`);
  const failed = rows.filter((r) => r.met === false).length;
  console.log(
    `\n${rows.filter((r) => r.met !== undefined).length - failed} targets met, ${failed} missed; ` +
      `total ${((performance.now() - started) / 1000).toFixed(0)} s`,
  );
}

main().then(
  // autocannon and undici may keep sockets in their pools: end explicitly rather than wait on them.
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(
      `\nbench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);

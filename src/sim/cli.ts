// Standalone simulated upstream for manual testing: `tsx src/sim/cli.ts` (or `node dist/sim/cli.js`),
// then point JUSTONEAPI_BASE_URL at the printed URL. A dev tool, so it reads process.env itself.
import { CATALOGUE } from '../catalogue/index.js';
import { UPSTREAM_PATH } from '../upstream/params.js';
import { type SimUpstream, startSimUpstream } from './upstream-server.js';

function intFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`${name}: expected a non-negative integer, got "${raw}"`);
    process.exit(1);
  }
  return n;
}

const port = intFromEnv('SIM_PORT', 4010);
const delayMs = intFromEnv('SIM_DELAY_MS', 0);
const host = process.env['SIM_HOST'] || '127.0.0.1';
const token = process.env['SIM_TOKEN'] || undefined;

// Registered before listening, so a signal during start-up also ends the process cleanly.
let sim: SimUpstream | undefined;
let stopping = false;
const stop = (signal: NodeJS.Signals) => {
  if (stopping) return;
  stopping = true;
  if (!sim) process.exit(0);
  console.log(`${signal}: closing after ${sim.callCount} calls (${sim.billedCount} billed)`);
  sim.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);

// Bounded call log: this process may run for days under a demo or a benchmark.
sim = await startSimUpstream({ host, port, delayMs, token, keepCalls: 10_000 });
console.log(`simulated upstream listening on ${sim.url}`);
console.log(
  `  try: curl '${sim.url}${UPSTREAM_PATH}?token=${token ? '<SIM_TOKEN>' : 'any'}&oAuthorId=7012345678901234567'`,
);
console.log(
  `  every catalogued path is served (${CATALOGUE.size}), e.g. ${sim.url}${CATALOGUE.get('get_author_base_info').upstreamPath}`,
);
console.log(
  '  special subject id prefixes (oAuthorId, kolId, itemId, keyword…): notfound, code<N>, slow<ms>, malformed, http<status>, hang, reset, flaky301',
);

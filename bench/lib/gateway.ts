// Starts the real gateway (and the bare ceiling server) as separate processes on loopback, each
// configured only through its environment, as `npm start` would be.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../test/helpers/redis-server.js';
import { dirWithoutDotEnv, SERVER_FROM_SOURCE, TSX_ENV } from '../../test/helpers/server-entry.js';
import { type Child, startChild, waitHttp } from './children.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const API_KEY = 'bench-caller-key-0123456789abcdef';
export const AUTH = { 'x-api-key': API_KEY };

export interface Runner {
  /** How the gateway runs, for the report. */
  label: string;
  args: string[];
}

/**
 * `npm run build` then `node dist/server.js` (what production runs); if the build fails (say, a
 * colleague's half-finished edit) the sources run through tsx instead, and the report says so.
 */
export function prepareRunner(useTsx: boolean): Runner {
  const tsx: Runner = {
    label: 'node --import tsx src/server.ts',
    args: SERVER_FROM_SOURCE,
  };
  if (useTsx) return tsx;
  const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, encoding: 'utf8' });
  if (build.status === 0 && existsSync(`${ROOT}dist/server.js`))
    return { label: 'npm run build; node dist/server.js', args: [`${ROOT}dist/server.js`] };
  process.stderr.write(`bench: build failed, running through tsx instead:\n${build.stdout}${build.stderr}\n`);
  return { ...tsx, label: `${tsx.label} (build failed)` };
}

export interface Server {
  url: string;
  pid: number;
  stop(): Promise<void>;
  /** Memory after a full collection; only for gateways started with `MEMORY_PROBE`. */
  memory(): Promise<MemoryAfterGc>;
}

interface MemoryAfterGc {
  heapMiB: number;
  /** V8 heap reserved, used or not. */
  heapTotalMiB: number;
  /** Memory outside the V8 heap that JS objects hold (Buffers and the like). */
  externalMiB: number;
  rssMiB: number;
}

/** Node flags that let the bench force a collection in the gateway (see gc-probe.cjs). */
export const MEMORY_PROBE = ['--expose-gc', '--require', `${ROOT}bench/lib/gc-probe.cjs`];

export interface GatewayEnv {
  upstreamUrl: string;
  redisUrl: string;
  /** A prefix per scenario keeps their keys (and their hit/miss state) apart on one Redis. */
  prefix: string;
  extra?: Record<string, string>;
}

export async function startGateway(runner: Runner, g: GatewayEnv, nodeArgs: string[] = []): Promise<Server> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'],
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: String(port),
    JUSTONEAPI_TOKEN: 'bench-token',
    JUSTONEAPI_BASE_URL: g.upstreamUrl,
    REDIS_URL: g.redisUrl,
    REDIS_KEY_PREFIX: g.prefix,
    API_KEYS: `bench:${API_KEY}`,
    // On, but far above what the bench sends: its cost is measured, never its refusals.
    CALLER_RATE_LIMIT: '100000000',
    CALLER_MAX_PENDING_UPSTREAM: '100000',
    // The upstream budget would otherwise add waits to the miss measurements.
    UPSTREAM_MAX_RPS: '10000',
    LOG_LEVEL: 'warn',
    ...TSX_ENV,
    ...g.extra,
  };
  // In a directory without a .env: a developer's own .env must not configure the measured gateway.
  return spawnServer('gateway', [...nodeArgs, ...runner.args], env, port, '/healthz', dirWithoutDotEnv());
}

/** The ceiling: bench/bare-server.ts answering every request with `body`. */
export async function startBare(body: string): Promise<Server> {
  const port = await freePort();
  const env = { PATH: process.env['PATH'], NODE_ENV: 'production', PORT: String(port), BENCH_BODY: body };
  return spawnServer('bare', ['--import', 'tsx', 'bench/bare-server.ts'], env, port, '/healthz');
}

/** bench/limit-server.ts: the per-caller limit alone, from our hook or from @fastify/rate-limit. */
export async function startLimitServer(
  mode: 'hook' | 'library',
  body: string,
  redisUrl: string,
  prefix: string,
): Promise<Server> {
  const port = await freePort();
  const env = {
    PATH: process.env['PATH'],
    NODE_ENV: 'production',
    PORT: String(port),
    BENCH_BODY: body,
    BENCH_LIMITER: mode,
    BENCH_PREFIX: prefix,
    REDIS_URL: redisUrl,
  };
  return spawnServer(`limit-${mode}`, ['--import', 'tsx', 'bench/limit-server.ts'], env, port, '/healthz');
}

async function spawnServer(
  name: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  port: number,
  readyPath: string,
  cwd = ROOT,
): Promise<Server> {
  const child: Child = startChild(name, args, env, cwd);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitHttp(url + readyPath, child);
  } catch (err) {
    await child.stop();
    throw err;
  }
  return {
    url,
    pid: child.pid,
    stop: () => child.stop(),
    async memory() {
      const line = await child.ask('SIGWINCH', /^gc-probe /);
      const m = JSON.parse(line.slice('gc-probe '.length)) as Record<string, number>;
      const mib = (k: string) => (m[k] ?? Number.NaN) / 1048576;
      return {
        heapMiB: mib('heapUsed'),
        heapTotalMiB: mib('heapTotal'),
        externalMiB: mib('external'),
        rssMiB: mib('rss'),
      };
    },
  };
}

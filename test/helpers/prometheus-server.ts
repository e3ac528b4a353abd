// A real Prometheus (and promtool) for the tests, from the machine's PATH (Debian: `apt-get install
// prometheus`, which .ci/run does). Each server gets a free loopback port and its own temp storage,
// both gone on stop; a machine without the binaries skips these suites (fails them where
// REQUIRE_TEST_TOOLS=1, as in CI: helpers/tools.ts).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort, hasBinary } from './redis-server.js';
import { describeWithTool } from './tools.js';

export const REPO = resolve(import.meta.dirname, '../..');
export const RULES_DIR = join(REPO, 'deploy/prometheus/rules');
export const RULE_TESTS_DIR = join(REPO, 'deploy/prometheus/tests');
/** The scrape job the rules (GatewayScrapeFailing) and deploy/prometheus/prometheus.yml name. */
export const JOB = 'xingtu-gateway';

export const describePrometheus = describeWithTool(
  'prometheus/promtool',
  hasBinary('prometheus') && hasBinary('promtool'),
  '`apt-get install -y prometheus`, `brew install prometheus`, or a release tarball from prometheus.io',
);

export function promtool(args: string[]): { code: number | null; output: string } {
  const r = spawnSync('promtool', args, { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface PrometheusServer {
  url: string;
  /** Instant query; throws on a PromQL error. */
  query(expr: string): Promise<PromSample[]>;
  /** Label sets of every series matching `match` with samples since `startSeconds`. */
  series(match: string, startSeconds: number): Promise<Record<string, string>[]>;
  /** GET /api/v1/<path>: the `data` field. */
  api<T>(path: string): Promise<T>;
  output(): string;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export async function startPrometheus(o: {
  targets: string[];
  ruleFiles?: string[];
  intervalSeconds?: number;
}): Promise<PrometheusServer> {
  const dir = mkdtempSync(join(tmpdir(), 'prometheus-test-'));
  const interval = `${o.intervalSeconds ?? 1}s`;
  const config = {
    global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
    rule_files: o.ruleFiles ?? [],
    scrape_configs: [{ job_name: JOB, static_configs: [{ targets: o.targets }] }],
  };
  // JSON is YAML: no serialiser needed.
  writeFileSync(join(dir, 'prometheus.yml'), JSON.stringify(config, null, 2));

  let lastError = '';
  // A port from freePort() can be taken before prometheus binds it: retry on another.
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    const child = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    live.add(child);
    let tail = '';
    const keep = (b: Buffer) => {
      tail = (tail + b.toString()).slice(-8_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    void exited.then(() => live.delete(child));
    const url = `http://127.0.0.1:${port}`;
    if (await ready(url, child)) {
      return server(url, child, exited, dir, () => tail);
    }
    child.kill('SIGKILL');
    await exited;
    lastError = tail;
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`prometheus did not become ready; output tail:\n${lastError}`);
}

async function ready(url: string, child: ChildProcess): Promise<boolean> {
  const end = Date.now() + 20_000;
  while (Date.now() < end && child.exitCode === null) {
    try {
      if ((await fetch(`${url}/-/ready`)).ok) return true;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

function server(
  url: string,
  child: ChildProcess,
  exited: Promise<void>,
  dir: string,
  output: () => string,
): PrometheusServer {
  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${url}/api/v1/${path}`);
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`prometheus ${path}: ${body.error ?? res.status}`);
    return body.data;
  };
  return {
    url,
    api,
    output,
    async query(expr) {
      const data = await api<{ resultType: string; result: PromSample[] }>(
        `query?query=${encodeURIComponent(expr)}`,
      );
      return data.result;
    },
    async series(match, startSeconds) {
      return api(
        `series?match[]=${encodeURIComponent(match)}&start=${startSeconds}&end=${Date.now() / 1000}`,
      );
    },
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(killer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

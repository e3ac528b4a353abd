// `@redocly/cli lint` (its recommended rules) on the document the gateway serves: no error, and no
// warning but the listed ones, each for a reason. A second run on a damaged copy shows the check
// can fail.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CATALOGUE } from '../../src/catalogue/index.js';
import { type Gateway, startGateway } from '../helpers/gateway.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
/** Every drop-in path's GET responses (spread-info's and the rest of the catalogue's), as JSON pointers. */
const DROP_IN_RESPONSES = CATALOGUE.endpoints.map(
  (e) => `#/paths/${e.upstreamPath.replaceAll('~', '~0').replaceAll('/', '~1')}/get/responses`,
);

/** Warnings accepted, by rule and places. */
const ACCEPTED: Record<string, { pointers: string[]; why: string }> = {
  'operation-4xx-response': {
    pointers: DROP_IN_RESPONSES,
    why: 'the drop-in routes answer every outcome with HTTP 200 and a business code, as the upstream does',
  },
  'info-license-strict': {
    pointers: ['#/info/license'],
    why: 'no licence is chosen yet (package.json: UNLICENSED), so there is no SPDX identifier or URL to give',
  },
};

interface Problem {
  ruleId: string;
  severity: 'error' | 'warn';
  message: string;
  location: Array<{ pointer: string }>;
}

let gw: Gateway;
let dir: string;
beforeAll(async () => {
  gw = await startGateway({ redis: 'none' });
  dir = await mkdtemp(join(tmpdir(), 'openapi-lint-'));
});
afterAll(async () => {
  await gw?.close();
  await rm(dir, { recursive: true, force: true });
});

async function lint(doc: unknown, name: string): Promise<Problem[]> {
  const file = join(dir, name);
  await writeFile(file, JSON.stringify(doc));
  const cli = join(root, 'node_modules/@redocly/cli/bin/cli.js');
  const args = [cli, 'lint', file, '--format=json', '--max-problems=1000'];
  const env = {
    ...process.env,
    REDOCLY_TELEMETRY: 'off',
    REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true',
    NO_COLOR: '1',
  };
  // Exit code 1 when an error is found: the JSON report is on stdout either way.
  const { stdout } = await promisify(execFile)(process.execPath, args, {
    cwd: dir,
    env,
    timeout: 120_000,
  }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
  return (JSON.parse(stdout) as { problems: Problem[] }).problems;
}

const describeProblem = (p: Problem) =>
  `${p.severity} ${p.ruleId} at ${p.location[0]?.pointer}: ${p.message}`;

describe('@redocly/cli lint', () => {
  it('finds no error and no warning but the accepted ones in the served document', async () => {
    const doc = (await gw.get('/openapi.json')).json;
    const problems = await lint(doc, 'openapi.json');
    const unexpected = problems.filter(
      (p) => p.severity === 'error' || !ACCEPTED[p.ruleId]?.pointers.includes(p.location[0]?.pointer ?? ''),
    );
    expect(unexpected.map(describeProblem)).toEqual([]);
  }, 150_000);

  it('does fail a document without servers or operationIds', async () => {
    const doc = structuredClone((await gw.get('/openapi.json')).json) as {
      servers?: unknown;
      paths: Record<string, Record<string, { operationId?: string }>>;
    };
    delete doc.servers;
    for (const methods of Object.values(doc.paths))
      for (const o of Object.values(methods)) delete o.operationId;
    const rules = new Set((await lint(doc, 'damaged.json')).map((p) => `${p.severity} ${p.ruleId}`));
    expect(rules).toContain('error no-empty-servers');
    expect(rules).toContain('warn operation-operationId');
  }, 150_000);
});

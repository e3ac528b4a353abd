// The alert and recording rules as Prometheus itself reads them: `promtool check` (syntax, lint),
// `promtool test rules` (each alert fires on a series that should fire it, and stays quiet on one
// that should not), and the bookkeeping that keeps the rules, their tests and the runbook together.
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  describePrometheus,
  promtool,
  REPO,
  RULE_TESTS_DIR,
  RULES_DIR,
} from '../helpers/prometheus-server.js';

interface RuleFile {
  groups: { name: string; rules: { alert?: string; record?: string; expr: string }[] }[];
}
interface RuleTestFile {
  tests: {
    name: string;
    input_series: { series: string }[];
    alert_rule_test?: { alertname: string; exp_alerts: { exp_labels: Record<string, string> }[] }[];
  }[];
}

const ruleFiles = readdirSync(RULES_DIR)
  .filter((f) => f.endsWith('.yml'))
  .map((f) => join(RULES_DIR, f));
const testFiles = readdirSync(RULE_TESTS_DIR)
  .filter((f) => f.endsWith('.test.yml'))
  .map((f) => join(RULE_TESTS_DIR, f));
const rules = ruleFiles.flatMap((f) =>
  (parse(readFileSync(f, 'utf8')) as RuleFile).groups.flatMap((g) => g.rules),
);
const alertNames = rules.flatMap((r) => (r.alert ? [r.alert] : []));

describePrometheus('Prometheus rules (promtool)', () => {
  it('pass `promtool check rules` with every lint, and the compose config loads them', () => {
    const check = promtool(['check', 'rules', '--lint=all', '--lint-fatal', ...ruleFiles]);
    expect(check.output).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(check.code, check.output).toBe(0);
    const config = promtool([
      'check',
      'config',
      '--lint=all',
      '--lint-fatal',
      'deploy/prometheus/prometheus.yml',
    ]);
    expect(config.code, config.output).toBe(0);
    expect(config.output).toContain(`SUCCESS: ${ruleFiles.length} rule files found`);
  });

  it('pass their `promtool test rules` unit tests', () => {
    const run = promtool(['test', 'rules', ...testFiles]);
    expect(run.code, run.output).toBe(0);
    expect(run.output).not.toContain('FAILED');
  });

  it('cover every alert the issue asks for, each with a firing and a quiet case', () => {
    expect(alertNames).toEqual(
      expect.arrayContaining([
        'UpstreamQuotaNearlySpent',
        'UpstreamBudgetWaitsLong',
        'UpstreamCredentialCircuitOpen',
        'GatewayRedisDown',
        'CacheStaleRatioHigh',
        'CacheHitRatioFalling',
        'UpstreamErrorRatioHigh',
        'UpstreamTimeoutsHigh',
        'CallerUpstreamShareNearlySpent',
        'GatewayLatencyP99High',
      ]),
    );
    // Firing: an eval expecting alerts. Quiet: an eval expecting none, or one whose input holds a
    // series the expected alerts leave out (another job, instance, caller or route); promtool
    // compares the alerts exactly, so such a series firing fails the test.
    const firing = new Set<string>();
    const quiet = new Set<string>();
    const labelsOf = (selector: string) =>
      Object.fromEntries([...selector.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    for (const f of testFiles) {
      for (const t of (parse(readFileSync(f, 'utf8')) as RuleTestFile).tests) {
        const inputs = t.input_series.map((s) => labelsOf(s.series));
        for (const a of t.alert_rule_test ?? []) {
          if (a.exp_alerts.length > 0) firing.add(a.alertname);
          const expected = a.exp_alerts.map((e) => e.exp_labels);
          const keys = [...new Set(expected.flatMap((e) => Object.keys(e)))].filter((k) => k !== 'severity');
          const leftOut = inputs.some((i) =>
            keys.some((k) => i[k] !== undefined && !expected.some((e) => e[k] === i[k])),
          );
          if (a.exp_alerts.length === 0 || leftOut) quiet.add(a.alertname);
        }
      }
    }
    expect([...alertNames].filter((a) => !firing.has(a))).toEqual([]);
    expect([...alertNames].filter((a) => !quiet.has(a))).toEqual([]);
  });

  it('give every alert a line in docs/operations.md saying what to do', () => {
    const doc = readFileSync(join(REPO, 'docs/operations.md'), 'utf8');
    const missing = alertNames.filter((a) => !new RegExp(`^\\| \`${a}\` \\|`, 'm').test(doc));
    expect(missing).toEqual([]);
  });

  it('fail when a rule no longer does what its tests say (the tests can fail)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rules-mutant-'));
    try {
      cpSync(join(REPO, 'deploy/prometheus'), dir, { recursive: true });
      const file = join(dir, 'rules/gateway.rules.yml');
      const text = readFileSync(file, 'utf8');
      const mutant = text.replace(
        'job:gateway_upstream_error_ratio:rate10m > 0.1',
        'job:gateway_upstream_error_ratio:rate10m > 0.5',
      );
      expect(mutant).not.toBe(text);
      writeFileSync(file, mutant);
      const run = promtool(['test', 'rules', join(dir, 'tests/gateway.rules.test.yml')]);
      expect(run.code).not.toBe(0);
      expect(run.output).toContain('alertname: UpstreamErrorRatioHigh');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// Suites that run a Debian program for real (nginx, Chromium, Prometheus): on a laptop without it
// they are skipped with one line saying how to get it; where REQUIRE_TEST_TOOLS=1 (CI, .ci/run
// installs them) a missing program fails the run instead, so a broken install cannot pass unseen.
import { describe } from 'vitest';

export function describeWithTool(tool: string, present: boolean, howToInstall: string) {
  if (!present) {
    const message = `${tool} not found: its suites need it (${howToInstall})`;
    if (process.env['REQUIRE_TEST_TOOLS'] === '1') throw new Error(`REQUIRE_TEST_TOOLS=1 but ${message}`);
    console.warn(`[tools] ${message}; skipped`);
  }
  return describe.skipIf(!present);
}

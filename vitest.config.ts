import { defineConfig } from 'vitest/config';

// The suite runs on the Node in .nvmrc (24 LTS). `npm ci` installs it as the `node` dev dependency,
// which npm scripts put first on PATH, so a machine whose own Node is older runs the tests on 24 too.
// Stop here rather than pass on a Node the image and CI do not run.
const nodeMajor = Number(process.versions.node.split('.')[0]);
if (nodeMajor < 24) {
  throw new Error(
    `the tests run on Node 24, this is ${process.version}: run them through npm (npm test, npm run test:unit), ` +
      'which puts the Node that npm ci installed (node_modules/.bin/node) first on PATH; if it is missing, ' +
      'npm ci ran with install scripts off (the `node` package fetches its binary in its preinstall)',
  );
}

// Two projects: `unit` needs nothing but Node (no Redis, no global set-up) and runs in seconds;
// `integration` holds what only real processes show (Redis single node and cluster, servers on
// loopback, fuzzing through the real app). `npm test` runs both, with line coverage of src/.
export default defineConfig({
  test: {
    pool: 'forks',
    reporters: ['default'],
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      reporter: ['text-summary', 'json-summary'],
      reportsDirectory: 'coverage',
    },
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 10_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/fuzz/**/*.test.ts'],
          globalSetup: ['test/helpers/global-setup.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});

import { defineConfig } from 'vitest/config';

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

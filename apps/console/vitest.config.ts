import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Next.js compiles JSX itself; the tests need React's automatic runtime too.
  oxc: { jsx: { runtime: 'automatic' } },
  test: {
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.{ts,tsx}'] },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.{ts,tsx}'],
          globalSetup: ['test/e2e/global-setup.ts'],
          testTimeout: 60_000,
          expect: { poll: { timeout: 10_000, interval: 100 } },
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});

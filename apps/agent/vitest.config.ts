import { defineConfig } from 'vitest/config';

// Kernel tests build namespaces and share the machine's CPU: run files one after another.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});

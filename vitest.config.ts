import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    // A beforeAll that imports the Compute client takes 5–6 s on a busy 2-core machine; a hook
    // that times out turns its tests into skips, so hooks get far more room than tests.
    hookTimeout: 120_000,
  },
});

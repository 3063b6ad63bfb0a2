import { defineConfig } from 'vitest/config';

// Integration tests start real peers (Postgres, sshd, an OIDC provider); on a 2-core machine running
// many such files at once only produces timeouts, so files run in a small fork pool.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/harness/tmp-root.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});

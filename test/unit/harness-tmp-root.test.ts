/**
 * The test run's temporary directory (test/harness/tmp-root.ts, vitest's global setup): what tests make with
 * os.tmpdir() lands in one `pcigate-tests-*` directory, which goes when the run ends, not in /tmp itself.
 */
import { statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { tempDir } from '../harness/cli.js';

it("puts the tests' temporary directories in the run's own, readable by the harness's unprivileged Postgres", () => {
  const dir = tempDir();
  expect(path.dirname(dir)).toBe(os.tmpdir());
  expect(path.basename(os.tmpdir())).toMatch(/^pcigate-tests-/);
  expect(statSync(os.tmpdir()).mode & 0o777).toBe(0o755);
});

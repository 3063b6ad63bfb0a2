/**
 * Vitest global setup: every test run gets one private temporary directory, and everything the tests make
 * with `os.tmpdir()` (homes, logs, Postgres clusters, sshd configs) lands under it and goes when the run ends.
 * Without it each run left a few thousand `pcigate-*` directories in /tmp. The directory is 0755 because the
 * harness's Postgres runs as an unprivileged user that must reach its cluster inside. Set PCIGATE_KEEP_TMP=1
 * to keep it for a look after a failure.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export default function setup(): () => void {
  const root = mkdtempSync(path.join(os.tmpdir(), 'pcigate-tests-'));
  chmodSync(root, 0o755);
  process.env.TMPDIR = root;
  return () => {
    if (process.env.PCIGATE_KEEP_TMP) {
      process.stderr.write(`pcigate tests: temporary files kept in ${root}\n`);
      return;
    }
    try {
      rmSync(root, { recursive: true, force: true });
    } catch (e) {
      // (a tmpfs a failed test left mounted there: the run's result stands, the directory is named)
      process.stderr.write(`pcigate tests: could not remove ${root}: ${(e as Error).message}\n`);
    }
  };
}

/**
 * A real full disk for tests: a small tmpfs (mount(2): root, as .ci/run runs) and a filler that takes its
 * last byte. Used by test/cli/full-disk.test.ts and test/cli/ssh-full-disk.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';

const mounted: string[] = [];

/** Mounts a tmpfs of `size` (`16m`) at the existing directory `at`; throws with the reason when it cannot. */
export function mountTmpfs(at: string, size: string): void {
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', at], { encoding: 'utf8' });
  if (m.status !== 0) throw new Error(`this test needs a tmpfs mount (root): ${m.stderr}`);
  mounted.push(at);
}

/** Unmounts (lazily) and removes every tmpfs mountTmpfs made, last first. */
export function unmountAll(): void {
  for (const at of mounted.splice(0).reverse()) {
    spawnSync('umount', ['-l', at]);
    rmSync(at, { recursive: true, force: true });
  }
}

/** Fills the file system holding `dir` to the last byte; returns the filler's path (remove it to free the space). */
export function fill(dir: string): string {
  const file = path.join(dir, 'filler');
  const r = spawnSync('dd', ['if=/dev/zero', `of=${file}`, 'bs=64k'], { encoding: 'utf8' });
  if (!r.stderr.includes('No space left on device')) throw new Error(`dd did not fill ${dir}: ${r.stderr}`);
  return file;
}

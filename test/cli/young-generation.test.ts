/**
 * capYoungGeneration (src/cli/young-generation.ts): in a real node process, a workload whose survivors make
 * V8 grow its semi-spaces to 16 MB each stays at 8 MB with it. The same workload without it is the control:
 * it shows the workload does grow the young generation, so the capped run's figure means something. The
 * workload runs in event-loop turns, as a listener's does: the observer that sets the cap runs between them.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { growthFactorFor, SEMI_SPACE_CAP_BYTES } from '../../src/cli/young-generation.js';
import { ROOT } from '../harness/cli.js';

const MB = 1024 * 1024;

/** The new space's size (both semi-spaces) after a workload that keeps ~20k objects alive at a time. */
function newSpaceAfterWorkload(cap: boolean): number {
  const mod = pathToFileURL(path.join(ROOT, 'dist/src/cli/young-generation.js')).href;
  const script = [
    "import v8 from 'node:v8';",
    `import { capYoungGeneration } from ${JSON.stringify(mod)};`,
    cap ? 'capYoungGeneration();' : '',
    'let keep = [];',
    // In turns, as a listener's work comes: the cap is set from a GC observer, which runs between turns.
    'for (let turn = 0; turn < 300; turn++) {',
    "  for (let i = 0; i < 1e4; i++) { keep.push({ a: i, b: 'x' + i }); if (keep.length > 20000) keep = []; }",
    '  await new Promise((r) => setImmediate(r));',
    '}',
    "console.log(v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size);",
  ].join('\n');
  // The child must also exit on its own: the GC observer must not hold the event loop open.
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  return Number(r.stdout.trim());
}

describe('capYoungGeneration', () => {
  it('keeps the semi-spaces at 8 MB where V8 alone grows them to 16 MB', () => {
    expect(newSpaceAfterWorkload(false)).toBe(32 * MB);
    const capped = newSpaceAfterWorkload(true);
    expect(capped).toBeGreaterThan(0);
    expect(capped).toBeLessThanOrEqual(2 * SEMI_SPACE_CAP_BYTES);
  });

  it('doubles below the cap and stops at it', () => {
    expect(growthFactorFor(2 * MB)).toBe(2);
    expect(growthFactorFor(8 * MB)).toBe(2);
    expect(growthFactorFor(16 * MB - 1)).toBe(2);
    expect(growthFactorFor(16 * MB)).toBe(1);
    expect(growthFactorFor(32 * MB)).toBe(1);
  });
});

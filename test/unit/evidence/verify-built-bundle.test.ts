/**
 * The writer and the verifier agree: a bundle built by build.ts (collectEvidence over a real recorder log, all
 * four requirements, OSCAL on) verifies with `verifyBundle`, and a byte changed in any of its files is caught
 * naming that file.
 */
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadKeys } from '../../../recorder/keys.js';
import { buildBundle } from '../../../src/evidence/build.js';
import type { BuiltBundle } from '../../../src/evidence/build.js';
import { collectEvidence, loadConfigEvidence } from '../../../src/evidence/collect.js';
import { verifyBundle } from '../../../src/evidence/verify-bundle.js';
import { writeZip } from '../../../src/archive/zip.js';
import { fixedClock, testCtx } from '../../harness/test-ctx.js';
import { makeBundle } from './bundle-fixture.js';
import type { BundleFixture } from './bundle-fixture.js';

let tmp: string;
let fx: BundleFixture;
let built: BuiltBundle;

beforeAll(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'pcigate-built-bundle-'));
  fx = await makeBundle(tmp);
  // "now" a minute after the fixture's log (which starts at testCtx's fixed 12:00), so the period holds it all.
  const ctx = testCtx({ clock: fixedClock(Date.UTC(2026, 10, 22, 12, 1, 0)) });
  const input = await collectEvidence(ctx, { home: fx.home, config: await loadConfigEvidence(ctx, { home: fx.home }) });
  built = buildBundle(input, { selection: { requirements: ['3', '7', '8', '10'], filters: [] }, oscal: true, version: '0.0.0-test', key: await loadKeys(ctx, fx.home) });
});

afterAll(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

describe('a bundle from build.ts', () => {
  it('verifies against the user’s root key, every sample proven', () => {
    const r = verifyBundle(built.zip, { rootKey: fx.rootPub });
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.checked.files).toBe(built.files.length);
    expect(r.checked.artifacts).toBe(built.files.length - 3);
    expect(r.checked.epochs).toBe(2);
    const sampled = built.files.filter((f) => f.path.startsWith('samples/')).reduce((n, f) => n + f.bytes.toString().split('\n').length - 1, 0);
    expect(sampled).toBeGreaterThanOrEqual(5);
    expect(r.checked.proofs).toBe(sampled);
  });

  it('a byte changed in any of its files is caught, naming the file', () => {
    expect(built.files.map((f) => f.path)).toEqual(expect.arrayContaining(['index.html', 'report.json', 'evidence-index.csv', 'oscal/assessment-results.json', 'samples/pg.query.jsonl', 'proofs/pg.query.json']));
    for (const f of built.files) {
      const changed = Buffer.from(f.bytes);
      changed[changed.length >> 1]! ^= 0x01;
      const r = verifyBundle(writeZip(built.files.map((x) => (x.path === f.path ? { path: f.path, bytes: changed } : x))), { rootKey: fx.rootPub });
      expect(r.ok, f.path).toBe(false);
      expect(r.problems.some((p) => p.file === f.path), `${f.path}: ${JSON.stringify(r.problems)}`).toBe(true);
    }
  });
});

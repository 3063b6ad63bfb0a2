/**
 * `pcigate evidence verify` through the built bin, on a bundle made from a real recorder log
 * (test/unit/evidence/bundle-fixture.ts): the ✓ summary and exit 0, --root-key, --json, and exit 3 naming the
 * file for a changed file, a foreign root key and a file that is not a zip; exit 1 when it cannot be read.
 */
import * as fsp from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatPublicKeyLine } from '../../recorder/keys.js';
import { generateEd25519 } from '../../recorder/ed25519.js';
import { writeZip } from '../../src/archive/zip.js';
import { makeBundle } from '../unit/evidence/bundle-fixture.js';
import type { BundleFixture } from '../unit/evidence/bundle-fixture.js';
import { runCli, tempDir } from '../harness/cli.js';

let tmp: string;
let fx: BundleFixture;
let bundle: string;
let rootPub: string;

beforeAll(async () => {
  tmp = tempDir('pcigate-cli-evidence-verify-');
  fx = await makeBundle(tmp);
  bundle = path.join(tmp, 'evidence.zip');
  await fsp.writeFile(bundle, fx.zip);
  rootPub = path.join(tmp, 'root.pub');
  await fsp.writeFile(rootPub, formatPublicKeyLine(fx.rootPub));
});

afterAll(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

describe('pcigate evidence verify', () => {
  it('an intact bundle: ✓ per check, exit 0, and a note to pass your own root key', async () => {
    const r = await runCli(['evidence', 'verify', bundle]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`bundle ${bundle} (${fx.manifest.bundle_id})`);
    expect(r.stdout).toMatch(/✓ key chain: 2 epoch keys certified back to the root key \(the bundle’s own\)/);
    expect(r.stdout).toMatch(/✓ manifest\.sig: Ed25519 over manifest\.json/);
    expect(r.stdout).toMatch(/✓ inclusion proofs: \d+ sampled records prove into signed checkpoints/);
    // (the verdict itself says whose key it checked: a CI log may keep stdout only)
    expect(r.stdout.trim().split('\n').pop()).toBe('OK (intact; its maker not checked: no --root-key): the bundle verifies against its own root key');
    expect(r.stderr).toMatch(/pass your own copy with --root-key/);
  });

  it('with --root-key: exit 0, no note; --json gives the report', async () => {
    const r = await runCli(['evidence', 'verify', bundle, '--root-key', rootPub]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('(--root-key)');
    expect(r.stdout.trim().split('\n').pop()).toBe('OK: the bundle verifies');
    expect(r.stderr).toBe('');
    const j = await runCli(['evidence', 'verify', bundle, '--root-key', rootPub, '--json']);
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toMatchObject({ file: bundle, ok: true, bundle_id: fx.manifest.bundle_id, rootKeySource: 'user', problems: [] });
  });

  it('a changed file: exit 3, naming it', async () => {
    const changed = fx.files.map((f) => (f.path === 'samples/pg.query.jsonl' ? { path: f.path, bytes: Buffer.from(f.bytes.toString().replace('orders', 'ORDERS')) } : f));
    const file = path.join(tmp, 'changed.zip');
    await fsp.writeFile(file, writeZip(changed));
    const r = await runCli(['evidence', 'verify', file]);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/✗ samples\/pg\.query\.jsonl: changed: SHA-256 [0-9a-f]{64}, manifest\.json says/);
    expect(r.stdout).not.toContain('✓');
    expect(r.stdout.trim().split('\n').pop()).toMatch(/^FAILED: \d+ problems?$/);
    const j = await runCli(['evidence', 'verify', file, '--json']);
    expect(j.code).toBe(3);
    expect(JSON.parse(j.stdout).problems).toContainEqual(expect.objectContaining({ file: 'samples/pg.query.jsonl', check: 'artifacts' }));
  });

  it('text quoted from a crafted bundle cannot drive the terminal', async () => {
    const crafted = fx.files.map((f) => (f.path === 'proofs/pg.query.json' ? { path: f.path, bytes: Buffer.from('\x1b[2J\x1b]0;owned\x07 not json') } : f));
    const file = path.join(tmp, 'crafted.zip');
    await fsp.writeFile(file, writeZip(crafted));
    const r = await runCli(['evidence', 'verify', file]);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/✗ proofs\/pg\.query\.json: not JSON/);
    expect(r.stdout).toContain('\\u001b');
    expect(r.stdout).not.toContain('\x1b');
    expect(r.stdout).not.toContain('\x07');
  });

  it('another root key: exit 3, naming manifest.json', async () => {
    const other = path.join(tmp, 'other.pub');
    await fsp.writeFile(other, formatPublicKeyLine(generateEd25519().publicRaw));
    const r = await runCli(['evidence', 'verify', bundle, '--root-key', other]);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/✗ manifest\.json: the bundle's root key .* is not the root key given with --root-key/);
  });

  it('not a zip: exit 3 naming the file; unreadable file or root key: exit 1', async () => {
    const junk = path.join(tmp, 'junk.zip');
    await fsp.writeFile(junk, 'this is not a zip file, just text that is long enough');
    const r = await runCli(['evidence', 'verify', junk]);
    expect(r.code).toBe(3);
    expect(r.stdout).toContain(`✗ ${junk}: the zip cannot be read: not a zip file`);
    const missing = await runCli(['evidence', 'verify', path.join(tmp, 'nope.zip')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot read the bundle .*nope\.zip \(ENOENT\)/);
    expect(missing.stderr).not.toMatch(/\n\s+at /); // no stack trace
    const badKey = await runCli(['evidence', 'verify', bundle, '--root-key', junk]);
    expect(badKey.code).toBe(1);
    expect(badKey.stderr).toMatch(/not an Ed25519 public key/);
  });

  it('is listed under `pcigate evidence` with usage and examples', async () => {
    const r = await runCli(['evidence', 'verify', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--root-key <file>');
    expect(r.stdout).toContain('$ pcigate evidence verify evidence-2026Q4.zip --root-key ./root.pub');
  });
});

/**
 * verifyBundle on a real bundle (a log written by the recorder, samples and proofs from its segments, the
 * manifest/signature/sums/zip from src/evidence): it verifies; standard tools accept it; and each tampering
 * the issue names — any byte of any file, a removed or added file, a wrong signing key, a different root key,
 * a proof for the wrong seq — is caught and names the file.
 */
import { spawnSync } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalize } from '../../../recorder/canonical-json.js';
import { ed25519Sign, generateEd25519 } from '../../../recorder/ed25519.js';
import { signEpochCert } from '../../../recorder/keys.js';
import type { SignedEpochCert } from '../../../recorder/keys.js';
import { sha256sums } from '../../../src/evidence/manifest.js';
import type { Manifest, ProofFile } from '../../../src/evidence/types.js';
import { verifyBundle, ZIP_FILE } from '../../../src/evidence/verify-bundle.js';
import type { BundleVerifyReport } from '../../../src/evidence/verify-bundle.js';
import { writeZip } from '../../../src/archive/zip.js';
import { ROOT } from '../../harness/cli.js';
import { assemble, makeBundle, relist } from './bundle-fixture.js';
import type { BundleFixture, File } from './bundle-fixture.js';

let tmp: string;
let fx: BundleFixture;

beforeAll(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'pcigate-bundle-'));
  fx = await makeBundle(tmp);
});

afterAll(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

const named = (r: BundleVerifyReport, file: string) => r.problems.filter((p) => p.file === file);
const replace = (files: File[], p: string, bytes: Buffer): File[] => files.map((f) => (f.path === p ? { path: p, bytes } : f));
const flipMiddle = (b: Buffer): Buffer => { const c = Buffer.from(b); c[c.length >> 1]! ^= 0x01; return c; };

/** Re-signs a changed bundle with the real epoch key: only the content checks can catch what changed. */
function resigned(artifacts: File[], edit: (m: Manifest) => Manifest = (m) => m): Buffer {
  return assemble(artifacts, edit(relist(fx.manifest, artifacts)), fx.key).zip;
}

describe('verifyBundle: an intact bundle', () => {
  it('verifies with the root key from the bundle, and says so', () => {
    const r = verifyBundle(fx.zip, {});
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.bundle_id).toBe(fx.manifest.bundle_id);
    expect(r.rootKeySource).toBe('bundle');
    const sampled = fx.artifacts.filter((f) => f.path.startsWith('samples/')).reduce((n, f) => n + f.bytes.toString().split('\n').length - 1, 0);
    expect(sampled).toBeGreaterThanOrEqual(7);
    expect(r.checked).toEqual({
      files: fx.artifacts.length + 3, artifacts: fx.artifacts.length, proofs: sampled, checkpoints: fx.manifest.checkpoints.length, epochs: 2,
    });
    expect(fx.manifest.keys.epochs).toHaveLength(2);
    expect(fx.key.epoch).toBe(1);
  });

  it('verifies with the user’s own root key', () => {
    const r = verifyBundle(fx.zip, { rootKey: fx.rootPub });
    expect(r).toMatchObject({ ok: true, rootKeySource: 'user', problems: [] });
  });

  it('unzip -t tests it, and sha256sum -c accepts SHA256SUMS after unzip -d', async () => {
    const zipFile = path.join(tmp, 'bundle.zip');
    await fsp.writeFile(zipFile, fx.zip);
    const t = spawnSync('unzip', ['-t', zipFile], { encoding: 'utf8' });
    expect(t.status, t.stdout + t.stderr).toBe(0);
    expect(t.stdout).toContain('No errors detected');
    const out = path.join(tmp, 'unpacked');
    const x = spawnSync('unzip', ['-q', '-d', out, zipFile], { encoding: 'utf8' });
    expect(x.status, x.stderr).toBe(0);
    const c = spawnSync('sha256sum', ['-c', '--strict', 'SHA256SUMS'], { cwd: out, encoding: 'utf8' });
    expect(c.status, c.stdout + c.stderr).toBe(0);
    expect(c.stdout.trim().split('\n')).toHaveLength(fx.files.length - 1);
    // the unpacked files are the bundle's bytes
    for (const f of fx.files) expect((await fsp.readFile(path.join(out, f.path))).equals(f.bytes)).toBe(true);
  });

  it('the by-hand recipe of docs/evidence-bundle.md (unzip, sha256sum, openssl) accepts it and refuses a changed manifest', async () => {
    const doc = await fsp.readFile(path.join(ROOT, 'docs', 'evidence-bundle.md'), 'utf8');
    const script = /## Checking it by hand[\s\S]*?```sh\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(script).toContain('openssl pkeyutl -verify');
    const run = async (zip: Buffer) => {
      const dir = await fsp.mkdtemp(path.join(tmp, 'by-hand-'));
      await fsp.writeFile(path.join(dir, 'evidence.zip'), zip);
      return spawnSync('bash', ['-e', '-c', script!], { cwd: dir, encoding: 'utf8' });
    };
    const ok = await run(fx.zip);
    expect(ok.status, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toContain('Signature Verified Successfully');
    // A manifest changed and its SHA256SUMS line updated: only the signature catches it.
    const m = Buffer.from(fx.files.find((f) => f.path === 'manifest.json')!.bytes.toString().replace('0.0.0-test', '9.9.9-test'));
    const rest = fx.files.filter((f) => f.path !== 'manifest.json' && f.path !== 'SHA256SUMS');
    const contents = [...rest, { path: 'manifest.json', bytes: m }];
    const bad = await run(writeZip([...contents, { path: 'SHA256SUMS', bytes: sha256sums(contents) }]));
    expect(bad.status).not.toBe(0);
    expect(bad.stdout).toContain('Signature Verification Failure');
  });
});

describe('verifyBundle: tampering is caught and names the file', () => {
  it('a byte changed in the middle of any file', () => {
    for (const f of fx.files) {
      const r = verifyBundle(writeZip(replace(fx.files, f.path, flipMiddle(f.bytes))), {});
      expect(r.ok, f.path).toBe(false);
      expect(named(r, f.path).length, `${f.path}: ${JSON.stringify(r.problems)}`).toBeGreaterThan(0);
    }
  });

  it('a byte changed inside any entry’s stored data in the zip itself (CRC-32)', () => {
    let at = 0;
    for (const f of fx.files) {
      const dataAt = at + 30 + fx.zip.readUInt16LE(at + 26) + fx.zip.readUInt16LE(at + 28);
      const size = fx.zip.readUInt32LE(at + 18);
      const z = Buffer.from(fx.zip);
      z[dataAt + (size >> 1)]! ^= 0x10;
      const r = verifyBundle(z, {});
      expect(r.ok, f.path).toBe(false);
      expect(named(r, f.path)[0]?.message, f.path).toMatch(/damaged in the zip/);
      at = dataAt + size;
    }
  });

  it('a file removed', () => {
    for (const f of fx.files) {
      const r = verifyBundle(writeZip(fx.files.filter((x) => x.path !== f.path)), {});
      expect(r.ok, f.path).toBe(false);
      expect(named(r, f.path)[0]?.message, f.path).toMatch(/missing/);
    }
  });

  it('a file added — also when the adder rewrites SHA256SUMS to list it', () => {
    const extra = { path: 'samples/extra.txt', bytes: Buffer.from('not evidence\n') };
    const r1 = verifyBundle(writeZip([...fx.files, extra]), {});
    expect(named(r1, extra.path)[0]?.message).toMatch(/not listed in manifest.json or SHA256SUMS/);
    const withoutSums = [...fx.files.filter((f) => f.path !== 'SHA256SUMS'), extra];
    const r2 = verifyBundle(writeZip([...withoutSums, { path: 'SHA256SUMS', bytes: sha256sums(withoutSums) }]), {});
    expect(r2.ok).toBe(false);
    expect(named(r2, extra.path)[0]?.message).toMatch(/not listed in manifest.json: a file was added/);
  });

  it('a changed file re-listed and re-signed with a key outside the chain', () => {
    const changed = replace(fx.artifacts, 'verify-report.json', Buffer.from('{"result":"pass","problems":[],"edited":true}\n'));
    const stranger = generateEd25519();
    const r = verifyBundle(assemble(changed, relist(fx.manifest, changed), { epoch: 1, privateKey: stranger.privateKey, publicRaw: stranger.publicRaw }).zip, {});
    expect(named(r, 'manifest.sig')[0]?.message).toMatch(/not the certified key of epoch 1/);
    // Claiming the certified key while signing with another fails the signature itself.
    const m = relist(fx.manifest, changed);
    const sig = { alg: 'Ed25519' as const, epoch: 1, key: fx.key.publicRaw.toString('base64'), sig: ed25519Sign(stranger.privateKey, Buffer.from(canonicalize(m))).toString('base64') };
    const r2 = verifyBundle(assemble(changed, m, fx.key, sig).zip, {});
    expect(named(r2, 'manifest.sig')[0]?.message).toMatch(/signature over manifest.json does not verify/);
  });

  it('a signature by an older epoch than the bundle’s newest', () => {
    const m = fx.manifest;
    const old = { alg: 'Ed25519' as const, epoch: 0, key: m.keys.epochs[0]!.cert.pub, sig: Buffer.alloc(64).toString('base64') };
    const r = verifyBundle(assemble(fx.artifacts, m, fx.key, old).zip, {});
    expect(named(r, 'manifest.sig')[0]?.message).toMatch(/epoch 0, but the bundle's key chain ends at epoch 1/);
  });

  it('a root key mismatch with --root-key', () => {
    const r = verifyBundle(fx.zip, { rootKey: generateEd25519().publicRaw });
    expect(r.ok).toBe(false);
    expect(r.rootKeySource).toBe('user');
    expect(named(r, 'manifest.json')[0]?.message).toMatch(/is not the root key given with --root-key/);
  });

  it('a whole forged key chain passes only on its own root: --root-key catches it', () => {
    const root = generateEd25519();
    const e0 = generateEd25519();
    const cert: SignedEpochCert = signEpochCert({ type: 'pcigate.epoch', origin: fx.manifest.origin, epoch: 0, pub: e0.publicRaw.toString('base64'), not_before: fx.manifest.generated }, root.privateKey);
    const forged = { ...fx.manifest, checkpoints: [], keys: { root: root.publicRaw.toString('base64'), epochs: [cert] } };
    const noProofs = fx.artifacts.filter((f) => !f.path.startsWith('samples/') && !f.path.startsWith('proofs/'));
    const zip = assemble(noProofs, { ...forged, artifacts: forged.artifacts.filter((a) => noProofs.some((f) => f.path === a.path)) }, { epoch: 0, privateKey: e0.privateKey, publicRaw: e0.publicRaw }).zip;
    expect(verifyBundle(zip, {})).toMatchObject({ ok: true, rootKeySource: 'bundle' });
    expect(verifyBundle(zip, { rootKey: fx.rootPub }).ok).toBe(false);
  });

  it('a proof for the wrong seq, even re-signed', () => {
    const p = 'proofs/pg.query.json';
    const proof = JSON.parse(fx.artifacts.find((f) => f.path === p)!.bytes.toString()) as ProofFile;
    [proof.proofs[0], proof.proofs[1]] = [proof.proofs[1]!, proof.proofs[0]!];
    const r = verifyBundle(resigned(replace(fx.artifacts, p, Buffer.from(JSON.stringify(proof)))), {});
    expect(r.ok).toBe(false);
    expect(r.problems.every((x) => x.check === 'proofs')).toBe(true);
    expect(named(r, p)[0]?.message).toMatch(/proof 1 is for seq \d+, but line 1 of samples\/pg.query.jsonl is seq \d+/);
    // the same seq with another record's audit path
    const again = JSON.parse(fx.artifacts.find((f) => f.path === p)!.bytes.toString()) as ProofFile;
    again.proofs[0]!.path = again.proofs[1]!.path;
    const r2 = verifyBundle(resigned(replace(fx.artifacts, p, Buffer.from(JSON.stringify(again)))), {});
    expect(named(r2, p)[0]?.message).toMatch(/does not lead to the checkpoint's root/);
  });

  it('a sampled line edited, even re-signed, is not the logged record', () => {
    const s = 'samples/pg.query.jsonl';
    const text = fx.artifacts.find((f) => f.path === s)!.bytes.toString().replace('from orders', 'from 0rders');
    const r = verifyBundle(resigned(replace(fx.artifacts, s, Buffer.from(text))), {});
    expect(named(r, s)[0]?.message).toMatch(/line 1 \(seq \d+\) is not the logged record/);
  });

  it('samples without proofs, and proofs to a checkpoint the manifest does not list', () => {
    const r = verifyBundle(resigned(fx.artifacts.filter((f) => f.path !== 'proofs/auth.fail.json')), {});
    expect(named(r, 'proofs/auth.fail.json')[0]?.message).toMatch(/missing: samples\/auth.fail.jsonl has no inclusion proofs/);
    const r2 = verifyBundle(resigned(fx.artifacts, (m) => ({ ...m, checkpoints: m.checkpoints.slice(0, -1) })), {});
    expect(named(r2, 'proofs/pg.query.json')[0]?.message).toMatch(/not one of the signed checkpoints in manifest.json/);
  });

  it('a checkpoint whose manifest fields disagree with its signed note, or whose note is forged', () => {
    const r = verifyBundle(resigned(fx.artifacts, (m) => ({ ...m, checkpoints: m.checkpoints.map((c, i) => (i === 0 ? { ...c, root: 'ab'.repeat(32) } : c)) })), {});
    expect(named(r, 'manifest.json')[0]?.message).toMatch(/checkpoint 1 \(size \d+\): the signed note says a different size or root/);
    const forged = (note: string) => note.replace(/\n(\d+)\n/, (_m, n: string) => `\n${Number(n) + 1}\n`);
    const r2 = verifyBundle(resigned(fx.artifacts, (m) => ({ ...m, checkpoints: m.checkpoints.map((c, i) => (i === 0 ? { ...c, size: c.size + 1, note: forged(c.note) } : c)) })), {});
    expect(named(r2, 'manifest.json')[0]?.message).toMatch(/signature does not verify with epoch 0's key/);
  });

  it('a manifest that is not canonical JSON, even correctly signed', () => {
    const pretty = Buffer.from(JSON.stringify(fx.manifest, null, 1));
    const sig = { alg: 'Ed25519' as const, epoch: 1, key: fx.key.publicRaw.toString('base64'), sig: ed25519Sign(fx.key.privateKey, pretty).toString('base64') };
    const contents = [...fx.artifacts, { path: 'manifest.json', bytes: pretty }, { path: 'manifest.sig', bytes: Buffer.from(JSON.stringify(sig)) }];
    const r = verifyBundle(writeZip([...contents, { path: 'SHA256SUMS', bytes: sha256sums(contents) }]), {});
    expect(r.problems).toEqual([{ check: 'manifest', file: 'manifest.json', message: expect.stringMatching(/not RFC 8785 canonical JSON/) }]);
  });
});

describe('verifyBundle: never a crash', () => {
  it('garbage, truncations and byte flips of the zip give a report, never an exception', () => {
    for (const z of [Buffer.alloc(0), Buffer.from('PK'), Buffer.from('not a zip at all'), fx.zip.subarray(0, fx.zip.length - 1), fx.zip.subarray(0, fx.zip.length >> 1)]) {
      const r = verifyBundle(z, {});
      expect(r.ok).toBe(false);
      expect(r.problems[0]!.file).toBe(ZIP_FILE);
    }
    let caught = 0;
    for (let i = 0; i < fx.zip.length; i += 23) {
      const z = Buffer.from(fx.zip);
      z[i]! ^= 0xff;
      const r = verifyBundle(z, {});
      if (!r.ok) caught++;
      for (const p of r.problems) expect(p.message).not.toMatch(/internal error/);
    }
    // Only fields no reader uses (timestamps, attributes, "version made by") can change unnoticed.
    expect(caught / Math.ceil(fx.zip.length / 23)).toBeGreaterThan(0.9);
  });
});

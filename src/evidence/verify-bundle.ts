/**
 * `pcigate evidence verify`: checks an evidence bundle offline, with nothing but the zip and (optionally) the
 * root public key the user trusts (issue 9 item 3; PCI DSS 10.3.2 — evidence that cannot be changed unnoticed).
 *
 * In order: the zip reads (src/archive/zip.ts); manifest.json, manifest.sig and SHA256SUMS are present;
 * manifest.json is RFC 8785 canonical JSON of itself; the key chain in the manifest verifies back to the root
 * key (epoch 0 certified by the root, epoch n by epoch n−1: docs/log-format.md "Key epochs"); manifest.sig is
 * an Ed25519 signature over manifest.json by the newest certified epoch key; SHA256SUMS lists exactly the other
 * files with their hashes; manifest.artifacts lists exactly the evidence files with hash and size; every
 * checkpoint note verifies; every sampled record proves into a signed checkpoint (verify-proofs.ts).
 *
 * Every problem names the file it is in. When two files disagree, the one contradicting the signed manifest
 * is named: a byte changed in SHA256SUMS is SHA256SUMS's problem, not the artifact's it lists.
 */
import { createHash } from 'node:crypto';
import { scanZip } from '../archive/zip.js';
import { canonicalize } from '../../recorder/canonical-json.js';
import { ed25519Verify } from '../../recorder/ed25519.js';
import { verifyEpochCert } from '../../recorder/keys.js';
import type { SignedEpochCert } from '../../recorder/keys.js';
import { describeIssues, manifestSchema, manifestSigSchema } from './bundle-schema.js';
import type { Manifest } from './types.js';
import { checkCheckpoints, checkSamples } from './verify-proofs.js';

/** The `file` of a problem with the zip as a whole (not inside one of its entries). */
export const ZIP_FILE = '(zip)';
/** The three files that are not evidence artifacts but make the bundle checkable. */
export const BUNDLE_INDEX_FILES = ['manifest.json', 'manifest.sig', 'SHA256SUMS'] as const;

export type BundleCheck = 'zip' | 'manifest' | 'keys' | 'signature' | 'sums' | 'artifacts' | 'checkpoints' | 'proofs';

export interface BundleProblem {
  /** The file in the bundle the problem is in, or {@link ZIP_FILE}. */
  file: string;
  message: string;
  /** Which check found it (for the ✓/✗ summary). */
  check: BundleCheck;
}

export interface BundleVerifyReport {
  ok: boolean;
  bundle_id: string | null;
  problems: BundleProblem[];
  checked: { files: number; artifacts: number; proofs: number; checkpoints: number; epochs: number };
  /** Where the trusted root key came from: --root-key, or the bundle itself (which proves integrity, not origin). */
  rootKeySource: 'user' | 'bundle';
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Verifies a bundle (see the file comment). Pure: no I/O; never throws for any input bytes. */
export function verifyBundle(zip: Buffer, opts: { rootKey?: Buffer }): BundleVerifyReport {
  const problems: BundleProblem[] = [];
  const checked = { files: 0, artifacts: 0, proofs: 0, checkpoints: 0, epochs: 0 };
  const report = { ok: false, bundle_id: null as string | null, problems, checked, rootKeySource: opts.rootKey ? 'user' as const : 'bundle' as const };
  const add = (check: BundleCheck, file: string, message: string): void => { problems.push({ file, message, check }); };
  try {
    run(zip, opts, report, add);
  } catch (e) {
    // Every check is written not to throw on bad input; this is the last line that keeps `verify` from crashing.
    add('zip', ZIP_FILE, `internal error while verifying: ${(e as Error).message}`);
  }
  report.ok = problems.length === 0;
  return report;
}

function run(zip: Buffer, opts: { rootKey?: Buffer }, report: BundleVerifyReport, add: (c: BundleCheck, f: string, m: string) => void): void {
  let entries;
  try {
    entries = scanZip(zip);
  } catch (e) {
    const file = (e as { file?: unknown }).file;
    add('zip', typeof file === 'string' ? file : ZIP_FILE, `the zip cannot be read: ${(e as Error).message}`);
    return;
  }
  report.checked.files = entries.length;
  const files = new Map<string, Buffer | null>();
  for (const e of entries) {
    if (e.error !== undefined) add('zip', e.path, `damaged in the zip: ${e.error}`);
    files.set(e.path, e.bytes);
  }
  for (const f of BUNDLE_INDEX_FILES) if (!files.has(f)) add('manifest', f, 'missing: every bundle has manifest.json, manifest.sig and SHA256SUMS');

  const manifestRaw = files.get('manifest.json') ?? undefined;
  const manifest = manifestRaw ? parseManifest(manifestRaw, add) : undefined;
  if (manifest) report.bundle_id = manifest.bundle_id;
  const epochKeys = manifest ? checkKeyChain(manifest, opts.rootKey, add) : [];
  report.checked.epochs = epochKeys.length;
  const sigRaw = files.get('manifest.sig') ?? undefined;
  const signed = manifest !== undefined && manifestRaw !== undefined && sigRaw !== undefined && checkSignature(sigRaw, manifestRaw, manifest, epochKeys, add);
  checkFiles(files, manifest, signed, report, add);
  if (!manifest) return;
  const { valid, count } = checkCheckpoints(manifest, epochKeys, add);
  report.checked.checkpoints = count;
  report.checked.proofs = checkSamples(files, manifest, valid, add);
}

function parseManifest(bytes: Buffer, add: (c: BundleCheck, f: string, m: string) => void): Manifest | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    add('manifest', 'manifest.json', `not JSON in UTF-8 (${(e as Error).message})`);
    return undefined;
  }
  let canonical = false;
  try {
    canonical = Buffer.from(canonicalize(raw), 'utf8').equals(bytes);
  } catch { /* not representable as canonical JSON: reported below */ }
  if (!canonical) add('manifest', 'manifest.json', 'not RFC 8785 canonical JSON (it was re-serialised or edited)');
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    add('manifest', 'manifest.json', `not a bundle manifest: ${describeIssues(parsed.error)}`);
    return undefined;
  }
  // The schema only validates: keep the JSON as read, so certificates are checked over their exact content.
  return raw as Manifest;
}

/**
 * The epoch keys (raw 32 bytes, index = epoch) whose certificates verify back to the root key: epoch 0 by the
 * root, epoch n by epoch n−1 (recorder/keys.ts verifyEpochCert). Stops at the first that does not.
 */
function checkKeyChain(m: Manifest, userRoot: Buffer | undefined, add: (c: BundleCheck, f: string, msg: string) => void): Buffer[] {
  const bundleRoot = Buffer.from(m.keys.root, 'base64');
  if (userRoot && !userRoot.equals(bundleRoot)) {
    add('keys', 'manifest.json', `the bundle's root key (${m.keys.root}) is not the root key given with --root-key (${userRoot.toString('base64')}): it was not signed under your key chain`);
  }
  const root = userRoot ?? bundleRoot;
  const keys: Buffer[] = [];
  for (const [i, sc] of m.keys.epochs.entries()) {
    const c = (sc as SignedEpochCert).cert;
    const fail = (why: string) => add('keys', 'manifest.json', `key chain, epoch ${i}: ${why}`);
    if (c.epoch !== i) { fail(`the certificate is for epoch ${c.epoch}`); break; }
    if (c.origin !== m.origin) { fail(`the certificate is for origin ${JSON.stringify(c.origin)}, the bundle for ${JSON.stringify(m.origin)}`); break; }
    const signer = i === 0 ? root : keys[i - 1]!;
    if (!verifyEpochCert(sc, signer)) {
      // With a mismatched --root-key the cause is already reported; epoch 0 failing is its consequence.
      if (!(i === 0 && userRoot && !userRoot.equals(bundleRoot))) fail(`the certificate is not signed by ${i === 0 ? 'the root key' : `epoch ${i - 1}'s key`}`);
      break;
    }
    keys.push(Buffer.from(c.pub, 'base64'));
  }
  return keys;
}

/** manifest.sig: by the newest epoch of the bundle's chain, with that epoch's certified key, over manifest.json. */
function checkSignature(sigBytes: Buffer, manifestBytes: Buffer, m: Manifest, keys: Buffer[], add: (c: BundleCheck, f: string, msg: string) => void): boolean {
  const fail = (why: string): false => { add('signature', 'manifest.sig', why); return false; };
  let raw: unknown;
  try {
    raw = JSON.parse(sigBytes.toString('utf8'));
  } catch (e) {
    return fail(`not JSON (${(e as Error).message})`);
  }
  const parsed = manifestSigSchema.safeParse(raw);
  if (!parsed.success) return fail(`not a manifest signature: ${describeIssues(parsed.error)}`);
  const sig = parsed.data;
  const newest = m.keys.epochs.length - 1;
  if (sig.epoch !== newest) return fail(`signed by epoch ${sig.epoch}, but the bundle's key chain ends at epoch ${newest}`);
  const certified = keys[sig.epoch];
  if (!certified) return fail(`signed by epoch ${sig.epoch}, whose certificate does not verify back to the root key`);
  if (sig.key !== certified.toString('base64')) return fail(`names the key ${sig.key}, which is not the certified key of epoch ${sig.epoch}`);
  if (!ed25519Verify(certified, manifestBytes, Buffer.from(sig.sig, 'base64'))) {
    return fail(`the Ed25519 signature over manifest.json does not verify with epoch ${sig.epoch}'s key (manifest.json or manifest.sig was changed)`);
  }
  return true;
}

/** SHA256SUMS and manifest.artifacts against the files actually in the zip. */
function checkFiles(files: Map<string, Buffer | null>, m: Manifest | undefined, signed: boolean, report: BundleVerifyReport, add: (c: BundleCheck, f: string, msg: string) => void): void {
  const sumsBytes = files.get('SHA256SUMS') ?? undefined;
  const sums = sumsBytes ? parseSums(sumsBytes, add) : undefined;
  const listed = new Map<string, Manifest['artifacts'][number]>();
  for (const a of m?.artifacts ?? []) {
    if (listed.has(a.path)) add('artifacts', 'manifest.json', `lists ${a.path} twice`);
    if ((BUNDLE_INDEX_FILES as readonly string[]).includes(a.path)) add('artifacts', 'manifest.json', `lists ${a.path} as an artifact`);
    listed.set(a.path, a);
  }
  const index = new Set<string>(BUNDLE_INDEX_FILES);
  for (const [p, bytes] of files) {
    if (p === 'SHA256SUMS' || bytes === null) continue; // damaged entries were reported by the zip check
    const actual = sha256(bytes);
    const inSums = sums?.get(p);
    if (index.has(p)) {
      if (!sums) continue;
      if (inSums === undefined) add('sums', 'SHA256SUMS', `does not list ${p}`);
      else if (inSums !== actual) {
        // A valid signature proves manifest.json and manifest.sig are as signed: then SHA256SUMS is what changed.
        if (signed) add('sums', 'SHA256SUMS', `the hash it lists for ${p} is not that file's (the signature verifies, so SHA256SUMS was changed)`);
        else add('sums', p, `SHA-256 ${actual} differs from SHA256SUMS (${inSums})`);
      }
      continue;
    }
    const a = listed.get(p);
    if (m && !a) {
      add('artifacts', p, `not listed in manifest.json${inSums === undefined ? ' or SHA256SUMS' : ''}: a file was added to the bundle`);
      continue;
    }
    let artifactOk = true;
    if (a) {
      if (a.sha256 !== actual) { add('artifacts', p, `changed: SHA-256 ${actual}, manifest.json says ${a.sha256}`); artifactOk = false; }
      else if (a.size !== bytes.length) { add('artifacts', p, `${bytes.length} bytes, manifest.json says ${a.size}`); artifactOk = false; }
      else report.checked.artifacts++;
    }
    if (!sums) continue;
    if (inSums === undefined) add('sums', a ? 'SHA256SUMS' : p, a ? `does not list ${p}` : 'not listed in SHA256SUMS');
    else if (inSums !== actual && artifactOk) {
      if (a) add('sums', 'SHA256SUMS', `the hash it lists for ${p} is not that file's (the file matches manifest.json, so SHA256SUMS was changed)`);
      else add('sums', p, `SHA-256 ${actual} differs from SHA256SUMS (${inSums})`);
    }
  }
  for (const p of listed.keys()) if (!files.has(p)) add('artifacts', p, 'missing: listed in manifest.json but not in the bundle');
  for (const p of sums?.keys() ?? []) {
    if (files.has(p) || listed.has(p) || index.has(p)) continue; // present, or its absence is reported above
    add('sums', 'SHA256SUMS', `lists ${p}, which is not in the bundle`);
  }
}

/** SHA256SUMS as `sha256sum` writes it: `<hex>  <path>` (or ` *<path>`), one a line, each ending in `\n`. */
function parseSums(bytes: Buffer, add: (c: BundleCheck, f: string, msg: string) => void): Map<string, string> | undefined {
  const out = new Map<string, string>();
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    add('sums', 'SHA256SUMS', 'not UTF-8 text');
    return undefined;
  }
  if (text.length > 0 && !text.endsWith('\n')) add('sums', 'SHA256SUMS', 'the last line has no newline (truncated?)');
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  lines.forEach((line, i) => {
    const mm = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (!mm) return add('sums', 'SHA256SUMS', `line ${i + 1} is not "<sha256>  <path>"`);
    const [, hash, p] = mm as unknown as [string, string, string];
    if (p === 'SHA256SUMS') return add('sums', 'SHA256SUMS', 'lists itself');
    if (out.has(p)) return add('sums', 'SHA256SUMS', `lists ${p} twice`);
    out.set(p, hash);
  });
  return out;
}

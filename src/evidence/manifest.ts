/**
 * The bundle's index files (issue 9; ../shared/PCI.md "A bundle layout"): manifest.json as RFC 8785 canonical
 * JSON, manifest.sig (Ed25519 by the current epoch key), SHA256SUMS in the format `sha256sum -c` reads, and
 * evidence-index.csv (RFC 4180) shaped for the evidence tables of the PCI DSS ROC (Section 6), so an assessor
 * can paste reference ids, descriptions, hashes and dates straight into the report.
 */
import { createHash } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { canonicalize } from '../../recorder/canonical-json.js';
import { ed25519Sign, rawPublicKey } from '../../recorder/ed25519.js';
import { EvidenceFormatError, KeyError } from '../errors.js';
import { csvFile } from './csv.js';
import type { Artifact, Manifest, ManifestSignature } from './types.js';

/** manifest.json's exact bytes: RFC 8785 canonical JSON, UTF-8, no trailing newline (what manifest.sig signs). */
export function manifestBytes(m: Manifest): Buffer {
  return Buffer.from(canonicalize(m), 'utf8');
}

/**
 * manifest.sig: an Ed25519 (RFC 8032) signature over manifest.json's bytes by the current epoch key, naming
 * the epoch and its public key so a verifier can find it in the manifest's key chain. Refuses a key whose
 * private half does not match `publicRaw`: a signature nobody can verify is a bug, not a bundle.
 */
export function signManifest(bytes: Buffer, key: { epoch: number; privateKey: KeyObject; publicRaw: Buffer }): ManifestSignature {
  if (!rawPublicKey(key.privateKey).equals(key.publicRaw)) {
    throw new KeyError(`the signing key of epoch ${key.epoch} does not match its public key`);
  }
  return {
    alg: 'Ed25519',
    epoch: key.epoch,
    key: key.publicRaw.toString('base64'),
    sig: ed25519Sign(key.privateKey, bytes).toString('base64'),
  };
}

/**
 * SHA256SUMS in GNU coreutils format: `<64 lowercase hex>  <path>\n` (two spaces: text mode), sorted by the
 * paths' UTF-8 bytes so the file is the same whatever order the bundle was assembled in. A path with a
 * newline or backslash would need coreutils' escaping, which not every checker reads: refused instead.
 */
export function sha256sums(files: Array<{ path: string; bytes: Buffer }>): Buffer {
  const lines = files.map((f) => {
    if (/[\n\r\\]/.test(f.path)) throw new EvidenceFormatError(`cannot list ${JSON.stringify(f.path)} in SHA256SUMS: newline or backslash in the name`, { file: f.path });
    return { key: Buffer.from(f.path, 'utf8'), line: `${createHash('sha256').update(f.bytes).digest('hex')}  ${f.path}\n` };
  });
  lines.sort((a, b) => Buffer.compare(a.key, b.key));
  return Buffer.from(lines.map((l) => l.line).join(''), 'utf8');
}

/** The columns of evidence-index.csv, in order. */
export const EVIDENCE_INDEX_COLUMNS = ['ref', 'description', 'sha256', 'date', 'requirements', 'testing_procedures', 'method', 'path'] as const;

/**
 * evidence-index.csv (RFC 4180 via csv.ts: CRLF line ends, a header row, quoting only where needed): one row
 * per artifact — reference id, description, SHA-256, the date collected (`generated` as YYYY-MM-DD), the
 * requirements and testing procedures it serves (`; `-separated), the method (TEST/EXAMINE) and its path in
 * the bundle. These are the facts the ROC's evidence tables (Section 6) ask for per evidence item.
 */
export function evidenceIndexCsv(artifacts: Artifact[], generated: string): Buffer {
  const date = /^\d{4}-\d{2}-\d{2}/.exec(generated)?.[0] ?? generated;
  const rows = artifacts.map((a) => {
    const requirements = [...new Set(a.procedures.map((p) => p.split('.')[0] ?? p))];
    return [a.ref, a.description, a.sha256, date, requirements.join('; '), a.procedures.join('; '), a.method, a.path];
  });
  return csvFile([...EVIDENCE_INDEX_COLUMNS], rows);
}

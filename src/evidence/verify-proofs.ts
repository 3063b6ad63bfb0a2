/**
 * The log-evidence half of `evidence verify`: the manifest's signed checkpoints (C2SP signed notes, c2sp.org/
 * tlog-checkpoint, Ed25519 by their epoch key) and each sampled record's RFC 6962 §2.1.1 inclusion proof into
 * one of them. With these an assessor holds a few records of the log and can prove, offline, that they are the
 * log's own bytes at the stated positions — without the rest of the log (PCI DSS 10.2.2, 10.3.2).
 */
import { leafHash, verifyInclusion } from '../../recorder/merkle.js';
import { epochKeyName, parseCheckpoint, parseNote, verifyNote } from '../../recorder/signed-note.js';
import { describeIssues, proofFileSchema } from './bundle-schema.js';
import type { Manifest } from './types.js';

/** Reports one problem: which check, which file in the bundle, what is wrong. */
export type AddProblem = (check: 'checkpoints' | 'proofs', file: string, message: string) => void;

/** `size:root` of a checkpoint, the key proofs use to name theirs. */
const cpKey = (size: number, root: string): string => `${size}:${root}`;

/**
 * Verifies every checkpoint of the manifest: its note parses, is signed by the key of its epoch (from the
 * verified key chain, `epochKeys[n]`) under the name `<origin>#e<n>`, and says what the manifest's fields say.
 * Returns the `size:root` keys of the checkpoints that verified and how many did.
 */
export function checkCheckpoints(manifest: Manifest, epochKeys: Buffer[], add: AddProblem): { valid: Set<string>; count: number } {
  const valid = new Set<string>();
  const bySize = new Map<number, string>();
  let count = 0;
  manifest.checkpoints.forEach((c, i) => {
    const where = `checkpoint ${i + 1} (size ${c.size})`;
    const fail = (why: string) => add('checkpoints', 'manifest.json', `${where}: ${why}`);
    const other = bySize.get(c.size);
    if (other !== undefined && other !== c.root) fail(`another checkpoint of the same size has a different root (a fork)`);
    bySize.set(c.size, c.root);
    let cp;
    try {
      cp = parseCheckpoint(parseNote(c.note).text);
    } catch (e) {
      fail(`the note is not a signed checkpoint (${(e as Error).message})`);
      return;
    }
    if (cp.origin !== manifest.origin) return fail(`the note is for origin ${cp.origin}, the bundle for ${manifest.origin}`);
    if (cp.size !== c.size || cp.root.toString('hex') !== c.root) return fail('the signed note says a different size or root than the manifest');
    if (cp.time !== c.time || cp.epoch !== c.epoch) return fail('the signed note says a different time or epoch than the manifest');
    const key = epochKeys[c.epoch];
    if (key === undefined) return fail(`signed by epoch ${c.epoch}, which the verified key chain does not reach`);
    if (!verifyNote(c.note, epochKeyName(manifest.origin, c.epoch), key)) return fail(`the signature does not verify with epoch ${c.epoch}'s key`);
    valid.add(cpKey(c.size, c.root));
    count++;
  });
  return { valid, count };
}

const SAMPLE = /^samples\/([^/]+)\.jsonl$/;
const PROOF = /^proofs\/([^/]+)\.json$/;

/**
 * Checks every `samples/<type>.jsonl` against its `proofs/<type>.json` (types.ts ProofFile): one proof per
 * line in order; the proof's checkpoint is a verified checkpoint of the manifest; leaf = SHA-256(0x00 ‖ line)
 * equals the proof's leaf; the line's seq is the proof's seq; the audit path leads to the checkpoint's root.
 * Returns the number of sampled records proved. Damaged entries (`null`) were reported by the zip check.
 */
export function checkSamples(files: Map<string, Buffer | null>, manifest: Manifest, verified: Set<string>, add: AddProblem): number {
  const known = new Set(manifest.checkpoints.map((c) => cpKey(c.size, c.root)));
  let proved = 0;
  for (const [p, bytes] of files) {
    const proofMatch = PROOF.exec(p);
    if (proofMatch && !files.has(`samples/${proofMatch[1]}.jsonl`)) add('proofs', p, `there is no samples/${proofMatch[1]}.jsonl for these proofs`);
    const m = SAMPLE.exec(p);
    if (!m) continue;
    const type = m[1]!;
    const proofPath = `proofs/${type}.json`;
    if (!files.has(proofPath)) {
      add('proofs', proofPath, `missing: ${p} has no inclusion proofs`);
      continue;
    }
    const proofBytes = files.get(proofPath);
    if (!bytes || !proofBytes) continue;
    let raw: unknown;
    try {
      raw = JSON.parse(proofBytes.toString('utf8'));
    } catch (e) {
      add('proofs', proofPath, `not JSON (${(e as Error).message})`);
      continue;
    }
    const parsed = proofFileSchema.safeParse(raw);
    if (!parsed.success) {
      add('proofs', proofPath, `not a proof file: ${describeIssues(parsed.error)}`);
      continue;
    }
    const { checkpoint, proofs } = parsed.data;
    const key = cpKey(checkpoint.size, checkpoint.root);
    if (!known.has(key)) add('proofs', proofPath, `its checkpoint (size ${checkpoint.size}) is not one of the signed checkpoints in manifest.json`);
    else if (!verified.has(key)) add('proofs', proofPath, `its checkpoint (size ${checkpoint.size}) did not verify, so these proofs prove nothing`);
    const lines = splitLines(bytes);
    if (lines.length !== proofs.length) add('proofs', proofPath, `${proofs.length} proofs for ${lines.length} sampled lines in ${p}`);
    const root = Buffer.from(checkpoint.root, 'hex');
    for (let i = 0; i < Math.min(lines.length, proofs.length); i++) {
      const line = lines[i]!;
      const proof = proofs[i]!;
      const record = parseRecord(line);
      if (!record) {
        add('proofs', p, `line ${i + 1} is not a JSON record`);
        continue;
      }
      let ok = true;
      const bad = (file: string, why: string) => { ok = false; add('proofs', file, why); };
      if (record.origin !== manifest.origin) bad(p, `line ${i + 1} is a record of origin ${JSON.stringify(record.origin)}, the bundle is for ${manifest.origin}`);
      if (record.type !== type) bad(p, `line ${i + 1} is a ${JSON.stringify(record.type)} record in the samples of ${type}`);
      const pathOk = verifyInclusion(Buffer.from(proof.leaf, 'hex'), proof.seq, checkpoint.size, proof.path.map((h) => Buffer.from(h, 'hex')), root);
      if (record.seq !== proof.seq) {
        bad(proofPath, `proof ${i + 1} is for seq ${proof.seq}, but line ${i + 1} of ${p} is seq ${JSON.stringify(record.seq)}`);
      } else if (leafHash(line).toString('hex') !== proof.leaf) {
        // The proof is checked on its own below; a line that does not hash to a valid proof's leaf was changed.
        bad(pathOk ? p : proofPath, pathOk
          ? `line ${i + 1} (seq ${proof.seq}) is not the logged record: its leaf hash differs from the proven one`
          : `proof ${i + 1} (seq ${proof.seq}): its leaf is not the hash of line ${i + 1} of ${p}`);
      }
      if (!pathOk) bad(proofPath, `proof ${i + 1} (seq ${proof.seq}) does not lead to the checkpoint's root (size ${checkpoint.size})`);
      if (ok) proved++;
    }
  }
  return proved;
}

/** The lines of a JSONL file as byte slices (each without its `\n`); a final line without `\n` counts. */
function splitLines(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (let i = bytes.indexOf(0x0a); i >= 0; i = bytes.indexOf(0x0a, start)) {
    out.push(bytes.subarray(start, i));
    start = i + 1;
  }
  if (start < bytes.length) out.push(bytes.subarray(start));
  return out;
}

function parseRecord(line: Buffer): { seq?: unknown; origin?: unknown; type?: unknown } | undefined {
  try {
    const v: unknown = JSON.parse(line.toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as { seq?: unknown }) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The shapes `evidence verify` accepts for the bundle's JSON files (src/evidence/types.ts Manifest,
 * ManifestSignature, ProofFile), as zod schemas. A bundle is untrusted input: these decide whether a file can
 * be checked at all, and turn a bad shape into one readable problem instead of a crash further on. They only
 * validate — the verifier keeps using the parsed JSON as it was, so signatures are checked over exactly what
 * the file holds.
 */
import { z } from 'zod';
import { STANDARD } from './types.js';

/** base64 of a raw 32-byte Ed25519 public key. */
const b64Key = z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'expected base64 of a 32-byte key');
const hex32 = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits');
const count = z.number().int().nonnegative();

const signedEpochCert = z.object({
  cert: z.object({
    type: z.literal('pcigate.epoch'),
    origin: z.string(),
    epoch: count,
    pub: b64Key,
    not_before: z.string(),
  }),
  sig: z.string(),
});

export const manifestSchema = z.object({
  bundle_id: z.string().min(1),
  tool: z.object({ name: z.literal('pcigate'), version: z.string() }),
  standard: z.literal(STANDARD),
  requirements: z.array(z.string()),
  period: z.object({ since: z.string(), until: z.string() }),
  generated: z.string(),
  origin: z.string().min(1),
  log: z.object({ records: count, first_seq: count.nullable(), last_seq: count.nullable() }),
  checkpoints: z.array(z.object({ size: count, root: hex32, time: z.string(), epoch: count, note: z.string() })),
  keys: z.object({ root: b64Key, epochs: z.array(signedEpochCert).min(1) }),
  artifacts: z.array(z.object({
    ref: z.string().min(1),
    path: z.string().min(1),
    sha256: hex32,
    size: count,
    mediaType: z.string(),
    description: z.string(),
    procedures: z.array(z.string()),
    method: z.enum(['TEST', 'EXAMINE']),
  })),
});

export const manifestSigSchema = z.object({
  alg: z.literal('Ed25519'),
  epoch: count,
  key: b64Key,
  sig: z.string().regex(/^[A-Za-z0-9+/]{86}==$/, 'expected base64 of a 64-byte Ed25519 signature'),
});

export const proofFileSchema = z.object({
  checkpoint: z.object({ size: count, root: hex32 }),
  proofs: z.array(z.object({ seq: count, leaf: hex32, path: z.array(hex32) })),
});

/** The first few issues of a failed parse, as one line: `keys.epochs.0.cert.pub: expected base64 …`. */
export function describeIssues(error: z.ZodError): string {
  const shown = error.issues.slice(0, 3).map((i) => `${i.path.length ? i.path.join('.') : '(document)'}: ${i.message}`);
  const more = error.issues.length > 3 ? ` (and ${error.issues.length - 3} more)` : '';
  return `${shown.join('; ')}${more}`;
}

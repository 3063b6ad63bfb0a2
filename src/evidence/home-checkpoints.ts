/**
 * keys/epochs.jsonl and checkpoints.jsonl as the evidence bundle takes them (docs/log-format.md "Key epochs",
 * "Merkle tree and checkpoints"), line by line as verify reads them (recorder/jsonl-lines.ts): whole, either file
 * may be more than one string (512 MiB) or one read (2 GiB) can hold. `readCertifiedEpochs` and `readCheckpoints`
 * take the data home's files as recorder/verify-load.ts hands them over, or bytes already in memory.
 */
import { forEachJsonLine } from '../../recorder/jsonl-lines.js';
import { verifyEpochCert } from '../../recorder/keys.js';
import type { SignedEpochCert } from '../../recorder/keys.js';
import { epochKeyName, parseCheckpoint, parseNote, verifyNote } from '../../recorder/signed-note.js';
import type { JsonlFile } from '../../recorder/verify-types.js';
import type { CheckpointEntry } from './types.js';

/**
 * The certified epochs so far, a line at a time: the longest prefix in which epoch n is certified by the root
 * key (n = 0) or by epoch n−1. `add` returns false where the chain stops (verify reports why).
 */
function epochChain(origin: string, rootPub: Buffer): { certs: SignedEpochCert[]; add(value: unknown): boolean } {
  const certs: SignedEpochCert[] = [];
  return {
    certs,
    add(value) {
      const sc = value as SignedEpochCert | undefined;
      const c = sc?.cert;
      if (!c || c.type !== 'pcigate.epoch' || c.epoch !== certs.length || c.origin !== origin || typeof c.pub !== 'string' || typeof sc.sig !== 'string') return false;
      const signer = certs.length === 0 ? rootPub : Buffer.from(certs[certs.length - 1]!.cert.pub, 'base64');
      let ok = false;
      try {
        ok = verifyEpochCert(sc, signer);
      } catch {
        ok = false;
      }
      if (ok) certs.push(sc);
      return ok;
    },
  };
}

/**
 * One line of checkpoints.jsonl parsed (C2SP tlog-checkpoint with pcigate's `time`/`epoch` lines) and marked
 * valid when its origin is the log's and its signature verifies with the key of its epoch (`<origin>#e<n>`,
 * c2sp.org/signed-note); undefined for a line that does not parse at all (verify reports it).
 */
function checkpointOf(value: unknown, origin: string, epochs: SignedEpochCert[]): CheckpointEntry | undefined {
  try {
    const note = (value as { note?: unknown } | undefined)?.note;
    if (typeof note !== 'string') return undefined;
    const cp = parseCheckpoint(parseNote(note).text);
    const epoch = cp.epoch ?? 0;
    const cert = epochs[epoch];
    const valid = cp.origin === origin && cert !== undefined &&
      verifyNote(note, epochKeyName(origin, epoch), Buffer.from(cert.cert.pub, 'base64'));
    return { note, size: cp.size, root: cp.root.toString('hex'), time: cp.time ?? '', epoch, valid };
  } catch {
    return undefined;
  }
}

/** The certified epochs of keys/epochs.jsonl, read a chunk at a time (see epochChain). */
export async function readCertifiedEpochs(file: JsonlFile | undefined, origin: string, rootPub: Buffer): Promise<SignedEpochCert[]> {
  const chain = epochChain(origin, rootPub);
  await forEachJsonLine(file, ({ value }) => chain.add(value));
  return chain.certs;
}

/** checkpoints.jsonl in file order, read a chunk at a time, each parsed and checked (see checkpointOf). */
export async function readCheckpoints(file: JsonlFile | undefined, origin: string, epochs: SignedEpochCert[]): Promise<CheckpointEntry[]> {
  const out: CheckpointEntry[] = [];
  await forEachJsonLine(file, ({ value }) => {
    const c = checkpointOf(value, origin, epochs);
    if (c) out.push(c);
  });
  return out;
}

/**
 * Key epochs (docs/log-format.md "Key epochs"): the certificate chain root → epoch 0 → epoch 1 → …, from
 * keys/epochs.jsonl and from the certificates embedded in `key.rotate` records, and which epoch is in
 * force at each tree size.
 */
import { verifyEpochCert } from './keys.js';
import { forEachJsonLine } from './jsonl-lines.js';
import type { SignedEpochCert } from './keys.js';
import type { JsonlFile, Problem, ProblemKind } from './verify-types.js';

export const EPOCHS_FILE = 'keys/epochs.jsonl';
const HEX64 = /^[0-9a-f]{64}$/;

export interface EpochCert {
  cert: { type: string; origin: string; epoch: number; pub: string; not_before: string; log_size?: unknown; log_root?: unknown };
  sig: string;
}

export interface RotateRecord {
  seq: number;
  segment: string;
  line: number;
  detail: unknown;
}

export interface EpochKeys {
  /** Raw public key by epoch (certified, or taken as given when its certificate could not be checked). */
  pubs: Map<number, Uint8Array>;
  /** key.rotate records in seq order: from that record on, epoch `to` is in force. */
  rotations: Array<{ seq: number; to: number }>;
  /**
   * The tree heads certified at rotations (recorder/keys.ts EpochCert log_size, log_root), from certificates
   * whose signature verified: epoch `epoch − 1`'s key says the first `size` records hash to `root` (hex).
   */
  handovers: Array<{ epoch: number; size: number; root: string; segment: string; seq: number | null; line: number }>;
  problems: Problem[];
}

/** Epoch in force for a checkpoint of `size` leaves: the last rotation among the first `size` records. */
export function epochAt(keys: EpochKeys, size: number): number {
  let e = 0;
  for (const r of keys.rotations) if (r.seq < size) e = r.to;
  return e;
}

function isCert(v: unknown): v is EpochCert {
  const c = (v as { cert?: Record<string, unknown> } | null)?.cert;
  return (
    typeof v === 'object' && v !== null && typeof (v as { sig?: unknown }).sig === 'string' && typeof c === 'object' && c !== null &&
    c.type === 'pcigate.epoch' && typeof c.origin === 'string' && Number.isSafeInteger(c.epoch) && (c.epoch as number) >= 0 &&
    typeof c.pub === 'string' && Buffer.from(c.pub, 'base64').length === 32
  );
}

/**
 * Checks the epoch certificate chain (root key → epoch 0, epoch n−1 → epoch n), that epoch numbers are
 * consecutive in epochs.jsonl and in key.rotate records, and that both sources certify the same keys.
 */
export async function checkEpochs(opts: {
  epochs: JsonlFile | undefined;
  rootKey: Uint8Array | undefined;
  origin: string;
  rotates: RotateRecord[];
}): Promise<EpochKeys> {
  const problems: Problem[] = [];
  const at = (kind: ProblemKind, segment: string, seq: number | null, detail: string, line?: number) => {
    const p: Problem = { kind, segment, seq, detail, severity: 'fail' };
    if (line !== undefined) p.line = line;
    problems.push(p);
  };
  type Found = { c: EpochCert; segment: string; seq: number | null; line: number };
  const fromFile = new Map<number, Found>();
  const fromLog = new Map<number, Found>();

  let expected = 0;
  let count = 0;
  await forEachJsonLine(opts.epochs, ({ line, value: v }) => {
    count++;
    if (!isCert(v)) { at('unreadable', EPOCHS_FILE, null, 'not an epoch certificate {cert, sig}', line); return; }
    const e = v.cert.epoch;
    if (e > expected) at('epoch_gap', EPOCHS_FILE, null, `certificate of epoch ${e} follows ${expected === 0 ? 'no earlier epoch' : `epoch ${expected - 1}`}: epoch ${expected}${e - 1 > expected ? `…${e - 1}` : ''} skipped`, line);
    if (e < expected || fromFile.has(e)) { at('inserted', EPOCHS_FILE, null, `a second certificate for epoch ${e}`, line); return; }
    fromFile.set(e, { c: v, segment: EPOCHS_FILE, seq: null, line });
    expected = e + 1;
  });

  if (count === 0) {
    at('wrong_epoch_key', EPOCHS_FILE, null, `${EPOCHS_FILE} is ${opts.epochs === undefined ? 'missing' : 'empty'}: no epoch key is certified by the root key`);
  }

  const rotations: Array<{ seq: number; to: number }> = [];
  let current = 0;
  for (const r of opts.rotates) {
    const d = r.detail as { from_epoch?: unknown; to_epoch?: unknown; cert?: unknown } | undefined;
    const from = d?.from_epoch;
    const to = d?.to_epoch;
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || !isCert(d?.cert)) {
      at('unreadable', r.segment, r.seq, 'key.rotate record without from_epoch, to_epoch and cert', r.line);
      continue;
    }
    if (from !== current || to !== (from as number) + 1) {
      at('epoch_gap', r.segment, r.seq, `key.rotate from epoch ${String(from)} to ${String(to)} while epoch ${current} was in force`, r.line);
    }
    if (d.cert.cert.epoch !== to) at('epoch_gap', r.segment, r.seq, `key.rotate to epoch ${String(to)} carries the certificate of epoch ${d.cert.cert.epoch}`, r.line);
    fromLog.set(to as number, { c: d.cert, segment: r.segment, seq: r.seq, line: r.line });
    rotations.push({ seq: r.seq, to: to as number });
    current = to as number;
  }

  const pubs = new Map<number, Uint8Array>();
  const handovers: EpochKeys['handovers'] = [];
  if (!opts.rootKey) at('wrong_epoch_key', 'keys/root.pub', null, 'no root public key: the epoch certificates cannot be checked (pass --root-key FILE)');
  // The epochs some certificate claims, in order: only those (a claimed epoch of 2^53 − 1 is one step, not a walk
  // through every number below it).
  const claimed = [...new Set([...fromFile.keys(), ...fromLog.keys()])].sort((a, b) => a - b);
  let by = -1;
  for (const e of claimed) {
    // Epoch n is certified by epoch n−1. Where that one is missing (an epoch skipped: epoch_gap, a failure of
    // its own), by the newest earlier epoch that is certified, so that every key trusted here is still
    // rooted in the root key.
    const signer = e === 0 ? opts.rootKey : pubs.get(by);
    const signerName = e === 0 ? 'the root key' : `the key of epoch ${by}`;
    let chosen: Uint8Array | undefined;
    for (const f of [fromFile.get(e), fromLog.get(e)]) {
      if (!f) continue;
      const pub = Buffer.from(f.c.cert.pub, 'base64');
      const where = f.seq === null ? 'certificate' : 'certificate in key.rotate';
      if (f.c.cert.origin !== opts.origin) {
        at('wrong_epoch_key', f.segment, f.seq, `${where} of epoch ${e} is for origin ${JSON.stringify(f.c.cert.origin)}`, f.line);
      } else if (signer && !verifyEpochCert(f.c as SignedEpochCert, signer)) {
        at('wrong_epoch_key', f.segment, f.seq, `${where} of epoch ${e} is not signed by ${signerName}`, f.line);
        continue;
      } else if (!signer && e > 0) {
        // Nothing vouches for a key that could have signed it (epochs.jsonl deleted, say). Taken as given, a
        // key.rotate appended with a made-up certificate would let any key sign the log.
        at('wrong_epoch_key', f.segment, f.seq, `${where} of epoch ${e} cannot be checked: no earlier epoch has a valid certificate`, f.line);
        continue;
      }
      if (chosen && !Buffer.from(chosen).equals(pub)) {
        at('wrong_epoch_key', f.segment, f.seq, `key.rotate certifies a different key for epoch ${e} than ${EPOCHS_FILE}`, f.line);
        continue;
      }
      chosen ??= pub;
      const { log_size: size, log_root: root } = f.c.cert;
      if (size === undefined && root === undefined) continue; // epoch 0, or written before rotations bound the log
      if (!Number.isSafeInteger(size) || (size as number) < 0 || typeof root !== 'string' || !HEX64.test(root)) {
        at('unreadable', f.segment, f.seq, `${where} of epoch ${e} has a log_size or log_root that is not a tree size and a hex root`, f.line);
      } else if (signer) {
        handovers.push({ epoch: e, size: size as number, root, segment: f.segment, seq: f.seq, line: f.line });
      }
    }
    if (chosen) { pubs.set(e, chosen); by = e; }
    // The writer appends a certificate to epochs.jsonl before its key.rotate record: one in the log only had its
    // line removed from the file (the writer then refuses the home: its epoch key is certified nowhere it reads).
    const inLog = fromLog.get(e);
    if (chosen && inLog && !fromFile.has(e) && count > 0) {
      at('missing', EPOCHS_FILE, null, `epoch ${e} is certified by key.rotate seq ${String(inLog.seq)}, but ${EPOCHS_FILE} has no certificate for it: its line was removed`);
    }
  }
  return { pubs, rotations, handovers, problems };
}

/**
 * Each rotation's certified tree head (EpochKeys handovers) against the log: the first `size` records must
 * hash to the root the old key signed into the new key's certificate. This is what holds once the old key is
 * gone: whoever has today's key can sign a rewritten log and drop the older checkpoints from
 * checkpoints.jsonl and the log, but cannot change what an earlier epoch handed over. `rootAt(n)` is the root
 * of the first n records (undefined past a missing one); `firstDamaged` the lowest seq already reported
 * changed or missing (a mismatch above it says nothing new).
 */
export function checkHandovers(opts: {
  keys: EpochKeys;
  size: number;
  firstDamaged: number;
  rootAt: (n: number) => Buffer | undefined;
  segmentForSeq: (seq: number) => string | null;
  problems: Problem[];
}): void {
  const { size, problems } = opts;
  let truncated = problems.some((p) => p.kind === 'truncated');
  const seen = new Set<string>();
  for (const h of opts.keys.handovers) {
    // epochs.jsonl and the key.rotate record carry the same certificate: one check, one problem.
    const id = `${h.epoch} ${h.size} ${h.root}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const where = h.seq === null ? `${EPOCHS_FILE} line ${h.line}` : `the certificate in key.rotate seq ${h.seq}`;
    const when = `when it handed over to epoch ${h.epoch} (${where})`;
    if (h.size > size) {
      if (!truncated) {
        problems.push({ kind: 'truncated', segment: opts.segmentForSeq(size), seq: size, severity: 'fail',
          detail: `the log ends ${size === 0 ? 'before seq 0' : `at seq ${size - 1}`} but epoch ${h.epoch - 1}'s key certified ${h.size} records ${when}` });
        truncated = true;
      }
      continue;
    }
    const r = opts.rootAt(h.size);
    if (h.size > 0 && r && r.toString('hex') !== h.root && opts.firstDamaged >= h.size) {
      problems.push({ kind: 'modified', segment: opts.segmentForSeq(h.size - 1), seq: h.size - 1, severity: 'fail',
        detail: `the first ${h.size} records do not hash to the root epoch ${h.epoch - 1}'s key certified ${when}: record seq ${h.size - 1} or earlier was changed and the chain re-linked over the change` });
    }
  }
}

/**
 * Key epochs (docs/log-format.md "Key epochs"): the certificate chain root → epoch 0 → epoch 1 → …, from
 * keys/epochs.jsonl and from the certificates embedded in `key.rotate` records, and which epoch is in
 * force at each tree size.
 */
import { verifyEpochCert } from './keys.js';
import type { SignedEpochCert } from './keys.js';
import type { Problem, ProblemKind } from './verify-types.js';

export const EPOCHS_FILE = 'keys/epochs.jsonl';

export interface EpochCert {
  cert: { type: string; origin: string; epoch: number; pub: string; not_before: string };
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
export function checkEpochs(opts: {
  epochs: Uint8Array | undefined;
  rootKey: Uint8Array | undefined;
  origin: string;
  rotates: RotateRecord[];
}): EpochKeys {
  const problems: Problem[] = [];
  const at = (kind: ProblemKind, segment: string, seq: number | null, detail: string, line?: number) => {
    const p: Problem = { kind, segment, seq, detail, severity: 'fail' };
    if (line !== undefined) p.line = line;
    problems.push(p);
  };
  type Found = { c: EpochCert; segment: string; seq: number | null; line: number };
  const fromFile = new Map<number, Found>();
  const fromLog = new Map<number, Found>();

  const text = opts.epochs ? Buffer.from(opts.epochs.buffer, opts.epochs.byteOffset, opts.epochs.byteLength).toString('utf8') : '';
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  let expected = 0;
  lines.forEach((l, k) => {
    let v: unknown;
    try { v = JSON.parse(l); } catch { v = undefined; }
    if (!isCert(v)) { at('unreadable', EPOCHS_FILE, null, 'not an epoch certificate {cert, sig}', k + 1); return; }
    const e = v.cert.epoch;
    if (e > expected) at('epoch_gap', EPOCHS_FILE, null, `certificate of epoch ${e} follows ${expected === 0 ? 'no earlier epoch' : `epoch ${expected - 1}`}: epoch ${expected}${e - 1 > expected ? `…${e - 1}` : ''} skipped`, k + 1);
    if (e < expected || fromFile.has(e)) { at('inserted', EPOCHS_FILE, null, `a second certificate for epoch ${e}`, k + 1); return; }
    fromFile.set(e, { c: v, segment: EPOCHS_FILE, seq: null, line: k + 1 });
    expected = e + 1;
  });

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
  if (!opts.rootKey) at('wrong_epoch_key', 'keys/root.pub', null, 'no root public key: the epoch certificates cannot be checked (pass --root-key FILE)');
  const maxEpoch = Math.max(-1, ...fromFile.keys(), ...fromLog.keys());
  for (let e = 0; e <= maxEpoch; e++) {
    const signer = e === 0 ? opts.rootKey : pubs.get(e - 1);
    const signerName = e === 0 ? 'the root key' : `the key of epoch ${e - 1}`;
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
      }
      if (chosen && !Buffer.from(chosen).equals(pub)) {
        at('wrong_epoch_key', f.segment, f.seq, `key.rotate certifies a different key for epoch ${e} than ${EPOCHS_FILE}`, f.line);
        continue;
      }
      chosen ??= pub;
    }
    if (chosen) pubs.set(e, chosen);
  }
  return { pubs, rotations, problems };
}

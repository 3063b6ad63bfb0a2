/**
 * `verifyLog`: the pure audit-log verifier (docs/log-format.md; issue 2 item 4). No IO of its own and no
 * clock: the caller hands in the bytes, or reads of them (recorder/verify-load.ts reads a data home), and `now`.
 *
 * It proves, offline and with only the root public key: the hash chain (`prev` = RFC 6962 leaf of seq−1),
 * the RFC 6962 Merkle root of every signed checkpoint (C2SP signed note, Ed25519), the epoch certificate
 * chain back to the root key, the committed recordings' SHA-256 and size, and — with the state of an
 * earlier run — that nothing was rolled back or cut. Each problem is named once, at the record it concerns
 * (see verify-order.ts), and checking goes on after the first one.
 *
 * Segments are read one at a time through the input (verify-scan.ts) and none is kept: memory grows with
 * the number of records (typed arrays, about 80 B each), not with the size of the log.
 */
import { createHash } from 'node:crypto';
import { inclusionProof, verifyInclusion } from './merkle.js';
import { CHECKPOINTS_FILE, collectCheckpoints, checkCheckpoints } from './verify-checkpoints.js';
import type { SealingCheckpoint, Where } from './verify-checkpoints.js';
import { checkEpochs, checkHandovers } from './verify-keys.js';
import type { RotateRecord } from './verify-keys.js';
import { orderAndChain, segmentForSeq } from './verify-order.js';
import { prefixRoots } from './verify-roots.js';
import { leafAt, leafHexAt, reparse, scanSegments } from './verify-scan.js';
import type { ScannedLines, SpecialRecord } from './verify-scan.js';
import type { InclusionProofReport, Problem, VerifyInput, VerifyReport } from './verify-types.js';
import { WARNING_KINDS } from './verify-types.js';

/** At most this many problems are listed; problemsTotal counts them all. */
export const MAX_LISTED = 1000;

/** An unsealed record dated more than this after the verifier's clock is warned about (clock skew allowed). */
export const FUTURE_SKEW_MICROS = 300e6;

/** Verifies a whole log; see the file comment. */
export async function verifyLog(input: VerifyInput): Promise<VerifyReport> {
  const segments = [...input.segments].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const s = await scanSegments(segments);
  const ord = orderAndChain(s);
  const problems: Problem[] = [...ord.problems];
  const { size, idxOfSeq } = ord;
  // Nothing to vouch for is not a pass (fail closed).
  if (size === 0 && s.n === 0) problems.push({ kind: 'missing', segment: null, seq: 0, severity: 'fail', detail: 'the log holds no records' });
  // The fast field reader trusts the shape of canonical JSON; where the chain says a line changed, parse it.
  const changed = ord.problems.filter((p) => p.kind === 'modified' && p.seq !== null && idxOfSeq[p.seq]! >= 0).map((p) => idxOfSeq[p.seq!]!);
  for (const [i, why] of await reparse(segments, s, changed)) {
    problems.push({ kind: 'unreadable', segment: s.segNames[s.seg[i]!] ?? null, seq: s.seq[i]!, detail: `record seq ${s.seq[i]!}: ${why}`, severity: 'fail', line: s.line[i]!, offset: s.offset[i]! });
  }
  // Line endings converted to CRLF change every record's bytes: say so where the chain breaks.
  for (const p of problems) {
    if (p.kind === 'modified' && p.seq !== null && s.cr.has(idxOfSeq[p.seq]!)) {
      p.detail += ' (its line ends in \\r\\n: the file\'s line endings were converted to CRLF, which changes the bytes every hash is over)';
    }
  }
  const origin = input.origin ?? s.origin ?? '';
  const segFor = (seq: number) => segmentForSeq(s, seq);

  // The records that need more than the chain, in seq order, chosen ones only.
  const rotates: RotateRecord[] = [];
  const mirrors: Array<Where & { note: unknown; size?: unknown; root?: unknown }> = [];
  const specials = [...s.special].filter(([i]) => idxOfSeq[s.seq[i]!] === i).sort((a, b) => s.seq[a[0]]! - s.seq[b[0]]!);
  for (const [i, rec] of specials) {
    const w = { segment: s.segNames[s.seg[i]!]!, seq: rec.seq, line: s.line[i]! };
    if (rec.type === 'key.rotate') rotates.push({ ...w, detail: rec.detail });
    if (rec.type === 'checkpoint') mirrors.push({ ...w, note: rec.detail?.note, size: rec.detail?.size, root: rec.detail?.root });
    if (rec.blobs !== undefined) await checkBlobs(rec, w, input, problems);
    if (rec.type === 'segment.open') checkSegmentOpen(rec, i, s, problems);
  }
  checkSegmentNames(s, idxOfSeq, size, problems);

  const keys = await checkEpochs({ epochs: input.epochs, rootKey: input.rootKey?.raw, origin, rotates });
  problems.push(...keys.problems);
  const { entries, sealing: sealed } = await collectCheckpoints({ file: input.checkpoints, mirrors, keys, origin, size, problems });
  const roots = prefixRoots(size, (q) => (idxOfSeq[q]! >= 0 ? leafAt(s, idxOfSeq[q]!) : undefined), [
    size,
    ...entries.map((e) => e.size),
    ...(input.state ? [input.state.size, input.state.checkpoint?.size ?? 0] : []),
    ...keys.handovers.map((h) => h.size),
  ]);
  checkCheckpoints({
    entries, origin, size, firstDamaged: ord.firstDamaged, rootAt: (n) => roots.get(n), segmentForSeq: segFor,
    fileGiven: input.checkpoints !== undefined, state: input.state, problems,
  });
  checkHandovers({ keys, size, firstDamaged: ord.firstDamaged, rootAt: (n) => roots.get(n), segmentForSeq: segFor, problems });

  // Time: ts must not go backwards along seq (a warning; tampering with ts also breaks the chain).
  // A changed record's ts proves nothing: compare only records whose bytes the chain vouches for.
  const damaged = new Set(problems.filter((p) => p.kind === 'modified' || p.kind === 'unreadable').map((p) => p.seq));
  for (let q = 1; q < size; q++) {
    const i = idxOfSeq[q]!;
    const j = idxOfSeq[q - 1]!;
    if (i >= 0 && j >= 0 && s.ts[i]! < s.ts[j]! && !damaged.has(q) && !damaged.has(q - 1)) {
      problems.push({ kind: 'time_regression', segment: segFor(q), seq: q, severity: 'warn', line: s.line[i]!,
        detail: `ts of seq ${q} is ${(s.ts[j]! - s.ts[i]!) / 1e6}s earlier than that of seq ${q - 1}` });
    }
  }

  // Sealing: records after the newest checkpoint signed by the right key. They are only chained, never
  // signed: they are always counted in the report (unsealed), and warned about when older than allowed or
  // dated after now — an unsealed record's own ts is whatever its writer put there.
  const sealedSize = sealed?.entry.size ?? 0;
  let uFirst = -1;
  let uLast = -1;
  let uCount = 0;
  let agedReported = false;
  let futureReported = false;
  // The one record after the newest checkpoint that needs no signature is that checkpoint's own mirror (the
  // last record of a cleanly closed log), exactly as the writer writes it: its note, size and root those signed
  // and nothing else in it (keptSpecial), since nothing signs what else it says. Another copy of a checkpoint
  // record there is not exempt: anyone can append one.
  const ownMirror = sealed ? mirrors.find((m) => m.seq !== null && m.seq >= sealedSize && m.note === sealed.note &&
    m.size === sealed.entry.size && m.root === sealed.entry.root.toString('hex'))?.seq : undefined;
  for (let q = sealedSize; q < size; q++) {
    const i = idxOfSeq[q]!;
    if (i < 0 || q === ownMirror) continue;
    if (uCount++ === 0) uFirst = q;
    uLast = q;
    if (Number.isNaN(s.ts[i]!)) continue;
    const age = input.nowMicros - s.ts[i]!;
    if (!agedReported && uCount === 1 && age > input.maxUnsealedMicros) {
      agedReported = true;
      problems.push({ kind: 'unsealed', segment: segFor(q), seq: q, severity: 'warn',
        detail: `${size - q} record(s) from seq ${q} on are not covered by a signed checkpoint; the oldest is ${Math.round(age / 1e6)}s old (allowed ${Math.round(input.maxUnsealedMicros / 1e6)}s)` });
    }
    if (!futureReported && -age > FUTURE_SKEW_MICROS) {
      futureReported = true;
      problems.push({ kind: 'unsealed', segment: segFor(q), seq: q, severity: 'warn', line: s.line[i]!,
        detail: `record seq ${q}, not covered by a signed checkpoint, is dated ${Math.round(-age / 1e6)}s after this verification's clock: its age cannot be judged, and nothing signed vouches for it` });
    }
  }
  const unsealed = uCount > 0 ? { firstSeq: uFirst, lastSeq: uLast, count: uCount } : null;
  // No signature at all: nothing is proven, whatever the chain says (fail closed, like an empty log). A
  // writer signs a checkpoint within seconds of activity and on close; a log without one either never had a
  // working writer close it, or lost its checkpoints (checkpoints.jsonl and every mirror: rewritten).
  // (Checkpoints that are there but do not verify are reported as such above.)
  if (size > 0 && entries.length === 0) {
    problems.push({ kind: 'unsigned', segment: CHECKPOINTS_FILE, seq: null, severity: 'fail',
      detail: `none of the ${size} records is covered by a signed checkpoint (${input.checkpoints === undefined ? `${CHECKPOINTS_FILE} is missing` : `${CHECKPOINTS_FILE} holds none`} and no checkpoint record in the log carries one): the hash chain alone proves nothing, anyone who can write the log can rebuild it` });
  }

  // A torn tail is what a crash leaves — unless the log now ends below a signed checkpoint, which no crash
  // does (a checkpoint is signed only once every record in it is durable): then it is part of a cut.
  if (s.torn >= 0 && problems.some((p) => p.kind === 'truncated')) {
    const torn = problems.find((p) => p.kind === 'unreadable' && p.line === s.line[s.torn] && p.segment === s.segNames[s.seg[s.torn]!]);
    if (torn) {
      torn.detail = `${torn.detail.split(': a crash')[0]!} where the log now ends, below a signed checkpoint: not a crash (a checkpoint is signed only after every record in it is durable) but a cut`;
      torn.severity = 'fail';
    }
  }
  problems.sort((a, b) => (a.seq ?? Infinity) - (b.seq ?? Infinity));
  const fail = problems.some((p) => p.severity === 'fail');
  const result = fail ? 'fail' : problems.length > 0 ? 'warn' : 'pass';
  if (problems.some((p) => WARNING_KINDS.has(p.kind) && p.severity !== 'warn')) throw new Error('verify: severity table out of step');

  const firstI = size > 0 ? idxOfSeq[0]! : -1;
  const lastI = size > 0 ? idxOfSeq[size - 1]! : -1;
  const tsText = (i: number) => (i >= 0 && Number.isFinite(s.ts[i]!) ? formatMicros(s.ts[i]!) : null);
  const allRoot = roots.get(size);
  const report: VerifyReport = {
    result,
    origin: origin || null,
    records: countOk(s),
    checkpoints: entries.length,
    epochs: keys.pubs.size,
    segments: segments.length,
    problems: problems.slice(0, MAX_LISTED),
    problemsTotal: problems.length,
    range: { firstSeq: size > 0 ? 0 : null, lastSeq: size > 0 ? size - 1 : null, firstTs: tsText(firstI), lastTs: tsText(lastI) },
    newestCheckpoint: sealed
      ? { size: sealed.entry.size, root: sealed.entry.root.toString('hex'), epoch: sealed.epoch ?? null, time: sealed.time ?? null }
      : null,
    unsealed,
    rootKeySource: input.rootKey?.source ?? null,
    state:
      fail || !allRoot
        ? input.state
        : {
            v: 1, origin, size, root: allRoot.toString('hex'),
            ...(sealed ? { checkpoint: { size: sealed.entry.size, root: sealed.entry.root.toString('hex'), note: sealed.note } } : {}),
          },
  };
  if (input.proofSeq !== undefined) report.proof = proofFor(input.proofSeq, s, idxOfSeq, sealed);
  return report;
}

function countOk(s: ScannedLines): number {
  let n = 0;
  for (let i = 0; i < s.n; i++) n += s.ok[i]!;
  return n;
}

async function checkBlobs(rec: SpecialRecord, w: Where, input: VerifyInput, problems: Problem[]): Promise<void> {
  const blobs: unknown[] = Array.isArray(rec.blobs) ? rec.blobs : [];
  for (const b of blobs) {
    const ref = b as { sha256?: unknown; bytes?: unknown; path?: unknown };
    if (typeof ref.path !== 'string') continue; // nothing on disk to compare with
    const bad = (detail: string) => problems.push({ kind: 'blob_mismatch', segment: w.segment, seq: w.seq, line: w.line, severity: 'fail', detail });
    const found = await input.blob(ref.path);
    if (!found) { bad(`recording ${ref.path} is missing or unreadable`); continue; }
    if ('refused' in found) { bad(`recording ${ref.path} ${found.refused}; it was not read`); continue; }
    const sum = found instanceof Uint8Array ? { sha256: createHash('sha256').update(found).digest('hex'), bytes: found.length } : found;
    if (sum.bytes !== ref.bytes) { bad(`recording ${ref.path} is ${sum.bytes} bytes, the record says ${String(ref.bytes)}`); continue; }
    if (sum.sha256 !== ref.sha256) bad(`recording ${ref.path} has SHA-256 ${sum.sha256}, the record says ${String(ref.sha256)}`);
  }
}

/**
 * segment.open's prev_segment pins the previous segment file's size and SHA-256 (docs/log-format.md),
 * compared with those the scan took of the file's bytes.
 */
function checkSegmentOpen(rec: SpecialRecord, i: number, s: ScannedLines, problems: Problem[]): void {
  const prev = (rec.detail as { prev_segment?: { file?: unknown; first_seq?: unknown; sha256?: unknown; bytes?: unknown } } | undefined)?.prev_segment;
  if (!prev || typeof prev.file !== 'string') return;
  const file = s.segFiles[s.segNames.indexOf(prev.file)];
  if (!file) {
    // Its records are reported missing; name the file they were in.
    for (const p of problems) {
      if (p.kind === 'missing' && p.seq !== null && p.seq >= Number(prev.first_seq ?? Infinity) && p.seq <= Number((prev as { last_seq?: unknown }).last_seq ?? -1)) {
        p.segment = prev.file;
        p.detail += ` (segment file ${prev.file} is missing)`;
      }
    }
    return;
  }
  const already = problems.some((p) => p.segment === prev.file && p.severity === 'fail');
  if (already) return;
  const sha = file.sha256;
  if (file.bytes !== prev.bytes || sha !== prev.sha256) {
    problems.push({ kind: 'modified', segment: prev.file, seq: null, severity: 'fail',
      detail: `segment file is ${file.bytes} bytes with SHA-256 ${sha}; segment.open of ${s.segNames[s.seg[i]!]} (seq ${rec.seq}) recorded ${String(prev.bytes)} bytes, ${String(prev.sha256)}` });
  }
}

/**
 * A segment is named by the seq of its first record (docs/log-format.md "Data home layout"); the writer
 * refuses to append to a log whose newest segment is named otherwise. A file renamed to another segment name
 * in the same order keeps every record in place, so nothing else notices it. Only where the first line is an
 * intact record in place and the named seq exists (a first record deleted is `missing`, not a rename), and
 * the segment has no other failure. An empty segment file is the writer's only as the newest one, named for
 * the next seq (`size`); any other (an emptied segment's records are `missing`, named by it) is reported.
 */
function checkSegmentNames(s: ScannedLines, idxOfSeq: Int32Array, size: number, problems: Problem[]): void {
  let i = 0;
  for (let g = 0; g < s.segNames.length; g++) {
    while (i < s.n && s.seg[i]! < g) i++;
    const name = s.segNames[g]!;
    const named = s.segStarts[g]!;
    if (i >= s.n || s.seg[i] !== g) {
      // An empty segment file is what the writer leaves only as the newest one, named for the next seq.
      if ((g < s.segNames.length - 1 || named !== size) && !problems.some((p) => p.segment === name && p.severity === 'fail')) {
        problems.push({ kind: 'modified', segment: name, seq: null, severity: 'fail',
          detail: g < s.segNames.length - 1
            ? 'an empty segment file before the newest one: the writer leaves an empty segment only as the newest, named for the next record'
            : `an empty newest segment file named for seq ${named}, but the log's next record is seq ${size}: the writer names it for the next record` });
      }
      continue;
    }
    if (!s.ok[i]) continue;
    const q = s.seq[i]!;
    // The writer begins every segment with a segment.open naming it: a later segment that begins otherwise was cut
    // out of the one before (a split keeps every record in place and the chain whole, so nothing else notices it).
    if (q === named && g > 0 && idxOfSeq[q] === i) {
      const first = s.special.get(i);
      const opens = first?.type === 'segment.open' && (first.detail as { segment?: unknown } | undefined)?.segment === name;
      if (!opens && !problems.some((p) => p.segment === name && p.severity === 'fail')) {
        problems.push({ kind: 'modified', segment: name, seq: q, severity: 'fail', line: 1,
          detail: `the segment does not begin with the segment.open the writer begins every segment with${first?.type === 'segment.open' ? ` for it (it names ${String((first.detail as { segment?: unknown } | undefined)?.segment)})` : ''}: it was split off the segment before, or made by hand` });
      }
      continue;
    }
    if (q === named || idxOfSeq[q] !== i || !(named < idxOfSeq.length && idxOfSeq[named]! >= 0)) continue;
    if (problems.some((p) => p.segment === name && p.severity === 'fail')) continue;
    problems.push({ kind: 'modified', segment: name, seq: null, severity: 'fail', line: 1,
      detail: `the file name says the segment begins at seq ${named}, but its first record is seq ${q}: the segment file was renamed (the writer names a segment by its first record and refuses to append to a log named otherwise)` });
  }
}

function proofFor(seq: number, s: ScannedLines, idxOfSeq: Int32Array, cp: SealingCheckpoint | undefined): InclusionProofReport | { seq: number; error: string } {
  if (!cp) return { seq, error: 'no valid signed checkpoint to prove against' };
  const n = cp.entry.size;
  if (!(Number.isSafeInteger(seq) && seq >= 0 && seq < n)) return { seq, error: `seq ${seq} is not covered by the newest checkpoint (size ${n})` };
  for (let q = 0; q < n; q++) {
    if (idxOfSeq[q]! < 0) return { seq, error: `seq ${q} is missing; no proof can be built` };
  }
  // Leaves read from the scan's flat buffer as the proof needs them, not gathered into n objects.
  const proof = inclusionProof({ length: n, at: (q) => leafAt(s, idxOfSeq[q]!) }, seq, n);
  const leaf = leafAt(s, idxOfSeq[seq]!);
  return {
    seq, leaf: leafHexAt(s, idxOfSeq[seq]!), size: n, root: cp.entry.root.toString('hex'), rootBase64: cp.entry.root.toString('base64'),
    proof: proof.map((p) => p.toString('hex')), note: cp.note, verified: verifyInclusion(leaf, seq, n, proof, cp.entry.root),
  };
}

/** `YYYY-MM-DDTHH:MM:SS.ffffffZ` from µs since the epoch. */
function formatMicros(us: number): string {
  const ms = Math.floor(us / 1000);
  return `${new Date(ms).toISOString().slice(0, 19)}.${String(us % 1e6).padStart(6, '0')}Z`;
}

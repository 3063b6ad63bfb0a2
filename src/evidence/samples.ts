/**
 * Sampled records per event type with RFC 6962 §2.1.1 inclusion proofs (issue 9: "sampled records per event
 * type, each with an inclusion proof to a signed checkpoint"). Samples are chosen deterministically — evenly
 * spaced by seq over the type's provable records in the period, always the first and the last — and every proof
 * goes to the newest valid signed checkpoint, which covers every record before it. Records after that checkpoint
 * cannot be proven yet: they are counted, never sampled.
 */
import { nodeHash, splitPoint, verifyInclusion } from '../../recorder/merkle.js';
import type { Leaves } from '../../recorder/merkle.js';
import { scanBytes } from '../mask/scan-files.js';
import { isClockReading } from './clock-readings.js';
import type { LogLines } from './log-lines.js';
import type { CheckpointEntry, EvidenceInput, LoadedRecord, ProofFile } from './types.js';

export interface TypeSample {
  type: string;
  /** The sampled records, in seq order. */
  records: LoadedRecord[];
  /** Their lines, byte-identical to the log (read back from it, checked against their leaves). */
  lines: Buffer[];
  proofs: ProofFile;
}

export interface SampleSet {
  /** The checkpoint every proof leads to; undefined when the log has no valid checkpoint. */
  checkpoint: CheckpointEntry | undefined;
  samples: TypeSample[];
  /** Records of the period per type that no valid checkpoint covers yet (not sampled). */
  unprovable: Map<string, number>;
  /**
   * Records per type that would have been sampled but hold what looks like a card number or sensitive
   * authentication data (an older pcigate, or a masking gap, let it into the log): a sample is the log line
   * byte for byte, it cannot be masked and still be proven, so it is left out of the bundle.
   */
  withheld: Map<string, number>;
  /** Why no proof could be built at all, when that is so. */
  problem?: string;
}

const SAFE_TYPE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
/** How many following records are tried in place of a sample that holds card data. */
const REPLACE_TRIES = 32;

/**
 * True when a log line holds what `pcigate scan` reports: a PAN or SAD, by the detector the bundle's own scan of the
 * log uses (req3/pan-sad-scan.csv; `masking.networks`), so a record left out for card data is one that scan lists.
 * Any Luhn-valid 13–19 digit number, whatever the networks, used to count here: one record in ten carrying a
 * timestamp in milliseconds (an approval's expires_ms) was left out for a card number the scan did not find. Such a
 * reading of pcigate's clock is not one under any_luhn either (clock-readings.ts), in the scan or here.
 */
function holdsAccountData(line: Buffer, anyLuhn: boolean): boolean {
  return scanBytes(line, 'sample', { anyLuhn, notAccountData: isClockReading }).length > 0;
}

/** Up to n indices of 0…count−1, evenly spaced, first and last included, ascending and distinct. */
export function spread(count: number, n: number): number[] {
  if (count <= 0 || n <= 0) return [];
  if (count <= n) return [...Array(count).keys()];
  if (n === 1) return [0];
  const out = new Set<number>();
  for (let i = 0; i < n; i++) out.add(Math.round((i * (count - 1)) / (n - 1)));
  return [...out].sort((a, b) => a - b);
}

/**
 * Audit paths PATH(m, D[size]) for many leaves of one tree, sharing subtree roots between them (RFC 6962
 * §2.1.1). recorder/merkle.ts inclusionProof recomputes O(size) hashes per proof; here the first proof costs
 * that and the rest reuse the cached subtrees.
 */
const CACHE_MIN = 256;

export class ProofBuilder {
  private readonly cache = new Map<string, Buffer>();

  constructor(private readonly leaves: Leaves, private readonly size: number) {}

  private root(lo: number, hi: number): Buffer {
    if (hi - lo === 1) return Buffer.from(this.leaves.at(lo)!);
    const k = splitPoint(hi - lo);
    // Only subtrees of CACHE_MIN leaves or more are kept: at most 2·size/CACHE_MIN entries, however large
    // the log, and a proof recomputes at most CACHE_MIN leaves' worth per level.
    if (hi - lo < CACHE_MIN) return nodeHash(this.root(lo, lo + k), this.root(lo + k, hi));
    const key = `${lo}:${hi}`;
    let h = this.cache.get(key);
    if (!h) {
      h = nodeHash(this.root(lo, lo + k), this.root(lo + k, hi));
      this.cache.set(key, h);
    }
    return h;
  }

  /** The audit path of leaf `m`, the leaf's sibling first. */
  proof(m: number): Buffer[] {
    const out: Buffer[] = [];
    let lo = 0;
    let hi = this.size;
    let idx = m;
    while (hi - lo > 1) {
      const k = splitPoint(hi - lo);
      if (idx < k) { out.push(this.root(lo + k, hi)); hi = lo + k; } else { out.push(this.root(lo, lo + k)); lo += k; idx -= k; }
    }
    return out.reverse();
  }
}

/** What sampleRecords reads: the records of the log and of the period, the checkpoints, and the log's lines. */
export type SampleInput = Pick<EvidenceInput, 'records' | 'inPeriod' | 'checkpoints' | 'sample'> & {
  log: Pick<LogLines, 'length' | 'at' | 'read'>;
  /** `masking.networks: any_luhn`: any Luhn-valid 13–19 digit number is a card number (holdsAccountData). */
  anyLuhn: boolean;
};

/**
 * Up to `points.length` clean records of `provable` (indices into it), evenly spaced: a record holding card data
 * is replaced by the next clean one not already taken. Lines come from `lines` (by record index); when one it
 * must look at is not there, the indices of every line that point could still look at go into `need` and it
 * returns undefined, to be asked again once they are read.
 */
function pickClean(provable: LoadedRecord[], points: number[], lines: ReadonlyMap<number, Buffer>, holds: (index: number, line: Buffer) => boolean, need: Set<number>): { picked: LoadedRecord[]; dirty: number } | undefined {
  const picked: LoadedRecord[] = [];
  const used = new Set<number>();
  const dirty = new Set<number>();
  for (const i of points) {
    const stop = Math.min(provable.length, i + REPLACE_TRIES);
    for (let j = i; j < stop; j++) {
      if (used.has(j) || dirty.has(j)) continue;
      const r = provable[j]!;
      const line = lines.get(r.index);
      if (!line) {
        for (let k = j; k < stop; k++) if (!lines.has(provable[k]!.index)) need.add(provable[k]!.index);
        return undefined;
      }
      if (holds(r.index, line)) { dirty.add(j); continue; }
      used.add(j);
      picked.push(r);
      break;
    }
  }
  return { picked, dirty: dirty.size };
}

/**
 * Chooses the samples of every event type present in the period and proves each. Only the lines looked at
 * are read (input.log.read: from their segments, checked against their leaves), in rounds: first the evenly
 * spaced records of every type, then the ones after a record that holds card data, where one does.
 */
export async function sampleRecords(input: SampleInput): Promise<SampleSet> {
  const valid = input.checkpoints.filter((c) => c.valid);
  const cp = valid.reduce<CheckpointEntry | undefined>((best, c) => (best === undefined || c.size > best.size ? c : best), undefined);
  const byType = new Map<string, LoadedRecord[]>();
  for (const r of input.inPeriod) {
    const list = byType.get(r.record.type) ?? [];
    list.push(r);
    byType.set(r.record.type, list);
  }
  const unprovable = new Map<string, number>();
  const withheld = new Map<string, number>();
  const size = cp?.size ?? 0;
  let problem: string | undefined;
  // The proofs index leaves by seq: only a log whose first `size` lines are seq 0…size−1 can be proven (record i's
  // leaf is then leaf i of the log's lines).
  if (cp) {
    for (let i = 0; i < size; i++) {
      const r = input.records[i];
      if (!r || r.record.seq !== i || r.index !== i) { problem = `the log does not hold seq 0…${size - 1} in order (see verify-report.json)`; break; }
    }
  } else {
    problem = 'no valid signed checkpoint: no record can be proven';
  }
  const builder = problem === undefined ? new ProofBuilder(input.log, size) : undefined;
  const root = cp ? Buffer.from(cp.root, 'hex') : Buffer.alloc(0);

  // `samples/<type>.jsonl` names the type: one that is not a plain file name (never written by pcigate) is
  // counted, not sampled, rather than escaped into a name `evidence verify` would not match to its records.
  const plans: Array<{ type: string; provable: LoadedRecord[]; points: number[] }> = [];
  for (const type of [...byType.keys()].sort()) {
    const all = byType.get(type)!;
    if (!SAFE_TYPE.test(type)) { unprovable.set(type, all.length); continue; }
    const provable = builder ? all.filter((r) => r.record.seq < size) : [];
    if (all.length > provable.length) unprovable.set(type, all.length - provable.length);
    plans.push({ type, provable, points: spread(provable.length, input.sample) });
  }
  const lines = new Map<number, Buffer>();
  const holding = new Map<number, boolean>();
  const holds = (index: number, line: Buffer): boolean => {
    let h = holding.get(index);
    if (h === undefined) { h = holdsAccountData(line, input.anyLuhn); holding.set(index, h); }
    return h;
  };
  const picks = new Map<string, { picked: LoadedRecord[]; dirty: number }>();
  let need = new Set(plans.flatMap((p) => p.points.map((i) => p.provable[i]!.index)));
  while (need.size > 0) {
    for (const [i, line] of await input.log.read(need)) lines.set(i, line);
    need = new Set();
    for (const p of plans) {
      if (picks.has(p.type)) continue;
      const got = pickClean(p.provable, p.points, lines, holds, need);
      if (got) picks.set(p.type, got);
    }
  }

  const samples: TypeSample[] = [];
  for (const { type } of plans) {
    const { picked, dirty } = picks.get(type) ?? { picked: [], dirty: 0 };
    picked.sort((a, b) => a.record.seq - b.record.seq);
    if (dirty > 0) withheld.set(type, dirty);
    const proofs: ProofFile['proofs'] = [];
    const kept: LoadedRecord[] = [];
    const keptLines: Buffer[] = [];
    for (const r of picked) {
      const leaf = input.log.at(r.index)!;
      const path = builder!.proof(r.record.seq);
      // A proof that does not lead to the signed root (a modified record) is no evidence: left out, and
      // verify-report.json names the record.
      if (!verifyInclusion(leaf, r.record.seq, size, path, root)) {
        unprovable.set(type, (unprovable.get(type) ?? 0) + 1);
        continue;
      }
      kept.push(r);
      keptLines.push(lines.get(r.index)!);
      proofs.push({ seq: r.record.seq, leaf: Buffer.from(leaf).toString('hex'), path: path.map((p) => p.toString('hex')) });
    }
    if (kept.length === 0) continue;
    samples.push({ type, records: kept, lines: keptLines, proofs: { checkpoint: { size, root: cp!.root }, proofs } });
  }
  return { checkpoint: cp, samples, unprovable, withheld, ...(problem !== undefined ? { problem } : {}) };
}

/** `samples/<type>.jsonl`: the sampled lines byte-identical to the log, each ending in `\n`. */
export function samplesJsonl(s: TypeSample): Buffer {
  return Buffer.concat(s.lines.flatMap((l) => [l, Buffer.from('\n')]));
}

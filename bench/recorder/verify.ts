/**
 * Verify throughput on a 1M-record log (issue 2 benchmark; goal ≥ 150k records/s).
 *
 *   npx tsc -p tsconfig.json && node dist/bench/recorder/verify.js [records] [--keep]
 *
 * The log is written straight in the documented format (docs/log-format.md) for speed: ~256-byte records,
 * 64 MiB segments opened by segment.open, a signed checkpoint every 1000 records mirrored in the log, one
 * key rotation in the middle. Then the data home is read (loadVerifyInput: keys and checkpoints) and
 * verified (verifyLog, which reads the segments one at a time as it scans them), and both phases are timed.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { canonicalize } from '../../recorder/canonical-json.js';
import { generateEd25519 } from '../../recorder/ed25519.js';
import { formatPublicKeyLine, signEpochCert } from '../../recorder/keys.js';
import type { SignedEpochCert } from '../../recorder/keys.js';
import { MerkleAccumulator, leafHash } from '../../recorder/merkle.js';
import { epochKeyName, formatCheckpoint, signNote } from '../../recorder/signed-note.js';
import { formatTs } from '../../recorder/timestamp.js';
import { verifyLog } from '../../recorder/verify.js';
import { loadVerifyInput } from '../../recorder/verify-load.js';
import { segmentBytes } from '../../recorder/verify-scan.js';

const N = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 1_000_000);
const keep = process.argv.includes('--keep');
const SEGMENT_BYTES = 64 * 1024 * 1024;
const origin = 'bench/pcigate';

function build(home: string): { bytes: number; segments: number } {
  mkdirSync(path.join(home, 'log'), { recursive: true });
  mkdirSync(path.join(home, 'keys'), { recursive: true });
  const root = generateEd25519();
  const keys = [generateEd25519()];
  const certs: SignedEpochCert[] = [signEpochCert({ type: 'pcigate.epoch', origin, epoch: 0, pub: keys[0]!.publicRaw.toString('base64'), not_before: formatTs(0n) }, root.privateKey)];
  let epoch = 0;
  const acc = new MerkleAccumulator();
  let prev = '0'.repeat(64);
  let ts = BigInt(Date.UTC(2026, 10, 22)) * 1000n;
  let seg: { name: string; parts: Buffer[]; bytes: number; hash: ReturnType<typeof createHash> } | undefined;
  const checkpoints: string[] = [];
  let total = 0;
  let segments = 0;
  const flush = () => {
    if (!seg) return;
    writeFileSync(path.join(home, 'log', seg.name), Buffer.concat(seg.parts));
  };
  const write = (event: Record<string, unknown> | ((seq: number, ts: string, prev: string) => string)) => {
    ts += 250n;
    const line = typeof event === 'function' ? event(acc.size, formatTs(ts), prev) : canonicalize({ v: 1, origin, seq: acc.size, ts: formatTs(ts), ...event, prev });
    const b = Buffer.from(`${line}\n`, 'utf8');
    const leaf = leafHash(b.subarray(0, b.length - 1));
    acc.append(leaf);
    prev = leaf.toString('hex');
    seg!.parts.push(b);
    seg!.bytes += b.length;
    seg!.hash.update(b);
    total += b.length;
  };
  const open = () => {
    const old = seg;
    flush();
    const name = `${String(acc.size).padStart(12, '0')}.jsonl`;
    seg = { name, parts: [], bytes: 0, hash: createHash('sha256') };
    segments++;
    write({
      type: 'segment.open',
      detail: {
        segment: name,
        prev_segment: old ? { file: old.name, first_seq: Number(old.name.slice(0, 12)), last_seq: acc.size - 1, last_leaf: prev, sha256: old.hash.digest('hex'), bytes: old.bytes } : null,
      },
    });
  };
  const checkpoint = () => {
    const size = acc.size;
    const rootHash = acc.root();
    const note = signNote(formatCheckpoint({ origin, size, root: rootHash, time: formatTs(ts), epoch }), epochKeyName(origin, epoch), keys[epoch]!.privateKey);
    checkpoints.push(canonicalize({ note }));
    write({ type: 'checkpoint', detail: { size, root: rootHash.toString('hex'), note } });
  };
  open();
  for (let k = 0; acc.size < N; k++) {
    if (seg!.bytes > SEGMENT_BYTES) open();
    // The canonical JSON of a typical pg.query record (keys in RFC 8785 order), built by hand for speed.
    write((seq, t, p) =>
      `{"actor":{"sub":"alice","via":"oidc"},"detail":{"sql":"select * from t where id=${k}"},` +
      `"origin":"${origin}","outcome":"success","prev":"${p}","seq":${seq},"session":"s1","ts":"${t}","type":"pg.query","v":1}`);
    if (acc.size % 1000 === 999) checkpoint();
    if (k === Math.floor(N / 2)) {
      checkpoint();
      keys.push(generateEd25519());
      const cert = signEpochCert({ type: 'pcigate.epoch', origin, epoch: epoch + 1, pub: keys[epoch + 1]!.publicRaw.toString('base64'), not_before: formatTs(ts) }, keys[epoch]!.privateKey);
      certs.push(cert);
      write({ type: 'key.rotate', detail: { from_epoch: epoch, to_epoch: epoch + 1, cert } });
      epoch++;
      checkpoint();
    }
  }
  checkpoint();
  flush();
  writeFileSync(path.join(home, 'checkpoints.jsonl'), checkpoints.map((l) => `${l}\n`).join(''));
  writeFileSync(path.join(home, 'keys', 'epochs.jsonl'), certs.map((c) => `${canonicalize(c)}\n`).join(''));
  writeFileSync(path.join(home, 'keys', 'root.pub'), formatPublicKeyLine(root.publicRaw));
  writeFileSync(path.join(home, 'origin'), `${origin}\n`);
  return { bytes: total, segments };
}

/** Wall and CPU (user + system) milliseconds of f: the machine is shared, CPU time is the fair measure. */
async function timed<T>(f: () => T | Promise<T>): Promise<{ value: T; wall: number; cpu: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await f();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { value, wall, cpu: (c.user + c.system) / 1000 };
}

const rate = (n: number, ms: number) => `${Math.round(n / (ms / 1000)).toLocaleString('en')}/s`;

const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-bench-verify-'));
try {
  const b = await timed(() => build(home));
  console.log(`built ${N} records (${(b.value.bytes / 1e6).toFixed(0)} MB, ${b.value.segments} segments, ~${Math.round(b.value.bytes / N)} B/record) in ${(b.wall / 1000).toFixed(1)} s`);
  for (let run = 1; run <= 3; run++) {
    const t0 = performance.now();
    const input = await loadVerifyInput(fsp, home, { nowMicros: Date.now() * 1000, maxUnsealedMicros: 3600e6 });
    const tLoad = performance.now() - t0;
    // Baseline on the same bytes: one createHash SHA-256 per line, what "records hashed per second" means
    // (each segment read first, outside the timing, as verify reads it).
    const base = { value: 0, wall: 0, cpu: 0 };
    for (const seg of input.segments) {
      const bytes = await segmentBytes(seg);
      const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const one = await timed(() => {
        let lines = 0;
        for (let pos = 0, end = buf.indexOf(10); end >= 0; pos = end + 1, end = buf.indexOf(10, pos)) {
          createHash('sha256').update(buf.subarray(pos, end)).digest();
          lines++;
        }
        return lines;
      });
      base.value += one.value;
      base.wall += one.wall;
      base.cpu += one.cpu;
    }
    const v = await timed(() => verifyLog(input));
    const r = v.value;
    console.log(
      `run ${run}: ${r.result.toUpperCase()} (${r.records} records, ${r.problemsTotal} problems, ${r.checkpoints} checkpoints); load ${(tLoad / 1000).toFixed(2)} s\n` +
        `  verify:            ${rate(r.records, v.cpu)} per CPU-second (${rate(r.records, v.wall)} wall)\n` +
        `  hash-only baseline: ${rate(base.value, base.cpu)} per CPU-second (${rate(base.value, base.wall)} wall)\n` +
        `  verify / baseline: ${(base.cpu / base.value / (v.cpu / r.records)).toFixed(2)} (goal 150k/330k = 0.45)`,
    );
  }
} finally {
  if (keep) console.log(`kept ${home}`);
  else rmSync(home, { recursive: true, force: true });
}

/**
 * Evidence collection cost on a large log (issue 9): collectEvidence (read + verify + parse every line with its
 * leaf), commonArtifacts (samples with RFC 6962 proofs, counts, gaps, field map) and checks10, timed apart.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/evidence/collect.js [records] [--once] [--keep]
 *
 * The log is written straight in the documented format (docs/log-format.md) for speed, like
 * bench/recorder/verify.ts: sessions of 20 statements (pg.intent + pg.query, a DDL and a denial now and then),
 * a signed checkpoint every 1000 records mirrored in the log.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { canonicalize } from '../../recorder/canonical-json.js';
import { generateEd25519 } from '../../recorder/ed25519.js';
import { formatPublicKeyLine, signEpochCert } from '../../recorder/keys.js';
import { MerkleAccumulator, leafHash } from '../../recorder/merkle.js';
import { epochKeyName, formatCheckpoint, signNote } from '../../recorder/signed-note.js';
import { formatTs } from '../../recorder/timestamp.js';
import { processCtx } from '../../src/cli/ctx.js';
import { checks10 } from '../../src/evidence/checks-10.js';
import { collectEvidence, loadConfigEvidence } from '../../src/evidence/collect.js';
import { commonArtifacts } from '../../src/evidence/common-artifacts.js';

const N = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 200_000);
const RUNS = process.argv.includes("--once") ? 1 : 2;
const origin = 'bench/evidence';

function build(home: string): number {
  mkdirSync(path.join(home, 'log'), { recursive: true });
  mkdirSync(path.join(home, 'keys'), { recursive: true });
  const root = generateEd25519();
  const key = generateEd25519();
  const cert = signEpochCert({ type: 'pcigate.epoch', origin, epoch: 0, pub: key.publicRaw.toString('base64'), not_before: formatTs(0n) }, root.privateKey);
  const acc = new MerkleAccumulator();
  const parts: Buffer[] = [];
  const checkpoints: string[] = [];
  let prev = '0'.repeat(64);
  let ts = BigInt(Date.UTC(2026, 10, 1)) * 1000n;
  const write = (event: Record<string, unknown>) => {
    ts += 5000n;
    const line = canonicalize({ v: 1, origin, seq: acc.size, ts: formatTs(ts), ...event, prev });
    const b = Buffer.from(line, 'utf8');
    const leaf = leafHash(b);
    acc.append(leaf);
    prev = leaf.toString('hex');
    parts.push(b, Buffer.from('\n'));
  };
  const checkpoint = () => {
    const size = acc.size;
    const r = acc.root();
    const note = signNote(formatCheckpoint({ origin, size, root: r, time: formatTs(ts), epoch: 0 }), epochKeyName(origin, 0), key.privateKey);
    checkpoints.push(canonicalize({ note }));
    write({ type: 'checkpoint', target: { kind: 'log' }, detail: { size, root: r.toString('hex'), note } });
  };
  write({ type: 'segment.open', target: { kind: 'log' }, detail: { segment: '000000000000.jsonl', prev_segment: null } });
  write({ type: 'log.start', target: { kind: 'log' }, detail: { version: 'bench', pid: 1, host: 'bench' } });
  const actor = { sub: 'alice@example.com', idp: 'https://idp.example.com', via: 'oidc', amr: ['pwd', 'otp'] };
  const src = { ip: '10.0.0.5', port: 50000, client: 'psql' };
  const target = { conn: 'prod-db', kind: 'postgres', host: 'db:5432', db: 'payments', user: 'app' };
  for (let s = 0; acc.size < N; s++) {
    const session = `s${s}`;
    write({ type: 'session.start', session, actor, src, target, outcome: 'success', detail: { kind: 'postgres' } });
    for (let i = 0; i < 20; i++) {
      const sql = i === 7 ? 'CREATE TABLE t_tmp (id int)' : `SELECT number FROM cards WHERE id = ${i}`;
      const detail = { n: i, protocol: 'simple', sql, command: i === 7 ? 'create' : 'select', kind: i === 7 ? 'ddl' : 'read' };
      if (i === 13) { write({ type: 'pg.query', session, actor, src, target, outcome: 'denied', detail: { ...detail, rule: 'deny', sqlstate: '42501' } }); continue; }
      write({ type: 'pg.intent', session, actor, src, target, outcome: 'pending', detail });
      write({ type: 'pg.query', session, actor, src, target, outcome: 'success', detail: { ...detail, sqlstate: null, rows: 1, duration_ms: 0.4 } });
      if (acc.size % 1000 >= 997) checkpoint();
    }
    write({ type: 'session.end', session, actor, src, target, outcome: 'success', detail: { statements: 20 } });
  }
  write({ type: 'log.stop', target: { kind: 'log' } });
  checkpoint();
  writeFileSync(path.join(home, 'log', '000000000000.jsonl'), Buffer.concat(parts));
  writeFileSync(path.join(home, 'checkpoints.jsonl'), checkpoints.map((l) => `${l}\n`).join(''));
  writeFileSync(path.join(home, 'keys', 'epochs.jsonl'), `${canonicalize(cert)}\n`);
  writeFileSync(path.join(home, 'keys', 'root.pub'), formatPublicKeyLine(root.publicRaw));
  writeFileSync(path.join(home, 'origin'), `${origin}\n`);
  return acc.size;
}

/** Wall and CPU milliseconds: the machine is shared, CPU time is the fair measure. */
async function timed<T>(f: () => T | Promise<T>): Promise<{ value: T; wall: number; cpu: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await f();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { value, wall, cpu: (c.user + c.system) / 1000 };
}

const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-bench-evidence-'));
try {
  const records = build(home);
  const ctx = { ...processCtx(), cwd: home, env: {} };
  const config = await loadConfigEvidence(ctx, { home });
  for (let run = 1; run <= RUNS; run++) {
    const c = await timed(() => collectEvidence(ctx, { home, config }));
    const a = await timed(() => commonArtifacts(c.value));
    const k = await timed(() => checks10(c.value));
    const heap = process.memoryUsage().heapUsed / 1e6;
    console.log(
      `run ${run}: ${records} records, verify ${c.value.verify.result}; ` +
      `collect ${(c.cpu / 1000).toFixed(2)} CPU-s (${Math.round(records / (c.wall / 1000)).toLocaleString('en')} records/s wall), ` +
      `common artifacts ${(a.cpu / 1000).toFixed(2)} CPU-s (${a.value.length} files), checks10 ${(k.cpu / 1000).toFixed(2)} CPU-s; heap ${heap.toFixed(0)} MB`,
    );
  }
} finally {
  if (process.argv.includes("--keep")) console.log(`kept ${home}`); else rmSync(home, { recursive: true, force: true });
}

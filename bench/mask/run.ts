/**
 * Masking benchmark (issue 4): scanner throughput on result-like data without candidates and on PAN-dense
 * data, a naive regex scan over the same bytes measured in the same run, and the cost per DataRow through
 * PgMasker. Build first (`npx tsc -p tsconfig.json`), then `node dist/bench/mask/run.js [MB]`.
 * Goals: ≥ 800 MB/s clean, ≥ 200 MB/s dense.
 */
import { luhnString } from '../../src/mask/card-networks.js';
import { findPans } from '../../src/mask/pan-detector.js';
import { PanMasker } from '../../src/mask/pan-masker.js';
import { PgMasker } from '../../src/mask/pg-masker.js';

const MB = Number(process.argv[2] ?? 64);

/** Deterministic PRNG (mulberry32) so every run scans the same bytes. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function luhnComplete(p: string): string {
  for (let d = 0; d < 10; d++) if (luhnString(p + d)) return p + d;
  throw new Error('unreachable');
}

const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi'];
const STATUS = ['paid', 'pending', 'refunded', 'failed'];

/** Rows like `SELECT id, name, email, created_at, amount, status, note FROM orders` in text format. */
function cleanData(bytes: number, r: () => number): Buffer {
  const rows: string[] = [];
  let n = 0;
  let id = 100000;
  while (n < bytes) {
    const name = NAMES[Math.floor(r() * NAMES.length)]!;
    const row = `${id++}\t${name}\t${name}@example.com\t2026-11-${String(1 + Math.floor(r() * 28)).padStart(2, '0')} ${String(Math.floor(r() * 24)).padStart(2, '0')}:${String(Math.floor(r() * 60)).padStart(2, '0')}:07.123456+00\t${(r() * 1000).toFixed(2)}\t${STATUS[Math.floor(r() * 4)]}\tshipped to warehouse number ${Math.floor(r() * 90)} on time\n`;
    rows.push(row);
    n += row.length;
  }
  return Buffer.from(rows.join('')).subarray(0, bytes);
}

/** A PAN in (nearly) every row. */
function denseData(bytes: number, r: () => number): Buffer {
  const rows: string[] = [];
  let n = 0;
  while (n < bytes) {
    let p = '4';
    for (let i = 0; i < 14; i++) p += Math.floor(r() * 10);
    const pan = luhnComplete(p);
    const row = r() < 0.5 ? `${Math.floor(r() * 1e6)}\t${pan}\tvisa\n` : `${Math.floor(r() * 1e6)}\t${pan.replace(/(\d{4})(?=\d)/g, '$1 ')}\tok\n`;
    rows.push(row);
    n += row.length;
  }
  return Buffer.from(rows.join('')).subarray(0, bytes);
}

/** The naive approach: decode to a string, regex for digit runs, Luhn-check each. */
const NAIVE = /(?<![0-9A-Za-z])\d(?:[ -]?\d){12,18}(?![0-9A-Za-z])/g;
function naiveScan(buf: Buffer): number {
  let found = 0;
  for (const m of buf.toString('latin1').matchAll(NAIVE)) if (luhnString(m[0].replace(/[ -]/g, ''))) found++;
  return found;
}

function mbps(label: string, buf: Buffer, fn: (b: Buffer) => number): number {
  fn(buf); // warm-up
  const reps = 5;
  let best = Infinity;
  let result = 0;
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    result = fn(buf);
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    best = Math.min(best, dt);
  }
  const rate = buf.length / 1e6 / best;
  console.log(`${label.padEnd(34)} ${rate.toFixed(0).padStart(6)} MB/s  (${result} found)`);
  return rate;
}

const r = rng(42);
const clean = cleanData(MB * 1e6, r);
const dense = denseData(Math.max(8, MB / 4) * 1e6, r);
const masker = new PanMasker();
console.log(`pcigate masking benchmark — ${MB} MB clean, ${(dense.length / 1e6).toFixed(0)} MB dense, node ${process.version}`);
// Calibration: the machine may be shared; a bare loop touching every 13th byte bounds what any scan can do.
mbps('calibration: bare stride-13 loop', clean, (b) => { let x = 0; for (let i = 12; i < b.length; i += 13) x += b[i]!; return x & 1; });
const c = mbps('skip-ahead scan, clean', clean, (b) => findPans(b).length);
const n1 = mbps('naive regex scan, clean', clean, naiveScan);
const d = mbps('skip-ahead scan, PAN-dense', dense, (b) => findPans(b).length);
const n2 = mbps('naive regex scan, PAN-dense', dense, naiveScan);
mbps('maskBytes (scan + mask), PAN-dense', dense, (b) => (masker.maskBytes(b) === b ? 0 : 1));
console.log(`ratio skip-ahead / naive: clean ${(c / n1).toFixed(1)}x, dense ${(d / n2).toFixed(1)}x`);
console.log(`goals: clean ≥ 800 MB/s ${c >= 800 ? 'met' : 'NOT met'}, dense ≥ 200 MB/s ${d >= 200 ? 'met' : 'NOT met'}`);

// Cost per DataRow through PgMasker (the proxy's onBackendMessage hook), clean and with one PAN per row.
function dataRow(values: string[]): Buffer {
  const parts = values.map((v) => { const b = Buffer.from(v); const l = Buffer.alloc(4); l.writeInt32BE(b.length); return Buffer.concat([l, b]); });
  const body = Buffer.concat([Buffer.from([0, values.length]), ...parts]);
  const h = Buffer.alloc(5);
  h[0] = 0x44;
  h.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([h, body]);
}
function rowDescription(names: string[]): Buffer {
  const parts = names.map((n) => { const b = Buffer.alloc(18); b.writeInt16BE(-1, 10); b.writeInt32BE(-1, 12); b.writeUInt32BE(25, 6); return Buffer.concat([Buffer.from(`${n}\0`), b]); });
  const body = Buffer.concat([Buffer.from([0, names.length]), ...parts]);
  const h = Buffer.alloc(5);
  h[0] = 0x54;
  h.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([h, body]);
}
const pg = new PgMasker({ config: { format: 'last4', networks: 'major', rules: [], sad_columns: [] } });
pg.onBackendMessage(rowDescription(['id', 'name', 'email', 'created_at', 'amount', 'card']));
const rowsClean = Array.from({ length: 1000 }, (_, i) => dataRow([String(100000 + i), 'alice', 'alice@example.com', '2026-11-22 12:00:07.123456+00', '12.50', 'none']));
const rowsPan = Array.from({ length: 1000 }, (_, i) => dataRow([String(100000 + i), 'alice', 'alice@example.com', '2026-11-22 12:00:07.123456+00', '12.50', '4111111111111111']));
for (const [label, rows] of [['DataRow through PgMasker, clean', rowsClean], ['DataRow through PgMasker, 1 PAN', rowsPan]] as const) {
  const iters = 200;
  for (const f of rows) pg.onBackendMessage(f);
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < iters; k++) for (const f of rows) pg.onBackendMessage(f);
  const ns = Number(process.hrtime.bigint() - t0) / (iters * rows.length);
  console.log(`${label.padEnd(34)} ${ns.toFixed(0).padStart(6)} ns/row`);
}

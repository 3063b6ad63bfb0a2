/**
 * The cost of the requirement 3, 7 and 8 checks (issue 9) on a large period, apart from loading the log:
 * the `pcigate scan` detector over every log line (src/evidence/stored-scan.ts LogScanner, which collectEvidence
 * runs on each segment as it reads it), checks3 (masking and copy tables; the log's and the recordings' findings
 * come with the input, as collectEvidence gives them),
 * checks7 (access model, approvals, a recorded decision per statement, access review) and checks8
 * (identities, shared accounts, last use, idle timeouts, MFA, secrets). CPU time, since the machine is shared.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/evidence/checks-378.js [records…=20000 100000]
 *
 * The whole input lives in memory (about 1 KB a record with its objects): a million records needs several GB.
 *
 * The input is built in memory: sessions of 20 statements (pg.intent + pg.query with intent_seq and masked
 * counts, a denial now and then) by 200 people, an approval every 50 sessions, one asciicast recording of
 * 64 KiB per 10 sessions. Record lines are canonical JSON as in the log.
 */
import { canonicalize } from '../../recorder/canonical-json.js';
import type { AuditEvent, AuditRecord } from '../../recorder/types.js';
import { parseConfigText } from '../../src/config/parse-config.js';
import { checks3 } from '../../src/evidence/checks-3.js';
import { checks7 } from '../../src/evidence/checks-7.js';
import { checks8 } from '../../src/evidence/checks-8.js';
import { parseRecords } from '../../src/evidence/collect.js';
import { LogScanner } from '../../src/evidence/stored-scan.js';
import { scanBytes } from '../../src/mask/scan-files.js';
import type { EvidenceInput } from '../../src/evidence/types.js';
import type { VerifyReport } from '../../recorder/verify-types.js';

const SIZES = process.argv.slice(2).map(Number).filter((n) => n > 0);

const CONFIG = `
connections:
  prod-db: { kind: postgres, host: db, database: payments, user: app, password: env:PGPASSWORD, approvers: [security] }
masking:
  rules: [{ name: card-number, columns: [public.cards.number], format: first6last4 }]
policy:
  roles: { support: { groups: [support] }, dba: { groups: [dba] } }
  connections:
    prod-db:
      roles:
        support: { classes: [read, transaction, utility], approval_tables: [public.cards] }
        dba: { classes: [read, write, ddl, copy_out] }
`;

function cpuMs<T>(f: () => T): { value: T; ms: number } {
  const c0 = process.cpuUsage();
  const value = f();
  const c = process.cpuUsage(c0);
  return { value, ms: (c.user + c.system) / 1000 };
}

async function makeInput(n: number): Promise<{ input: EvidenceInput; bytes: Buffer }> {
  const lines: string[] = [];
  const recordings: EvidenceInput['recordings'] = [];
  const t0 = Date.UTC(2026, 5, 1);
  const push = (e: AuditEvent) => {
    const seq = lines.length;
    const ts = `${new Date(t0 + seq * 1000).toISOString().slice(0, 23)}000Z`;
    const record: AuditRecord = { v: 1, origin: 'bench', seq, ts, prev: '0'.repeat(64), ...e };
    lines.push(canonicalize(record));
  };
  const target = { conn: 'prod-db', kind: 'postgres' as const, host: 'db:5432', db: 'payments', user: 'app' };
  for (let s = 0; lines.length < n; s++) {
    const p = s % 200;
    const actor = { sub: `person-${p}`, email: `p${p}@example.com`, idp: 'https://idp.example.com', groups: [p % 5 === 0 ? 'dba' : 'support'], amr: p % 7 === 0 ? ['pwd'] : ['pwd', 'otp'], via: 'oidc' as const };
    const session = `s${s}`;
    const base = { session, actor, target, src: { ip: '10.0.0.1', port: 50000 + (s % 1000), client: 'psql' } };
    push({ ...base, type: 'session.start', outcome: 'success', account: { kind: 'postgres', name: 'app' }, detail: { kind: 'postgres' } });
    if (s % 50 === 0) {
      push({ type: 'approval.request', actor, target: { conn: 'prod-db' }, session, outcome: 'pending', detail: { id: `A-${String(s).padStart(10, 'a')}`, kind: 'statement', sql: 'SELECT number FROM cards', state: 'pending' } });
      push({ type: 'approval.approve', actor: { ...actor, sub: 'approver', email: 'sec@example.com' }, target: { conn: 'prod-db' }, session, outcome: 'success', detail: { id: `A-${String(s).padStart(10, 'a')}`, kind: 'statement', state: 'approved' } });
    }
    for (let q = 1; q <= 20; q++) {
      const sql = q % 3 === 0 ? `SELECT number, holder FROM public.cards WHERE id = ${q}` : `SELECT id, amount FROM orders WHERE customer = ${s}`;
      const d = { n: q, protocol: 'simple', sql, command: 'select', kind: 'read' };
      if (q === 20 && s % 4 === 0) { push({ ...base, type: 'pg.query', outcome: 'denied', detail: { ...d, rule: 'policy.connections.prod-db.roles.support.classes', sqlstate: '42501' } }); continue; }
      push({ ...base, type: 'pg.intent', outcome: 'pending', detail: d });
      const intentSeq = lines.length - 1;
      push({ ...base, type: 'pg.query', outcome: 'success', detail: { ...d, intent_seq: intentSeq, masked: q % 3 === 0 ? { 'card-number': 1 } : {}, result: 'success', sqlstate: null, rows: 1, duration_ms: 0.4 } });
    }
    push({ ...base, type: 'session.end', outcome: 'success', account: { kind: 'postgres', name: 'app' }, detail: { statements: 20, masked: { 'card-number': 6 } } });
    if (s % 10 === 0) {
      const lines = ['{"version":2,"width":80,"height":24}'];
      for (let i = 0; lines.join('\n').length < 64 * 1024; i++) lines.push(`[${i}.5,"o","order ${i} card ************1111 amount 12.50\\r\\n"]`);
      const bytes = Buffer.from(`${lines.join('\n')}\n`);
      recordings.push({ path: `${session}-0.cast`, size: bytes.length, findings: scanBytes(bytes, `recordings/${session}-0.cast`), errors: [] });
    }
  }
  const config = parseConfigText(CONFIG, 'bench.yaml');
  // One segment; the log scan is timed on its own below.
  const bytes = Buffer.from(`${lines.join('\n')}\n`);
  const { records, log } = await parseRecords([{ name: '000000000000.jsonl', bytes }]);
  const input: EvidenceInput = {
    home: '/bench', origin: 'bench', generatedAt: records[records.length - 1]!.record.ts,
    period: { since: records[0]!.record.ts, until: records[records.length - 1]!.record.ts },
    records, inPeriod: records, log, logScan: { findings: [], bytes: 0 },
    samples: { checkpoint: undefined, samples: [], unprovable: new Map(), withheld: new Map() },
    verify: {} as VerifyReport, checkpoints: [], epochs: [], rootPub: Buffer.alloc(32),
    config: { config, source: 'bench.yaml', redacted: null, literalSecrets: [], secretRefs: [] },
    recordings, exportFiles: new Map(), maxExpanded: 1024 ** 3, sample: 3,
  };
  return { input, bytes };
}

for (const n of SIZES.length ? SIZES : [20_000, 100_000]) {
  const { input, bytes } = await makeInput(n);
  const logMB = bytes.length / 1e6;
  const recMB = input.recordings.reduce((a, r) => a + r.size, 0) / 1e6;
  const out: string[] = [`${input.records.length} records (${logMB.toFixed(1)} MB), ${input.recordings.length} recordings (${recMB.toFixed(1)} MB):`];
  const scanner = new LogScanner(false);
  const scan = cpuMs(() => scanner.segment(bytes, input.log, 0, input.log.length, (i) => input.records[i]!.record.seq));
  input.logScan = scanner.result;
  out.push(`  log scan: ${scan.ms.toFixed(0)} ms CPU (${(logMB / (scan.ms / 1000)).toFixed(0)} MB/s)  ${scanner.result.findings.length} findings`);
  for (const [name, check] of [['checks3', checks3], ['checks7', checks7], ['checks8', checks8]] as const) {
    const r = cpuMs(() => check(input));
    const statuses = r.value.procedures.map((p) => `${p.id}=${p.status}`).join(' ');
    out.push(`  ${name}: ${r.ms.toFixed(0)} ms CPU (${(logMB / (r.ms / 1000)).toFixed(0)} MB/s)  ${statuses}`);
  }
  console.log(out.join('\n'));
}

import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { checks3 } from '../../../src/evidence/checks-3.js';
import { collectEvidence, loadConfigEvidence } from '../../../src/evidence/collect.js';
import { exportFields } from '../../../src/evidence/exports.js';
import { writeZip } from '../../../src/archive/zip.js';
import type { ConfigEvidence, ProcedureResult, RequirementSection } from '../../../src/evidence/types.js';
import { defaultConfig } from '../../../src/config/schema.js';
import { SCAN_CHUNK_BYTES, scanBytes } from '../../../src/mask/scan-files.js';
import { testCtx } from '../../harness/test-ctx.js';
import { ALICE, BOB, CONFIG, DB, SSH, buildInput, csvRows, denied, end, intent, query, start, stepSeq } from './access-input.js';

const proc = (s: RequirementSection, id: string): ProcedureResult => {
  const p = s.procedures.find((x) => x.id === id);
  if (!p) throw new Error(`no procedure ${id}`);
  return p;
};
const artifact = (s: RequirementSection, path: string) => {
  const a = s.artifacts.find((x) => x.path === path);
  if (!a) throw new Error(`no artifact ${path}`);
  return a;
};

const PAN = '4111111111111111';
const CAST_HEADER = '{"version":2,"width":80,"height":24}\n';

describe('checks3: 3.3.1 / 3.5.1 scan of what pcigate stores', () => {
  it('finds nothing in a log and recordings that only hold masked values', async () => {
    const { input } = await buildInput({
      steps: [start('s1', ALICE), intent('s1', ALICE, 1, 'SELECT number FROM cards'), query('s1', ALICE, 1, 'SELECT number FROM cards', stepSeq(1)), end('s1', ALICE)],
      recordings: { 's1.cast': `${CAST_HEADER}[0.1,"o","card ************1111 and 411111******1111\\r\\n"]\n` },
    });
    const s = checks3(input);
    expect(proc(s, '3.5.1')).toMatchObject({ status: 'evidence', figures: { pan_findings: 0, sad_findings: 0, recordings_scanned: 1, records_scanned: input.records.length } });
    expect(proc(s, '3.3.1').status).toBe('evidence');
    expect(csvRows(artifact(s, 'req3/pan-sad-scan.csv').bytes)).toHaveLength(1);
  });

  it('catches a full PAN planted in a recording, a gzip recording and a log record, and SAD, without writing the PAN', async () => {
    const { input, seqs } = await buildInput({
      steps: [start('s1', ALICE), intent('s1', ALICE, 1, `SELECT * FROM cards WHERE number = '${PAN}'`), end('s1', ALICE)],
      recordings: {
        'a.cast': `${CAST_HEADER}[0.1,"o","row: ${PAN}\\r\\n"]\n`,
        'b.cast.gz': gzipSync(`${CAST_HEADER}[0.2,"o","5500 0000 0000 0004\\r\\n"]\n`),
        'c.jsonl': '{"t":"row","values":["cvv: 123"]}\n',
      },
    });
    const s = checks3(input);
    const p351 = proc(s, '3.5.1');
    expect(p351.status).toBe('exception');
    expect(p351.figures.pan_findings).toBe(3);
    expect(p351.result).toContain(`log seq ${seqs[1]}`);
    expect(p351.result).toContain('recordings/a.cast:2:');
    const p331 = proc(s, '3.3.1');
    expect(p331.status).toBe('exception');
    expect(p331.figures.sad_findings).toBe(1);
    const csv = artifact(s, 'req3/pan-sad-scan.csv').bytes.toString();
    const rows = csvRows(Buffer.from(csv));
    expect(rows.slice(1).map((r) => [r[0], r[1], r[2], r[5]])).toEqual([
      ['log', 'log', String(seqs[1]), 'pan'],
      ['recording', 'recordings/a.cast', '', 'pan'],
      ['recording', 'recordings/b.cast.gz', '', 'pan'],
      ['recording', 'recordings/c.jsonl', '', 'sad_value'],
    ]);
    // The bundle never carries the PAN: masked to the last four.
    expect(csv).not.toContain(PAN);
    expect(csv).not.toContain('5500 0000 0000 0004');
    expect(csv).toContain('************1111');
    expect(JSON.stringify(s.procedures)).not.toContain(PAN);
  });

  it("scans a recording larger than the scanner's read chunk whole, streamed, a PAN across the chunk boundary included", async () => {
    // Masked output up to the boundary, then a PAN whose first 8 digits end the first chunk; more after, a PAN
    // and a labelled CVV on the last lines. ASCII, so characters are bytes.
    const line = '[0.1,"o","order 1 card ************1111\\r\\n"]\n';
    const head = CAST_HEADER + line.repeat(Math.floor((SCAN_CHUNK_BYTES - 100 - CAST_HEADER.length) / line.length));
    const prefix = '[0.2,"o","row ';
    const straddle = `${prefix}${'.'.repeat(SCAN_CHUNK_BYTES - 8 - head.length - prefix.length - 1)} ${PAN}\\r\\n"]\n`;
    expect(head.length + straddle.indexOf(PAN)).toBe(SCAN_CHUNK_BYTES - 8);
    const text = `${head}${straddle}${line.repeat(1000)}[9.9,"o","last 5500 0000 0000 0004 cvv: 123\\r\\n"]\n`;
    const { input } = await buildInput({
      steps: [start('s1', ALICE), end('s1', ALICE)],
      recordings: { 'big.cast': text, 'big.cast.gz': gzipSync(text) },
    });
    const straddleLine = head.split('\n').length;
    for (const [name, bytes] of [['big.cast', Buffer.from(text)], ['big.cast.gz', gzipSync(text)]] as const) {
      const rec = input.recordings.find((r) => r.path === name);
      // What the evidence input keeps of a recording: its size and findings, never its bytes.
      expect(Object.keys(rec ?? {}).sort()).toEqual(['errors', 'findings', 'path', 'size']);
      expect(rec!.size).toBe(bytes.length);
      expect(rec!.errors).toEqual([]);
      expect(rec!.findings.map((f) => [f.file, f.line, f.column, f.kind, f.masked])).toEqual([
        [`recordings/${name}`, straddleLine, straddle.indexOf(PAN) + 1, 'pan', '************1111'],
        [`recordings/${name}`, straddleLine + 1001, 16, 'pan', '**** **** **** 0004'],
        [`recordings/${name}`, straddleLine + 1001, 36, 'sad_value', 'cvv: ***'],
      ]);
      // The same findings the in-memory scan of the whole file gives.
      expect(rec!.findings).toEqual(scanBytes(bytes, `recordings/${name}`));
    }
    const p351 = proc(checks3(input), '3.5.1');
    expect(p351.figures).toMatchObject({ recordings_scanned: 2, pan_findings: 4, sad_findings: 2 });
    expect(p351.figures.bytes_scanned).toBe(input.records.reduce((n, r) => n + input.log.bytes(r.index) + 1, 0) + Buffer.byteLength(text) + gzipSync(text).length);
  });
});

describe('checks3: 3.3.1 / 3.5.1 scan limits, as pcigate evidence sets them', () => {
  // A limit's message named `pcigate scan --max-expanded`, which pcigate evidence did not have.
  const config = async (home: string) => loadConfigEvidence(testCtx(), { config: path.join(home, 'pcigate.yaml') });
  const text = `${CAST_HEADER}${'[0.1,"o","order card ************1111\\r\\n"]\n'.repeat(200)}[9.9,"o","row ${PAN}\\r\\n"]\n`;

  it('a gzip recording expanding past --max-expanded is not scanned past it, and the message says pcigate evidence raises it', async () => {
    const { home } = await buildInput({ steps: [start('s1', ALICE), end('s1', ALICE)], recordings: { 's1.cast.gz': gzipSync(text) } });
    const input = await collectEvidence(testCtx(), { home, config: await config(home), maxExpanded: 1024 });
    const rec = input.recordings.find((r) => r.path === 's1.cast.gz')!;
    expect(rec.findings).toEqual([]);
    expect(rec.errors.map((e) => e.message)).toEqual([expect.stringMatching(/^decompression stopped after 1024 bytes \(1 KiB\), .*; pcigate evidence --max-expanded SIZE raises the limit \(e\.g\. 4G; 0 for none\)$/)]);
    const p351 = proc(checks3(input), '3.5.1');
    expect(p351.status).toBe('exception');
    expect(p351.figures.max_expanded_bytes).toBe(1024);
    expect(p351.checked).toContain('each up to 1024 bytes (1 KiB) expanded (pcigate evidence --max-expanded)');
    const csv = artifact(checks3(input), 'req3/pan-sad-scan.csv').bytes.toString('utf8');
    expect(csv).toContain('pcigate evidence --max-expanded SIZE');
    expect(csv).not.toContain('pcigate scan --max-expanded');
    // Raised (0: no limit), the whole recording is scanned and the PAN in its last line found.
    const whole = await collectEvidence(testCtx(), { home, config: await config(home), maxExpanded: Infinity });
    expect(whole.recordings.find((r) => r.path === 's1.cast.gz')).toMatchObject({ errors: [], findings: [{ kind: 'pan', masked: '************1111' }] });
    expect(proc(checks3(whole), '3.5.1').figures.max_expanded_bytes).toBeNull();
  });

  it("with the default limits, a zip entry over a quarter of them names pcigate evidence's --max-expanded size that scans it", async () => {
    // 257 MiB of zeros: over the 256 MiB one entry may expand to by default; known from the declared size, not inflated.
    const zip = writeZip([{ path: 'big.txt', bytes: Buffer.alloc(257 << 20) }]);
    const { input } = await buildInput({ steps: [start('s1', ALICE), end('s1', ALICE)], recordings: { 'kept.zip': zip } });
    expect(input.recordings.find((r) => r.path === 'kept.zip')!.errors).toEqual([{
      file: 'recordings/kept.zip!big.txt',
      message: expect.stringMatching(/ not scanned; pcigate evidence --max-expanded 2G or more scans it$/),
    }]);
    expect(proc(checks3(input), '3.5.1').figures.max_expanded_bytes).toBe(1024 ** 3);
  });
});

describe('checks3: 3.3.1 / 3.5.1 scan of the exports the log announces', () => {
  const LOCAL_ADMIN = { sub: 'carol', via: 'local' as const };
  const announce = (type: 'evidence.export' | 'audit.access', detail: Record<string, unknown>) => ({
    type, actor: LOCAL_ADMIN, account: { kind: 'os' as const, name: 'carol' }, target: { kind: 'log' as const }, outcome: 'success' as const,
    detail: type === 'audit.access' ? { command: 'replay', html: true, ...detail } : { bundle_id: 'b', ...detail },
  });

  /** Exports as the commands write them; `leak` then replaces the page with a copy holding a PAN and track data. */
  async function withExports(leak: boolean) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pcigate-e3-exports-'));
    const zip = writeZip([{ path: 'report.json', bytes: Buffer.from('{"masked":"************1111"}') }]);
    const page = Buffer.from('<html><p>card ************1111</p></html>');
    const files = { zip: path.join(dir, 'bundle.zip'), page: path.join(dir, 'session.html'), gone: path.join(dir, 'moved.zip') };
    writeFileSync(files.zip, zip);
    writeFileSync(files.page, page);
    const built = await buildInput({
      steps: [
        start('s1', ALICE), end('s1', ALICE),
        announce('evidence.export', { file: 'older.zip' }),
        announce('evidence.export', { file: 'bundle.zip', ...exportFields(files.zip, zip) }),
        announce('audit.access', exportFields(files.page, page)),
        announce('evidence.export', { file: 'moved.zip', ...exportFields(files.gone, zip) }),
      ],
      recordings: {},
    });
    if (leak) {
      writeFileSync(files.page, `<html><p>card ${PAN}</p><p>;${PAN}=25121010000000000000?</p></html>`);
      // collected again: the log is the same, the file at the page's path is not
      const again = await collectEvidence(testCtx(), { home: built.home, config: await loadConfigEvidence(testCtx(), { config: path.join(built.home, 'pcigate.yaml') }) });
      return { ...built, input: again, files };
    }
    return { ...built, files };
  }

  it('scans each export still in place, compares its hash, states the missing one and the one without a path', async () => {
    const { input, seqs, files } = await withExports(false);
    const s = checks3(input);
    const p = proc(s, '3.5.1');
    expect(p.status).toBe('evidence');
    expect(p.figures).toMatchObject({ exports_recorded: 4, exports_scanned: 2, exports_changed: 0, exports_missing: 1, exports_without_path: 1, export_findings: 0, unreadable: 0 });
    expect(p.result).toContain('Exports: 4 recorded exports: 2 scanned, 1 no longer at the recorded path (moved off the machine or deleted; not scanned), 1 recorded without a path.');
    expect(p.evidence).toEqual(['req3/pan-sad-scan.csv', 'req3/exports.csv']);
    expect(p.limits).toContain('listed as missing and not scanned');
    const rows = csvRows(artifact(s, 'req3/exports.csv').bytes);
    expect(rows.slice(1).map((r) => [r[0], r[3], r[5], r[7], r[10], r[11]])).toEqual([
      [String(seqs[2]), 'evidence bundle', '', 'no path', '0', '0'],
      [String(seqs[3]), 'evidence bundle', files.zip, 'unchanged', '0', '0'],
      [String(seqs[4]), 'replay page', files.page, 'unchanged', '0', '0'],
      [String(seqs[5]), 'evidence bundle', files.gone, 'missing', '0', '0'],
    ]);
  });

  it('a leaked copy at a recorded path is an exception naming the file, its changed hash noted, the PAN masked', async () => {
    const { input, seqs, files } = await withExports(true);
    const s = checks3(input);
    const p351 = proc(s, '3.5.1');
    const p331 = proc(s, '3.3.1');
    expect(p351.status).toBe('exception');
    expect(p331.status).toBe('exception');
    expect(p351.result).toContain(`${files.page}:1:15`);
    expect(p331.result).toContain(files.page);
    expect(p351.result).toContain(`changed since exported: ${files.page} seq ${seqs[4]}`);
    expect(p351.figures).toMatchObject({ exports_scanned: 2, exports_changed: 1, export_findings: 3, pan_findings: 2, sad_findings: 1 });
    const scan = csvRows(artifact(s, 'req3/pan-sad-scan.csv').bytes);
    expect(scan.slice(1).map((r) => [r[0], r[1], r[2], r[5]])).toEqual([
      ['export', files.page, String(seqs[4]), 'pan'],
      ['export', files.page, String(seqs[4]), 'track_data'],
      ['export', files.page, String(seqs[4]), 'pan'],
    ]);
    const row = csvRows(artifact(s, 'req3/exports.csv').bytes).find((r) => r[5] === files.page)!;
    expect([row[7], row[10], row[11]]).toEqual(['changed', '2', '1']);
    expect(row[8]).not.toBe(row[6]);
    for (const a of s.artifacts) expect(a.bytes.toString('utf8'), a.path).not.toContain(PAN);
    expect(JSON.stringify(s.procedures)).not.toContain(PAN);
  });
});

describe('checks3: 3.4.1 display masking', () => {
  it('lists the formats, the roles that may see the full PAN, and the masked counts of the period', async () => {
    const config = CONFIG.replace('dba: { classes: [read, write, ddl, copy_out], require_approval: [dcl] }', 'dba: { classes: [read, write, ddl, copy_out], require_approval: [dcl], unmask: clear }');
    const { input } = await buildInput({
      config,
      steps: [
        start('s1', ALICE), intent('s1', ALICE, 1, 'SELECT number FROM cards'),
        query('s1', ALICE, 1, 'SELECT number FROM cards', stepSeq(1), { masked: { 'card-number': 2 } }),
        intent('s1', ALICE, 2, 'SELECT number FROM cards'),
        query('s1', ALICE, 2, 'SELECT number FROM cards', stepSeq(3), { masked: { 'card-number': 2, pan: 1 } }),
        end('s1', ALICE),
        start('s2', BOB, SSH), end('s2', BOB, SSH, { kind: 'ssh', masked: { pan: 3 } }),
        { type: 'exec.end', session: 's3', actor: BOB, target: DB, outcome: 'success', detail: { exit_code: 0, masked: { pan: 2 } } },
      ],
    });
    const s = checks3(input);
    const p = proc(s, '3.4.1');
    expect(p.status).toBe('evidence');
    expect(p.figures).toMatchObject({ display_format: 'last4', column_rules: 1, formats_beyond_bin_last4: 0, unmask_grants: 1, full_pan_grants: 1, masked_total: 10, masked_sessions: 3 });
    expect(p.result).toContain('full PAN: dba@prod-db');
    const masking = csvRows(artifact(s, 'req3/masking-config.csv').bytes);
    expect(masking).toContainEqual(['column rule', 'card-number', 'public.cards.number', 'first6last4', 'BIN (first 6) and last 4 digits', 'yes']);
    expect(masking).toContainEqual(['unmask grant (policy)', 'dba on prod-db', '*', 'clear', 'the full PAN', 'no']);
    const counts = csvRows(artifact(s, 'req3/masked-counts.csv').bytes);
    expect(counts.slice(1)).toEqual([
      ['s1', 'prod-db', 'postgres', 'alice-1', 'card-number', '4', 'pg.query'],
      ['s1', 'prod-db', 'postgres', 'alice-1', 'pan', '1', 'pg.query'],
      ['s2', 'prod-ssh', 'ssh', 'bob-2', 'pan', '3', 'session.end'],
      ['s3', 'prod-db', 'exec', 'bob-2', 'pan', '2', 'exec.end'],
    ]);
  });

  it('is an exception when a configured display format reveals more than BIN and last four', async () => {
    const cfg = defaultConfig();
    (cfg.masking as { format: string }).format = 'clear';
    const evidence: ConfigEvidence = { config: cfg, source: 'pcigate.yaml', redacted: null, literalSecrets: [], secretRefs: [] };
    const { input } = await buildInput({ config: evidence, steps: [start('s1', ALICE)] });
    const p = proc(checks3(input), '3.4.1');
    expect(p.status).toBe('exception');
    expect(p.figures.formats_beyond_bin_last4).toBe(1);
  });

  it('is manual when the configuration did not load', async () => {
    const { input } = await buildInput({ config: 'connections: [oops', steps: [start('s1', ALICE)] });
    const s = checks3(input);
    expect(proc(s, '3.4.1').status).toBe('manual');
    expect(proc(s, '3.4.2').status).toBe('manual');
    expect(proc(s, '3.5.1').status).toBe('evidence');
  });
});

describe('checks3: 3.4.2 copy controls', () => {
  it('renders who may copy out and counts denied and allowed attempts', async () => {
    const { input } = await buildInput({
      steps: [
        start('s1', ALICE), denied('s1', ALICE, 1, 'COPY cards TO STDOUT', 'policy.connections.prod-db.roles.support.classes'),
        start('s2', BOB), intent('s2', BOB, 1, 'COPY cards TO STDOUT'), query('s2', BOB, 1, 'COPY cards TO STDOUT', stepSeq(3)),
        start('s3', ALICE, SSH),
        { type: 'ssh.request', session: 's3', actor: ALICE, target: SSH, outcome: 'denied', detail: { request: { kind: 'subsystem', name: 'sftp' }, decision: 'deny', rule: 'ssh.subsystems' } },
        { type: 'ssh.exec', session: 's3', actor: ALICE, target: SSH, outcome: 'denied', detail: { request: { kind: 'exec', command: 'scp -f /srv/export.csv' }, decision: 'deny', rule: 'ssh.exec.default' } },
        denied('s1', ALICE, 2, 'INSERT INTO notes SELECT cvv FROM cards', 'masking.stored_values'),
      ],
    });
    const s = checks3(input);
    const p = proc(s, '3.4.2');
    expect(p.status).toBe('evidence');
    expect(p.figures).toMatchObject({ open_to_everyone: 0, attempts_denied: 4, attempts_allowed: 1 });
    const controls = csvRows(artifact(s, 'req3/copy-controls.csv').bytes);
    expect(controls).toContainEqual(['prod-db', 'postgres', 'dba', 'COPY … TO STDOUT (class copy_out)', 'allowed', 'policy.connections.prod-db.roles.dba.classes', 'no']);
    expect(controls).toContainEqual(['prod-db', 'postgres', 'support', 'COPY … TO STDOUT (class copy_out)', 'denied', 'policy.connections.prod-db.roles.support.classes', 'no']);
    expect(controls).toContainEqual(['prod-ssh', 'ssh', 'any identity on the connection', 'sftp subsystem', 'denied', 'connections.prod-ssh.allow: ssh.subsystems', 'no']);
    const attempts = csvRows(artifact(s, 'req3/copy-attempts.csv').bytes);
    expect(attempts.slice(1).map((r) => [r[3], r[5], r[6]])).toEqual([
      ['alice-1', 'COPY … TO STDOUT', 'denied'],
      ['bob-2', 'COPY … TO STDOUT', 'success'],
      ['alice-1', 'sftp subsystem', 'denied'],
      ['alice-1', 'scp download', 'denied'],
      ['alice-1', 'masked values stored elsewhere', 'denied'],
    ]);
  });

  it('is an exception when an SSH connection grants sftp or port forwarding to everyone on it', async () => {
    const config = CONFIG.replace('shell: true', 'shell: true\n      subsystems: [sftp]\n      port_forwarding: true');
    const { input } = await buildInput({ config, steps: [start('s1', ALICE, SSH)] });
    const p = proc(checks3(input), '3.4.2');
    expect(p.status).toBe('exception');
    expect(p.figures.open_to_everyone).toBe(2);
    expect(p.result).toContain('sftp subsystem on prod-ssh');
  });
});

import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cardholderTables, categoriesOf } from '../../../src/evidence/categories.js';
import { checks10 } from '../../../src/evidence/checks-10.js';
import { collectEvidence, loadConfigEvidence } from '../../../src/evidence/collect.js';
import { commonArtifacts } from '../../../src/evidence/common-artifacts.js';
import type { EvidenceInput, ProcedureResult } from '../../../src/evidence/types.js';
import { openAuditLog } from '../../../recorder/index.js';
import type { AuditRecord } from '../../../recorder/types.js';
import { testCtx } from '../../harness/test-ctx.js';
import { tmpHome } from '../recorder/log-helpers.js';
import { ACTOR, SRC, TARGET, evidenceHome } from './evidence-log.js';
import type { EvidenceHome } from './evidence-log.js';

const proc = (input: EvidenceInput, id: string): ProcedureResult => {
  const p = checks10(input).procedures.find((x) => x.id === id);
  if (!p) throw new Error(`no procedure ${id}`);
  return p;
};

const ALL_IDS = ['10.2.1', '10.2.1.1', '10.2.1.2', '10.2.1.3', '10.2.1.4', '10.2.1.5', '10.2.1.6', '10.2.1.7', '10.2.2', '10.3.2', '10.3.4', '10.5.1', '10.6', '10.7'];
const NEVER = /\bcomplian|\bpass(ed)?\b/i;

describe('checks10 over a real log with a logging gap', () => {
  let h: EvidenceHome;
  let input: EvidenceInput;
  beforeAll(async () => {
    h = await evidenceHome();
    input = await collectEvidence(h.ctx, { home: h.home, config: await loadConfigEvidence(h.ctx, { home: h.home }) });
  });
  afterAll(async () => { await h.close(); });

  it('covers every procedure, cites only artifacts that exist, never claims compliance, and is deterministic', () => {
    const s = checks10(input);
    expect(s.requirement).toBe('10');
    expect(s.procedures.map((p) => p.id)).toEqual(ALL_IDS);
    const paths = new Set([...commonArtifacts(input), ...s.artifacts].map((a) => a.path));
    for (const p of s.procedures) {
      for (const e of p.evidence) expect(paths.has(e), `${p.id} cites ${e}`).toBe(true);
      expect(p.evidence.length, p.id).toBeGreaterThan(0);
      for (const text of [p.title, p.asks, p.checked, p.result]) expect(text, p.id).not.toMatch(NEVER);
      expect(p.limits.length, p.id).toBeGreaterThan(20);
    }
    expect(JSON.stringify(checks10(input))).toBe(JSON.stringify(s));
    expect(JSON.stringify(s.procedures).toLowerCase()).not.toMatch(/\bcompliant\b|"pass"/);
  });

  it('shows the gap under 10.7 and under 10.2.1, with start, end and cause', () => {
    const g = proc(input, '10.7');
    expect(g.status).toBe('exception');
    expect(g.result).toContain('2026-11-22T12:00:19.000000Z … 2026-11-22T12:00:39.000000Z (EIO: injected write failure)');
    expect(g.figures).toMatchObject({ gaps: 1, records_lost: 2, first_gap: '2026-11-22T12:00:19.000000Z', last_gap: '2026-11-22T12:00:39.000000Z' });
    expect(g.evidence).toContain('gaps.csv');
    const active = proc(input, '10.2.1');
    expect(active.status).toBe('exception');
    expect(active.result).toContain('2026-11-22T12:00:19.000000Z … 2026-11-22T12:00:39.000000Z: EIO: injected write failure');
    expect(active.figures).toMatchObject({ gaps: 1, log_starts: 2, log_stops: 1, not_running: 1, not_running_seconds: 3600, unclean_stops: 0, sealed_late: 0 });
    expect(active.evidence).toContain('gaps.csv');
  });

  it('a period that ends before the gap shows none', async () => {
    const before = await collectEvidence(h.ctx, { home: h.home, config: input.config, until: '2026-11-22T12:00:10Z' });
    expect(proc(before, '10.7').status).toBe('evidence');
    expect(proc(before, '10.7').figures.gaps).toBe(0);
    expect(proc(before, '10.2.1').status).toBe('evidence');
  });

  it('counts the 10.2.1.x categories from what the recorder wrote', () => {
    const fig = (id: string) => proc(input, id).figures;
    // No cardholder table configured: every pg.query counts for 10.2.1.1 (12), intents never.
    expect(fig('10.2.1.1')).toMatchObject({ records: 12, 'type:pg.query': 12 });
    expect(proc(input, '10.2.1.1').checked).toMatch(/names no cardholder table/);
    // DDL (create, drop, alter role) + GRANT, and the SSH command.
    expect(fig('10.2.1.2')).toMatchObject({ 'type:pg.query': 4, 'type:ssh.exec': 1 });
    expect(fig('10.2.1.3')).toMatchObject({ 'type:verify.run': 1, 'type:audit.access': 2 });
    // auth.fail, the denied DELETE, the 42501 on pg_authid.
    expect(fig('10.2.1.4')).toMatchObject({ records: 3, 'type:auth.fail': 1, 'type:pg.query': 2 });
    // ALTER ROLE, GRANT, useradd over SSH.
    expect(fig('10.2.1.5')).toMatchObject({ records: 3, 'type:pg.query': 2, 'type:ssh.exec': 1 });
    expect(fig('10.2.1.6')).toMatchObject({ 'type:log.start': 2, 'type:log.stop': 1, 'type:segment.open': 1, 'type:log.gap': 1 });
    // CREATE TABLE, DROP TABLE (not ALTER ROLE).
    expect(fig('10.2.1.7')).toMatchObject({ records: 2, 'type:pg.query': 2 });
    for (const id of ['10.2.1.1', '10.2.1.2', '10.2.1.3', '10.2.1.4', '10.2.1.5', '10.2.1.6', '10.2.1.7']) {
      expect(proc(input, id).status, id).toBe('evidence');
      expect(proc(input, id).evidence, id).toContain('stats/event-categories.csv');
    }
    expect(proc(input, '10.2.1.4').evidence).toEqual(expect.arrayContaining(['samples/auth.fail.jsonl', 'proofs/auth.fail.json']));
  });

  it('10.2.1.1 narrows to the cardholder tables the configuration names', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pcigate-ev10-'));
    const file = path.join(dir, 'pcigate.yaml');
    writeFileSync(file, 'masking:\n  rules:\n    - columns: [public.cards.number]\n      format: first6last4\n', { mode: 0o600 });
    const config = await loadConfigEvidence(testCtx(), { config: file });
    const narrowed = await collectEvidence(h.ctx, { home: h.home, config });
    const p = proc(narrowed, '10.2.1.1');
    // 5 SELECTs on cards, the denied DELETE FROM public.cards, GRANT … ON cards: not SELECT 1, pg_authid, DDL on audit_tmp.
    expect(p.figures).toMatchObject({ records: 7 });
    expect(p.checked).toContain('public.cards');
  });

  it('10.2.2: every record carries the six elements or is exempt by the field map; samples cited', () => {
    const p = proc(input, '10.2.2');
    expect(p.status).toBe('evidence');
    expect(p.figures).toMatchObject({ records: input.inPeriod.length, records_missing_elements: 0, unprovable_records: 2 });
    expect(p.evidence[0]).toBe('field-map.csv');
    expect(p.evidence).toEqual(expect.arrayContaining(['samples/pg.query.jsonl', 'proofs/pg.query.json', 'samples/log.gap.jsonl']));
  });

  it('10.3.2 / 10.3.4 / 10.6 from verify, checkpoints and timestamps; 10.5.1 shows a short history', () => {
    expect(proc(input, '10.3.2')).toMatchObject({ status: 'evidence', figures: { verify_result: 'intact', checkpoints_valid: 4, checkpoints_invalid: 0, epochs: 1 } });
    expect(proc(input, '10.3.4')).toMatchObject({ status: 'evidence', figures: { verify_runs: 1, last_verify_run: '2026-11-22T12:00:40.000000Z' } });
    expect(proc(input, '10.6')).toMatchObject({ status: 'evidence', figures: { regressions: 0, checkpoints_compared: 4, checkpoints_backwards: 0 } });
    expect(proc(input, '10.5.1')).toMatchObject({ status: 'exception', figures: { days_of_history: 0, covers_12_months: false, covers_3_months: false } });
  });

  it('a modified record makes 10.3.2 an exception', async () => {
    const copy = mkdtempSync(path.join(os.tmpdir(), 'pcigate-ev10-'));
    cpSync(h.home, copy, { recursive: true });
    const seg = path.join(copy, 'log', '000000000000.jsonl');
    writeFileSync(seg, readFileSync(seg, 'utf8').replace('SELECT 1', 'SELECT 2'));
    const bad = await collectEvidence(h.ctx, { home: copy, config: input.config });
    const p = proc(bad, '10.3.2');
    expect(p.status).toBe('exception');
    expect(p.result).toMatch(/verify fails with \d+ problem\(s\) \(modified/);
    expect(proc(bad, '10.2.1').status).toBe('exception');
  });
});

describe('checks10 over other real logs', () => {
  it('without a gap: 10.7 and 10.2.1 show evidence, 10.2.1.x empty categories are manual', async () => {
    const h = await evidenceHome({ withGap: false });
    try {
      const input = await collectEvidence(h.ctx, { home: h.home, config: await loadConfigEvidence(h.ctx, { home: h.home }) });
      expect(proc(input, '10.7')).toMatchObject({ status: 'evidence', figures: { gaps: 0, not_running: 1 } });
      expect(proc(input, '10.2.1')).toMatchObject({ status: 'evidence', figures: { gaps: 0, silences: 0 } });
      const early = await collectEvidence(h.ctx, { home: h.home, config: input.config, until: '2026-11-22T12:00:01Z' });
      expect(proc(early, '10.2.1.7')).toMatchObject({ status: 'manual', figures: { records: 0 } });
      expect(proc(early, '10.3.4').status).toBe('manual'); // no verify.run in that period
    } finally {
      await h.close();
    }
  });

  it('10.2.2 names the types of records that lack a required element', async () => {
    const home = tmpHome();
    const ctx = testCtx();
    const log = await openAuditLog(ctx, { home, createIfMissing: { origin: 'test/ev-missing' }, idleMs: 1e9 });
    await log.append({ type: 'pg.query', session: 's', actor: ACTOR, target: TARGET, outcome: 'success', detail: { sql: 'SELECT 1', command: 'select', kind: 'read' } });
    await log.append({ type: 'session.start', session: 's', src: SRC, target: TARGET, outcome: 'success' });
    await log.close();
    const input = await collectEvidence(ctx, { home, config: await loadConfigEvidence(ctx, { home }) });
    const p = proc(input, '10.2.2');
    expect(p.status).toBe('exception');
    expect(p.figures).toMatchObject({ records_missing_elements: 2, missing_by_type: 'pg.query 1, session.start 1', missing_by_element: 'origin 1, user 1' });
  });

  it('10.2.1: a crash (no log.stop) and a 20-minute silence inside an open session are exceptions; gaps.csv says which', async () => {
    const home = tmpHome();
    const ctx = testCtx();
    // The first process "dies": its lock names a pid that is not running, so the next open takes the log over.
    const first = await openAuditLog(ctx, { home, createIfMissing: { origin: 'test/ev-crash' }, idleMs: 1e9, pid: 2 ** 22 + 1 });
    await first.append({ type: 'session.start', session: 's', actor: ACTOR, src: SRC, target: TARGET, outcome: 'success' });
    ctx.clock.advance(20 * 60_000);
    await first.append({ type: 'pg.query', session: 's', actor: ACTOR, src: SRC, target: TARGET, outcome: 'success', detail: { sql: 'SELECT 1', command: 'select', kind: 'read' } });
    await first.checkpoint();
    ctx.clock.advance(60_000);
    const second = await openAuditLog(ctx, { home, idleMs: 1e9 });
    // A session idle for 16 minutes, ended by its idle timeout: a silence, but the control working.
    await second.append({ type: 'session.start', session: 't', actor: ACTOR, src: SRC, target: TARGET, outcome: 'success' });
    ctx.clock.advance(16 * 60_000);
    await second.append({ type: 'session.idle_timeout', session: 't', actor: ACTOR, src: SRC, target: TARGET, outcome: 'success', detail: { idle_ms: 960_000, limit_ms: 900_000 } });
    await second.append({ type: 'session.end', session: 't', actor: ACTOR, src: SRC, target: TARGET, outcome: 'failure', detail: { reason: 'idle_timeout' } });
    await second.close();
    const input = await collectEvidence(ctx, { home, config: await loadConfigEvidence(ctx, { home }) });
    const p = proc(input, '10.2.1');
    expect(p.status).toBe('exception');
    expect(p.figures).toMatchObject({ unclean_stops: 1, long_silences: 1, silences: 2, gaps: 0, sealed_late: 0 });
    // The first session's start waited the 20 silent minutes for its checkpoint.
    expect(p.figures.max_seal_latency_s).toBe(20 * 60);
    expect(p.result).toMatch(/1 stop\(s\) without log\.stop/);
    expect(p.result).toMatch(/1 silence\(s\) longer than 15 minutes/);
    expect(proc(input, '10.7').status).toBe('evidence'); // nothing was refused: not a logging failure
    const gaps = commonArtifacts(input).find((a) => a.path === 'gaps.csv')!.bytes.toString();
    expect(gaps).toContain('silence,2026-11-22T12:00:00.000000Z,2026-11-22T12:20:00.000000Z,1200.000');
    expect(gaps).toContain('silence,2026-11-22T12:21:00.000000Z,2026-11-22T12:37:00.000000Z,960.000,"no record while 1 session(s) were open, ended by session.idle_timeout');
    expect(gaps).toMatch(/not running,2026-11-22T12:20:00\.000000Z,2026-11-22T12:21:00\.000000Z,60\.000,pcigate ended without log\.stop after seq \d+ \(crash or kill\)/);
  });

  it('10.2.1: records that waited longer than audit.max_unsealed_age for a checkpoint are an exception', async () => {
    const home = tmpHome();
    const ctx = testCtx();
    const first = await openAuditLog(ctx, { home, createIfMissing: { origin: 'test/ev-late' }, idleMs: 1e9, checkpointIntervalMs: 1e9, pid: 2 ** 22 + 3 });
    await first.append({ type: 'verify.run', actor: { sub: 't', via: 'local' }, target: { kind: 'log' }, outcome: 'success' });
    ctx.clock.advance(2 * 3_600_000); // the process died before verify.run's checkpoint (the log's first, at open, covers only log.start); the next one seals it 2 h later
    const second = await openAuditLog(ctx, { home, idleMs: 1e9 });
    await second.close();
    const input = await collectEvidence(ctx, { home, config: await loadConfigEvidence(ctx, { home }) });
    const p = proc(input, '10.2.1');
    expect(p.status).toBe('exception');
    expect(p.figures).toMatchObject({ sealed_late: 1, max_seal_latency_s: 7200 });
    expect(p.result).toMatch(/1 record\(s\) sealed by a signed checkpoint only after more than 3600 s/);
  });

  it('10.6: a clock that steps back is a timestamp regression', async () => {
    const home = tmpHome();
    const ctx = testCtx();
    const log = await openAuditLog(ctx, { home, createIfMissing: { origin: 'test/ev-time' }, idleMs: 1e9 });
    ctx.clock.advance(10_000);
    await log.append({ type: 'verify.run', actor: { sub: 't', via: 'local' }, target: { kind: 'log' }, outcome: 'success' });
    ctx.clock.advance(-5_000);
    await log.append({ type: 'verify.run', actor: { sub: 't', via: 'local' }, target: { kind: 'log' }, outcome: 'success' });
    await log.close();
    ctx.clock.advance(10_000);
    const input = await collectEvidence(ctx, { home, config: await loadConfigEvidence(ctx, { home }) });
    expect(proc(input, '10.6')).toMatchObject({ status: 'exception', figures: { regressions: 1 } });
  });

  it('10.5.1: more than 12 months of history, with key rotations on the way', async () => {
    const home = tmpHome();
    const ctx = testCtx();
    const log = await openAuditLog(ctx, { home, createIfMissing: { origin: 'test/ev-retention' }, idleMs: 1e9 });
    for (let month = 0; month < 14; month++) {
      if (month === 7) await log.rotate();
      await log.append({ type: 'verify.run', actor: { sub: 't', via: 'local' }, target: { kind: 'log' }, outcome: 'success' });
      ctx.clock.advance(30 * 86_400_000);
    }
    await log.close();
    const input = await collectEvidence(ctx, { home, config: await loadConfigEvidence(ctx, { home }) });
    expect(proc(input, '10.5.1')).toMatchObject({ status: 'evidence', figures: { covers_12_months: true, covers_3_months: true, days_of_history: 420 } });
    expect(proc(input, '10.3.2').status).toBe('evidence');
    expect(proc(input, '10.3.2').figures).toMatchObject({ epochs: 2, key_rotations_in_period: 1, checkpoints_invalid: 0 });
  });
});

describe('categoriesOf', () => {
  const rec = (over: Partial<AuditRecord>): AuditRecord => ({ v: 1, origin: 'o', seq: 0, ts: '2026-11-22T12:00:00.000000Z', prev: '0'.repeat(64), type: 'pg.query', ...over });
  const none = cardholderTables(undefined);
  const q = (sql: string, command: string, kind: string) => rec({ detail: { sql, command, kind } });

  it('places statements by command and object', () => {
    expect(categoriesOf(q('/* x */ CREATE ROLE bob LOGIN', 'create', 'ddl'), none)).toEqual(['10.2.1.1', '10.2.1.2', '10.2.1.5']);
    expect(categoriesOf(q('create or replace function f() returns int as $$ select 1 $$ language sql', 'create', 'ddl'), none)).toContain('10.2.1.7');
    expect(categoriesOf(q('DROP EXTENSION pgcrypto', 'drop', 'ddl'), none)).toContain('10.2.1.7');
    expect(categoriesOf(q('REVOKE ALL ON cards FROM app', 'revoke', 'dcl'), none)).toContain('10.2.1.5');
    expect(categoriesOf(q('ALTER TABLE cards ADD COLUMN x int', 'alter', 'ddl'), none)).not.toContain('10.2.1.7');
    expect(categoriesOf(rec({ type: 'ssh.exec', outcome: 'pending', detail: { request: { kind: 'exec', command: 'useradd x' }, decision: 'hold' } }), none)).toEqual([]);
    expect(categoriesOf(rec({ type: 'pg.intent', detail: { sql: 'DROP TABLE t', command: 'drop', kind: 'ddl' } }), none)).toEqual([]);
    expect(categoriesOf(rec({ type: 'ssh.exec', outcome: 'denied', detail: { request: { kind: 'exec', command: 'echo x >> ~/.ssh/authorized_keys' } } }), none)).toEqual(['10.2.1.2', '10.2.1.4', '10.2.1.5']);
    // A request file put back or renamed, refused (outcome failure, not denied): an invalid access attempt.
    expect(categoriesOf(rec({ type: 'approval.tamper', outcome: 'failure', detail: { id: 'A-aaaaaaaaaa', finding: 'behind_log' } }), none)).toEqual(['10.2.1.4']);
  });

  it('matches cardholder tables qualified, unqualified, quoted and by glob', () => {
    const config = { masking: { rules: [{ columns: ['public.cards.number'] }, { columns: ['*pan*'] }] }, policy: { connections: { '*': { roles: { r: { approval_tables: ['billing.tok_*'], columns: { deny: ['vault.secret'] } } } } } } };
    const chd = cardholderTables(config as unknown as Parameters<typeof cardholderTables>[0]);
    expect(chd.patterns).toEqual(['billing.tok_*', 'public.cards', 'vault']);
    expect(chd.columns).toEqual(['*pan*']);
    for (const [sql, hit] of [
      ['SELECT * FROM cards', true], ['select * from "public"."cards"', true], ['SELECT * FROM public.cards_archive', false],
      ['SELECT * FROM billing.tok_2026', true], ['SELECT * FROM other.tok_2026', false], ["SELECT 'cards'", false], ['SELECT * FROM x.vault', true],
      // a masked column named without a cardholder table
      ['SELECT o.card_pan FROM orders o', true], ['SELECT id FROM orders', false], ["SELECT 'pan' FROM orders", false],
    ] as const) {
      expect(categoriesOf(q(sql, 'select', 'read'), chd).includes('10.2.1.1'), sql).toBe(hit);
    }
  });
});

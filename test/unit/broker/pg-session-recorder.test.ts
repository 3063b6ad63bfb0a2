/** PgSessionRecorder: the order of a session's statement records in the audit log. */
import { beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent, AuditSink } from '../../../recorder/types.js';
import { PgSessionRecorder } from '../../../src/broker/pg-session-recorder.js';
import { loadParser } from '../../../src/policy/pg-parser.js';
import type { Statement, StatementResult } from '../../../src/pg/proxy/hooks.js';

/** A sink that keeps what it was given, in the order of the append calls (that order is the log's seq). */
function memorySink(): AuditSink & { events: AuditEvent[] } {
  const events: AuditEvent[] = [];
  return {
    events,
    append: (e) => { events.push(e); return Promise.resolve({ seq: events.length - 1, leaf: '' }); },
    commitBlob: () => Promise.reject(new Error('not used')),
  };
}

const ok: StatementResult = { outcome: 'success', commands: ['SELECT 1'], rows: 1, dataRows: 1, suspended: false, durationMs: 1 };

describe('PgSessionRecorder', () => {
  // Whether a statement is a read that runs while its record is written is the parser's to say (sql-record.ts isPureRead).
  beforeAll(loadParser);

  it("writes a statement's result before the denial of the statement after it", async () => {
    const sink = memorySink();
    const rec = new PgSessionRecorder({
      sink, session: 's1', actor: { sub: 'tester', via: 'local' }, src: { ip: '127.0.0.1' }, target: { conn: 'db', kind: 'postgres' },
      transcript: null, onProblem: (e) => { throw e; },
      inner: { onStatement: (s) => (s.protocol === 'function' ? { action: 'deny', rule: 'function_call', message: 'no' } : { action: 'allow' }) },
    });
    const hooks = rec.hooks();
    const read: Statement = { n: 1, protocol: 'simple', sql: 'select 1', params: [] };
    const call: Statement = { n: 2, protocol: 'function', sql: 'function 957', params: [] };
    const first = hooks.onStatement!(read);
    await (first as { durable?: Promise<unknown> }).durable;
    hooks.onStatementEnd!(read, ok);
    // libpq sends the FunctionCall as soon as the read's result is in: within the recorder's deferral.
    await hooks.onStatement!(call);
    await rec.settle();
    expect(sink.events.map((e) => [e.type, e.outcome, (e.detail as { n: number }).n])).toEqual([
      ['pg.intent', 'pending', 1], ['pg.query', 'success', 1], ['pg.query', 'denied', 2],
    ]);
  });

  it('a pg.commit naming a read that ended before its intent was durable comes after that read\'s pg.query', async () => {
    // A sink whose first append (the read's intent) is durable only when released; the rest at once.
    const events: AuditEvent[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => { release = r; });
    const sink: AuditSink = {
      append: (e) => {
        events.push(e);
        const seq = events.length - 1;
        return seq === 0 ? held.then(() => ({ seq, leaf: '' })) : Promise.resolve({ seq, leaf: '' });
      },
      commitBlob: () => Promise.reject(new Error('not used')),
    };
    const rec = new PgSessionRecorder({
      sink, session: 's1', actor: { sub: 'tester', via: 'local' }, src: { ip: '127.0.0.1' }, target: { conn: 'db', kind: 'postgres' },
      transcript: null, onProblem: (e) => { throw e; }, inner: {},
    });
    const hooks = rec.hooks();
    const read: Statement = { n: 1, protocol: 'simple', sql: 'select 1', params: [] };
    void hooks.onStatement!(read);
    // The read ends (the server answered) while its intent is still being written; then its block is rolled back.
    hooks.onStatementEnd!(read, ok);
    hooks.onCommitFailed!([1], undefined, 0, true);
    release();
    await rec.settle();
    expect(events.map((e) => e.type)).toEqual(['pg.intent', 'pg.query', 'pg.commit']);
  });

  it('a statement still being decided (a catalog lookup) when the session ends: its records come before the end, closed', async () => {
    const sink = memorySink();
    let decide!: () => void;
    const rec = new PgSessionRecorder({
      sink, session: 's1', actor: { sub: 'tester', via: 'local' }, src: { ip: '127.0.0.1' }, target: { conn: 'db', kind: 'postgres' },
      transcript: null, onProblem: (e) => { throw e; },
      inner: { onStatement: () => new Promise((resolve) => { decide = () => resolve({ action: 'allow' }); }) },
    });
    void rec.hooks().onStatement!({ n: 1, protocol: 'simple', sql: 'insert into t values (1)', params: [] });
    const settled = rec.settle();
    let done = false;
    void settled.then(() => { done = true; });
    await new Promise((r) => setTimeout(r, 20));
    // settle() waits for the decision: session.end (written once it resolves) must not come before its records.
    expect(done).toBe(false);
    decide();
    await settled;
    expect(sink.events.map((e) => [e.type, e.outcome, (e.detail as { rule?: string }).rule])).toEqual([
      ['pg.intent', 'pending', undefined], ['pg.query', 'denied', 'session_end'],
    ]);
  });

  it('a held statement the client cancels, or whose session ends, is refused and its hold told to abandon the wait', async () => {
    for (const how of ['cancel', 'session end'] as const) {
      const sink = memorySink();
      const aborted: string[] = [];
      const rec = new PgSessionRecorder({
        sink, session: 's1', actor: { sub: 'tester', via: 'local' }, src: { ip: '127.0.0.1' }, target: { conn: 'db', kind: 'postgres' },
        transcript: null, onProblem: (e) => { throw e; },
        inner: { onStatement: () => ({ action: 'hold', until: new Promise(() => {}), abort: () => { aborted.push(how); } }) },
      });
      const d = await rec.hooks().onStatement!({ n: 1, protocol: 'simple', sql: 'delete from items', params: [] });
      expect(d.action).toBe('hold');
      if (how === 'cancel') expect(rec.cancelWaiting()).toEqual({ local: true, upstream: false });
      const settled = rec.settle();
      const decided = await (d as { until: Promise<{ action: string; sqlstate?: string }> }).until;
      await settled;
      expect(decided).toMatchObject({ action: 'deny', sqlstate: how === 'cancel' ? '57014' : '08006' });
      expect(aborted).toEqual([how]);
      expect(sink.events.map((e) => [e.type, e.outcome])).toEqual([['pg.query', 'denied']]);
    }
  });

  it('a write waiting for its intent is cancelled here (its pg.query right after that intent), and the cancel goes upstream only while an earlier statement runs there', async () => {
    for (const earlier of [false, true]) {
      let durable!: () => void;
      const slow = new Promise<void>((r) => { durable = r; });
      const events: AuditEvent[] = [];
      const sink: AuditSink = {
        // The write's intent becomes durable only when told; everything else at once.
        append: (e) => { events.push(e); const seq = events.length - 1; return (e.type === 'pg.intent' && (e.detail as { n: number }).n === 2 ? slow : Promise.resolve()).then(() => ({ seq, leaf: '' })); },
        commitBlob: () => Promise.reject(new Error('not used')),
      };
      const rec = new PgSessionRecorder({
        sink, session: 's1', actor: { sub: 'tester', via: 'local' }, src: { ip: '127.0.0.1' }, target: { conn: 'db', kind: 'postgres' },
        transcript: null, onProblem: (e) => { throw e; }, inner: {},
      });
      const hooks = rec.hooks();
      // A read pipelined before it, forwarded at once (still running upstream), or already ended.
      const read: Statement = { n: 1, protocol: 'extended', sql: 'select 1', params: [] };
      await (hooks.onStatement!(read) as { durable?: Promise<unknown> }).durable;
      if (!earlier) hooks.onStatementEnd!(read, ok);
      const decision = hooks.onStatement!({ n: 2, protocol: 'extended', sql: 'insert into t values (1)', params: [] }) as Promise<{ action: string; sqlstate?: string }>;
      await new Promise((r) => setImmediate(r));
      expect(rec.cancelWaiting()).toEqual({ local: true, upstream: earlier });
      durable();
      expect(await decision).toMatchObject({ action: 'deny', sqlstate: '57014' });
      if (earlier) hooks.onStatementEnd!(read, ok);
      await rec.settle();
      const seen = events.map((e) => [e.type, (e.detail as { n: number }).n, (e.detail as { result?: string }).result]);
      expect(seen).toEqual(earlier
        ? [['pg.intent', 1, undefined], ['pg.intent', 2, undefined], ['pg.query', 2, 'cancelled'], ['pg.query', 1, 'success']]
        : [['pg.intent', 1, undefined], ['pg.query', 1, 'success'], ['pg.intent', 2, undefined], ['pg.query', 2, 'cancelled']]);
      expect(events.find((e) => (e.detail as { result?: string }).result === 'cancelled')!.detail).toMatchObject({ intent_seq: earlier ? 1 : 2, sqlstate: '57014' });
    }
  });
});

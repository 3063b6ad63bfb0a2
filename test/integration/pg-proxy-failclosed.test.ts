/**
 * Fail closed: a statement whose record cannot be written is not executed and the client gets an error;
 * a backend hook that throws stops the message and ends the session with a generic error; internal
 * details never reach the client. Also: the Unix-socket upstream.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditSink } from '../../recorder/types.js';
import { AuditWriteError } from '../../src/errors.js';
import { bytes } from '../harness/pg-bytes.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { RawPgClient } from '../harness/raw-pg-client.js';
import { readLog, run, startGate, targetOf, until, pgClient as connect } from './pg-proxy-setup.js';

let server: PostgresServer;

beforeAll(async () => {
  server = await startPostgres();
  server.psql('create table audit_probe (x int)');
});
afterAll(async () => { await server?.stop(); });

/** A gate whose pg.intent records fail (disk full) while `intents.fail` is set. */
async function gateFailingIntents() {
  const intents = { fail: false };
  const gate = await startGate(server, {
    sinkWrap: (s: AuditSink): AuditSink => ({
      append: (e) => (intents.fail && e.type === 'pg.intent' ? Promise.reject(new AuditWriteError('disk full')) : s.append(e)),
      commitBlob: (p, k) => s.commitBlob(p, k),
    }),
  });
  return { gate, intents };
}

describe('fail closed', () => {
  it('does not execute a statement whose pg.intent record cannot be written', async () => {
    const { gate, intents } = await gateFailingIntents();
    try {
      const c = await connect(gate);
      intents.fail = true;
      await expect(c.query('insert into audit_probe values (1)')).rejects.toMatchObject({ code: '58030' });
      await expect(c.query('insert into audit_probe values ($1)', [2])).rejects.toMatchObject({ code: '58030' });
      intents.fail = false;
      expect((await c.query('select count(*)::int as n from audit_probe')).rows).toEqual([{ n: 0 }]);
      // A read may run while its record is written, but its result is withheld if the record fails.
      intents.fail = true;
      await expect(c.query("select 'withheld' as v from audit_probe")).rejects.toMatchObject({ code: '58030' });
      await c.end().catch(() => {});
      expect(server.psql('select count(*) from audit_probe').trim()).toBe('0');
      // It ran on the server: its closing record says so, with what the client was sent, not a success.
      await until(() => readLog(gate.home).some((r) => r.type === 'session.end'));
      const withheld = readLog(gate.home).filter((r) => r.type === 'pg.query' && (r.detail as { sql: string }).sql.includes("'withheld'"));
      expect(withheld).toMatchObject([{ outcome: 'failure', detail: { sqlstate: '58030', intent_seq: null } }]);
    } finally { await gate.close(); }
  });

  it('a SELECT that calls a function in a way words do not show is no read: not run when its record fails', async () => {
    server.psql(`create table probe_calls (v text);
      create function probe_writer(v text) returns int language sql as $$ insert into probe_calls values (v) returning 1 $$;`);
    const { gate, intents } = await gateFailingIntents();
    try {
      // Each on a session of its own: a read whose record fails ends its session (58030 FATAL).
      for (const sql of [`select "probe_writer"('quoted')`, `select probe_writer/**/('comment')`, `select E'\\'', probe_writer('estring'), 'x'`, `select U&"probe_writer"('uescape')`]) {
        const c = await connect(gate);
        intents.fail = true;
        await expect(c.query(sql), sql).rejects.toMatchObject({ code: '58030' });
        intents.fail = false;
        await c.end().catch(() => {});
      }
      expect(server.psql('select count(*) from probe_calls').trim()).toBe('0');
    } finally { await gate.close(); }
  });

  it('a write whose client vanishes while its intent is written: not run, and its intent gets a pg.query', async () => {
    server.psql('create table vanish_probe (x int)');
    const gate = await startGate(server, {
      sinkWrap: (s: AuditSink): AuditSink => ({
        // An intent takes a while to be durable (fsync under load): long enough for the client to be gone.
        append: (e) => (e.type === 'pg.intent' ? new Promise((r) => setTimeout(r, 300)).then(() => s.append(e)) : s.append(e)),
        commitBlob: (p, k) => s.commitBlob(p, k),
      }),
    });
    try {
      const c = await RawPgClient.login(gate.broker);
      c.sock.write(bytes.query('insert into vanish_probe values (2)'));
      await new Promise((r) => setTimeout(r, 50));
      c.sock.destroy();
      await until(() => readLog(gate.home).some((r) => r.type === 'session.end'));
      await new Promise((r) => setTimeout(r, 500));
      expect(server.psql('select count(*) from vanish_probe').trim()).toBe('0');
      const log = readLog(gate.home);
      const intent = log.find((r) => r.type === 'pg.intent' && (r.detail as { sql: string }).sql.includes('vanish_probe'))!;
      const query = log.filter((r) => r.type === 'pg.query' && (r.detail as { sql: string }).sql.includes('vanish_probe'));
      expect(query).toMatchObject([{ outcome: 'denied', detail: { rule: 'session_end', sqlstate: '08006', intent_seq: intent.seq } }]);
      expect(query[0]!.seq).toBeLessThan(log.find((r) => r.type === 'session.end')!.seq);
    } finally { await gate.close(); }
  });

  it("session.end's bytes_out counts pcigate's own FATAL (a read whose record failed)", async () => {
    const { gate, intents } = await gateFailingIntents();
    try {
      const c = await RawPgClient.login(gate.broker);
      let received = 0;
      c.sock.on('data', (b: Buffer) => { received += b.length; });
      intents.fail = true;
      c.sock.write(bytes.query("select 'fatal' as v"));
      await new Promise((r) => c.sock.once('close', r));
      await until(() => readLog(gate.home).some((r) => r.type === 'session.end'));
      const end = readLog(gate.home).find((r) => r.type === 'session.end')!;
      expect(received).toBeGreaterThan(100); // the 58030 FATAL, its message and detail
      expect((end.detail as { bytes_out: number }).bytes_out).toBeGreaterThanOrEqual(received);
    } finally { await gate.close(); }
  });

  it('drops a message whose hook throws and ends the session with a generic error', async () => {
    const gate = await startGate(server, {
      hooksFor: () => ({
        onBackendMessage: (f) => {
          if (f[0] === 0x44 && f.includes(Buffer.from('boom'))) throw new Error('masker exploded near 4111111111111111');
          return null;
        },
      }),
    });
    try {
      const c = await connect(gate);
      expect((await c.query("select 'fine' as v")).rows).toEqual([{ v: 'fine' }]);
      const err = await c.query("select 'boom' as v").then(() => null, (e: unknown) => e as { code?: string; message: string });
      expect(err?.code).toBe('XX000');
      expect(err?.message).not.toContain('4111111111111111');
      expect(err?.message).not.toContain('exploded');
      await until(() => readLog(gate.home).some((r) => r.type === 'pg.error'));
      const rec = readLog(gate.home).find((r) => r.type === 'pg.error')!;
      expect(JSON.stringify(rec)).not.toContain('4111111111111111');
    } finally { await gate.close(); }
  });
});

describe('hold', () => {
  it('shows the hold notice, waits, and runs the statement once the hold resolves to allow', async () => {
    const gate = await startGate(server, {
      hooksFor: () => ({
        onStatement: (s) => (s.sql.includes('held') ? {
          action: 'hold', notice: 'waiting for approval A-1',
          until: new Promise((r) => setTimeout(() => r({ action: 'allow' }), 300)),
        } : { action: 'allow' }),
      }),
    });
    try {
      const c = await connect(gate);
      const notices: string[] = [];
      c.on('notice', (n) => notices.push(n.message ?? ''));
      expect((await c.query("select 'held' as v")).rows).toEqual([{ v: 'held' }]);
      expect(notices).toContain('waiting for approval A-1');
      await c.end();
    } finally { await gate.close(); }
  });
});

describe('Unix-socket upstream', () => {
  it('connects to the server through its socket directory', async () => {
    const gate = await startGate(server, { target: targetOf(server, { host: server.socketDir }) });
    try {
      const r = await run('psql', ['-X', '-At', '-c', "select coalesce(inet_client_addr()::text, 'unix')"], gate.env);
      expect(r.stdout.trim()).toBe('unix');
    } finally { await gate.close(); }
  });
});

/** psql through pcigate against a real PostgreSQL: -c, -f, \copy both ways, wrong secret, recording. */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pgDriver from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { homeFiles, readLog, run, sqlScript, startGate, until, type Gate } from './pg-proxy-setup.js';

let pg: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  pg = await startPostgres();
  gate = await startGate(pg);
});
afterAll(async () => {
  await gate?.close();
  await pg?.stop();
});

describe('psql through pcigate', () => {
  it('runs -c and records session.start, pg.intent, pg.query and session.end', async () => {
    const r = await run('psql', ['-X', '-At', '-c', "select 40 + 2 as answer, current_user"], gate.env);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(`42|${pg.superuser}`);
    await until(() => readLog(gate.home).some((x) => x.type === 'session.end'));
    const log = readLog(gate.home);
    const start = log.find((x) => x.type === 'session.start')!;
    expect(start.actor).toMatchObject({ sub: 'tester', via: 'local' });
    expect(start.target).toMatchObject({ conn: 'test-db', kind: 'postgres', db: pg.database, user: pg.superuser });
    const intent = log.find((x) => x.type === 'pg.intent' && x.session === start.session)!;
    const query = log.find((x) => x.type === 'pg.query' && x.session === start.session)!;
    expect(intent.seq).toBeLessThan(query.seq);
    expect(query.detail).toMatchObject({ sql: 'select 40 + 2 as answer, current_user', kind: 'read', result: 'success', rows: 1, intent_seq: intent.seq });
    expect(query.outcome).toBe('success');
    const end = log.find((x) => x.type === 'session.end' && x.session === start.session)!;
    expect(end.outcome).toBe('success');
    expect(end.detail).toMatchObject({ statements: 1 });
    expect((end.detail as { bytes_in: number }).bytes_in).toBeGreaterThan(0);
    expect(end.blobs?.[0]?.kind).toBe('pg-transcript');
  });

  it('refuses a wrong listener secret with 28P01 and records auth.fail', async () => {
    const r = await run('psql', ['-X', '-At', '-c', 'select 1'], { ...gate.env, PGPASSWORD: 'not-the-secret' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/password authentication failed/);
    await until(() => readLog(gate.home).some((x) => x.type === 'auth.fail'));
    const fail = readLog(gate.home).find((x) => x.type === 'auth.fail')!;
    expect(fail.outcome).toBe('failure');
    expect(fail.detail).toMatchObject({ sqlstate: '28P01' });
  });

  it('runs a script with -f, errors included, and the session stays usable', async () => {
    const script = sqlScript([
      'create table if not exists f_items (id int primary key, name text);',
      "insert into f_items values (1, 'one'), (2, 'two');",
      'select no_such_column from f_items;',
      'select count(*) from f_items;',
      "create role f_role login password 'hunter2-secret';",
    ]);
    const r = await run('psql', ['-X', '-At', '-f', script], gate.env);
    expect(r.stdout).toContain('2');
    expect(r.stderr).toMatch(/no_such_column/);
    await until(() => readLog(gate.home).some((x) => x.type === 'pg.query' && String((x.detail as { sql?: string }).sql).startsWith('create role')));
    const log = readLog(gate.home);
    const failed = log.find((x) => x.type === 'pg.query' && String((x.detail as { sql: string }).sql).includes('no_such_column'))!;
    expect(failed.outcome).toBe('failure');
    expect(failed.detail).toMatchObject({ sqlstate: '42703' });
    const text = readFileSync(path.join(gate.home, 'log', '000000000000.jsonl'), 'utf8');
    expect(text).not.toContain('hunter2-secret');
    expect(text).toContain("password '[redacted]'");
  });

  it('records no password that a literal mentioning one hid, in the log or the transcript', async () => {
    // One simple query of three statements (psql -c sends it whole): by spelling alone, `password` in the first
    // literal took `'; create role … password '` for its value and the real one was recorded in clear.
    const sql = "select 'reset password'; create role f_role3 login password 'hunter3-secret'; select set_config('app.password', 'hunter4-secret', false)";
    const r = await run('psql', ['-X', '-At', '-c', sql], gate.env);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('hunter4-secret');
    const isIt = (x: { type: string; detail?: unknown }) => x.type === 'pg.query' && String((x.detail as { sql?: string }).sql).startsWith("select 'reset password'");
    await until(() => { const log = readLog(gate.home); const q = log.find(isIt); return !!q && log.some((x) => x.type === 'session.end' && x.session === q.session); });
    const query = readLog(gate.home).find(isIt)!;
    expect((query.detail as { sql: string }).sql).toBe("select 'reset password'; create role f_role3 login password '[redacted]'; select set_config('app.password', '[redacted]', false)");
    const files = homeFiles(gate.home);
    expect(files.some((f) => /transcript|recording/.test(f.file))).toBe(true);
    for (const { file, text } of files) {
      expect(text, file).not.toContain('hunter3-secret');
      // The result row is the setting's value: the transcript's sample of a statement that may hold a secret withholds it.
      expect(text, file).not.toContain('hunter4-secret');
    }
  });

  it("records no pgcrypto key or password, written in the SQL or bound as a parameter, in the log or the transcript", async () => {
    const sql = "create extension if not exists pgcrypto; select pgp_sym_decrypt(pgp_sym_encrypt('4-the-test', 'k3y-s3cr3t-A'), 'k3y-s3cr3t-A') as plain";
    const r = await run('psql', ['-X', '-At', '-c', sql], gate.env);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n').at(-1)).toBe('4-the-test');
    const client = new pgDriver.Client({ host: gate.env.PGHOST, port: Number(gate.env.PGPORT), user: gate.env.PGUSER, password: gate.env.PGPASSWORD, database: gate.env.PGDATABASE });
    await client.connect();
    const bound = await client.query('select pgp_sym_decrypt(pgp_sym_encrypt($1, $2), $2) as plain', ['5-the-test', 'k3y-s3cr3t-B']);
    await client.end();
    expect(bound.rows[0].plain).toBe('5-the-test');
    const isIt = (x: { type: string; detail?: unknown }) => x.type === 'pg.query' && String((x.detail as { sql?: string }).sql).includes('pgp_sym_encrypt($1');
    await until(() => { const log = readLog(gate.home); const q = log.find(isIt); return !!q && log.some((x) => x.type === 'session.end' && x.session === q.session); });
    const log = readLog(gate.home);
    expect(log.find(isIt)!.detail).toMatchObject({ params: ['[redacted]', '[redacted]'] });
    expect((log.find((x) => x.type === 'pg.query' && String((x.detail as { sql?: string }).sql).includes("'4-the-test'"))!.detail as { sql: string }).sql)
      .toContain("pgp_sym_encrypt('4-the-test', '[redacted]'), '[redacted]')");
    for (const { file, text } of homeFiles(gate.home)) expect(text, file).not.toMatch(/k3y-s3cr3t/);
  });

  it('copies both ways with \\copy', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pcigate-copy-'));
    const src = path.join(dir, 'in.csv');
    const dst = path.join(dir, 'out.csv');
    const rows = Array.from({ length: 5000 }, (_, i) => `${i},name ${i}`).join('\n');
    writeFileSync(src, `${rows}\n`);
    await run('psql', ['-X', '-c', 'create table copy_t (id int, name text)'], gate.env);
    const r1 = await run('psql', ['-X', '-c', `\\copy copy_t from '${src}' with (format csv)`], gate.env);
    expect(r1.stderr).toBe('');
    expect(r1.stdout).toContain('COPY 5000');
    const r2 = await run('psql', ['-X', '-c', `\\copy (select * from copy_t order by id) to '${dst}' with (format csv)`], gate.env);
    expect(r2.stdout).toContain('COPY 5000');
    expect(readFileSync(dst, 'utf8')).toBe(`${rows}\n`);
  });

  it('cancels a running statement when psql gets SIGINT (CancelRequest through the listener)', async () => {
    const child = spawn('psql', ['-X', '-c', 'select pg_sleep(30)'], { env: gate.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    const exited = new Promise<number | null>((r) => child.on('close', r));
    await until(() => pg.psql("select count(*) from pg_stat_activity where query = 'select pg_sleep(30)' and state = 'active'").trim() === '1');
    child.kill('SIGINT');
    expect(await exited).not.toBe(0);
    expect(stderr).toMatch(/canceling statement due to user request/);
    await until(() => readLog(gate.home).some((r) => r.type === 'pg.cancel' && r.outcome === 'success'));
  });
  it('serves only its connection\'s database: another (or none) is refused with 3D000 and session.denied, \\c to it too', async () => {
    const other = await run('psql', ['-X', '-At', '-c', 'select current_database()'], { ...gate.env, PGDATABASE: 'template1' });
    expect(other.code).toBe(2);
    expect(other.stderr).toContain(`FATAL:  pcigate: this listener serves database "${pg.database}" only, not "template1"`);
    expect(other.stdout).toBe('');
    await until(() => readLog(gate.home).some((x) => x.type === 'session.denied'));
    const denied = readLog(gate.home).find((x) => x.type === 'session.denied')!;
    expect(denied).toMatchObject({ outcome: 'denied', actor: { sub: 'tester' }, detail: { reason: 'database', client_database: 'template1' } });
    // \c to another database fails; a script stops there (psql keeps the old session only interactively).
    const switched = await run('psql', ['-X', '-At'], gate.env, { input: '\\c template1\nselect current_database();\n' });
    expect(switched.stderr).toContain(`this listener serves database "${pg.database}" only, not "template1"`);
    expect(switched.code).not.toBe(0);
    expect(switched.stdout).toBe('');
    // libpq names the user as the database when none is given (as the server reads a startup without one).
    const { PGDATABASE: _, ...noDatabase } = gate.env;
    const dflt = await run('psql', ['-X', '-At', '-c', 'select current_database()'], noDatabase);
    expect(dflt.stderr).toContain(`not "${pg.superuser}"`);
    expect(readLog(gate.home).filter((x) => x.type === 'session.denied').length).toBeGreaterThanOrEqual(2);
  });
});

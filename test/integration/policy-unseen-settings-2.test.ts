/**
 * Settings changed by server-side code the statement does not name (policy-unseen-settings.test.ts has DO
 * blocks and function calls). A trigger, a column DEFAULT or a view can run a plpgsql function that does
 * set_config('standard_conforming_strings', 'off', false): the INSERT or SELECT reads like any other to
 * policy, so a statement the client pipelined behind it was decided and forwarded before the server's
 * ParameterStatus (sent just before ReadyForQuery) could end the session. The server read that next text with
 * backslash escapes, policy without: `SELECT 'a\'' ; DELETE FROM kept; -- '` (one string literal to policy)
 * deleted rows of a table the role may not touch. Now such a text (a backslash or a non-ASCII byte) waits
 * behind every statement that runs anything, and in the same extended batch is refused (rule unseen_settings).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { bytes } from '../harness/pg-bytes.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { RawPgClient } from '../harness/raw-pg-client.js';
import { type Gate, gateConfig, run, startConfiguredGate } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  // Made outside pcigate (a DBA's schema): the role only inserts into trig and dflt and reads v. The sleep
  // lets pcigate read and forward what the client sent behind before the server has answered.
  server.psql(`create table kept (id int); insert into kept values (1), (2);
    create function scs_off() returns trigger language plpgsql as $$
      begin perform pg_sleep(0.2); perform set_config('standard_conforming_strings', 'off', false); return new; end $$;
    create table trig (id int); create trigger t before insert on trig for each row execute function scs_off();
    create function scs_off_value() returns int language plpgsql as $$
      begin perform pg_sleep(0.2); perform set_config('standard_conforming_strings', 'off', false); return 7; end $$;
    create table dflt (id int, x int default scs_off_value());
    create view v as select scs_off_value() as x;`);
  gate = await startConfiguredGate(server, gateConfig(server, {
    classes: ['read', 'write', 'utility', 'transaction'],
    role: { tables: { allow: ['public.trig', 'public.dflt', 'public.v'], deny: ['kept'] } },
  }));
}, 120_000);

afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

beforeEach(() => { server.psql("truncate kept; insert into kept values (1), (2); set standard_conforming_strings = on"); });

const count = () => server.psql('select count(*) from kept').trim();
const HIDDEN = "SELECT 'a\\'' ; DELETE FROM kept; -- '";
// One statement (a Parse takes no more): a WITH whose DELETE is inside a string literal to policy.
const HIDDEN_ONE = "WITH d AS (SELECT 'a\\'' ), e AS (DELETE FROM kept RETURNING 1) SELECT 1 FROM e -- ') SELECT 1 FROM d";

/** Sends `frames` in one write; reads until the session ends or `readies` ReadyForQuery came. */
const pipelined = (frames: Buffer[], readies: number) => RawPgClient.pipelined(gate.broker, frames, readies);
const ext = (sql: string) => [bytes.parse('', sql), bytes.bind('', '', []), bytes.execute()];

describe('a statement pipelined behind one whose trigger, DEFAULT or view turns standard_conforming_strings off', () => {
  for (const [what, first] of [
    ['a trigger', 'INSERT INTO trig VALUES (1)'],
    ['a column DEFAULT', 'INSERT INTO dflt (id) VALUES (1)'],
    ['a view', 'SELECT x FROM v'],
  ] as const) {
    it(`simple protocol, ${what}: the hidden DELETE never runs`, async () => {
      await pipelined([bytes.query(first), bytes.query(HIDDEN)], 2);
      expect(count()).toBe('2');
    });

    it(`extended protocol, ${what}, Sync, then the hidden DELETE in the same write: it never runs`, async () => {
      await pipelined([...ext(first), bytes.sync(), ...ext(HIDDEN_ONE), bytes.sync()], 2);
      expect(count()).toBe('2');
    });

    it(`extended protocol, ${what} and the hidden DELETE in one batch: refused (unseen_settings)`, async () => {
      const out = await pipelined([...ext(first), ...ext(HIDDEN_ONE), bytes.sync()], 1);
      expect(count()).toBe('2');
      expect(out).toContain('rule: unseen_settings');
    });
  }

  it('pgbench in pipeline mode (a real libpq client): the hidden DELETE is refused and never runs', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pcigate-pipeline-'));
    try {
      const script = path.join(dir, 'pipeline.sql');
      writeFileSync(script, `\\startpipeline\nINSERT INTO trig VALUES (1);\n${HIDDEN_ONE};\n\\endpipeline\n`);
      const r = await run('pgbench', ['-n', '-M', 'extended', '-t', '1', '-f', script], gate.env, { timeoutMs: 60_000 });
      expect(count()).toBe('2');
      expect(r.stderr).toContain('unseen_settings');
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });
});

describe('what keeps pipelining', () => {
  it('a text of ASCII without a backslash behind an INSERT: sent at once, answered in order', async () => {
    server.psql('drop trigger t on trig');
    try {
      const out = await pipelined([bytes.query('INSERT INTO trig VALUES (1)'), bytes.query('SELECT count(*) AS n FROM trig')], 2);
      expect(out).toMatch(/C:INSERT 0 1[\s\S]*Z:I[\s\S]*D:[\s\S]*C:SELECT 1[\s\S]*Z:I/);
    } finally { server.psql('create trigger t before insert on trig for each row execute function scs_off()'); }
  });

  it('a non-ASCII text behind BEGIN in one batch (JDBC with autocommit off sends that): runs', async () => {
    const out = await pipelined([...ext('BEGIN'), ...ext("SELECT 'café' AS x FROM trig"), ...ext('COMMIT'), bytes.sync()], 1);
    expect(out).not.toContain('unseen_settings');
    expect(out).toMatch(/C:BEGIN[\s\S]*C:SELECT \d+[\s\S]*C:COMMIT[\s\S]*Z:I/);
  });

  it('a non-ASCII text behind an INSERT, each with its Sync: waits for the INSERT\'s answer, then runs', async () => {
    server.psql('drop trigger t on trig');
    try {
      const out = await pipelined([...ext('INSERT INTO trig VALUES (1)'), bytes.sync(), ...ext("SELECT 'café' AS x FROM trig"), bytes.sync()], 2);
      expect(out).toMatch(/C:INSERT 0 1[\s\S]*Z:I[\s\S]*C:SELECT \d+[\s\S]*Z:I/);
    } finally { server.psql('create trigger t before insert on trig for each row execute function scs_off()'); }
  });
});

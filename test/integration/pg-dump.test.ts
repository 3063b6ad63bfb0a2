/**
 * pg_dump through `pcigate connect` (a gate wired by pgHooksFor: policy, masking, recording), against a real
 * PostgreSQL: the masked copy of a production database a test environment is built from. pg_dump's catalog
 * queries come back intact (each is the first query of its catalog table: the proxy waits for the masker's
 * column lookup instead of masking every column by every qualified rule), its COPY … TO stdout of each table
 * is masked by column and by content, and the dump restores into an empty database with the schema whole.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../harness/cli.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { type Gate, gateConfig, pgQueries, queryDetail, run, startConfiguredGate } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;
const PANS = ['4111111111111111', '5555555555554444'];

beforeAll(async () => {
  server = await startPostgres();
  server.psql(`create table cards (id int primary key, pan text, cvv text, account_no text, amount numeric, pan_b bigint);
    insert into cards values (1, '${PANS[0]}', '123', 'AC-0001-7788', 9.5, ${PANS[0]}), (2, 'card ${PANS[1]} on file', '456', 'AC-0002-9911', 1, null);
    create view card_view as select id, pan from cards; create sequence s start 42;
    create function f() returns int language sql as 'select 1';
    create table notes (id int references cards (id), body text); insert into notes values (1, 'called about ${PANS[0]}');`);
  const config = gateConfig(server, { classes: ['read', 'copy_out', 'utility', 'transaction', 'function'], rules: [{ name: 'account', columns: ['public.cards.account_no'], format: 'last4' }] });
  gate = await startConfiguredGate(server, config);
}, 120_000);

afterAll(async () => {
  await gate?.close().catch(() => undefined);
  await server?.stop();
});

const direct = { PGHOST: () => server.host, PGPORT: () => String(server.port) };
const directEnv = (database: string) => ({ ...process.env, PGHOST: direct.PGHOST(), PGPORT: direct.PGPORT(), PGUSER: server.superuser, PGPASSWORD: server.password, PGDATABASE: database }) as Record<string, string>;

describe('pg_dump through pcigate', () => {
  it('a plain dump: schema whole, card data masked, restored into an empty database', async () => {
    const file = path.join(tempDir('pgdump-'), 'dump.sql');
    const r = await run('pg_dump', ['--no-owner', '--no-subscriptions', '-f', file], gate.env, { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    const dump = readFileSync(file, 'utf8');
    for (const pan of PANS) expect(dump).not.toContain(pan);
    expect(dump).toContain('CREATE VIEW public.card_view');
    expect(dump).toMatch(/CREATE FUNCTION public\.f\(\)/);
    expect(dump).toMatch(/COPY public\.cards \(id, pan, cvv, account_no, amount, pan_b\) FROM stdin;\n1\t\*{12}1111\t\*\*\*\t\*\*-\*\*\*\*-\*\*\*\*\t9\.5\t\\N\n2\tcard \*{12}4444 on file\t\*\*\*\t\*\*-\*\*\*\*-\*\*\*\*\t1\t\\N\n/);
    expect(dump).toContain("SELECT pg_catalog.setval('public.s', 42, false);");

    server.psql('create database restored', 'postgres');
    const back = await run('psql', ['-X', '-v', 'ON_ERROR_STOP=1', '-q', '-f', file], directEnv('restored'));
    expect(back.code, back.stderr).toBe(0);
    expect(server.psql('select count(*) from cards', 'restored').trim()).toBe('2');
    expect(server.psql('select body from notes', 'restored').trim()).toBe('called about ************1111');
    expect(server.psql('select pan from card_view where id = 1', 'restored').trim()).toBe('************1111');
    expect(server.psql('select f()', 'restored').trim()).toBe('1');

    // Every table's COPY ran through policy and was recorded with what it masked (the bigint card number withheld: binary_null).
    const copy = pgQueries(gate.home, 'COPY public.cards').map(queryDetail).at(-1)!;
    expect(copy.masked).toEqual({ pan: 3, sad: 2, account: 2, binary_null: 1 });
  }, 90_000);

  it('a custom-format dump restores with pg_restore, masked the same', async () => {
    const file = path.join(tempDir('pgdump-'), 'dump.custom');
    const r = await run('pg_dump', ['--no-owner', '--no-subscriptions', '-Fc', '-f', file], gate.env, { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    server.psql('create database restored_c', 'postgres');
    const back = await run('pg_restore', ['--no-owner', '-d', 'restored_c', file], directEnv('restored_c'));
    expect(back.code, back.stderr).toBe(0);
    expect(server.psql("select string_agg(pan || '|' || cvv || '|' || account_no, ',' order by id) from cards", 'restored_c').trim())
      .toBe('************1111|***|**-****-****,card ************4444 on file|***|**-****-****');
  }, 90_000);
});

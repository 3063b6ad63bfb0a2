/**
 * client_encoding SQL_ASCII turns conversion off: the server reads the client's bytes in its own encoding.
 * That is UTF-8 (what policy reads) only when server_encoding is UTF8. In a LATIN1 database, `SET
 * client_encoding = 'SQL_ASCII'` then `SELECT n\xfamero FROM cards` had the server read the column número and
 * policy n\uFFFDmero, so `columns.deny: [número]` let the column through. SQL_ASCII counts as UTF-8 only on a
 * UTF8 (or SQL_ASCII) server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { bytes } from '../harness/pg-bytes.js';
import { RawPgClient } from '../harness/raw-pg-client.js';
import { type Gate, numeroDeniedConfig, startConfiguredGate } from './pg-proxy-setup.js';

let server: PostgresServer;
let latin1: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  server.psql("CREATE DATABASE latin1db ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0", 'postgres');
  // All ASCII (psql's own client_encoding does not matter): chr(250) is ú in the LATIN1 database.
  server.psql(`DO $$ BEGIN EXECUTE format('create table cards (%I text, other text)', 'n' || chr(250) || 'mero'); END $$; insert into cards values ('NUMERO-SECRET', 'plain');`, 'latin1db');
  latin1 = { ...server, database: 'latin1db' };
  gate = await startConfiguredGate(latin1, numeroDeniedConfig(latin1));
}, 120_000);

afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

describe('client_encoding SQL_ASCII on a LATIN1 database', () => {
  it('a non-ASCII text is refused, so the denied column is not read', async () => {
    const out = await RawPgClient.writes(gate.broker, [
      bytes.query(Buffer.from("SET client_encoding = 'SQL_ASCII'")),
      bytes.query(Buffer.from('SELECT número FROM cards', 'latin1')),
    ]);
    expect(out).not.toContain('NUMERO-SECRET');
    expect(out).toContain('rule: client_encoding');
  });

  it('ASCII statements still run', async () => {
    const out = await RawPgClient.writes(gate.broker, [
      bytes.query(Buffer.from("SET client_encoding = 'SQL_ASCII'")),
      bytes.query(Buffer.from('SELECT other FROM cards')),
    ]);
    expect(out).toContain('plain');
  });
});

/**
 * ALTER SYSTEM SET client_encoding = 'LATIN1' and a reload: a session whose client sent no client_encoding
 * (its value is the server's default) takes it when it reads its next command, converts that command's text
 * from LATIN1, and reports the change only before that command's ReadyForQuery. Policy, told nothing, read a
 * LATIN1 `n\xfamero` as UTF-8 and let the denied column número through. Now ALTER SYSTEM of client_encoding
 * to anything but UTF8 (or its RESET) is refused, rule sql_text, as one to SJIS already was.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { bytes } from '../harness/pg-bytes.js';
import { RawPgClient } from '../harness/raw-pg-client.js';
import { type Gate, numeroDeniedConfig, startConfiguredGate } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  server.psql(`create table cards ("número" text, other text); insert into cards values ('NUMERO-SECRET', 'plain');`);
  gate = await startConfiguredGate(server, numeroDeniedConfig(server, { classes: ['ddl', 'dcl'], functions: ['pg_reload_conf'] }));
}, 120_000);

afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

describe('ALTER SYSTEM SET client_encoding', () => {
  it('to LATIN1, then a reload: refused, so the next non-ASCII text is not read in LATIN1', async () => {
    const c = await RawPgClient.login(gate.broker);
    const seen: string[] = [];
    const read = async () => { for (const f of await c.untilReady()) seen.push(`${String.fromCharCode(f[0]!)}:${f.subarray(5).toString('latin1')}`); };
    try {
      c.sock.write(bytes.query("ALTER SYSTEM SET client_encoding = 'LATIN1'")); await read();
      c.sock.write(bytes.query('SELECT pg_reload_conf()')); await read();
      await new Promise((r) => setTimeout(r, 1000));
      c.sock.write(bytes.query(Buffer.from('SELECT número FROM cards', 'latin1'))); await read();
    } finally { c.sock.destroy(); }
    const out = seen.join('\n');
    expect(out).toContain('rule sql_text');
    expect(out).not.toContain('NUMERO-SECRET');
    expect(out).not.toContain('S:client_encoding\u0000LATIN1');
  });

  for (const sql of ["ALTER SYSTEM RESET client_encoding", 'ALTER SYSTEM RESET ALL']) {
    it(`${sql}: refused (the default may be the database's encoding)`, async () => {
      const out = await RawPgClient.writes(gate.broker, [bytes.query(sql)]);
      expect(out).toContain('rule sql_text');
    });
  }

  it('to UTF8: not refused for that', async () => {
    const out = await RawPgClient.writes(gate.broker, [bytes.query("ALTER SYSTEM SET client_encoding = 'UTF8'")]);
    expect(out.split('\n')[0]).toBe('C:ALTER SYSTEM\u0000');
  });

  it('a refused value after an allowed one (texts differing only in the constant): refused, not the cached decision', async () => {
    const out = await RawPgClient.writes(gate.broker, [
      bytes.query("ALTER SYSTEM SET standard_conforming_strings = 'on'"), bytes.query("ALTER SYSTEM SET standard_conforming_strings = 'off'"),
    ]);
    expect(out.split('\n')[0]).toBe('C:ALTER SYSTEM\u0000');
    expect(out).toContain('rule sql_text');
  });
});

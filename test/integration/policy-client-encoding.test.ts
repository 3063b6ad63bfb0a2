/**
 * Policy reads SQL text as UTF-8; a session whose client_encoding is another (LATIN1, WIN1252, …) has the
 * server read a byte of 0x80 or more as another character. `SET client_encoding = 'LATIN1'` (or
 * PGCLIENTENCODING=LATIN1), then `SELECT n\xfamero FROM cards`: the server read the column número, policy
 * n\uFFFDmero, and `columns.deny: [número]` let the card numbers through. Now, while the server reports (or
 * an allowed SET may have made) such an encoding, a text with a non-ASCII byte is refused (rule
 * client_encoding); ASCII reads the same in every encoding a session may have, and goes on.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { bytes } from '../harness/pg-bytes.js';
import { RawPgClient } from '../harness/raw-pg-client.js';
import { type Gate, numeroDeniedConfig, pgClient, run, startConfiguredGate } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  server.psql(`create table cards ("número" text, other text); insert into cards values ('NUMERO-SECRET', 'plain');`);
  gate = await startConfiguredGate(server, numeroDeniedConfig(server));
}, 120_000);

afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

const LATIN1_NUMERO = Buffer.from('SELECT número FROM cards', 'latin1');

describe('a client_encoding other than UTF-8', () => {
  it('SET client_encoding = LATIN1: a non-ASCII text is refused, so the denied column is not read', async () => {
    const out = await RawPgClient.writes(gate.broker, [bytes.query(Buffer.from("SET client_encoding = 'LATIN1'")), bytes.query(LATIN1_NUMERO)]);
    expect(out).not.toContain('NUMERO-SECRET');
    expect(out).toContain('rule: client_encoding');
  });

  it('SET client_encoding = LATIN1 and the text in the same write: refused too (policy saw the SET)', async () => {
    const out = await RawPgClient.writes(gate.broker, [Buffer.concat([bytes.query(Buffer.from("SET client_encoding = 'LATIN1'")), bytes.query(LATIN1_NUMERO)])], [2]);
    expect(out).not.toContain('NUMERO-SECRET');
    expect(out).toContain('rule: client_encoding');
  });

  it('psql with PGCLIENTENCODING=LATIN1 and a LATIN1 script: refused; ASCII statements run', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pcigate-latin1-'));
    try {
      const file = path.join(dir, 'q.sql');
      writeFileSync(file, Buffer.concat([Buffer.from('SELECT other FROM cards;\n'), LATIN1_NUMERO, Buffer.from(';\n')]));
      const r = await run('psql', ['-X', '-At', '-f', file], { ...gate.env, PGCLIENTENCODING: 'LATIN1' });
      expect(r.stdout + r.stderr).not.toContain('NUMERO-SECRET');
      expect(r.stdout).toContain('plain');
      expect(r.stderr).toContain('client_encoding is LATIN1');
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });

  it('back to UTF8: non-ASCII texts are read again (and the column is denied by name)', async () => {
    const c = await pgClient(gate);
    try {
      await c.query("SET client_encoding = 'LATIN1'");
      await c.query("SET client_encoding = 'UTF8'");
      expect((await c.query("SELECT 'café' AS x")).rows).toEqual([{ x: 'café' }]);
      await expect(c.query('SELECT número FROM cards')).rejects.toMatchObject({ message: expect.stringContaining('columns.deny') });
    } finally { await c.end(); }
  });
});

/**
 * A libpq client (psql) asking for a client_encoding in its startup packet, through pcigate with a policy
 * that denies a table. In SJIS, BIG5, GBK (and the other encodings whose characters can end in an ASCII
 * byte) the server converts a query before it parses it, so `E'`, 0x95, `\'; SELECT … FROM denied; -- '`
 * is a kanji, a closing quote and a second statement to the server, and one string literal to policy, which
 * reads UTF-8: the denied table was read, recorded as one harmless SELECT. Policy refuses `SET
 * client_encoding` to those encodings; the startup parameter is refused by the proxy (FATAL 0A000). Other
 * encodings (LATIN1, WIN1252) split statements as UTF-8 does and are served, but a text with a non-ASCII
 * byte is refused there (policy reads UTF-8: such a byte is another character to the server).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/index.js';
import { tempDir } from '../harness/cli.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { type Gate, readLog, run, startConfiguredGate, until } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;

/** One Query message: `select E'<0x95>\'; select x as leaked from enc_secrets; -- '`, its bytes in a file. */
const SMUGGLED = Buffer.concat([Buffer.from("select E'"), Buffer.from([0x95]), Buffer.from("\\'; select x as leaked from enc_secrets; -- '")]);
let smuggledFile = '';
/** `select 'a\'' ; …`: with standard_conforming_strings off a quote and a second statement, else one literal. */
let backslashFile = '';

beforeAll(async () => {
  server = await startPostgres();
  server.psql('create table enc_secrets (x int); insert into enc_secrets values (4242);');
  smuggledFile = path.join(tempDir('pcigate-enc-'), 'smuggled.sql');
  writeFileSync(smuggledFile, SMUGGLED);
  backslashFile = path.join(tempDir('pcigate-enc-'), 'backslash.sql');
  writeFileSync(backslashFile, "select 'a\\''; select x as leaked from enc_secrets; -- '");
  gate = await startConfiguredGate(server, configSchema.parse({
    connections: { 'test-db': { kind: 'postgres', host: server.host, port: server.port, database: server.database, user: server.superuser, sslmode: 'disable' } },
    masking: {},
    policy: {
      roles: { eng: { subjects: ['tester'] } },
      connections: { 'test-db': { roles: { eng: { classes: ['read', 'write', 'transaction', 'utility'], tables: { deny: ['public.enc_secrets'] } } } } },
    },
  }));
}, 120_000);
afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

/**
 * psql -c sends its argument as one Query. The byte 0x95 alone cannot be a Node argument (those are UTF-8),
 * so a shell reads it from a file into the argument.
 */
const psqlWith = (encoding: string, sqlFile: string) =>
  run('sh', ['-c', 'exec psql -X -At -c "$(cat "$1")"', 'sh', sqlFile], { ...gate.env, PGCLIENTENCODING: encoding });

describe('client_encoding in the startup packet', () => {
  it.each(['SJIS', 'BIG5', 'GBK', 'Shift_JIS_2004'])('%s: the session is refused (0A000), the denied table is not read', async (encoding) => {
    const r = await psqlWith(encoding, smuggledFile);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`client_encoding ${encoding} is not supported through pcigate`);
    expect(r.stdout).not.toContain('4242');
  });

  // Served, and ASCII is judged as in UTF-8; a text with a byte of 0x80 or more is refused (rule
  // client_encoding): policy reads UTF-8, so such a byte could make a name policy did not judge
  // (policy-client-encoding.test.ts).
  it.each(['LATIN1', 'WIN1252'])('%s: served; a text with a non-ASCII byte is refused, ASCII is judged', async (encoding) => {
    const r = await psqlWith(encoding, smuggledFile);
    expect(r.stderr).toContain(`the session's client_encoding is ${encoding}`);
    expect(r.stdout).not.toContain('4242');
    const plain = path.join(tempDir('pcigate-enc-'), 'plain.sql');
    writeFileSync(plain, 'select count(*) from enc_secrets');
    expect((await psqlWith(encoding, plain)).stderr).toContain('denied by policy');
  });

  it.each([
    ['client_encoding', 'SJIS', () => smuggledFile],
    ['standard_conforming_strings', 'off', () => backslashFile],
  ])('%s changed some other way than SET (UPDATE pg_settings, a write): the session ends before the next statement', async (name, value, file) => {
    const r = await run('sh', ['-c', `exec psql -X -At -c "update pg_settings set setting = '${value}' where name = '${name}'" -c "$(cat "$1")"`, 'sh', file()], gate.env);
    expect(r.stderr).toContain(`the server now reads statements otherwise than policy does (${name} ${value})`);
    expect(r.stdout).not.toContain('4242');
    expect(r.code).toBe(2);
    // The server completed the UPDATE (its answers behind the setting are read as the session ends): so says the log.
    const update = () => readLog(gate.home).filter((q) => q.type === 'pg.query' && (q.detail as { sql: string }).sql === `update pg_settings set setting = '${value}' where name = '${name}'`).at(-1);
    await until(() => update() !== undefined);
    expect(update()).toMatchObject({ outcome: 'success', detail: { result: 'success' } });
  });

  it('nothing read the denied table', () => {
    const statements = readLog(gate.home).filter((r) => r.type === 'pg.query' || r.type === 'pg.intent');
    expect(statements.filter((r) => JSON.stringify(r).includes('leaked') && r.outcome === 'success')).toEqual([]);
  });
});

describe('a server that reads backslashes in string literals (standard_conforming_strings off for the database)', () => {
  it('the session is refused (0A000) instead of letting a backslash hide a read of the denied table', async () => {
    server.psql(`alter database ${server.database} set standard_conforming_strings = off`);
    try {
      const r = await run('sh', ['-c', 'exec psql -X -At -c "$(cat "$1")"', 'sh', backslashFile], gate.env);
      expect(r.stdout).not.toContain('4242');
      expect(r.stderr).toContain('the server would read statements otherwise than policy does (standard_conforming_strings off');
      expect(r.code).toBe(2);
    } finally {
      server.psql(`alter database ${server.database} reset standard_conforming_strings`);
    }
  });
});

/**
 * Sensitive authentication data (PCI DSS 3.3.1: card verification codes, PINs and PIN blocks, track data) named by
 * its column, through `pcigate connect`'s hooks, against a real server: in a statement's literals, in bind parameters
 * and in sampled result rows. The statements run as sent (the client reads the values masked in full, as before); the
 * log and the transcript hold none of them (redact-content.ts NAMES_SECRET).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { gateConfig, homeFiles, pgClient, readLog, run, sqlScript, startConfiguredGate, until, type Gate } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  server.psql('CREATE TABLE auths (id int, pan text, cvv2 text, pin_block text, track2 text)');
  gate = await startConfiguredGate(server, gateConfig(server, { classes: ['read', 'write', 'transaction', 'utility'] }));
});
afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

const sqlOf = (r: { detail?: unknown }) => String((r.detail as { sql?: string } | undefined)?.sql ?? '');

describe('sensitive authentication data named by its column', () => {
  it('is not recorded from literals, parameters or result rows; the statements run as sent', async () => {
    const ends = () => readLog(gate.home).filter((x) => x.type === 'session.end').length;
    let before = ends();
    const r = await run('psql', ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-f', sqlScript([
      "INSERT INTO auths (id, pan, cvv2, pin_block) VALUES (1, 'ref-1', 'CV-8271', 'PB-0412AC89');",
      "UPDATE auths SET track2 = 'TR-5521-disc' WHERE id = 1;",
    ])], gate.env);
    expect([r.stderr, r.stdout.trim()]).toEqual(['', 'INSERT 0 1\nUPDATE 1']);
    await until(() => ends() > before);

    before = ends();
    const client = await pgClient(gate);
    try {
      await client.query('INSERT INTO auths (id, pan, cvv2, pin_block) VALUES ($1, $2, $3, $4)', [2, 'ref-2', 'CV-9363', 'PB-77FE01AB']);
      // (the server has them as sent; the client reads them masked in full, as the result masker masks SAD columns)
      const stored = server.psql('SELECT cvv2, pin_block, track2 FROM auths ORDER BY id').trim().split('\n');
      expect(stored).toEqual(['CV-8271|PB-0412AC89|TR-5521-disc', 'CV-9363|PB-77FE01AB|']);
      const rows = (await client.query('SELECT cvv2, pin_block, track2 FROM auths ORDER BY id')).rows;
      expect(rows).toEqual([{ cvv2: '**-****', pin_block: '**-********', track2: '**-****-****' }, { cvv2: '**-****', pin_block: '**-********', track2: null }]);
    } finally {
      await client.end();
    }
    await until(() => ends() > before);

    const queries = readLog(gate.home).filter((x) => x.type === 'pg.query');
    const sqls = queries.map(sqlOf);
    // (a statement that names a secret's column keeps none of its literals, as for a password column)
    expect(sqls).toContain("INSERT INTO auths (id, pan, cvv2, pin_block) VALUES ('[redacted]', '[redacted]', '[redacted]', '[redacted]');");
    expect(sqls).toContain("UPDATE auths SET track2 = '[redacted]' WHERE id = '[redacted]';");
    const insert = queries.find((x) => sqlOf(x).includes('VALUES ($1, $2, $3, $4)'));
    expect((insert?.detail as { params?: unknown[] }).params).toEqual(['[redacted]', '[redacted]', '[redacted]', '[redacted]']);
    // The SELECT ran and its rows were sampled (their values withheld).
    const transcripts = homeFiles(gate.home).filter(({ file }) => file.endsWith('.pg.jsonl'));
    expect(transcripts.some(({ text }) => text.includes('"t":"row"'))).toBe(true);
    for (const { file, text } of homeFiles(gate.home)) {
      for (const v of ['CV-8271', 'CV-9363', 'PB-0412AC89', 'PB-77FE01AB', 'TR-5521-disc']) expect(text, file).not.toContain(v);
    }
  });
});

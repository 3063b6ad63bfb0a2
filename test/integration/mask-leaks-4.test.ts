/**
 * Card numbers a fourth hunt through the real gate (startConfiguredGate: the hooks `pcigate connect` gives a
 * session; real PostgreSQL, psql, the pg driver) found reaching a client or the data home unmasked: each test
 * fails without its fix.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { type Gate, gateConfig, readLog, run, startConfiguredGate } from './pg-proxy-setup.js';

const PAN = '4111111111111111';
const PAN2 = '5500000000000004';
let server: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  gate = await startConfiguredGate(server, gateConfig(server, { classes: ['read', 'copy_out', 'utility', 'transaction'] }));
  server.psql(`create table cards4 (id int, pan text, pan2 text, said text); insert into cards4 values (7, '${PAN}', '${PAN2}', 'said "${PAN}"')`);
}, 120_000);

afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

describe('leaks found by the fourth hunt', () => {
  it('a COPY whose DELIMITER, QUOTE or ESCAPE is a letter (or a CSV DELIMITER a digit) is refused: glued to it a card number was not found (7X4111…X5500…, e"4111…e"")', async () => {
    for (const opts of [`delimiter 'X'`, `format csv, delimiter 'x'`, `format csv, delimiter '7'`, `format csv, quote 'q', force_quote *`, `format csv, escape 'e'`]) {
      const r = await run('psql', ['-X', '-c', `copy cards4 to stdout with (${opts})`], gate.env);
      expect(r.stdout, opts).toBe('');
      expect(r.stderr, opts).toMatch(/pcigate: this COPY … TO STDOUT was not run: (DELIMITER|QUOTE|ESCAPE) '.' would be written right beside the digits of a field/);
    }
    // Other punctuation stays usable, and masked as ever.
    const ok = await run('psql', ['-X', '-c', `copy cards4 to stdout with (format csv, delimiter '|', quote '''', escape '\\', force_quote *)`], gate.env);
    expect(ok.stdout, ok.stderr).toBe(`'7'|'************1111'|'************0004'|'said "************1111"'\n`);
    const denied = readLog(gate.home).filter((r) => r.type === 'pg.query' && r.outcome === 'denied');
    expect(denied.length).toBeGreaterThanOrEqual(5);
  });
});

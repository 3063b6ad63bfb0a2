/**
 * A statement the broker refuses after policy allowed it (masking.stored_values, a COPY it could not plan, a record
 * the audit log could not take) leaves policy's reading of the session as the server's. Policy took a PREPARE's
 * or DECLARE's effects when it allowed the text, before the refusal: the name then stood for the refused text
 * while the server kept the earlier one, so `execute p` was masked as `select 1` and returned the earlier
 * statement's CVV in clear (real PostgreSQL, the broker's own hooks, psql).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { type Gate, gateConfig, run, startConfiguredGate } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;
const CVV = '739';

beforeAll(async () => {
  server = await startPostgres();
  server.psql(`create table cards (id int, cvv text); insert into cards values (1, '${CVV}'); create table notes (id int, body text);`);
  gate = await startConfiguredGate(server, gateConfig(server, { classes: ['read', 'write', 'ddl', 'transaction', 'utility', 'copy_out'] }));
}, 120_000);

afterAll(async () => {
  await gate?.close().catch(() => undefined);
  await server?.stop();
});

describe('a statement refused after policy allowed it', () => {
  it.each([
    ['a prepared statement (masking.stored_values)', 'prepare p1 as', 'insert into notes select 1, cvv from cards', 'execute p1'],
    ['a WITH HOLD cursor (masking.stored_values)', 'declare h1 cursor with hold for', 'insert into notes select 1, cvv from cards', 'fetch all from h1'],
    ['a prepared statement (masking.copy_columns)', 'prepare p2 as', 'copy cards to stdout', 'execute p2'],
  ])('%s keeps standing for what the server has', async (_, make, refused, use) => {
    const r = await run('psql', ['-X', '-At', '-c', `${make} select cvv || '' from cards where id = 1`, '-c', `${make} select 1; ${refused}`, '-c', use], gate.env);
    expect(r.stderr).toContain('pcigate:');
    expect(r.stdout).not.toContain(CVV);
    expect(r.stdout).toContain('***');
  });

  it('an allowed PREPARE is known to policy once it runs', async () => {
    const r = await run('psql', ['-X', '-At', '-c', "prepare p3 as select cvv || '' from cards where id = 1", '-c', 'execute p3', '-c', 'deallocate p3', '-c', 'execute p3'], gate.env);
    expect(r.stdout).toBe('PREPARE\n***\nDEALLOCATE\n');
    // Deallocated: policy no longer knows it, so it is refused rather than read as the old text.
    expect(r.stderr).toMatch(/pcigate|does not exist/);
  });
});

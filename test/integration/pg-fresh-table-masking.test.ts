/**
 * Column rules that name a table with its schema, for a table created in the session's open transaction,
 * against a real PostgreSQL through a gate wired as `pcigate connect` wires it. The column catalog (a side
 * connection) cannot see such a table until it commits: its columns count as unresolved (every qualified rule
 * of their names applies), never as "not a table column" — cached that way, the table's own rules were
 * skipped for minutes after its transaction committed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { type Gate, gateConfig, run, startConfiguredGate } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  const config = gateConfig(server, { classes: ['read', 'write', 'ddl', 'transaction', 'function'], rules: [{ name: 'ref', columns: ['public.fresh.ref'], format: 'last4' }] });
  gate = await startConfiguredGate(server, config);
}, 120_000);

afterAll(async () => {
  await gate?.close().catch(() => undefined);
  await server?.stop();
});

describe('a table created in the session\'s open transaction', () => {
  it('is masked by its qualified rule inside the transaction and after it commits, once the catalog looked it up', async () => {
    // The first sight of a table's columns is masked by every qualified rule while the catalog looks them up
    // (a side connection); the pauses let that lookup finish, so each later statement reads the cache.
    const pause = 'select pg_sleep(0.3);\n';
    const r = await run('psql', ['-X', '-At', '-v', 'ON_ERROR_STOP=1'], gate.env, {
      input: `begin;\ncreate table fresh (id int, ref text);\ninsert into fresh values (1, 'REF-0001-5678');\nselect ref from fresh;\n${pause}select ref from fresh;\ncommit;\nselect ref from fresh;\n${pause}select ref from fresh;\n`,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toContain('REF-0001');
    expect(r.stdout.split('\n').filter((l) => l.includes('****'))).toHaveLength(4);
  });
});

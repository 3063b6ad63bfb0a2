/**
 * A COPY … TO STDOUT planned on a side connection (pg-copy-plan.ts: one behind SETs in its query string)
 * names its table in the search_path policy judges it in: every path the session may have (resolveIn),
 * not only the last SET policy saw. After `BEGIN; SET LOCAL search_path = vault; COMMIT` (or a SET rolled
 * back) the session is back in public, but the plan looked in vault only: COPY items, which is public.items,
 * was refused (its columns "could not be determined"). A name in several of those schemas is still refused
 * or planned without a schema's column rules (ambiguousRelations).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { type Gate, gateConfig, run, startConfiguredGate } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  server.psql("create schema vault; create table public.items (id int, note text); insert into public.items values (1, 'public row');");
  gate = await startConfiguredGate(server, gateConfig(server, { classes: ['read', 'utility', 'transaction', 'copy_out'] }));
}, 120_000);

afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

describe('COPY planned on a side connection after a SET that did not last', () => {
  for (const [what, set] of [['SET LOCAL', 'begin; set local search_path = vault; commit'], ['a rolled-back SET', 'begin; set search_path = vault; rollback']] as const) {
    it(`after ${what}: the table the session reads is found`, async () => {
      const r = await run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', set, '-c', "set application_name = 'copy-plan'; copy items to stdout"], gate.env);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('1\tpublic row\n');
    });
  }
});

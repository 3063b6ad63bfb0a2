/**
 * A COPY … TO STDOUT planned on a side connection (pg-copy-plan.ts: one behind a SET in its query string) names
 * its tables without a schema: each such name goes through ambiguousRelations, which refuses a name of tables with
 * different columns in several schemas (the session may read another than the side connection plans). A CTE's name
 * is not a table, but only within the CTE's scope (parse_cte.c): the plan took every CTE name for a CTE everywhere
 * in the query, so `WITH cards AS (SELECT * FROM cards)`, or a CTE named cards in a subquery beside the table
 * cards, skipped the check. After `BEGIN; SET LOCAL search_path = vault; COMMIT` the session reads public.cards
 * while the plan (vault first: pg-hooks sessionSearchPath) described vault.cards: public's secret_code went out
 * under vault's name "note", in clear, and in binary its int8 card number was read as vault's timestamp, which is
 * never taken for a card number. Against a real PostgreSQL through the broker's own hooks.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../harness/cli.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { type Gate, gateConfig, run, startConfiguredGate } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;
const CODE = 'K9Z-ALPHA-SECRET';
const PAN = 4111111111111111n;
const LEFT = 'begin; set local search_path = vault; commit'; // the session is back in public; the plan looks in vault first

beforeAll(async () => {
  server = await startPostgres();
  server.psql(`create table public.cards (id int, pan int8, secret_code text, note text); insert into public.cards values (1, ${PAN}, '${CODE}', 'plain note');
    create schema vault; create table vault.cards (id int, at timestamp, note text, secret_code text);`);
  gate = await startConfiguredGate(server, gateConfig(server, {
    classes: ['read', 'utility', 'transaction', 'copy_out'],
    rules: [{ name: 'code', columns: ['public.cards.secret_code', 'vault.cards.secret_code'], format: 'full' }],
  }));
}, 120_000);

afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

const copy = (query: string, options = '', out: string[] = []) =>
  run('psql', ['-X', '-q', ...out, '-c', LEFT, '-c', `set application_name = 'cte'; copy (${query}) to stdout ${options}`], gate.env);

describe('a COPY whose table shares its name with a CTE out of the CTE\'s scope', () => {
  for (const [what, query] of [
    ['in the CTE\'s own query', 'with cards as (select * from cards) select * from cards'],
    ['beside a subquery that declares the CTE', 'select c.* from cards c, (with cards as (select 1 as one) select one from cards) x'],
    ['in a CTE before the one of the name', 'with a as (select * from cards), cards as (select 1 as one) select a.* from a'],
  ] as const) {
    it(`${what}: refused as a name of tables with different columns, not planned as another schema's table`, async () => {
      const r = await copy(query);
      expect(r.stdout).not.toContain(CODE);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain('several relations named "cards" with different columns');
    });
  }

  it('in binary: the card number is not sent as the bytes of another table\'s timestamp', async () => {
    const file = path.join(tempDir('pcigate-copy-cte-'), 'out.bin');
    const r = await copy('select c.* from cards c, (with cards as (select 1 as one) select one from cards) x', '(format binary)', ['-o', file]);
    const pan = Buffer.alloc(8);
    pan.writeBigInt64BE(PAN);
    let written = Buffer.alloc(0);
    try { written = readFileSync(file); } catch { /* nothing written: refused before any row */ }
    expect(written.includes(pan)).toBe(false);
    expect(r.stderr).toContain('several relations named "cards" with different columns');
  });

  it('where every name is the CTE\'s (RECURSIVE: its own query too), the COPY runs', async () => {
    for (const [query, rows] of [
      ['with cards as (select 1 as one) select * from cards', '1\n'],
      ['with recursive cards as (select 1 as one union all select one + 1 from cards where one < 2) select * from cards', '1\n2\n'],
      ['with cards as (select 1 as one) select s.one from (with x as (select one from cards) select x.one from x) s', '1\n'],
    ] as const) {
      const r = await copy(query);
      expect(r.stderr, query).toBe('');
      expect(r.stdout, query).toBe(rows);
    }
  });
});

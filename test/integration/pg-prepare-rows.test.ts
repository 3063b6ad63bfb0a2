/**
 * The proxy's wait for a result's column lookup (SessionHooks.prepareRows, PgMasker.prepareRows, the per-table
 * ColumnCatalog and pcigate connect's batched side query), through a gate wired by pgHooksFor against a real
 * PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeDataRow } from '../../src/pg/protocol/backend.js';
import { bytes } from '../harness/pg-bytes.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { RawPgClient } from '../harness/raw-pg-client.js';
import { type Gate, gateConfig, run, startConfiguredGate } from './pg-proxy-setup.js';

/** 2^31 + 852516352: a table OID above the int4 range (a cluster whose OID counter went past 2^31, as long-lived ones do). */
const HIGH_OID = 3_000_000_000;

describe('a table whose OID is above 2^31', () => {
  let server: PostgresServer;
  let gate: Gate | undefined;

  beforeAll(async () => {
    server = await startPostgres({ tls: false, firstOid: HIGH_OID });
    server.psql(`create table ledger (id int, amount numeric, note text); insert into ledger values (7, 12.5, 'ok');
      create table cards (id int, account_no text); insert into cards values (1, 'AC-0001-7788');`);
    gate = await startConfiguredGate(server, gateConfig(server, { classes: ['read', 'copy_out', 'utility', 'transaction', 'function'], rules: [{ name: 'account', columns: ['public.cards.account_no'], format: 'last4' }] }));
  }, 120_000);

  afterAll(async () => {
    await gate?.close().catch(() => undefined);
    await server?.stop();
  });

  it('its columns are resolved by the catalog: only its own rules apply (no column of it masked by every qualified rule)', async () => {
    expect(Number(server.psql("select 'ledger'::regclass::oid").trim())).toBeGreaterThan(2 ** 31);
    // Twice: the first result waits for the lookup, the second finds the table cached.
    const r = await run('psql', ['-X', '-At', '-c', 'select id, amount, note from ledger', '-c', 'select id, amount, note from ledger', '-c', 'select id, account_no from cards'], gate!.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(['7|12.5|ok', '7|12.5|ok', '1|**-****-****']);
  }, 60_000);
});

describe('prepareRows on a standard cluster', () => {
  let server: PostgresServer;
  let gate: Gate | undefined;

  beforeAll(async () => {
    server = await startPostgres({ tls: false });
    const config = gateConfig(server, { classes: ['read', 'write', 'ddl', 'copy_out', 'utility', 'transaction', 'function'], rules: [{ name: 'account', columns: ['public.cards.account_no'], format: 'last4' }] });
    gate = await startConfiguredGate(server, config);
  }, 120_000);

  afterAll(async () => {
    await gate?.close().catch(() => undefined);
    await server?.stop();
  });

  /** cards (one row, its account_no under rule `account`) and notes, made once. */
  const cardsAndNotes = () => server.psql("create table if not exists cards (id int, account_no text); create table if not exists notes (id int, note text); insert into cards select 1, 'AC-0001-7788' where not exists (select from cards)");

  const values = (frames: Buffer[]) => frames.filter((f) => f[0] === 0x44).map((f) => decodeDataRow(f.subarray(5)).values.map((v) => v?.toString() ?? null));

  it('an Execute with no Describe of its own (a statement described earlier: pgjdbc after prepareThreshold) waits for the lookup too', async () => {
    const c = await RawPgClient.login(gate!.broker);
    try {
      // Described while the table is the open transaction's own: the side connection cannot see it (a miss, 1 s).
      c.sock.write(bytes.query("begin; create table fresh (id int, note text); insert into fresh values (1, 'ok')"));
      await c.untilReady();
      c.sock.write(Buffer.concat([bytes.parse('s1', 'select id, note from fresh'), bytes.describe('S', 's1'), bytes.sync()]));
      await c.untilReady();
      c.sock.write(bytes.query('commit'));
      await c.untilReady();
      await new Promise((r) => setTimeout(r, 1300)); // past the miss TTL: the lookup is due again
      // Bind and Execute only: the rows' description is the one the Describe got, never sent again.
      c.sock.write(Buffer.concat([bytes.bind('', 's1', []), bytes.execute(), bytes.sync()]));
      expect(values(await c.untilReady())).toEqual([['1', 'ok']]);
    } finally {
      c.sock.destroy();
    }
  }, 30_000);

  it("an Execute of a portal whose statement's name was Parsed again since the Bind: its rows are described as the statement it binds", async () => {
    cardsAndNotes();
    const c = await RawPgClient.login(gate!.broker);
    try {
      c.sock.write(bytes.query('begin'));
      await c.untilReady();
      c.sock.write(Buffer.concat([bytes.parse('s', 'select id, account_no from cards'), bytes.describe('S', 's'), bytes.bind('p', 's', []), bytes.sync()]));
      await c.untilReady();
      // The name now holds another statement, described: the portal still runs the first. Its rows were
      // described as the notes read, and the account_no rule was not applied.
      c.sock.write(Buffer.concat([bytes.close('S', 's'), bytes.parse('s', 'select id, note from notes'), bytes.describe('S', 's'), bytes.sync()]));
      await c.untilReady();
      c.sock.write(Buffer.concat([bytes.execute('p'), bytes.sync()]));
      expect(values(await c.untilReady())).toEqual([['1', '**-****-****']]);
    } finally {
      c.sock.destroy();
    }
  }, 30_000);

  /** Frames until ReadyForQuery, or until the session ends (then what came before it). */
  const framesUntilReady = async (c: RawPgClient) => {
    const out: Buffer[] = [];
    try {
      for (;;) { const f = await c.frame(); out.push(f); if (f[0] === 0x5a) return out; }
    } catch { return out; } // closed
  };

  it("rows with no description of their own are not masked by another statement's (a Describe S of another statement pipelined before them): refused, not sent unmasked", async () => {
    cardsAndNotes();
    const c = await RawPgClient.login(gate!.broker);
    try {
      // b's description (same column count, no rule) was the last planned: the rows of a were masked by it,
      // and account_no came back whole.
      c.sock.write(Buffer.concat([bytes.parse('a', 'select id, account_no from cards'), bytes.parse('b', 'select id, note from notes'),
        bytes.describe('S', 'b'), bytes.bind('', 'a', []), bytes.execute(), bytes.sync()]));
      const got = await framesUntilReady(c);
      expect(Buffer.concat(got).toString('latin1')).not.toContain('AC-0001-7788');
      expect(values(got)).toEqual([]);
      expect(got.some((f) => f[0] === 0x45)).toBe(true);
    } finally {
      c.sock.destroy();
    }
  }, 30_000);

  it('a Describe S of the statement pipelined before its Bind and Execute: the rows are masked by their own columns\' rules', async () => {
    cardsAndNotes();
    const c = await RawPgClient.login(gate!.broker);
    try {
      // The unnamed statement (its Execute is not held for the Parse's answer): the description is known only
      // once the Describe S is answered, after the Execute was sent.
      c.sock.write(Buffer.concat([bytes.parse('', 'select id, account_no from cards'), bytes.describe('S', ''), bytes.bind('', '', []), bytes.execute(), bytes.sync()]));
      expect(values(await c.untilReady())).toEqual([['1', '**-****-****']]);
      c.sock.write(Buffer.concat([bytes.parse('a', 'select id, account_no from cards'), bytes.describe('S', 'a'), bytes.bind('', 'a', []), bytes.execute(), bytes.sync()]));
      expect(values(await c.untilReady())).toEqual([['1', '**-****-****']]);
      // A statement described once, executed again with no Describe: the kept description.
      c.sock.write(Buffer.concat([bytes.bind('', 'a', []), bytes.execute(), bytes.sync()]));
      expect(values(await c.untilReady())).toEqual([['1', '**-****-****']]);
    } finally {
      c.sock.destroy();
    }
  }, 30_000);

  it('a named Bind the server refuses (42P03: a cursor DECLAREd WITH HOLD has the name): an Execute of the name behind the Sync is refused, not run as the Bind said', async () => {
    cardsAndNotes();
    const kinds = (fs: Buffer[]) => fs.map((f) => String.fromCharCode(f[0]!)).join('');
    const c = await RawPgClient.login(gate!.broker);
    try {
      c.sock.write(bytes.query('declare held cursor with hold for select account_no from cards'));
      expect(kinds(await c.untilReady())).toBe('CZ');
      c.sock.write(Buffer.concat([bytes.parse('t', "select 'x'::text"), bytes.describe('S', 't'), bytes.sync()]));
      expect(kinds(await c.untilReady())).toBe('1tTZ');
      // The Execute was judged at once as `select 'x'` and described so: the cursor's account_no came back whole.
      c.sock.write(Buffer.concat([bytes.bind('held', 't', []), bytes.sync(), bytes.execute('held'), bytes.sync()]));
      const refused = await c.untilReady();
      expect(kinds(refused)).toBe('EZ');
      expect(refused[0]!.toString('latin1')).toContain('42P03');
      const run = await c.untilReady();
      expect(kinds(run)).toBe('EZ');
      expect(run[0]!.toString('latin1')).toContain('unknown_statement');
      // So is a SQL FETCH of it (policy was told the Bind's text for the name).
      c.sock.write(bytes.query('fetch held'));
      const fetched = await c.untilReady();
      expect(Buffer.concat(fetched).toString('latin1')).not.toContain('AC-0001-7788');
      // A Bind the server takes is judged as what it bound, once answered (in a transaction block: the
      // portal outlives the Sync).
      c.sock.write(bytes.query('close held; begin'));
      await c.untilReady();
      c.sock.write(Buffer.concat([bytes.bind('held', 't', []), bytes.sync(), bytes.execute('held'), bytes.sync()]));
      expect(kinds(await c.untilReady())).toBe('2Z');
      const ok = await c.untilReady();
      expect(values(ok)).toEqual([['x']]);
    } finally {
      c.sock.destroy();
    }
  }, 30_000);
});

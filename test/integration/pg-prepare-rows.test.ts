/**
 * The proxy's wait for a result's column lookup (SessionHooks.prepareRows, PgMasker.prepareRows, the per-table
 * ColumnCatalog and pcigate connect's batched side query), through a gate wired by pgHooksFor against a real
 * PostgreSQL.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/index.js';
import { decodeDataRow } from '../../src/pg/protocol/backend.js';
import { bytes } from '../harness/pg-bytes.js';
import { freePort, startPostgres, type PostgresServer } from '../harness/postgres.js';
import { RawPgClient } from '../harness/raw-pg-client.js';
import { type Gate, run, startConfiguredGate } from './pg-proxy-setup.js';

/** 2^31 + 852516352: a table OID above the int4 range (a cluster whose OID counter went past 2^31, as long-lived ones do). */
const HIGH_OID = 3_000_000_000;

/**
 * A private cluster whose OID counter starts at HIGH_OID (pg_resetwal -o before the first start), trust
 * authentication; the harness's startPostgres has no step between initdb and the first start.
 */
async function startHighOidPostgres(): Promise<{ server: PostgresServer; psql(sql: string): string } | undefined> {
  const bin = path.dirname(realpathSync(spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' }).stdout.trim()));
  if (!existsSync(path.join(bin, 'pg_resetwal'))) return undefined;
  const root = mkdtempSync(path.join(os.tmpdir(), 'pcigate-pg-hioid-'));
  chmodSync(root, 0o755);
  const ids = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
  if (ids.uid !== undefined) spawnSync('chown', ['-R', `${ids.uid}:${ids.gid}`, root]);
  const data = path.join(root, 'data');
  const env = { PATH: process.env.PATH ?? '', HOME: root, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', TZ: 'UTC' };
  const step = (cmd: string, args: string[]) => {
    const r = spawnSync(path.join(bin, cmd), args, { ...ids, env, cwd: root, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stdout}${r.stderr}`);
  };
  step('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
  step('pg_resetwal', ['-o', String(HIGH_OID), '-D', data]);
  const port = await freePort();
  const child: ChildProcess = spawn(path.join(bin, 'postgres'), ['-D', data, '-p', String(port), '-k', root,
    '-c', "listen_addresses=127.0.0.1", '-c', 'fsync=off', '-c', 'log_min_messages=warning'], { ...ids, env, cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`postgres did not start: ${log}`)), 30_000);
    child.stderr!.on('data', (d: Buffer) => { log += d.toString(); if (log.includes('ready to accept connections')) { clearTimeout(t); resolve(); } });
    child.once('exit', (c) => { clearTimeout(t); reject(new Error(`postgres exited ${c}: ${log}`)); });
  });
  const psql = (sql: string): string => {
    const r = spawnSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', root, '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-c', sql], { encoding: 'utf8', env });
    if (r.status !== 0) throw new Error(`psql failed: ${r.stderr}`);
    return r.stdout;
  };
  const stop = () => new Promise<void>((resolve) => {
    const done = () => { rmSync(root, { recursive: true, force: true }); resolve(); };
    if (child.exitCode !== null || child.signalCode !== null) { done(); return; }
    child.once('exit', done);
    child.kill('SIGINT'); // fast shutdown
  });
  const server: PostgresServer = {
    host: '127.0.0.1', port, socketDir: root, superuser: 'postgres', password: 'unused-trust', database: 'postgres',
    url: `postgres://postgres@127.0.0.1:${port}/postgres`, dataDir: data, caFile: undefined, certFile: undefined,
    passwordOf: (u) => u, psql, pid: child.pid ?? 0, stop,
  };
  return { server, psql };
}

describe('a table whose OID is above 2^31', () => {
  let hi: Awaited<ReturnType<typeof startHighOidPostgres>>;
  let gate: Gate | undefined;

  beforeAll(async () => {
    hi = await startHighOidPostgres();
    if (!hi) return;
    hi.psql(`create table ledger (id int, amount numeric, note text); insert into ledger values (7, 12.5, 'ok');
      create table cards (id int, account_no text); insert into cards values (1, 'AC-0001-7788');`);
    const config = configSchema.parse({
      connections: { 'test-db': { kind: 'postgres', host: hi.server.host, port: hi.server.port, database: 'postgres', user: 'postgres', sslmode: 'disable' } },
      masking: { rules: [{ name: 'account', columns: ['public.cards.account_no'], format: 'last4' }] },
      policy: { roles: { eng: { subjects: ['tester'] } }, connections: { 'test-db': { roles: { eng: { classes: ['read', 'copy_out', 'utility', 'transaction', 'function'] } } } } },
    });
    gate = await startConfiguredGate(hi.server, config);
  }, 120_000);

  afterAll(async () => {
    await gate?.close().catch(() => undefined);
    await hi?.server.stop();
  });

  it('its columns are resolved by the catalog: only its own rules apply (no column of it masked by every qualified rule)', async (t) => {
    if (!hi) { t.skip(); return; }
    expect(Number(hi.psql("select 'ledger'::regclass::oid").trim())).toBeGreaterThan(2 ** 31);
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
    const config = configSchema.parse({
      connections: { 'test-db': { kind: 'postgres', host: server.host, port: server.port, database: server.database, user: server.superuser, sslmode: 'disable' } },
      masking: { rules: [{ name: 'account', columns: ['public.cards.account_no'], format: 'last4' }] },
      policy: { roles: { eng: { subjects: ['tester'] } }, connections: { 'test-db': { roles: { eng: { classes: ['read', 'write', 'ddl', 'copy_out', 'utility', 'transaction', 'function'] } } } } },
    });
    gate = await startConfiguredGate(server, config);
  }, 120_000);

  afterAll(async () => {
    await gate?.close().catch(() => undefined);
    await server?.stop();
  });

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
});

/**
 * A real full disk under the data home (a small tmpfs): `pcigate connect` with psql-shaped traffic from the
 * `pg` driver. While the disk is full, a write is not executed and a read's result is withheld (the client gets
 * an error naming the cause, the session stays usable), nothing is lost of what was recorded before; once space
 * is back, statements run and are recorded again, a `log.gap` record reports the failure, and `pcigate verify`
 * passes. The CLI's own writes (an evidence bundle, a key rotation) say what they could not write and keep
 * nothing half-written. Needs mount(2) for the tmpfs (root, as .ci/run runs).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, runCli, tempDir } from '../harness/cli.js';
import { localConfigYaml, startPostgres, type PostgresServer } from '../harness/postgres.js';
import { fill, mountTmpfs, unmountAll } from '../harness/tmpfs.js';
import { readLog, until } from '../integration/pg-proxy-setup.js';

let server: PostgresServer;
let mnt: string;
let config: string;

beforeAll(async () => {
  server = await startPostgres();
  server.psql('create table fd_items (id int, note text)');
  mnt = mkdtempSync(path.join(os.tmpdir(), 'pcigate-fulldisk-'));
  mountTmpfs(mnt, '16m');
  config = path.join(tempDir('pcigate-fulldisk-cfg-'), 'pcigate.yaml');
  writeFileSync(config, localConfigYaml(server, { classes: ['read', 'write', 'transaction', 'utility'] }), { mode: 0o600 });
}, 120_000);

afterAll(async () => {
  unmountAll();
  await server?.stop();
});

describe('a full disk under the data home', () => {
  it('refuses rather than forwards while full, loses nothing, and records the gap once space is back', async () => {
    const home = path.join(mnt, 'home');
    const child = spawn(process.execPath, [BIN, 'connect', '--config', config, '--home', home, 'test-db', '--json'], {
      env: { PATH: process.env.PATH, HOME: home, NO_COLOR: '1', TEST_DB_PASSWORD: server.password }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { err += c.toString(); });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      await until(() => out.trim().endsWith('}'), 15_000);
      const info = JSON.parse(out) as { url: string };
      const c = new pg.Client({ connectionString: info.url });
      c.on('error', () => { /* the shutdown FATAL */ });
      await c.connect();
      await c.query("insert into fd_items values (1, 'before')");
      expect((await c.query('select count(*)::int as n from fd_items')).rows).toEqual([{ n: 1 }]);

      const filler = fill(mnt);
      // A full tmpfs still takes writes into the slack of a file's last page, and cleaning up after a refused
      // write can give a page back: records land there until it is used up, and each one recorded runs. Which
      // statement is the first refused depends on where the segment ended, so each step is tried until it is
      // refused (the disk filled again first); what ran before that was recorded and is checked below.
      const ran: string[] = [];
      const untilRefused = async <T>(attempt: (i: number) => Promise<T | undefined>): Promise<T | undefined> => {
        for (let i = 0; i < 64; i++) {
          fill(mnt);
          const refusal = await attempt(i);
          if (refusal !== undefined) return refusal;
        }
        return undefined;
      };
      const tryQuery = (sql: string) => c.query(sql).then(() => { ran.push(sql); return undefined; }, (e: unknown) => e as pg.DatabaseError);
      const write = await untilRefused((i) => tryQuery(`insert into fd_items values (${100 + i}, 'while full')`));
      const inserted = ran.length;
      // A read runs while its record is written; its result is withheld when the record fails.
      let withheldSql = '';
      const read = await untilRefused((i) => tryQuery(withheldSql = `select 'withheld' as v, ${i} as attempt`));
      const opened: pg.Client[] = [];
      const refused = await untilRefused(async () => {
        const c2 = new pg.Client({ connectionString: info.url });
        c2.on('error', () => { /* refused */ });
        return c2.connect().then(() => { opened.push(c2); return undefined; }, (e: unknown) => e as pg.DatabaseError);
      });
      rmSync(filler);
      for (const o of opened) await o.end();

      expect(write).toMatchObject({ code: '58030', message: 'pcigate could not record the statement in the audit log; it was not executed' });
      expect(read).toMatchObject({ code: '58030', severity: 'FATAL', message: expect.stringContaining('its result is withheld') });
      expect(refused).toMatchObject({ code: '58030', severity: 'FATAL', message: 'pcigate could not record the session in the audit log; it was not opened' });
      expect(server.psql('select count(*) from fd_items').trim()).toBe(String(1 + inserted));
      expect(err).toContain('the audit log could not durably write');
      expect(err).toContain('ENOSPC: no space left on device');
      expect(err).not.toContain('ENOSPC: ENOSPC');

      // Space is back: the next session runs and is recorded, after a log.gap that reports what was refused.
      const c3 = new pg.Client({ connectionString: info.url });
      c3.on('error', () => { /* the shutdown FATAL */ });
      await c3.connect();
      await c3.query("insert into fd_items values (4, 'after')");
      expect((await c3.query('select id from fd_items order by id')).rows).toEqual([{ id: 1 }, { id: 4 }, ...ran.slice(0, inserted).map((_, i) => ({ id: 100 + i }))]);
      await c3.end();
      await until(() => {
        const l = readLog(home);
        const c3Session = l.filter((r) => r.type === 'session.start').at(-1)?.session;
        return l.some((r) => r.type === 'session.end' && r.session === c3Session);
      }, 10_000);
      child.kill('SIGINT');
      expect(await exited).toBe(0);

      const log = readLog(home);
      const types = log.map((r) => r.type);
      const gapAt = types.indexOf('log.gap');
      expect(gapAt).toBeGreaterThan(0);
      const gaps = log.filter((r) => r.type === 'log.gap');
      for (const gap of gaps) expect(gap).toMatchObject({ outcome: 'failure', detail: { cause: 'ENOSPC: no space left on device, write', lost: expect.any(Number) } });
      // The refused write's, the withheld read's and the refused session's records, at least.
      expect(gaps.reduce((n, g) => n + (g.detail as { lost: number }).lost, 0)).toBeGreaterThanOrEqual(3);
      // Everything recorded before the disk filled is there, in order; nothing of what was refused ran or was recorded as run.
      // The withheld read did run on the server: its closing record may land (cleanup after the refused intent
      // gives slack back) and then says what the client got. Either way it is not recorded as a success.
      const queries = log.filter((r) => r.type === 'pg.query');
      const isWithheld = (r: (typeof log)[number]) => (r.detail as { sql: string }).sql === withheldSql;
      for (const r of queries.filter(isWithheld)) expect(r).toMatchObject({ outcome: 'failure', detail: { sqlstate: '58030', intent_seq: null } });
      const sqls = queries.filter((r) => !isWithheld(r)).map((r) => (r.detail as { sql: string }).sql);
      expect(sqls).toEqual(["insert into fd_items values (1, 'before')", 'select count(*)::int as n from fd_items', ...ran, "insert into fd_items values (4, 'after')", 'select id from fd_items order by id']);
      expect(types.slice(0, gapAt).filter((t) => t === 'session.start')).toHaveLength(1);
      expect(types.slice(gapAt + 1)).toEqual(expect.arrayContaining(['session.start', 'session.end', 'log.stop']));
      const v = await runCli(['verify', '--home', home], { home });
      expect(v.stdout).toContain('RESULT: PASS');
      expect(v.code).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('the CLI says what it could not write and keeps nothing half-written: evidence, keys rotate', async () => {
    const home = path.join(mnt, 'cli-home');
    mkdirSync(home, { mode: 0o700 });
    expect((await runCli(['keys', 'init', '--home', home], { home })).code).toBe(0);
    expect((await runCli(['sessions', '--home', home], { home })).code).toBe(0); // its audit.access record starts the log
    const filler = fill(mnt);
    try {
      const bundle = path.join(mnt, 'bundle.zip');
      const ev = await runCli(['evidence', '--home', home, '--req', '10', '--out', bundle], { home });
      expect(ev.stderr).toContain(`pcigate: the bundle could not be written to ${bundle}: ENOSPC: no space left on device`);
      expect(ev.stderr).toContain('hint: the file system is full');
      expect(ev.code).toBe(1);
      expect(readdirSync(mnt).filter((f) => f.startsWith('bundle'))).toEqual([]);
      const rot = await runCli(['keys', 'rotate', '--home', home], { home });
      expect(rot.stderr).toContain('pcigate: ENOSPC: no space left on device');
      expect(rot.stderr).not.toContain('internal error');
      expect(rot.code).toBe(1);
    } finally {
      rmSync(filler);
    }
    // Space is back: nothing was damaged, and the refused rotation runs.
    expect((await runCli(['keys', 'rotate', '--home', home], { home })).code).toBe(0);
    const v = await runCli(['verify', '--home', home], { home });
    expect(v.stdout).toContain('key epochs:   2 certified');
    expect(v.stdout).toContain('RESULT: PASS');
  });

  it('pcigate exec (CI) on a full disk: exits non-zero with the reason, and the statement does not run', async () => {
    const home = path.join(mnt, 'exec-home');
    mkdirSync(home, { mode: 0o700 });
    const env = { TEST_DB_PASSWORD: server.password };
    const ok = await runCli(['exec', '--config', config, '--home', home, 'test-db', '--sql', "insert into fd_items values (10, 'exec before')"], { env, home });
    expect(ok.code, ok.stderr).toBe(0);
    const filler = fill(mnt);
    let r: Awaited<ReturnType<typeof runCli>>;
    try {
      r = await runCli(['exec', '--config', config, '--home', home, 'test-db', '--sql', "insert into fd_items values (11, 'exec while full')"], { env, home });
    } finally {
      rmSync(filler);
    }
    expect(r.stderr).toContain('pcigate: ENOSPC: no space left on device');
    expect(r.stderr).toContain('hint: the file system is full');
    expect(r.stderr).not.toContain('internal error');
    expect(r.code).toBe(1);
    expect(server.psql('select count(*) from fd_items where id = 11').trim()).toBe('0');
  });
});

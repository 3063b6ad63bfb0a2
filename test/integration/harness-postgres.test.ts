/** The Postgres test harness itself: a real cluster, reachable over TCP+TLS+SCRAM with `pg` and with psql. */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PG_USERS, startPostgres } from '../harness/postgres.js';
import type { PostgresServer } from '../harness/postgres.js';

let server: PostgresServer;
beforeAll(async () => { server = await startPostgres(); });
afterAll(async () => { await server?.stop(); });

describe('startPostgres', () => {
  it('accepts pg over TCP with TLS (verify-full against the harness CA) and SCRAM', async () => {
    const client = new pg.Client({
      host: 'localhost', port: server.port, user: server.superuser, password: server.password,
      database: server.database, ssl: { ca: readFileSync(server.caFile!, 'utf8'), rejectUnauthorized: true },
    });
    await client.connect();
    const r = await client.query<{ ssl: boolean; method: string; v: string }>(
      `select ssl, current_setting('password_encryption') as method, current_setting('server_version_num') as v
         from pg_stat_ssl where pid = pg_backend_pid()`);
    await client.end();
    expect(r.rows[0]).toMatchObject({ ssl: true, method: 'scram-sha-256' });
    expect(Number(r.rows[0]!.v)).toBeGreaterThanOrEqual(150000);
  });

  it('refuses a wrong password', async () => {
    const client = new pg.Client({ host: server.host, port: server.port, user: server.superuser, password: 'nope', database: server.database });
    await expect(client.connect()).rejects.toThrow(/password authentication failed/);
  });

  it('accepts psql over TCP and over the Unix socket', () => {
    const env = { ...process.env, PGPASSWORD: server.password, PGSSLMODE: 'require' };
    const tcp = spawnSync('psql', ['-X', '-At', '-h', server.host, '-p', String(server.port), '-U', server.superuser,
      '-d', server.database, '-c', 'select 40 + 2'], { encoding: 'utf8', env });
    expect(tcp.stderr).toBe('');
    expect(tcp.stdout.trim()).toBe('42');
    expect(existsSync(`${server.socketDir}/.s.PGSQL.${server.port}`)).toBe(true);
    const sock = spawnSync('psql', ['-X', '-At', '-h', server.socketDir, '-p', String(server.port), '-U', server.superuser,
      '-d', server.database, '-c', 'select current_user'], { encoding: 'utf8', env: { ...env, PGSSLMODE: 'disable' } });
    expect(sock.stdout.trim()).toBe(server.superuser);
  });

  it('has one role per authentication method', async () => {
    for (const user of [PG_USERS.scram, PG_USERS.md5, PG_USERS.password, PG_USERS.trust]) {
      const client = new pg.Client({ host: server.host, port: server.port, user, password: server.passwordOf(user), database: server.database });
      await client.connect();
      const r = await client.query<{ u: string }>('select current_user as u');
      await client.end();
      expect(r.rows[0]!.u).toBe(user);
    }
    const plain = new pg.Client({ host: server.host, port: server.port, user: PG_USERS.tls, password: server.passwordOf(PG_USERS.tls), database: server.database });
    await expect(plain.connect()).rejects.toThrow(/rejects connection/);
  });

  it('runs as an unprivileged user and removes everything on stop()', async () => {
    const other = await startPostgres({ tls: false });
    expect(existsSync(other.dataDir)).toBe(true);
    if (process.getuid?.() === 0) {
      const uid = spawnSync('stat', ['-c', '%U', other.dataDir], { encoding: 'utf8' }).stdout.trim();
      expect(uid).not.toBe('root');
    }
    await other.stop();
    expect(existsSync(other.dataDir)).toBe(false);
    expect(() => process.kill(other.pid, 0)).toThrow();
  });
});

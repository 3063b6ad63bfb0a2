/** `pcigate connect` end to end: the built bin, a real config, a real PostgreSQL, psql and pg as clients. */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, runCli, tempDir } from '../harness/cli.js';
import { localConfigYaml, startPostgres, type PostgresServer } from '../harness/postgres.js';
import { readLog, until } from '../integration/pg-proxy-setup.js';

let server: PostgresServer;
let dir: string;
let config: string;

beforeAll(async () => {
  server = await startPostgres();
  dir = tempDir('pcigate-connect-');
  config = path.join(dir, 'pcigate.yaml');
  writeFileSync(config, localConfigYaml(server, { classes: ['read', 'write', 'ddl', 'copy_in', 'copy_out', 'transaction', 'utility'] }), { mode: 0o600 });
});
afterAll(async () => { await server?.stop(); });

describe('pcigate connect', () => {
  it('--exec runs psql against the listener with PG* set and exits with its code', async () => {
    const home = tempDir('pcigate-home-');
    const env = { TEST_DB_PASSWORD: server.password };
    const ok = await runCli(['connect', '--config', config, '--home', home, 'test-db', '--exec', 'psql', '-X', '-At', '-c', 'select 6 * 7'], { env, home });
    expect(ok.stderr).toContain('listening on 127.0.0.1:');
    expect(ok.stdout.trim()).toBe('42');
    expect(ok.code).toBe(0);
    // The client saw pcigate's secret, never the database password.
    expect(ok.stderr).not.toContain(server.password);
    const failed = await runCli(['connect', '--config', config, '--home', home, 'test-db', '--exec', 'sh', '-c', 'exit 3'], { env, home });
    expect(failed.code).toBe(3);
    const log = readLog(home);
    expect(log.filter((r) => r.type === 'session.end')).toHaveLength(1);
    expect(log.some((r) => r.type === 'pg.query' && (r.detail as { sql: string }).sql === 'select 6 * 7')).toBe(true);
  });

  it('masks card numbers in results before they reach the client', async () => {
    const home = tempDir('pcigate-home-');
    const env = { TEST_DB_PASSWORD: server.password };
    const r = await runCli(['connect', '--config', config, '--home', home, 'test-db', '--exec', 'psql', '-X', '-At', '-c', "select '4111111111111111' as pan"], { env, home });
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('4111111111111111');
    expect(r.stdout).toMatch(/1111/);
  });

  it('--json prints the connection as data, serves until SIGINT, then closes sessions with session.end', async () => {
    const home = tempDir('pcigate-home-');
    const child = spawn(process.execPath, [BIN, 'connect', '--config', config, '--home', home, 'test-db', '--json'], {
      env: { PATH: process.env.PATH, HOME: home, NO_COLOR: '1', TEST_DB_PASSWORD: server.password }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      await until(() => out.trim().endsWith('}'), 15_000);
      const info = JSON.parse(out) as { host: string; port: number; user: string; password: string; database: string; url: string };
      expect(info.url).toContain(`:${info.port}/`);
      const c = new pg.Client({ connectionString: info.url });
      c.on('error', () => { /* the shutdown FATAL */ });
      await c.connect();
      expect((await c.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      const log = readLog(home);
      const end = log.find((r) => r.type === 'session.end');
      expect(end?.detail).toMatchObject({ statements: 1 });
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('refuses to listen on a non-loopback address without --tls', async () => {
    const home = tempDir('pcigate-connect-bind-');
    const env = { TEST_DB_PASSWORD: server.password };
    for (const bind of ['0.0.0.0', '::']) {
      const r = await runCli(['connect', '--config', config, '--home', home, 'test-db', '--bind', bind, '--exec', 'true'], { env, home });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`refusing to listen on ${bind} without TLS`);
      expect(r.stderr).toMatch(/add --tls/);
    }
    const ok = await runCli(['connect', '--config', config, '--home', home, 'test-db', '--bind', '127.0.0.2', '--exec', 'true'], { env, home });
    expect(ok.code).toBe(0);
  });

  it('refuses an unknown connection name with a usage-class error', async () => {
    const r = await runCli(['connect', '--config', config, 'nope'], { env: { TEST_DB_PASSWORD: 'x' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown connection 'nope'");
  });
});

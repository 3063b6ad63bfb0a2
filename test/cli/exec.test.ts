/**
 * `pcigate exec` end to end (issue 7 items 5–6): the built bin, a real config, a real PostgreSQL and a real
 * sshd. --sql in the three formats with masked PANs, exit codes 0/1/5/6, a migration script run through
 * psql against the ephemeral listener with its statements recorded and its exit code passed through, and
 * a remote command's exit status over SSH, and `connect --listen` (the OpenSSH client with the printed secret; the
 * printed host key fingerprint is the one kept in the data home and survives a restart; --port N).
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, runCli, tempDir } from '../harness/cli.js';
import { connectionYaml, freePort, startPostgres, type PostgresServer } from '../harness/postgres.js';
import { readLog } from '../harness/audit-records.js';
import { sshConnectionYaml, startSshd, sshdAvailable, type Sshd } from '../harness/sshd.js';
import { run, until } from '../integration/pg-proxy-setup.js';

const OS_USER = os.userInfo().username;
const noSshd = sshdAvailable();
if (noSshd) process.stderr.write(`skipping the SSH part of the exec tests: ${noSshd}\n`);

let server: PostgresServer;
let sshd: Sshd | undefined;
let dir: string;
let config: string;
let env: Record<string, string>;

beforeAll(async () => {
  server = await startPostgres();
  server.psql("create table cards (id int primary key, pan text, note text); insert into cards values (1, '4111111111111111', 'visa'), (2, '5555-5555-5555-4444', 'mc, \"quoted\"');");
  // A server error that repeats pcigate's words: a trigger raising the inserted text.
  server.psql("create table spoof (msg text); create function spoof_raise() returns trigger language plpgsql as $$ begin raise exception '%', new.msg; end $$; create trigger spoof_raise before insert on spoof for each row execute function spoof_raise();");
  if (!noSshd) sshd = await startSshd();
  dir = tempDir('pcigate-exec-');
  config = path.join(dir, 'pcigate.yaml');
  writeFileSync(config, [
    'identity:',
    '  allow_local: true',
    'connections:',
    ...connectionYaml(server),
    ...(sshd ? sshConnectionYaml(sshd, dir, 'test-ssh', { extra: ['allow:', '  exec: { allow: ["sh -c *", "echo *"], deny: ["rm *"] }'] }) : []),
    'policy:',
    '  roles:',
    `    ci: { subjects: [${OS_USER}] }`,
    '  connections:',
    '    test-db:',
    '      roles:',
    '        ci: { classes: [read, write, transaction, utility], require_approval: [write_without_where] }',
    '      approvals: { wait: 1s }',
    '',
  ].join('\n'), { mode: 0o600 });
  env = { TEST_DB_PASSWORD: server.password };
}, 120_000);

afterAll(async () => {
  await sshd?.stop();
  await server?.stop();
});

const exec = (args: string[], home: string) => runCli(['exec', '--config', config, '--home', home, ...args], { env, home, timeoutMs: 30_000 });

describe('pcigate exec (postgres)', () => {
  it('prints masked results as csv, json and a table', async () => {
    const home = tempDir('pcigate-home-');
    const sql = 'select id, pan, note from cards order by id';
    const csv = await exec(['test-db', '--sql', sql, '--format', 'csv'], home);
    // The test server's superuser is the connection's user: said, and nothing else (src/broker/pg-broker.ts).
    expect(csv.stderr).toMatch(/^warning: test-db's database user "[^"]+" is a superuser: [^\n]+\n$/);
    expect(csv.code).toBe(0);
    expect(csv.stdout).toBe('id,pan,note\r\n1,************1111,visa\r\n2,****-****-****-4444,"mc, ""quoted"""\r\n');
    const json = await exec(['test-db', '--sql', sql, '--format', 'json'], home);
    expect(JSON.parse(json.stdout)).toEqual([{ command: 'SELECT 2', rows: [{ id: '1', pan: '************1111', note: 'visa' }, { id: '2', pan: '****-****-****-4444', note: 'mc, "quoted"' }] }]);
    const tbl = await exec(['test-db', '--sql', sql], home);
    expect(tbl.stdout).toMatch(/^id\s+pan\s+note\n1\s+\*{12}1111\s+visa\n/);
    expect(tbl.stdout).toContain('(2 rows)');
    expect(JSON.stringify(readLog(home))).not.toContain('4111111111111111');
    expect(readLog(home).filter((r) => r.type === 'pg.query')).toHaveLength(3);
  });

  it('exits 1 on an SQL error and 5 on a policy denial, with the message', async () => {
    const home = tempDir('pcigate-home-');
    const bad = await exec(['test-db', '--sql', 'select 1/0'], home);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('division by zero');
    const denied = await exec(['test-db', '--sql', 'drop table cards'], home);
    expect(denied.code).toBe(5);
    expect(denied.stderr).toContain('pcigate: denied by policy');
    expect(server.psql('select count(*) from cards').trim()).toBe('2');
  });

  it('a server error in pcigate\'s words is a server error (exit 1), not a denial or a timeout', async () => {
    const home = tempDir('pcigate-home-');
    for (const words of ['pcigate: denied by policy rule x: spoofed', 'pcigate: approval A-1 was denied by ann: no', 'pcigate: no decision on approval request A-1 in time']) {
      const r = await exec(['test-db', '--sql', `insert into spoof values ('${words}')`], home);
      expect(r.stderr).toContain(`ERROR:  ${words} (SQLSTATE P0001)`);
      expect(r.code).toBe(1);
    }
  });

  it('exits 6 when a held statement gets no decision within approvals.wait, and nothing runs', async () => {
    const home = tempDir('pcigate-home-');
    const held = await exec(['test-db', '--sql', 'delete from cards'], home);
    expect(held.stderr).toMatch(/pcigate: no decision on approval request A-\S+ in time/);
    expect(held.code).toBe(6);
    expect(server.psql('select count(*) from cards').trim()).toBe('2');
  });

  it('runs a migration script through psql on an ephemeral listener, recording its statements and exit code', async () => {
    const home = tempDir('pcigate-home-');
    const script = path.join(dir, 'migrate.sql');
    writeFileSync(script, "insert into cards values (3, '378282246310005', 'amex');\nselect pan from cards where id = 1;\ndelete from cards where id = 3;\n");
    const ok = await exec(['test-db', '--reason', 'release 42', '--', 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-f', script], home);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('************1111');
    const log = readLog(home);
    const sqls = log.filter((r) => r.type === 'pg.query').map((r) => (r.detail as { sql: string }).sql);
    expect(sqls).toEqual(expect.arrayContaining(["insert into cards values (3, '***********0005', 'amex');", 'select pan from cards where id = 1;', 'delete from cards where id = 3;']));
    // --reason is recorded with the run (exec.start) for the reviewer.
    expect(log.find((r) => r.type === 'exec.start')?.detail).toMatchObject({ reason: 'release 42' });
    const end = log.find((r) => r.type === 'exec.end')!;
    expect(end.detail).toMatchObject({ exit_code: 0 });
    const cast = readFileSync(path.join(home, end.blobs![0]!.path!), 'utf8');
    expect(cast).toContain('************1111');
    expect(cast).not.toContain('4111111111111111');
    const bad = path.join(dir, 'bad.sql');
    writeFileSync(bad, 'select 1;\nselect 1/0;\nselect 2;\n');
    // psql exits 3 when a script stops on an error under ON_ERROR_STOP: that code comes through.
    const failing = await exec(['test-db', '--', 'psql', '-X', '-v', 'ON_ERROR_STOP=1', '-f', bad], home);
    expect(failing.code).toBe(3);
    expect(readdirSync(path.join(home, 'recordings')).length).toBeGreaterThanOrEqual(2);
  });
});

describe('pcigate exec -- CMD on a terminal', () => {
  it('runs the program under a pty (it sees a terminal), masks what it prints and exits with its code', async () => {
    const pty = await import('node-pty');
    const home = tempDir('pcigate-home-');
    const term = pty.spawn(process.execPath, [BIN, 'exec', '--config', config, '--home', home, 'test-db', '--', 'sh', '-c',
      // (the token is put together by printf: the command line holds no token, its output does)
      'if [ -t 1 ]; then echo "stdout-is-a-tty"; fi; printf "card 4111111111111111\\n"; printf "GITHUB_TOKEN=%s%s\\n" ghp_A1bbbbbbbbbbbbbbbbb bbbbbbbbbbbbbbbbb; exit 4'], {
      cols: 100, rows: 30, cwd: home, env: { PATH: process.env.PATH ?? '', HOME: home, TERM: 'xterm', NO_COLOR: '1', ...env },
    });
    let screen = '';
    term.onData((d) => { screen += d; });
    const killer = setTimeout(() => term.kill(), 30_000);
    const code = await new Promise<number>((resolve) => term.onExit(({ exitCode }) => resolve(exitCode)));
    clearTimeout(killer);
    expect(screen).toContain('stdout-is-a-tty');
    expect(screen).toContain('card ************1111');
    expect(screen).not.toContain('4111111111111111');
    expect(code).toBe(4);
    const end = readLog(home).find((r) => r.type === 'exec.end')!;
    expect(end.detail).toMatchObject({ exit_code: 4 });
    const cast = readFileSync(path.join(home, end.blobs![0]!.path!), 'utf8');
    expect(cast).toContain('stdout-is-a-tty');
    // A token the program prints is shown on the terminal and hidden in the recording, keeping its length.
    const token = `ghp_A1${'b'.repeat(34)}`;
    expect(screen).toContain(`GITHUB_TOKEN=${token}`);
    expect(cast).not.toContain(token);
    expect(cast).toContain(`GITHUB_TOKEN=[redacted]${'*'.repeat(token.length - 10)}`);
  });
});

describe('pcigate exec (postgres, masking.networks any_luhn)', () => {
  it('masks the program\'s output and its recording by the configured networks (a Luhn-valid number outside the major ranges)', async () => {
    const anyConfig = path.join(dir, 'pcigate-any-luhn.yaml');
    writeFileSync(anyConfig, `${readFileSync(config, 'utf8')}masking:\n  networks: any_luhn\n`, { mode: 0o600 });
    const home = tempDir('pcigate-home-');
    const r = await runCli(['exec', '--config', anyConfig, '--home', home, 'test-db', '--', 'sh', '-c', 'echo card 9000001234567898'], { env, home, timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('card ************7898\n');
    const end = readLog(home).find((x) => x.type === 'exec.end')!;
    const cast = readFileSync(path.join(home, end.blobs![0]!.path!), 'utf8');
    expect(cast).toContain('************7898');
    expect(cast).not.toContain('9000001234567898');
  });
});

describe.skipIf(Boolean(noSshd))('pcigate exec (ssh)', () => {
  it('passes the remote exit status through and refuses a denied command with exit 5', async () => {
    const home = tempDir('pcigate-home-');
    const ok = await exec(['test-ssh', '--reason', 'CHG-9 check', '--', 'echo', 'card 4111 1111 1111 1111'], home);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe('card **** **** **** 1111\n');
    const first = readLog(home);
    expect(first.find((r) => r.type === 'session.start' && r.target?.kind === 'ssh')?.detail).toMatchObject({ via: 'exec', reason: 'CHG-9 check' });
    // The remote command's output is recorded as a masked asciicast whose hash is in session.end.
    const sshEnd = first.find((r) => r.type === 'session.end' && r.target?.kind === 'ssh')!;
    const cast = readFileSync(path.join(home, sshEnd.blobs![0]!.path!), 'utf8');
    expect(cast).toContain('card **** **** **** 1111');
    expect(cast).not.toContain('4111 1111 1111 1111');
    const seven = await exec(['test-ssh', '--', 'sh', '-c', 'exit 7'], home);
    expect(seven.code).toBe(7);
    const denied = await exec(['test-ssh', '--', 'rm', '-rf', '/tmp/x'], home);
    expect(denied.code).toBe(5);
    expect(denied.stderr).toContain("deny pattern 'rm *'");
    const log = readLog(home);
    expect(log.filter((r) => r.type === 'ssh.exec').map((r) => r.outcome)).toEqual(['success', 'success', 'denied']);
  });
});

/** `pcigate connect test-ssh --listen --json [args]` in the background; `info` is the JSON it prints once listening. */
async function listen(home: string, args: string[] = []) {
  const child = spawn(process.execPath, [BIN, 'connect', '--config', config, '--home', home, 'test-ssh', '--listen', ...args, '--json'], {
    env: { PATH: process.env.PATH, HOME: home, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  try {
    await until(() => out.trim().endsWith('}'), 20_000);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return { child, exited, info: JSON.parse(out) as { port: number; password: string; fingerprint: string } };
}

describe.skipIf(Boolean(noSshd))('pcigate connect (ssh --listen)', () => {
  it('serves the OpenSSH client with the printed secret until SIGINT, recording the session', async () => {
    const home = tempDir('pcigate-home-');
    const { child, exited, info } = await listen(home);
    try {
      expect(info.fingerprint).toMatch(/^SHA256:/);
      const askpass = path.join(home, 'askpass.sh');
      writeFileSync(askpass, `#!/bin/sh\necho '${info.password}'\n`, { mode: 0o700 });
      const r = await run('ssh', ['-T', '-p', String(info.port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR',
        '-o', 'PreferredAuthentications=password', 'pcigate@127.0.0.1', 'echo', 'via-listener'],
        { PATH: process.env.PATH ?? '', HOME: home, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' });
      expect(r.stdout).toBe('via-listener\n');
      expect(r.code).toBe(0);
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      const log = readLog(home);
      expect(log.some((x) => x.type === 'ssh.exec' && x.outcome === 'success')).toBe(true);
      expect(log.some((x) => x.type === 'session.end' && x.target?.kind === 'ssh')).toBe(true);
      // The printed fingerprint is that of the host key kept in the data home (0600), and a second
      // listener on the same home presents the same key (OpenSSH's known_hosts keeps working).
      const keyFile = path.join(home, 'keys', 'ssh_host_ed25519_key');
      expect(statSync(keyFile).mode & 0o777).toBe(0o600);
      expect(spawnSync('ssh-keygen', ['-lf', keyFile, '-E', 'sha256'], { encoding: 'utf8' }).stdout.split(/\s+/)[1]).toBe(info.fingerprint);
      const fixed = await freePort();
      const again = await listen(home, ['--port', String(fixed)]);
      try {
        expect(again.info).toMatchObject({ fingerprint: info.fingerprint, port: fixed });
        again.child.kill('SIGINT');
        expect(await again.exited).toBe(0);
      } finally {
        again.child.kill('SIGKILL');
      }
    } finally {
      child.kill('SIGKILL');
    }
  });
});

/**
 * `pcigate exec CONN --sql` in a non-interactive CI job whose statement policy holds for approval, through
 * the built bin against a real PostgreSQL 15 (workload token from the in-process OIDC provider; a person logged
 * in with that provider approves or denies with `pcigate approve` / `deny` while exec owns the log):
 * - "statement held for approval A-…" reaches the job's stderr while the statement waits (an approver
 *   needs the id), not when the wait is over; approved → the statement runs, exit 0;
 * - denied by an approver → exit 5 (denied by policy), as for a held SSH command, not 1;
 * - the job's own OS account, standing in as a local identity (identity.allow_local) and listed as an approver,
 *   cannot approve or deny it (separation of duties): exit 5, an approval.refuse record, the statement still waits.
 */
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, runCli, tempDir } from '../harness/cli.js';
import { APPROVER, approverIdentityYaml, logInApprover } from '../harness/approver-login.js';
import { CI_SUB, ciJobToken } from '../harness/ci-job.js';
import { startOidcProvider } from '../harness/oidc.js';
import type { OidcHarness } from '../harness/oidc.js';
import { connectionYaml, startPostgres, type PostgresServer } from '../harness/postgres.js';
import { readLog, until } from '../integration/pg-proxy-setup.js';

const OS_USER = os.userInfo().username;

let server: PostgresServer;
let oidc: OidcHarness;
let config: string;
/** The same deployment where people cannot log in: the local OS account is the only identity there is. */
let localConfig: string;

beforeAll(async () => {
  server = await startPostgres();
  server.psql("create table jobs (id int primary key, state text); insert into jobs values (1, 'new'), (2, 'new');");
  oidc = await startOidcProvider();
  const dir = tempDir('pcigate-exec-approvals-');
  const write = (name: string, identity: string[]) => {
    writeFileSync(path.join(dir, name), [
      ...identity,
      'connections:', ...connectionYaml(server, 'ci-db'),
      '    workload:', `      - { issuer: "${oidc.issuer}", claims: { repository: org/payments } }`,
      'policy:',
      '  roles:', `    ci: { subjects: ["${CI_SUB}"] }`,
      '  connections:',
      `    ci-db: { approvals: { subjects: [${OS_USER}, ${APPROVER.email}], wait: 30s }, roles: { ci: { classes: [read, write, transaction, utility], require_approval: [write_without_where] } } }`,
      '',
    ].join('\n'), { mode: 0o600 });
    return path.join(dir, name);
  };
  config = write('pcigate.yaml', approverIdentityYaml(oidc));
  localConfig = write('local.yaml', ['identity:', '  allow_local: true']);
}, 120_000);

afterAll(async () => {
  await oidc?.close();
  await server?.stop();
});

async function ciExec(home: string, sql: string) {
  const token = await ciJobToken(oidc);
  const child = spawn(process.execPath, [BIN, 'exec', '--config', config, '--home', home, 'ci-db', '--sql', sql, '--format', 'csv'], {
    cwd: home, env: { PATH: process.env.PATH ?? '', HOME: home, NO_COLOR: '1', PCIGATE_ID_TOKEN: token, TEST_DB_PASSWORD: server.password }, stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.end();
  const io = { stdout: '', stderr: '', code: undefined as number | null | undefined };
  child.stdout.on('data', (c: Buffer) => { io.stdout += c.toString(); });
  child.stderr.on('data', (c: Buffer) => { io.stderr += c.toString(); });
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const done = new Promise<typeof io>((resolve) => child.on('close', (code) => { clearTimeout(killer); io.code = code; resolve(io); }));
  return { io, done, child };
}

/** `pcigate ARGS` from the job's OS account as the approver logged in with OIDC (a login saved in the data home). */
async function asApprover(home: string, args: string[]) {
  if (!existsSync(path.join(home, 'tokens.json'))) await logInApprover(oidc, home);
  return runCli([...args, '--home', home, '--config', config], { home: tempDir('pcigate-approver-'), timeoutMs: 30_000 });
}

/** `pcigate ARGS` as the job's OS account itself (identity.allow_local, no login saved in this data home). */
const asRunnerAccount = (home: string, args: string[]) => runCli([...args, '--home', home, '--config', localConfig], { home: tempDir('pcigate-runner-'), timeoutMs: 30_000 });

/**
 * The pending request's id as `pcigate approvals` shows it from the data home, once the run says it waits for
 * it (one listing then, not a poll of CLI processes that a loaded machine made slower than the wait).
 */
async function pendingId(home: string, run: { io: { stderr: string } }): Promise<string> {
  await until(() => /statement held for approval A-[a-z2-7]{10}/.test(run.io.stderr), 40_000);
  const waiting = /statement held for approval (A-[a-z2-7]{10})/.exec(run.io.stderr)![1]!;
  const r = await asApprover(home, ['approvals', '--json']);
  const ids = (JSON.parse(r.stdout || '[]') as Array<{ id: string }>).map((x) => x.id);
  expect(ids).toEqual([waiting]);
  return ids[0]!;
}

describe('pcigate exec --sql with a held statement', () => {
  it('says which approval it waits for while it waits; approved, the statement runs', async () => {
    const home = tempDir('pcigate-home-');
    const run = await ciExec(home, "update jobs set state = 'done'");
    await until(() => /statement held for approval (A-[a-z2-7]{10})/.test(run.io.stderr), 20_000);
    expect(run.io.code).toBeUndefined();
    const id = /statement held for approval (A-[a-z2-7]{10})/.exec(run.io.stderr)![1]!;
    expect(run.io.stderr).toContain(`pcigate approve ${id}`);
    expect((await asApprover(home, ['approve', id])).code).toBe(0);
    const r = await run.done;
    expect(r.code).toBe(0);
    expect(r.stderr.match(/statement held for approval/g)).toHaveLength(1);
    expect(server.psql("select count(*) from jobs where state = 'done'").trim()).toBe('2');
    expect(readLog(home).some((x) => x.type === 'approval.use')).toBe(true);
  }, 90_000);

  it('an approval used by a re-run is recorded in the re-run\'s session, naming the one that asked', async () => {
    const home = tempDir('pcigate-home-');
    const first = await ciExec(home, "update jobs set state = 'rerun'");
    const id = await pendingId(home, first);
    // The first run is gone (a CI job cancelled while it waited); the approval comes afterwards.
    first.child.kill('SIGTERM');
    await first.done;
    expect((await asApprover(home, ['approve', id])).code).toBe(0);
    const r = await (await ciExec(home, "update jobs set state = 'rerun'")).done;
    expect(r.code).toBe(0);
    const log = readLog(home);
    const asked = log.find((x) => x.type === 'approval.request')!.session;
    const use = log.find((x) => x.type === 'approval.use')!;
    const rerun = log.filter((x) => x.type === 'session.start' || x.type === 'exec.start').map((x) => x.session).find((s) => s !== asked);
    expect(asked).toBeDefined();
    expect(rerun).toBeDefined();
    expect(use.session).toBe(rerun);
    expect((use.detail as { requested_in?: string }).requested_in).toBe(asked);
  }, 90_000);

  it("the job's own OS account as a local identity cannot approve or deny it: refused, recorded, still waiting", async () => {
    const home = tempDir('pcigate-home-');
    const run = await ciExec(home, "update jobs set state = 'self'");
    const id = await pendingId(home, run);
    for (const args of [['approve', id], ['deny', id, '--reason', 'mine']]) {
      const r = await asRunnerAccount(home, args);
      expect(r.stderr).toContain(`${id} was filed by the workload ${CI_SUB} from the OS account (${OS_USER}) that runs the job's pcigate`);
      expect(r.code).toBe(5);
    }
    expect(run.io.code).toBeUndefined();
    expect((await asApprover(home, ['deny', id, '--reason', 'checked: not now'])).code).toBe(0);
    expect((await run.done).code).toBe(5);
    expect(server.psql("select count(*) from jobs where state = 'self'").trim()).toBe('0');
    const refused = readLog(home).filter((x) => x.type === 'approval.refuse');
    expect(refused.map((x) => [x.actor?.sub, x.actor?.via, (x.detail as { verb: string }).verb])).toEqual([[OS_USER, 'local', 'approve'], [OS_USER, 'local', 'deny']]);
    expect(readLog(home).find((x) => x.type === 'approval.deny')?.actor).toMatchObject({ sub: APPROVER.sub, email: APPROVER.email, via: 'oidc' });
  }, 90_000);

  it('denied by an approver: exit 5 with the reason', async () => {
    const home = tempDir('pcigate-home-');
    const run = await ciExec(home, "update jobs set state = 'nope'");
    const id = await pendingId(home, run);
    expect((await asApprover(home, ['deny', id, '--reason', 'not in the freeze'])).code).toBe(0);
    const r = await run.done;
    expect(r.stderr).toContain('not in the freeze');
    expect(r.code).toBe(5);
    expect(server.psql("select count(*) from jobs where state = 'nope'").trim()).toBe('0');
  }, 90_000);
});

/**
 * Session-level policy for Postgres through the built bin, against a real PostgreSQL 15:
 * - `session.allowed_hours`: a session outside the window is refused at its start (FATAL 42501 to psql,
 *   exit 5 for `pcigate exec --sql`), recorded as `session.denied` (outcome denied), never forwarded;
 * - `session.require_approval`: a CI job (workload token from the in-process OIDC provider) waits at session
 *   start ("waiting for approval A-…"); a person logged in with that provider approves or denies it with `pcigate approve`
 *   / `pcigate deny` while the exec process owns the log; approved → the query runs, denied → exit 5,
 *   no decision within approvals.wait → exit 6;
 * - a long-running `pcigate connect` drains the audit outbox: `pcigate verify` run meanwhile has its
 *   `verify.run` in the log within seconds, before the broker closes.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APPROVER } from '../harness/approver-login.js';
import { CI_SUB, execAsCiJob, runAsApprover } from '../harness/ci-job.js';
import { BIN, runCli, tempDir } from '../harness/cli.js';
import { startOidcProvider } from '../harness/oidc.js';
import type { OidcHarness } from '../harness/oidc.js';
import { connectionYaml, startPostgres, type PostgresServer } from '../harness/postgres.js';
import { readLog, until } from '../integration/pg-proxy-setup.js';

const OS_USER = os.userInfo().username;
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

let server: PostgresServer;
let oidc: OidcHarness;
let config: string;

beforeAll(async () => {
  server = await startPostgres();
  oidc = await startOidcProvider();
  const dir = tempDir('pcigate-session-policy-');
  config = path.join(dir, 'pcigate.yaml');
  const conn = (name: string) => [
    ...connectionYaml(server, name),
    '    workload:', `      - { issuer: "${oidc.issuer}", claims: { repository: org/payments } }`,
  ];
  // Every day but today (UTC), whole days: now is outside the window.
  const notToday = DAYS.filter((_, i) => i !== new Date().getUTCDay()).join(', ');
  const roles = '{ dev: { classes: [read, transaction, utility] } }';
  writeFileSync(config, [
    'identity:', '  allow_local: true',
    'connections:', ...conn('open-db'), ...conn('closed-db'), ...conn('gated-db'), ...conn('quick-db'),
    'policy:',
    '  roles:', `    dev: { subjects: [${OS_USER}, "${CI_SUB}"] }`,
    '  connections:',
    `    open-db: { roles: ${roles} }`,
    `    closed-db: { session: { allowed_hours: { from: "00:00", to: "00:00", days: [${notToday}], tz: UTC } }, roles: ${roles} }`,
    `    gated-db: { session: { require_approval: true }, approvals: { subjects: [${APPROVER.email}], wait: 30s }, roles: ${roles} }`,
    `    quick-db: { session: { require_approval: true }, approvals: { subjects: [${APPROVER.email}], wait: 1s }, roles: ${roles} }`,
    '',
  ].join('\n'), { mode: 0o600 });
}, 120_000);

afterAll(async () => {
  await oidc?.close();
  await server?.stop();
});

const env = () => ({ TEST_DB_PASSWORD: server.password });

/** `pcigate exec CONN --sql SQL` as the CI job (workload token), in the background; `held` resolves with the request id. */
const ciExec = (home: string, conn: string, sql: string) => execAsCiJob(oidc, { config, home, args: [conn, '--sql', sql], env: env() });

const asApprover = (home: string, args: string[]) => runAsApprover(oidc, config, home, args);

describe('session.allowed_hours', () => {
  it('refuses a session outside the window at its start: exit 5, session.denied, nothing forwarded', async () => {
    const home = tempDir('pcigate-home-');
    const r = await runCli(['exec', '--config', config, '--home', home, 'closed-db', '--sql', 'select 1'], { env: env(), home, timeoutMs: 30_000 });
    expect(r.stderr).toContain('pcigate: denied by policy rule policy.connections.closed-db.session.allowed_hours: closed-db may be used');
    expect(r.stderr).toContain('(SQLSTATE 42501)');
    expect(r.code).toBe(5);
    const log = readLog(home);
    expect(log.some((x) => x.type === 'session.start' || x.type === 'pg.intent')).toBe(false);
    expect(log.find((x) => x.type === 'session.denied')).toMatchObject({
      outcome: 'denied', actor: { sub: expect.stringContaining(OS_USER) }, target: { conn: 'closed-db', kind: 'postgres' },
      detail: { reason: 'allowed_hours', rule: 'policy.connections.closed-db.session.allowed_hours', allowed_hours: { tz: 'UTC', from: '00:00', to: '00:00' } },
    });
  });

  it('psql through pcigate connect gets the FATAL with the rule', async () => {
    const home = tempDir('pcigate-home-');
    const r = await runCli(['connect', '--config', config, '--home', home, 'closed-db', '--exec', 'psql', '-X', '-At', '-c', 'select 1'], { env: env(), home, timeoutMs: 30_000 });
    expect(r.stderr).toContain('FATAL:  pcigate: denied by policy rule policy.connections.closed-db.session.allowed_hours');
    expect(r.code).not.toBe(0);
    expect(readLog(home).filter((x) => x.type === 'session.denied')).toHaveLength(1);
  });

  it('lets sessions in where the connection has no window', async () => {
    const home = tempDir('pcigate-home-');
    const r = await runCli(['exec', '--config', config, '--home', home, 'open-db', '--sql', "select 'in' as x", '--format', 'csv'], { env: env(), home, timeoutMs: 30_000 });
    expect(r.stdout).toContain('in');
    expect(r.code).toBe(0);
    expect(readLog(home).some((x) => x.type === 'session.denied')).toBe(false);
  });
});

describe('session.require_approval', () => {
  it('holds the session start until a second person approves, then runs the query', async () => {
    const home = tempDir('pcigate-home-');
    const run = await ciExec(home, 'gated-db', "select 'approved-' || 42 as x");
    const id = await run.held;
    const ok = await asApprover(home, ['approve', id, '--reason', 'CHG-9']);
    expect(ok.code).toBe(0);
    const r = await run.done;
    expect(r.stderr).toContain(`gated-db needs an approval to connect: waiting for approval ${id}`);
    expect(r.stdout).toContain('approved-42');
    expect(r.code).toBe(0);
    const log = readLog(home);
    const types = log.map((x) => x.type);
    expect(types.indexOf('approval.request')).toBeLessThan(types.indexOf('approval.approve'));
    expect(types.indexOf('approval.approve')).toBeLessThan(types.indexOf('approval.use'));
    expect(types.indexOf('approval.use')).toBeLessThan(types.indexOf('session.start'));
    expect(log.find((x) => x.type === 'approval.request')).toMatchObject({ detail: { id, kind: 'session', sql: 'CONNECT gated-db' } });
    expect(log.find((x) => x.type === 'session.start')).toMatchObject({ actor: { sub: CI_SUB } });
  }, 60_000);

  it('a denial refuses the session: exit 5, session.denied with the approval', async () => {
    const home = tempDir('pcigate-home-');
    const run = await ciExec(home, 'gated-db', 'select 1');
    const id = await run.held;
    const no = await asApprover(home, ['deny', id, '--reason', 'not during the freeze']);
    expect(no.code).toBe(0);
    const r = await run.done;
    expect(r.stderr).toContain('not during the freeze');
    expect(r.code).toBe(5);
    const log = readLog(home);
    expect(log.some((x) => x.type === 'session.start')).toBe(false);
    expect(log.find((x) => x.type === 'session.denied')).toMatchObject({ outcome: 'denied', detail: { reason: 'approval', approval: id, approval_state: 'denied' } });
  }, 60_000);

  it('no decision within approvals.wait refuses the session with exit 6', async () => {
    const home = tempDir('pcigate-home-');
    const run = await ciExec(home, 'quick-db', 'select 1');
    const id = await run.held;
    const r = await run.done;
    expect(r.stderr).toContain(`no decision on approval request ${id} in time`);
    expect(r.code).toBe(6);
    expect(readLog(home).find((x) => x.type === 'session.denied')).toMatchObject({ detail: { reason: 'approval_timeout', approval: id, approval_state: 'timeout' } });
  }, 60_000);
});

describe('a running broker drains the audit outbox', () => {
  it('pcigate verify while pcigate connect owns the log: verify.run is in the log within seconds', async () => {
    const home = tempDir('pcigate-home-');
    const child = spawn(process.execPath, [BIN, 'connect', '--config', config, '--home', home, 'open-db', '--port', '0'], {
      cwd: home, env: { PATH: process.env.PATH ?? '', HOME: home, NO_COLOR: '1', ...env() }, stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    try {
      await until(() => stderr.includes('is listening on'), 20_000);
      const v = await runCli(['verify', '--home', home], { home, timeoutMs: 30_000 });
      expect(v.code).toBe(0);
      // Parked in the outbox (the broker owns the log), then moved by the broker's drain timer.
      await until(() => readLog(home).some((x) => x.type === 'verify.run'), 10_000);
      expect(child.exitCode).toBeNull();
      expect(readLog(home).find((x) => x.type === 'verify.run')).toMatchObject({ detail: { via_outbox: true } });
    } finally {
      child.kill('SIGINT');
      await closed;
    }
    expect(stderr).not.toContain('audit outbox: could not move');
  }, 60_000);
});

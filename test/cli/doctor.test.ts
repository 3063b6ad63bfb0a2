/**
 * `pcigate doctor` against a healthy setup (a real PostgreSQL with TLS and SCRAM from the harness, an
 * in-process OIDC provider, an initialised data home) and a broken one (wrong password, nothing listening,
 * an unverifiable certificate, an unreachable issuer, a data home open to everyone, an epoch key and an
 * approval key readable by others, an invalid config).
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from '../harness/cli.js';
import { startOidcProvider, type OidcHarness } from '../harness/oidc.js';
import { freePort, PG_USERS, startPostgres, type PostgresServer } from '../harness/postgres.js';
import { sshConnectionYaml, sshdAvailable, startSshd, type Sshd } from '../harness/sshd.js';

interface Check { id: string; status: 'ok' | 'warn' | 'fail'; message: string; hint?: string }

let pg: PostgresServer;
let idp: OidcHarness;
let sshd: Sshd | undefined;
let keyDir = '';

beforeAll(async () => {
  [pg, idp, sshd] = await Promise.all([startPostgres(), startOidcProvider(), sshdAvailable() ? undefined : startSshd()]);
  if (sshd) keyDir = tempDir('pcigate-doctor-key-');
}, 120_000);

afterAll(async () => {
  await Promise.all([pg?.stop(), idp?.close(), sshd?.stop()]);
});

/** An ssh connection to the harness sshd pinned to `hostKey` (none when sshd is not installed). */
function sshConn(name: string, hostKey: string): string[] {
  return sshd ? sshConnectionYaml(sshd, keyDir, name, { hostKey, extra: ['connect_timeout: 5s'] }) : [];
}

function setup(yaml: string): { dir: string; config: string; home: string } {
  const dir = tempDir('pcigate-doctor-');
  const config = path.join(dir, 'pcigate.yaml');
  writeFileSync(config, yaml, { mode: 0o600 });
  return { dir, config, home: path.join(dir, 'home') };
}

function pgConn(name: string, o: { port: number; password: string; sslmode: string; ca?: string }): string {
  return [
    `  ${name}:`, '    kind: postgres', '    host: 127.0.0.1', `    port: ${o.port}`, `    database: ${pg.database}`,
    `    user: ${PG_USERS.scram}`, `    password: ${o.password}`, `    sslmode: ${o.sslmode}`, '    connect_timeout: 5s',
    ...(o.ca ? [`    ca_file: ${o.ca}`] : []),
  ].join('\n');
}

async function doctor(s: { config: string; home: string }, env: Record<string, string> = {}) {
  const r = await runCli(['doctor', '--json', '--config', s.config, '--home', s.home], { env, timeoutMs: 60_000 });
  const text = await runCli(['doctor', '--config', s.config, '--home', s.home], { env, timeoutMs: 60_000 });
  const checks = (JSON.parse(r.stdout) as { ok: boolean; checks: Check[] }).checks;
  return { code: r.code, textCode: text.code, text: text.stdout, checks, byId: (id: string) => checks.find((c) => c.id === id) };
}

describe('pcigate doctor', () => {
  it('passes on a healthy setup: every line ✓ (or a warning), exit 0', async () => {
    const s = setup([
      'version: 1', 'connections:',
      pgConn('payments', { port: pg.port, password: 'env:DOCTOR_DB_PW', sslmode: 'verify-full', ca: pg.caFile! }),
      ...sshConn('bastion', sshd?.hostKeyFingerprint ?? ''),
      'identity:', `  issuer: ${idp.issuer}`, '  client_id: pcigate-cli', '  token_store: file', '',
    ].join('\n'));
    const init = await runCli(['keys', 'init', '--home', s.home]);
    expect(init.code, init.stderr).toBe(0);
    chmodSync(s.home, 0o700);
    const d = await doctor(s, { DOCTOR_DB_PW: pg.passwordOf(PG_USERS.scram) });
    expect(d.code, JSON.stringify(d.checks, null, 2)).toBe(0);
    expect(d.textCode).toBe(0);
    expect(d.checks.map((c) => c.id)).toEqual(['config', 'keychain', 'home', 'keys', 'approvals', 'clock', 'connection:payments', ...(sshd ? ['connection:bastion'] : []), 'identity']);
    if (sshd) {
      expect(d.byId('connection:bastion')!.message).toContain('host key matches the pin');
      // The harness's sshd logs in as whoever runs the tests: root in CI, which doctor says (PCI DSS 7.2.5).
      expect(d.byId('connection:bastion')).toMatchObject(sshd.user === 'root'
        ? { status: 'warn', message: expect.stringContaining('it logs in as root'), hint: expect.stringContaining('(PCI DSS 7.2.5)') }
        : { status: 'ok' });
    }
    expect(d.checks.filter((c) => c.status === 'fail')).toEqual([]);
    expect(d.byId('connection:payments')!.message).toMatch(/TLS.*authenticated \(scram-sha-256\)/);
    expect(d.byId('identity')!.status).toBe('ok');
    expect(d.byId('keys')!.status).toBe('ok');
    expect(d.byId('home')!.status).toBe('ok');
    expect(d.byId('approvals')!.status).toBe('ok');
    expect(d.text).toMatch(/^✓ configuration valid/m);
    expect(d.text).not.toContain('✗');
  }, 120_000);

  it('warns of a database user that is a superuser, and fails when the connection refuses one', async () => {
    const su = (name: string, extra: string[]) => [
      `  ${name}:`, '    kind: postgres', '    host: 127.0.0.1', `    port: ${pg.port}`, `    database: ${pg.database}`,
      `    user: ${pg.superuser}`, '    password: env:DOCTOR_SU_PW', '    sslmode: require', '    connect_timeout: 5s', ...extra,
    ].join('\n');
    const s = setup(['version: 1', 'connections:', su('as-superuser', []), su('refusing', ['    upstream_superuser: refuse']),
      'identity:', '  allow_local: true', ''].join('\n'));
    const d = await doctor(s, { DOCTOR_SU_PW: pg.password });
    expect(d.byId('connection:as-superuser')).toMatchObject({ status: 'warn', message: expect.stringMatching(/authenticated .*; postgres is a superuser/), hint: expect.stringContaining('upstream_superuser: refuse') });
    expect(d.byId('connection:refusing')).toMatchObject({ status: 'fail', message: expect.stringContaining('every session will be refused') });
    expect(d.code).toBe(1);
  }, 120_000);

  it('fails on a broken setup with one ✗ line and a fix hint per problem, exit 1', async () => {
    const closed = await freePort();
    const s = setup([
      'version: 1', 'connections:',
      pgConn('wrong-password', { port: pg.port, password: 'env:DOCTOR_BAD_PW', sslmode: 'require' }),
      pgConn('nothing-there', { port: closed, password: 'env:DOCTOR_BAD_PW', sslmode: 'disable' }),
      pgConn('unverified-cert', { port: pg.port, password: 'env:DOCTOR_DB_PW', sslmode: 'verify-full' }),
      ...sshConn('wrong-pin', sshd?.otherHostKeyLine ?? ''),
      'identity:', `  issuer: http://127.0.0.1:${closed}`, '  client_id: pcigate-cli', '  token_store: file', '',
    ].join('\n'));
    const init = await runCli(['keys', 'init', '--home', s.home]);
    expect(init.code, init.stderr).toBe(0);
    chmodSync(s.home, 0o777);
    chmodSync(path.join(s.home, 'keys', 'epoch.key'), 0o644);
    mkdirSync(path.join(s.home, 'approvals'), { mode: 0o700 });
    writeFileSync(path.join(s.home, 'approvals', '.key'), Buffer.alloc(32, 1), { mode: 0o644 });
    const d = await doctor(s, { DOCTOR_DB_PW: pg.passwordOf(PG_USERS.scram), DOCTOR_BAD_PW: 'not-the-password' });
    expect(d.code).toBe(1);
    expect(d.textCode).toBe(1);
    expect(d.byId('config')!.status).toBe('ok');
    for (const id of ['home', 'keys', 'approvals', 'connection:wrong-password', 'connection:nothing-there', 'connection:unverified-cert', 'identity']) {
      const c = d.byId(id);
      expect(c?.status, `${id}: ${JSON.stringify(c)}`).toBe('fail');
      expect(c!.hint).toBeTruthy();
    }
    expect(d.byId('home')!.hint).toContain('chmod 700');
    expect(d.byId('keys')!.hint).toContain('chmod 600');
    expect(d.byId('approvals')!.hint).toContain(`chmod 600 ${path.join(s.home, 'approvals', '.key')}`);
    expect(d.byId('connection:wrong-password')!.hint).toContain('password');
    if (sshd) {
      expect(d.byId('connection:wrong-pin')!.status).toBe('fail');
      expect(d.byId('connection:wrong-pin')!.hint).toContain('host_key');
    }
    expect(d.text.match(/^✗ /gm)?.length).toBe(sshd ? 8 : 7);
    expect(d.text).toContain('fix: ');
    expect(d.text).not.toContain('not-the-password');
  }, 120_000);

  it('reports an invalid configuration as ✗ and still checks the clock', async () => {
    const s = setup('version: 1\nconnections:\n  x: { kind: telnet }\n');
    const d = await doctor(s);
    expect(d.code).toBe(1);
    expect(d.byId('config')!.status).toBe('fail');
    expect(d.byId('clock')!.status).toBe('ok');
  }, 60_000);
});

/**
 * Who reads the audit trail (PCI DSS 10.2.1.3, 10.2.2): `verify.run`, `audit.access` (sessions, replay,
 * replay --html) and `evidence.export` name the person logged in with OIDC, as session records do, and the
 * local OS account otherwise. The built bin runs against a data home holding a real Postgres session (real
 * PostgreSQL, real psql through the gate) and a login made by a real device flow against the in-process OIDC
 * provider (test/harness/oidc.ts), kept in the 0600 token file. Not logged in, a refresh the provider refuses,
 * or a provider that is gone: the command still succeeds, recorded as the local account (`via: "local"`).
 */
import { cpSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../recorder/types.js';
import { systemClock } from '../../src/cli/ctx.js';
import { identitySection } from '../../src/config/sections/identity.js';
import { login } from '../../src/identity/session.js';
import { STORED_LOGIN_TIMEOUT_MS } from '../../src/identity/stored-login.js';
import { settingsFrom } from '../../src/identity/settings.js';
import { fileStore } from '../../src/identity/token-store.js';
import { runCli, tempDir } from '../harness/cli.js';
import type { CliResult } from '../harness/cli.js';
import { ACCOUNTS, CLI_CLIENT_ID, startOidcProvider } from '../harness/oidc.js';
import type { OidcHarness } from '../harness/oidc.js';
import { startPostgres } from '../harness/postgres.js';
import type { PostgresServer } from '../harness/postgres.js';
import { testCtx } from '../harness/test-ctx.js';
import { readLog, run, startGate } from '../integration/pg-proxy-setup.js';

const OS_USER = os.userInfo().username;
const SCOPES = ['openid', 'email', 'groups', 'offline_access', 'pcigate'];
const ACCESS_TYPES = ['verify.run', 'audit.access', 'evidence.export'];

let idp: OidcHarness;
let server: PostgresServer;
/** A data home with one recorded Postgres session and nobody logged in; each test works on a copy. */
let template: string;
let sessionId: string;

beforeAll(async () => {
  idp = await startOidcProvider();
  server = await startPostgres();
  const gate = await startGate(server);
  const r = await run('psql', ['-X', '-A', '-t', '-c', 'select 6 * 7 as answer'], gate.env);
  expect(r.stdout).toContain('42');
  await gate.close();
  template = gate.home;
  sessionId = readLog(template).find((x) => x.type === 'session.end')!.session!;
}, 120_000);

afterAll(async () => {
  await idp?.close();
  await server?.stop();
});

interface Home { dir: string; home: string; config: string }

/** A copy of the template home and a config naming `issuer` (or no identity provider at all). */
function newHome(issuer: string | undefined): Home {
  const dir = tempDir('pcigate-access-id-');
  const home = path.join(dir, 'home');
  cpSync(template, home, { recursive: true });
  const config = path.join(dir, 'pcigate.yaml');
  const identity = issuer ? ['identity:', `  issuer: ${issuer}`, `  client_id: ${CLI_CLIENT_ID}`, '  token_store: file'] : ['identity:', '  allow_local: true'];
  writeFileSync(config, [...identity, ''].join('\n'), { mode: 0o600 });
  return { dir, home, config };
}

/** A real device-flow login (the test browser approves with a one-time code), saved to the home's token file. */
async function logIn(provider: OidcHarness, home: string): Promise<{ accessToken: string; refreshToken: string }> {
  const ctx = testCtx({ clock: systemClock() as never });
  let browser: Promise<unknown> = Promise.resolve();
  await login(ctx, {
    settings: settingsFrom(identitySection.parse({ issuer: provider.issuer, client_id: CLI_CLIENT_ID, token_store: 'file', scopes: SCOPES })),
    store: fileStore(ctx, home),
    onPrompt: (p) => { browser = provider.browser.approve({ verificationUri: p.verificationUri, userCode: p.userCode, account: ACCOUNTS.engineer, otp: true }); },
  });
  await browser;
  return tokens(home);
}

function tokens(home: string): { accessToken: string; refreshToken: string; expiresAt: number } {
  return JSON.parse(readFileSync(path.join(home, 'tokens.json'), 'utf8')) as { accessToken: string; refreshToken: string; expiresAt: number };
}

/** Rewrites fields of the saved login in place (the file keeps its 0600 mode). */
function editTokens(home: string, patch: Record<string, unknown>): void {
  const file = path.join(home, 'tokens.json');
  writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')) as object, ...patch }));
  expect(statSync(file).mode & 0o777).toBe(0o600);
}

const cli = (h: Home, args: string[]) => runCli([...args, '--config', h.config, '--home', h.home], { home: h.dir, timeoutMs: 60_000 });

/** Runs every command that reads the audit trail; returns their outputs and the records they added. */
async function readTheTrail(h: Home): Promise<{ runs: CliResult[]; records: AuditRecord[] }> {
  const before = readLog(h.home).length;
  const runs = [
    await cli(h, ['verify', '--json']),
    await cli(h, ['sessions', '--json']),
    await cli(h, ['replay', sessionId]),
    await cli(h, ['replay', sessionId, '--html', path.join(h.dir, 'session.html')]),
    await cli(h, ['evidence', '--req', '10', '--out', path.join(h.dir, 'evidence.zip'), '--json']),
  ];
  for (const r of runs) expect(r.code, r.stderr).toBe(0);
  const records = readLog(h.home).slice(before).filter((r) => ACCESS_TYPES.includes(r.type));
  expect(records.map((r) => `${r.type}${r.type === 'audit.access' ? `:${(r.detail as { command: string }).command}` : ''}`))
    .toEqual(['verify.run', 'audit.access:sessions', 'audit.access:replay', 'audit.access:replay', 'evidence.export']);
  return { runs, records };
}

const LOCAL = { sub: OS_USER, via: 'local' };

describe('the actor of records of access to the audit trail', () => {
  it('is the OIDC identity of the saved login, with nothing of the tokens printed or logged', async () => {
    const h = newHome(idp.issuer);
    const saved = await logIn(idp, h.home);
    const { runs, records } = await readTheTrail(h);
    for (const r of records) {
      expect(r.actor, r.type).toEqual({
        sub: ACCOUNTS.engineer.sub, email: ACCOUNTS.engineer.email, groups: ACCOUNTS.engineer.groups,
        idp: idp.issuer, amr: expect.arrayContaining(['otp']), via: 'oidc',
      });
      expect(r.account, r.type).toEqual({ kind: 'os', name: OS_USER });
    }
    for (const r of runs) expect(r.stderr).not.toMatch(/saved login was not used/);
    const everything = runs.map((r) => r.stdout + r.stderr).join('') + readFileSync(path.join(h.dir, 'session.html'), 'utf8') + JSON.stringify(readLog(h.home));
    expect(everything).not.toContain(saved.accessToken);
    expect(everything).not.toContain(saved.refreshToken);
  }, 120_000);

  it('renews an expired access token without a browser, saving the rotated refresh token', async () => {
    const h = newHome(idp.issuer);
    const first = await logIn(idp, h.home);
    editTokens(h.home, { expiresAt: Date.now() - 60_000 });
    const r = await cli(h, ['verify', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/saved login was not used/);
    expect(readLog(h.home).filter((x) => x.type === 'verify.run').at(-1)!.actor).toMatchObject({ sub: ACCOUNTS.engineer.sub, via: 'oidc' });
    const now = tokens(h.home);
    expect(now.refreshToken).not.toBe(first.refreshToken);
    expect(now.expiresAt).toBeGreaterThan(Date.now());
    expect(r.stdout + r.stderr).not.toContain(now.accessToken);
  }, 90_000);

  it('is the local OS account when nobody is logged in, without a warning', async () => {
    const h = newHome(idp.issuer);
    const { runs, records } = await readTheTrail(h);
    for (const r of records) expect(r.actor, r.type).toEqual(LOCAL);
    for (const r of runs) expect(r.stderr).not.toMatch(/warning/);
  }, 120_000);

  it('is the local OS account when no identity provider is configured', async () => {
    const h = newHome(undefined);
    const r = await cli(h, ['sessions', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(readLog(h.home).filter((x) => x.type === 'audit.access').at(-1)!.actor).toEqual(LOCAL);
  });

  it('falls back to the local account with one warning line when the provider refuses the refresh', async () => {
    const h = newHome(idp.issuer);
    await logIn(idp, h.home);
    editTokens(h.home, { expiresAt: Date.now() - 60_000, refreshToken: 'not-a-refresh-token-the-provider-issued' });
    const { runs, records } = await readTheTrail(h);
    for (const r of records) expect(r.actor, r.type).toEqual(LOCAL);
    for (const r of runs) {
      const lines = r.stderr.split('\n').filter((l) => /saved login was not used/.test(l));
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`could not be renewed.*recorded as the local OS account ${OS_USER}$`));
      expect(r.stderr).not.toContain('not-a-refresh-token-the-provider-issued');
    }
  }, 120_000);

  it('falls back to the local account, quickly, when the provider cannot be reached (an assessor offline)', async () => {
    const gone = await startOidcProvider();
    const h = newHome(gone.issuer);
    await logIn(gone, h.home);
    await gone.close();
    const r = await cli(h, ['verify', '--json']);
    expect(r.code, r.stderr).toBe(0);
    // The refused connection is named, not the deadline that every call to the provider runs under
    // (storedLoginIdentity: "did not answer within 5 s", or a fetch it aborted): it gave up at the failure.
    expect(r.stderr).toMatch(/saved login was not used \(cannot fetch the signing keys of http:\/\/127\.0\.0\.1:\d+: .*\); this access is recorded as the local OS account/);
    expect(r.stderr).not.toMatch(/did not answer|abort/i);
    expect((JSON.parse(r.stdout) as { recorded: boolean }).recorded).toBe(true);
    expect(readLog(h.home).filter((x) => x.type === 'verify.run').at(-1)!.actor).toEqual(LOCAL);
  }, 90_000);

  it('gives a provider that accepts connections but never answers a few seconds, then records the local account', async () => {
    const hung = await startOidcProvider();
    const h = newHome(hung.issuer);
    await logIn(hung, h.home);
    await hung.close();
    // The provider's address now accepts TCP connections and never answers (a firewall that swallows the reply).
    const held = new Set<Socket>();
    const blackhole = createServer((s) => { held.add(s); s.on('error', () => {}); });
    await new Promise<void>((resolve) => blackhole.listen(hung.port, '127.0.0.1', resolve));
    try {
      const r = await cli(h, ['sessions', '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(held.size).toBeGreaterThan(0);
      // Only the deadline gives this reason; without it the command would wait on the provider until cli()
      // SIGKILLs it at 60 s (code null).
      expect(r.stderr).toMatch(new RegExp(`saved login was not used \\(the identity provider did not answer within ${STORED_LOGIN_TIMEOUT_MS / 1000} s\\)`));
      expect(readLog(h.home).filter((x) => x.type === 'audit.access').at(-1)!.actor).toEqual(LOCAL);
    } finally {
      for (const s of held) s.destroy();
      await new Promise((resolve) => blackhole.close(resolve));
    }
  }, 90_000);
});

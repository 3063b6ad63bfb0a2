/**
 * A login ended at the identity provider stops opening sessions at once (PCI DSS 8.2.5; src/identity/live-check.ts):
 * a person logged in with the real in-process oidc-provider opens sessions with `pg` through a real `pcigate connect`
 * listener (connectPg, in process, with a clock the test moves) to a real PostgreSQL. Once the grant is revoked at
 * the provider (RFC 7009 revocation of the refresh token, which revokes the grant in oidc-provider), the next
 * session after identity.check_live_cache is refused with FATAL 28000 and `auth.fail` `login_revoked`, and so is an
 * approver's identity (resolveIdentity as approve/deny call it). The session already open runs on (until its end or
 * identity.max_session). A provider that does not answer within identity.check_live_timeout refuses the session
 * as `liveness_unknown`, and so does a login without a refresh token once its access token is older than
 * identity.check_live_cache. Sessions opened at once share one call to the provider.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { AuditRecord } from '../../recorder/types.js';
import { connectPg } from '../../src/broker/pg-connect.js';
import type { ConnectInfo } from '../../src/broker/pg-connect.js';
import { configSchema } from '../../src/config/index.js';
import type { PcigateConfig } from '../../src/config/index.js';
import type { PostgresConnection } from '../../src/config/sections/connections.js';
import { resolveIdentity } from '../../src/identity/resolve.js';
import { fileStore } from '../../src/identity/token-store.js';
import type { StoredTokens } from '../../src/identity/types.js';
import { APPROVER, logInApprover } from '../harness/approver-login.js';
import { readLog } from '../harness/audit-records.js';
import { tempDir } from '../harness/cli.js';
import { memoryAudit } from '../harness/memory-audit.js';
import { ACCOUNTS, AUDIENCE, CLI_CLIENT_ID, startOidcProvider } from '../harness/oidc.js';
import type { OidcHarness } from '../harness/oidc.js';
import { startPostgres } from '../harness/postgres.js';
import type { PostgresServer } from '../harness/postgres.js';
import { fixedClock, testCtx } from '../harness/test-ctx.js';

let server: PostgresServer;
let oidc: OidcHarness;
beforeAll(async () => {
  [server, oidc] = await Promise.all([startPostgres(), startOidcProvider()]);
});
afterAll(async () => {
  await oidc?.close();
  await server?.stop();
});

function configFor(checkLiveTimeout = '5s'): PcigateConfig {
  return configSchema.parse({
    identity: {
      issuer: oidc.issuer, client_id: CLI_CLIENT_ID, token_store: 'file', check_live_timeout: checkLiveTimeout,
      scopes: ['openid', 'email', 'groups', 'offline_access', 'pcigate'],
    },
    connections: { 'test-db': { kind: 'postgres', host: server.host, port: server.port, database: server.database, user: server.superuser, password: 'env:TEST_DB_PASSWORD', sslmode: 'disable' } },
    policy: { roles: { eng: { subjects: [APPROVER.email] } }, connections: { 'test-db': { roles: { eng: { classes: ['read', 'utility'] } } } } },
  });
}

const isRefreshGrant = (input: unknown, init?: RequestInit) =>
  String(input instanceof Request ? input.url : input).endsWith('/token') && String(init?.body).includes('grant_type=refresh_token');

/**
 * A listener for the logged-in APPROVER of a fresh data home. `net.hang`: refresh grants are held (never sent)
 * until the request is aborted or `net.drop()` ends them (a connection reset), as by a provider that does not answer;
 * `net.lateMs`: the provider's answer reaches pcigate that much later; `net.refreshes` counts those sent, `net.locks`
 * the times the login lock was taken.
 */
async function listener(checkLiveTimeout?: string) {
  const home = tempDir('pcigate-live-');
  await logInApprover(oidc, home);
  const hung = new Set<(e: Error) => void>();
  const net = {
    hang: false, lateMs: 0, refreshes: 0, locks: 0, onLock: undefined as (() => Promise<void>) | undefined,
    drop: () => { for (const reject of hung) reject(new TypeError('fetch failed: connection reset')); hung.clear(); },
  };
  /** Resolves after `ms`, or rejects when `signal` aborts first (the request's caller gave up: its answer is lost). */
  const held = (ms: number, signal?: AbortSignal | null) => new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(t); reject(signal.reason ?? new Error('aborted')); }, { once: true });
  });
  const fetchVia: typeof globalThis.fetch = async (input, init) => {
    if (isRefreshGrant(input, init)) {
      if (net.hang) {
        return new Promise<Response>((_resolve, reject) => {
          hung.add(reject);
          init?.signal?.addEventListener('abort', () => reject(init.signal?.reason ?? new Error('aborted')), { once: true });
        });
      }
      net.refreshes++;
      if (net.lateMs > 0) {
        // The provider answers at once (it has rotated the refresh token), the answer reaches pcigate `lateMs` later.
        const res = await fetch(input, init);
        const body = await res.text();
        await held(net.lateMs, init?.signal);
        return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
      }
    }
    return fetch(input, init);
  };
  // Each time a check takes the login lock (src/identity/refresh-lock.ts), counted.
  // `net.onLock` runs then, before the lock is taken (a process of the user's writing the store meanwhile).
  const fs = { ...fsp, open: (async (file: string, ...rest: unknown[]) => {
    if (path.basename(file) === 'login.lock' && rest[0] === 'wx') { net.locks++; await net.onLock?.(); }
    return (fsp.open as (...a: unknown[]) => unknown)(file, ...rest);
  }) as typeof fsp.open };
  const stop = new AbortController();
  const ctx = testCtx({ clock: fixedClock(Date.now()), env: { TEST_DB_PASSWORD: server.password }, fetch: fetchVia, fs, interrupt: stop.signal });
  const config = configFor(checkLiveTimeout);
  let ready!: (i: ConnectInfo) => void;
  const info = new Promise<ConnectInfo>((r) => { ready = r; });
  const running = connectPg(ctx, { config, name: 'test-db', conn: config.connections['test-db'] as PostgresConnection, home, port: 0, ready });
  const at = await Promise.race([info, running.then(() => { throw new Error('the listener ended before it was ready'); })]);
  const clients: pg.Client[] = [];
  const open = async () => {
    const c = new pg.Client({ host: at.host, port: at.port, user: at.user, password: at.password, database: at.database, ssl: false });
    clients.push(c);
    c.on('error', () => {});
    await c.connect();
    return c;
  };
  /** The error a new session gets (undefined when it opens). */
  const refusal = async () => open().then(() => undefined, (e: unknown) => e as Error & { code?: string; severity?: string });
  return {
    home, ctx, config, net, open, refusal,
    async close() {
      await Promise.all(clients.map((c) => c.end().catch(() => {})));
      stop.abort();
      await running;
    },
  };
}

const failures = (home: string): AuditRecord[] => readLog(home).filter((r) => r.type === 'auth.fail');

describe('check_live: refresh against a real provider and a real listener', () => {
  it('a revoked grant refuses the next session (FATAL 28000, auth.fail login_revoked); the open session runs on', async () => {
    const l = await listener();
    try {
      const first = await l.open();
      expect((await first.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
      // Logged in moments ago: the access token's iat is the provider's answer, for identity.check_live_cache (5 s).
      expect(l.net.refreshes).toBe(0);

      // Ten sessions at once, after the answer expired: one more question to the provider, not ten, and the
      // login lock taken once for them (not ten turns of waiting for it).
      l.ctx.clock.advance(30_000);
      const locks = l.net.locks;
      const many = await Promise.all(Array.from({ length: 10 }, () => l.open()));
      expect(many).toHaveLength(10);
      expect(l.net.refreshes).toBe(1);
      expect(l.net.locks - locks).toBe(1);
      // The test's clock now runs 30 s ahead of the provider's, so the renewed token's iat does not count as a
      // fresh answer (as with a provider whose clock lags); the broker's cached answer (check_live_cache) does.
      await l.open();
      expect(l.net.refreshes).toBe(1);

      // The admin ends the grant (here: RFC 7009 revocation of the live refresh token, as oidc-provider revokes
      // the whole grant for it).
      const saved = JSON.parse(readFileSync(path.join(l.home, 'tokens.json'), 'utf8')) as StoredTokens;
      const revoked = await fetch(`${oidc.issuer}/token/revocation`, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: saved.refreshToken!, token_type_hint: 'refresh_token', client_id: CLI_CLIENT_ID }),
      });
      expect(revoked.status).toBe(200);
      // Within check_live_cache of the last answer a session still opens: the window the docs name (5 s).
      await l.open();
      expect(l.net.refreshes).toBe(1);

      l.ctx.clock.advance(30_000);
      const err = await l.refusal();
      // The client is told why (pg-broker.ts passes pcigate's own error on): not a generic "run pcigate login".
      expect(err).toMatchObject({ code: '28000', severity: 'FATAL', message: expect.stringMatching(/^pcigate: no identity for this session \(ERR_LOGIN_REQUIRED\): the identity provider no longer accepts this login/) });
      expect(failures(l.home)).toEqual([expect.objectContaining({
        outcome: 'denied', target: { conn: 'test-db' },
        detail: { reason: 'login_revoked', via: 'oidc', sub: APPROVER.sub, error: 'invalid_grant' },
      })]);
      expect(readLog(l.home).filter((r) => r.type === 'auth.refresh')).toEqual([expect.objectContaining({ outcome: 'failure', detail: { idp: oidc.issuer, error: 'invalid_grant' } })]);

      // approve / deny resolve the approver the same way (no broker cache): refused as well.
      await expect(resolveIdentity(l.ctx, l.config, { connection: 'test-db', conn: {}, home: l.home }))
        .rejects.toMatchObject({ code: 'ERR_LOGIN_REQUIRED', message: expect.stringContaining('the identity provider no longer accepts this login') });

      // The session opened before the revocation is kept until it ends (or reaches identity.max_session).
      expect((await first.query('select 2 as two')).rows).toEqual([{ two: 2 }]);
      // No token in any record.
      const logText = JSON.stringify(readLog(l.home));
      for (const t of [saved.refreshToken!, saved.accessToken]) expect(logText).not.toContain(t);
    } finally {
      await l.close();
    }
  });

  it('a revoked user who rewrites the saved refresh token while the check waits for the lock is still refused', async () => {
    const l = await listener();
    try {
      const file = path.join(l.home, 'tokens.json');
      const saved = JSON.parse(readFileSync(file, 'utf8')) as StoredTokens;
      const revoked = await fetch(`${oidc.issuer}/token/revocation`, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: saved.refreshToken!, token_type_hint: 'refresh_token', client_id: CLI_CLIENT_ID }),
      });
      expect(revoked.status).toBe(200);
      l.ctx.clock.advance(30_000);
      // Between the session's read of the login and the check's read under the lock, the store's refresh token
      // changes (as another process's renewal would change it): not taken as an answer, the provider is asked.
      l.net.onLock = async () => {
        l.net.onLock = undefined;
        writeFileSync(file, JSON.stringify({ ...saved, refreshToken: 'not-the-rotated-token' }), { mode: 0o600 });
      };
      const err = await l.refusal();
      expect(err).toMatchObject({ code: '28000', severity: 'FATAL' });
      expect(l.net.refreshes).toBe(1);
      expect(failures(l.home)).toEqual([expect.objectContaining({ outcome: 'denied', detail: expect.objectContaining({ reason: 'login_revoked' }) })]);
    } finally {
      await l.close();
    }
  });

  it("a store swapped for another person's login while the check waits for the lock is no answer about this one", async () => {
    const l = await listener();
    try {
      // Another person (the engineer) logged in on this machine; the approver's store is overwritten with that
      // login, made to look like the approver's own (same issuer, same loggedInAt) between the session's read of it
      // and the check's read under the lock. The provider renews it gladly: for the engineer.
      const otherHome = tempDir('pcigate-live-other-');
      await logInApprover(oidc, otherHome, ACCOUNTS.engineer);
      const file = path.join(l.home, 'tokens.json');
      const mine = JSON.parse(readFileSync(file, 'utf8')) as StoredTokens;
      const theirs = JSON.parse(readFileSync(path.join(otherHome, 'tokens.json'), 'utf8')) as StoredTokens;
      l.ctx.clock.advance(30_000);
      l.net.onLock = async () => {
        l.net.onLock = undefined;
        writeFileSync(file, JSON.stringify({ ...theirs, loggedInAt: mine.loggedInAt }), { mode: 0o600 });
      };
      const err = await l.refusal();
      expect(err).toMatchObject({ code: '28000', severity: 'FATAL', message: expect.stringContaining("the saved login was replaced by another account's") });
      expect(l.net.refreshes).toBe(1);
      expect(failures(l.home)).toEqual([expect.objectContaining({
        outcome: 'denied', detail: { reason: 'liveness_unknown', via: 'oidc', sub: APPROVER.sub, error: 'login_changed' },
      })]);
    } finally {
      await l.close();
    }
  });

  it('a provider that does not answer within check_live_timeout refuses the session (auth.fail liveness_unknown)', async () => {
    const l = await listener('1s');
    try {
      l.net.hang = true;
      l.ctx.clock.advance(30_000);
      const err = await l.refusal();
      expect(err).toMatchObject({ code: '28000', severity: 'FATAL', message: expect.stringContaining('the identity provider did not answer within 1 s') });
      expect(failures(l.home)).toEqual([expect.objectContaining({
        outcome: 'denied', target: { conn: 'test-db' },
        detail: { reason: 'liveness_unknown', via: 'oidc', sub: APPROVER.sub, error: 'timeout' },
      })]);
      // approve / deny ask anew: the first grant, unanswered, still holds the login lock.
      await expect(resolveIdentity(l.ctx, l.config, { connection: 'test-db', conn: {}, home: l.home }))
        .rejects.toMatchObject({ code: 'ERR_LOGIN_REQUIRED', message: expect.stringContaining('another renewal of this login was still under way after 1 s') });

      // The grant sent is not given up at the deadline (the provider may have rotated the refresh token, and the
      // spent one presented again reads as replay): until it ends, no second grant is sent and sessions are refused.
      l.net.hang = false;
      const meanwhile = await l.refusal();
      expect(meanwhile).toMatchObject({ code: '28000', message: expect.stringContaining('another renewal of this login was still under way after 1 s') });
      expect(l.net.refreshes).toBe(0);
      expect(failures(l.home).at(-1)).toMatchObject({ detail: { reason: 'liveness_unknown', error: 'login_lock' } });
      // Once it ends (here a connection reset; at the latest openid-client's 30 s timeout) and the provider answers
      // again, the login (never renewed meanwhile) opens sessions.
      l.net.drop();
      const c = await l.open();
      expect((await c.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await l.close();
    }
  });

  it('an answer that comes after check_live_timeout refuses the session but saves the rotated refresh token: the login lives on', async () => {
    const l = await listener('1s');
    try {
      const file = path.join(l.home, 'tokens.json');
      const readSaved = () => JSON.parse(readFileSync(file, 'utf8')) as StoredTokens;
      const spent = readSaved().refreshToken;
      l.net.lateMs = 2500;
      l.ctx.clock.advance(30_000);
      const err = await l.refusal();
      expect(err).toMatchObject({ code: '28000', severity: 'FATAL', message: expect.stringContaining('the identity provider did not answer within 1 s') });
      expect(l.net.refreshes).toBe(1);
      // The late answer is still taken and saved: the refresh token the provider rotated to.
      await vi.waitFor(() => expect(readSaved().refreshToken).not.toBe(spent), { timeout: 15_000, interval: 100 });

      // So the next check renews with the token the provider holds live. Had the late answer been dropped, the
      // spent token would be presented again: replay, for which oidc-provider revokes the grant (login_revoked).
      l.net.lateMs = 0;
      l.ctx.clock.advance(30_000);
      const c = await l.open();
      expect((await c.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
      expect(l.net.refreshes).toBe(2);
      expect(failures(l.home)).toEqual([expect.objectContaining({ detail: expect.objectContaining({ reason: 'liveness_unknown', error: 'timeout' }) })]);
    } finally {
      await l.close();
    }
  });

  it('a login without a refresh token is refused once its access token is older than check_live_cache (liveness_unknown)', async () => {
    const home = tempDir('pcigate-live-');
    const ctx = testCtx({ clock: fixedClock(Date.now()) });
    const now = Math.floor(ctx.clock.now() / 1000);
    const accessToken = await oidc.sign({ iss: oidc.issuer, aud: AUDIENCE, sub: APPROVER.sub, client_id: CLI_CLIENT_ID, iat: now, exp: now + 300 });
    await fileStore(ctx, home).save({ issuer: oidc.issuer, clientId: CLI_CLIENT_ID, accessToken, expiresAt: (now + 300) * 1000, loggedInAt: now * 1000 });
    const audit = memoryAudit();
    const resolve = () => resolveIdentity(ctx, configFor(), { connection: 'test-db', conn: {}, home, audit });
    // Signed by the provider moments ago: that is its answer for now.
    expect(await resolve()).toMatchObject({ sub: APPROVER.sub, via: 'oidc' });
    ctx.clock.advance(30_000);
    await expect(resolve()).rejects.toMatchObject({ code: 'ERR_LOGIN_REQUIRED', message: expect.stringContaining('has no refresh token') });
    expect(audit.events).toEqual([expect.objectContaining({ type: 'auth.fail', outcome: 'denied', detail: { reason: 'liveness_unknown', via: 'oidc', sub: APPROVER.sub, error: 'no_refresh_token' } })]);
  });
});

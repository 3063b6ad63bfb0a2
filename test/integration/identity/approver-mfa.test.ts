/**
 * The approver's second factor (PCI DSS 8.4.2, 7.2.3), against a real OpenID provider: `pcigate approve` and
 * `deny` resolve the approver with the connection's MFA requirement, which pcigate.yaml sets in two places,
 * `connections.<name>.require_mfa` and `policy.connections.<name or '*'>.require_mfa` ("in addition to the
 * connection's own"). The approver path read only the first: with MFA required by policy, a password-only login
 * of an approver (a phished password, the requester's second account) approved a held statement that its
 * requester could only send with a second factor.
 */
import { mkdtempSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/parse-config.js';
import { login } from '../../../src/identity/session.js';
import { settingsFrom } from '../../../src/identity/settings.js';
import { fileStore } from '../../../src/identity/token-store.js';
import { currentIdentity } from '../../../src/policy/approval-context.js';
import type { ApprovalContext } from '../../../src/policy/approval-context.js';
import { ApprovalStore, approvalStoreFor } from '../../../src/policy/approvals.js';
import type { PolicyIdentity } from '../../../src/policy/evaluate.js';
import { memoryAudit } from '../../harness/memory-audit.js';
import { ACCOUNTS, CLI_CLIENT_ID, startOidcProvider } from '../../harness/oidc.js';
import type { DemoAccount, OidcHarness } from '../../harness/oidc.js';
import { fixedClock, testCtx } from '../../harness/test-ctx.js';

let h: OidcHarness;
beforeAll(async () => { h = await startOidcProvider(); });
afterAll(async () => { await h?.close(); });

const ctx = () => testCtx({ clock: fixedClock(Date.now()) });
const alice: PolicyIdentity = { sub: ACCOUNTS.engineer.sub, email: ACCOUNTS.engineer.email, groups: ACCOUNTS.engineer.groups, via: 'oidc', mfa: true };

/** pcigate.yaml with MFA required where `where` says, and the approver's login (with or without its second factor). */
async function approverHome(where: 'connection' | 'policy' | 'policy-star' | 'nowhere', account: DemoAccount, otp: boolean) {
  const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-approver-mfa-'));
  const text = [
    'identity:', `  issuer: "${h.issuer}"`, `  client_id: ${CLI_CLIENT_ID}`, '  token_store: file',
    '  scopes: [openid, email, groups, offline_access, pcigate]',
    'connections:', '  prod-db:', '    kind: postgres', '    host: db.example', '    database: app', '    user: app',
    ...(where === 'connection' ? ['    require_mfa: true'] : []),
    'policy:', '  connections:', `    ${where === 'policy-star' ? '"*"' : 'prod-db'}:`,
    ...(where === 'policy' || where === 'policy-star' ? ['      require_mfa: true'] : []),
    '      approvals: { groups: [security] }',
  ].join('\n');
  const config = parseConfigText(text, path.join(home, 'pcigate.yaml'));
  const c = ctx();
  let browser: Promise<unknown> = Promise.resolve();
  await login(c, {
    settings: settingsFrom(config.identity), store: fileStore(c, home),
    onPrompt: (p) => { browser = h.browser.approve({ verificationUri: p.verificationUri, userCode: p.userCode, account, otp }); },
  });
  await browser;
  // Alice's held statement, filed by her broker from her own OS account.
  const filed = await new ApprovalStore({ fs: fsp, clock: c.clock, home, sink: memoryAudit(), account: { name: 'alice', uid: 1001 } }).request({
    connection: 'prod-db', requester: alice, sql: 'DELETE FROM orders',
    settings: { groups: ['security'], subjects: [], minApprovals: 1, expiresMs: 600_000, windowMs: 0 },
  });
  const sink = memoryAudit();
  const ac: ApprovalContext = {
    home, config, sink, viaOutbox: false, close: async () => undefined,
    store: approvalStoreFor(c, { home, sink, drainOutbox: false, networks: 'major' }),
  };
  return { ac, id: filed.id, sink };
}

/** What `pcigate approve ID` does: resolve the approver for the request's connection, then approve. */
async function approve(ac: ApprovalContext, id: string) {
  const req = await ac.store.get(id);
  const me = await currentIdentity(ctx(), ac, req.connection);
  return ac.store.approve(req.id, me);
}

describe("an approver's second factor", () => {
  it.each(['connection', 'policy', 'policy-star'] as const)('MFA required by %s: a password-only approver is refused and recorded; nothing is approved', async (where) => {
    const { ac, id, sink } = await approverHome(where, ACCOUNTS.approver, false);
    await expect(approve(ac, id)).rejects.toMatchObject({ code: 'ERR_MFA_REQUIRED' });
    expect((await ac.store.get(id)).state).toBe('pending');
    expect(sink.events).toEqual([expect.objectContaining({ type: 'auth.fail', outcome: 'denied', target: { conn: 'prod-db' }, detail: expect.objectContaining({ reason: 'mfa_required', sub: ACCOUNTS.approver.sub }) })]);
  });

  it('with the second factor the same approver approves; where no MFA is required, a password suffices', async () => {
    const withOtp = await approverHome('policy', ACCOUNTS.approver, true);
    expect((await approve(withOtp.ac, withOtp.id)).state).toBe('approved');
    const free = await approverHome('nowhere', ACCOUNTS.approver, false);
    expect((await approve(free.ac, free.id)).state).toBe('approved');
  });
});

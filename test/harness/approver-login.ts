/**
 * An approver who is a person logged in with OIDC (ACCOUNTS.approver of the in-process provider), for CLI tests
 * in which a CI job's held request is decided from the same OS account that runs the job: the local OS account
 * cannot decide it (approval-separation.ts), a person logged in there can.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseConfigText } from '../../src/config/parse-config.js';
import { login } from '../../src/identity/session.js';
import { settingsFrom } from '../../src/identity/settings.js';
import { fileStore } from '../../src/identity/token-store.js';
import { ACCOUNTS, CLI_CLIENT_ID } from './oidc.js';
import type { DemoAccount, OidcHarness } from './oidc.js';
import { systemClock } from '../../src/cli/ctx.js';
import { testCtx } from './test-ctx.js';

/** The approving person: listed by e-mail in `approvals.subjects`, in the `security` group. */
export const APPROVER = ACCOUNTS.approver;

/** pcigate.yaml's `identity` section (top level) for people logging in with `oidc`; the local account stays allowed. */
export const approverIdentityYaml = (oidc: OidcHarness): string[] => [
  'identity:', '  allow_local: true', `  issuer: "${oidc.issuer}"`, `  client_id: ${CLI_CLIENT_ID}`, '  token_store: file',
  '  scopes: [openid, email, groups, offline_access, pcigate]',
];

/** A device-flow login of {@link APPROVER} (or `account`), with its one-time code, saved to `home`'s token file. */
export async function logInApprover(oidc: OidcHarness, home: string, account: DemoAccount = APPROVER): Promise<void> {
  const config = parseConfigText(approverIdentityYaml(oidc).join('\n'), path.join(home, 'pcigate.yaml'));
  const ctx = testCtx({ clock: systemClock() as never });
  let browser: Promise<unknown> = Promise.resolve();
  await login(ctx, {
    settings: settingsFrom(config.identity), store: fileStore(ctx, home),
    onPrompt: (p) => { browser = oidc.browser.approve({ verificationUri: p.verificationUri, userCode: p.userCode, account, otp: true }); },
  });
  await browser;
}

/**
 * The approver's copy of a test's pcigate.yaml (written once beside it): the same deployment with people logging
 * in with `oidc`, where the original lets only the local OS account in (its `identity:` section is
 * `allow_local: true` alone, and its CI job and local runs need no login).
 */
export function approverConfigFor(config: string, oidc: OidcHarness): string {
  const copy = path.join(path.dirname(config), `approver-${path.basename(config)}`);
  const text = readFileSync(config, 'utf8');
  const local = 'identity:\n  allow_local: true\n';
  const at = text.indexOf(local);
  if (at < 0 || (at > 0 && text[at - 1] !== '\n')) throw new Error(`${config} has no ${JSON.stringify(local)} section`);
  writeFileSync(copy, `${text.slice(0, at)}${approverIdentityYaml(oidc).join('\n')}\n${text.slice(at + local.length)}`, { mode: 0o600 });
  return copy;
}

/** Logs {@link APPROVER} in to `home` unless a login is saved there already. */
export async function ensureApproverLogin(oidc: OidcHarness, home: string): Promise<void> {
  if (!existsSync(path.join(home, 'tokens.json'))) await logInApprover(oidc, home);
}

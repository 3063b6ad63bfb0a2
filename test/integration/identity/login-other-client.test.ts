/**
 * A token of the provider's other clients used as a person's login, against the oidc-provider harness. A login
 * is an access token issued to pcigate's own client (identity.client_id) by the device flow; the CI client's
 * client-credentials token is for the same issuer and audience but names no person. Saved where a login is kept
 * (the 0600 token file, as a CI job that holds the client's secret can write it), it was accepted as a person's
 * login (`via: oidc`): the workload acted as a person, outside its connections' workload claim rules, and
 * approved a held statement, which the store refuses to any workload. Now a token whose `client_id` (or `azp`,
 * `cid`, `appid`) names another client is refused as a login, with reason `client`.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { identitySection } from '../../../src/config/sections/identity.js';
import { resolveIdentity } from '../../../src/identity/resolve.js';
import { fileStore } from '../../../src/identity/token-store.js';
import { clientCredentialsToken } from '../../../src/identity/workload.js';
import { memoryAudit } from '../../harness/memory-audit.js';
import { AUDIENCE, CI_CLIENT_ID, CI_CLIENT_SECRET, CLI_CLIENT_ID, RESOURCE, startOidcProvider } from '../../harness/oidc.js';
import type { OidcHarness } from '../../harness/oidc.js';
import { fixedClock, testCtx } from '../../harness/test-ctx.js';

let h: OidcHarness;
beforeAll(async () => { h = await startOidcProvider(); });
afterAll(async () => { await h?.close(); });

const ctx = () => testCtx({ clock: fixedClock(Date.now()) });

/** A data home whose saved "login" is `accessToken`, and pcigate.yaml's identity section for the harness. */
async function savedLogin(accessToken: string) {
  const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-other-client-'));
  const c = ctx();
  await fileStore(c, home).save({ issuer: h.issuer, clientId: CLI_CLIENT_ID, accessToken, expiresAt: Date.now() + 300_000, loggedInAt: Date.now() });
  // Hand-made logins without a refresh token: the provider is not asked whether they are live (live-check.ts),
  // which would refuse them once their iat is older than check_live_cache (a slow run).
  return { home, config: { identity: identitySection.parse({ issuer: h.issuer, client_id: CLI_CLIENT_ID, token_store: 'file', check_live: 'off' }) } };
}

describe('a token of another client as a login', () => {
  it("the CI client's client-credentials token is refused as a person's login, and recorded", async () => {
    const token = await clientCredentialsToken(ctx(), { issuer: h.issuer, clientId: CI_CLIENT_ID, clientSecret: CI_CLIENT_SECRET, resource: RESOURCE });
    const { home, config } = await savedLogin(token);
    const audit = memoryAudit();
    const resolved = await resolveIdentity(ctx(), config, { connection: 'prod-db', conn: {}, home, audit }).catch((e: unknown) => e);
    expect(resolved).toMatchObject({ code: 'ERR_LOGIN_REQUIRED', message: expect.stringMatching(/issued to the client pcigate-ci, not to identity\.client_id pcigate-cli/) });
    expect(audit.events).toEqual([
      expect.objectContaining({ type: 'auth.fail', outcome: 'failure', detail: { idp: h.issuer, reason: 'client', stage: 'session' } }),
      expect.objectContaining({ type: 'auth.fail', outcome: 'denied', detail: { reason: 'login_required', via: 'oidc' } }),
    ]);
  });

  it('tokens naming another client in azp, cid or appid are refused too; a login of pcigate-cli, or naming no client, is accepted', async () => {
    const now = Math.floor(Date.now() / 1000);
    const person = { iss: h.issuer, aud: AUDIENCE, sub: 'u-1001', groups: ['engineers'], iat: now, exp: now + 300 };
    for (const claim of ['azp', 'cid', 'appid']) {
      const { home, config } = await savedLogin(await h.sign({ ...person, [claim]: 'reporting-app' }, { typ: 'at+jwt' }));
      await expect(resolveIdentity(ctx(), config, { connection: 'prod-db', conn: {}, home })).rejects.toMatchObject({ code: 'ERR_LOGIN_REQUIRED', message: expect.stringContaining('issued to the client reporting-app') });
    }
    for (const extra of [{ client_id: CLI_CLIENT_ID }, { azp: CLI_CLIENT_ID }, {}]) {
      const { home, config } = await savedLogin(await h.sign({ ...person, ...extra }, { typ: 'at+jwt' }));
      expect(await resolveIdentity(ctx(), config, { connection: 'prod-db', conn: {}, home })).toMatchObject({ sub: 'u-1001', via: 'oidc' });
    }
  });
});

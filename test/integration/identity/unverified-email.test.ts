/**
 * An email the provider says it has not verified (OpenID Connect Core §5.1 `email_verified: false`) does not
 * become the actor's email. Policy roles and approvers match by email as well as by sub
 * (src/policy/evaluate.ts, approvals.ts): at a provider where people can sign up or change their address
 * without proving it, `alice@corp` typed by someone else would otherwise bind them to Alice's role.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { identitySection } from '../../../src/config/sections/identity.js';
import { resolveIdentity } from '../../../src/identity/resolve.js';
import { memoryAudit } from '../../harness/memory-audit.js';
import { AUDIENCE, startOidcProvider } from '../../harness/oidc.js';
import type { OidcHarness } from '../../harness/oidc.js';
import { fixedClock, testCtx } from '../../harness/test-ctx.js';

let h: OidcHarness;
beforeAll(async () => { h = await startOidcProvider(); });
afterAll(async () => { await h?.close(); });

const now = () => Math.floor(Date.now() / 1000);

describe('email_verified', () => {
  it('an unverified email is not the actor\'s (false, or "false" as Cognito sends it); a verified or unmarked one is', async () => {
    const ctx = testCtx({ clock: fixedClock(Date.now()) });
    const config = { identity: identitySection.parse({}) };
    const conn = { workload: [{ issuer: h.issuer, claims: {}, any_subject: true }] };
    const as = async (extra: Record<string, unknown>) => resolveIdentity(ctx, config, {
      connection: 'prod-db', conn, home: mkdtempSync(path.join(os.tmpdir(), 'pcigate-unverified-email-')), audit: memoryAudit(),
      workloadToken: await h.sign({ iss: h.issuer, aud: AUDIENCE, sub: 'u-9999', email: 'alice@example.test', iat: now(), exp: now() + 300, jti: randomUUID(), ...extra }),
    });
    expect((await as({ email_verified: false })).email).toBeUndefined();
    expect((await as({ email_verified: 'false' })).email).toBeUndefined();
    expect((await as({ email_verified: true })).email).toBe('alice@example.test');
    expect((await as({})).email).toBe('alice@example.test');
  });
});

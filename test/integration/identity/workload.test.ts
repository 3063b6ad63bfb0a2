/**
 * CI workload identity: a GitHub-Actions-style token endpoint served locally, the env-variable source, the
 * client-credentials grant at the real provider, and per-connection trusted issuers and claim rules.
 */
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveIdentity } from '../../../src/identity/resolve.js';
import { GITHUB_TOKEN_TIMEOUT_MS, githubToken, obtainWorkloadToken, verifyWorkloadToken } from '../../../src/identity/workload.js';
import type { WorkloadRule } from '../../../src/identity/workload.js';
import { identitySection } from '../../../src/config/sections/identity.js';
import { memoryAudit } from '../../harness/memory-audit.js';
import { AUDIENCE, CI_CLIENT_ID, CI_CLIENT_SECRET, RESOURCE, startOidcProvider } from '../../harness/oidc.js';
import type { OidcHarness } from '../../harness/oidc.js';
import { fixedClock, testCtx } from '../../harness/test-ctx.js';

let h: OidcHarness;
let gh: Server;
let ghUrl: string;
const ghRequests: Array<{ auth: string | undefined; audience: string | null }> = [];
const now = () => Math.floor(Date.now() / 1000);
const tempHome = () => mkdtempSync(path.join(os.tmpdir(), 'pcigate-workload-'));

/** A token shaped like GitHub Actions' (claims from docs.github.com "About security hardening with OpenID Connect"). */
const ghClaims = (over: Record<string, unknown> = {}) => ({
  iss: h.issuer, aud: AUDIENCE, sub: 'repo:org/payments:ref:refs/heads/main', repository: 'org/payments',
  ref: 'refs/heads/main', workflow: 'deploy', actor: 'alice', iat: now(), exp: now() + 300, jti: randomUUID(), ...over,
});

let floodSent = 0;

beforeAll(async () => {
  h = await startOidcProvider();
  gh = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    ghRequests.push({ auth: req.headers.authorization, audience: u.searchParams.get('audience') });
    if (req.headers.authorization === 'bearer flood') {
      // An endpoint that never stops answering: 64 KiB at a time until the client hangs up.
      res.setHeader('content-type', 'application/json');
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const pump = () => { while (!res.destroyed && res.write(chunk)) floodSent += chunk.length; if (!res.destroyed) res.once('drain', pump); };
      res.write('{"value":"');
      pump();
      return;
    }
    // A runner whose endpoint never answers, or stops half-way through its answer.
    if (req.headers.authorization === 'bearer silent') return;
    if (req.headers.authorization === 'bearer stalled') { res.setHeader('content-type', 'application/json'); res.write('{"value":"ey'); return; }
    if (req.headers.authorization !== 'bearer runner-request-token') { res.statusCode = 401; res.end('{}'); return; }
    void h.sign(ghClaims({ aud: u.searchParams.get('audience') ?? 'missing' }), { typ: 'JWT' }).then((value) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ count: 1, value }));
    });
  });
  await new Promise<void>((r) => gh.listen(0, '127.0.0.1', r));
  ghUrl = `http://127.0.0.1:${(gh.address() as AddressInfo).port}/_apis/distributedtask/hubs/build/plans/1/jobs/2/idtoken?api-version=2.0`;
});
afterAll(async () => {
  gh?.closeAllConnections();
  await new Promise<void>((r) => (gh ? gh.close(() => r()) : r()));
  await h?.close();
});

const ctxWith = (env: Record<string, string>) => testCtx({ env, clock: fixedClock(Date.now()) });
const verifyOpts = (rules: WorkloadRule[]) => ({ rules, defaultAudience: AUDIENCE, algorithms: ['RS256'], clockSkewMs: 30_000, groupsClaim: 'groups', mfaAmr: ['mfa'] });

describe('workload token sources', () => {
  it('asks the GitHub Actions endpoint with the request token and the configured audience', async () => {
    const ctx = ctxWith({ ACTIONS_ID_TOKEN_REQUEST_URL: ghUrl, ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'runner-request-token' });
    const { token, source } = await obtainWorkloadToken(ctx, { source: 'auto', tokenEnv: 'PCIGATE_ID_TOKEN', audience: AUDIENCE });
    expect(source).toBe('github');
    expect(ghRequests.at(-1)).toEqual({ auth: 'bearer runner-request-token', audience: AUDIENCE });
    const { identity } = await verifyWorkloadToken(ctx, token, verifyOpts([{ issuer: h.issuer, claims: { repository: 'org/payments', ref: 'refs/heads/main' } }]));
    expect(identity).toMatchObject({ sub: 'repo:org/payments:ref:refs/heads/main', via: 'workload', idp: h.issuer });
  });

  it('an endless answer is cut after 256 KiB: an error, and the rest is never read', async () => {
    const ctx = ctxWith({ ACTIONS_ID_TOKEN_REQUEST_URL: ghUrl, ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'flood' });
    await expect(obtainWorkloadToken(ctx, { source: 'github', tokenEnv: 'PCIGATE_ID_TOKEN', audience: AUDIENCE }))
      .rejects.toMatchObject({ code: 'ERR_LOGIN_REQUIRED', message: "GitHub's OIDC token endpoint answered with more than 256 KiB; an ID token is a few KiB" });
    await new Promise((r) => setTimeout(r, 200));
    const sent = floodSent;
    await new Promise((r) => setTimeout(r, 300));
    expect(floodSent).toBe(sent); // the client hung up: the server stopped sending
    expect(floodSent).toBeLessThan(64 * 1024 * 1024);
  });

  it('an endpoint that does not answer, or stops half-way, is given up after the timeout with a clear error', async () => {
    for (const bearer of ['silent', 'stalled']) {
      const ctx = ctxWith({ ACTIONS_ID_TOKEN_REQUEST_URL: ghUrl, ACTIONS_ID_TOKEN_REQUEST_TOKEN: bearer });
      // Only the timeout's abort gives this message; without it the request would wait on the server for ever.
      await expect(githubToken(ctx, AUDIENCE, 300)).rejects.toMatchObject({ code: 'ERR_LOGIN_REQUIRED', message: "GitHub's OIDC token endpoint did not answer within 0.3 s" });
    }
    expect(GITHUB_TOKEN_TIMEOUT_MS).toBe(10_000);
  });

  it('a wrong request token is an error, not an identity', async () => {
    const ctx = ctxWith({ ACTIONS_ID_TOKEN_REQUEST_URL: ghUrl, ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'stolen' });
    await expect(obtainWorkloadToken(ctx, { source: 'github', tokenEnv: 'PCIGATE_ID_TOKEN', audience: AUDIENCE })).rejects.toMatchObject({ code: 'ERR_LOGIN_REQUIRED' });
  });

  it('reads a token from --id-token-env first (GitLab id_tokens land there too)', async () => {
    const tok = await h.sign(ghClaims(), { typ: 'JWT' });
    const ctx = ctxWith({ CI_JOB_JWT_PCIGATE: tok, GITLAB_CI: 'true', ACTIONS_ID_TOKEN_REQUEST_URL: ghUrl });
    expect(await obtainWorkloadToken(ctx, { source: 'auto', tokenEnv: 'CI_JOB_JWT_PCIGATE', audience: AUDIENCE })).toEqual({ token: tok, source: 'env' });
    expect(await obtainWorkloadToken(ctx, { source: 'gitlab', tokenEnv: 'CI_JOB_JWT_PCIGATE', audience: AUDIENCE })).toEqual({ token: tok, source: 'gitlab' });
    await expect(obtainWorkloadToken(ctxWith({}), { source: 'gitlab', tokenEnv: 'PCIGATE_ID_TOKEN', audience: AUDIENCE })).rejects.toMatchObject({ code: 'ERR_LOGIN_REQUIRED', hint: expect.stringContaining('id_tokens') });
  });

  it('gets a token by client credentials from the provider, secret from a resolved reference', async () => {
    const ctx = ctxWith({});
    const { token, source } = await obtainWorkloadToken(ctx, {
      source: 'client_credentials', tokenEnv: 'PCIGATE_ID_TOKEN', audience: AUDIENCE,
      clientCredentials: { issuer: h.issuer, clientId: CI_CLIENT_ID, clientSecret: CI_CLIENT_SECRET, resource: RESOURCE },
    });
    expect(source).toBe('client_credentials');
    const { identity } = await verifyWorkloadToken(ctx, token, verifyOpts([{ issuer: h.issuer, claims: { client_id: CI_CLIENT_ID } }]));
    expect(identity.sub).toBe(CI_CLIENT_ID);
    await expect(obtainWorkloadToken(ctx, {
      source: 'client_credentials', tokenEnv: 'PCIGATE_ID_TOKEN', audience: AUDIENCE,
      clientCredentials: { issuer: h.issuer, clientId: CI_CLIENT_ID, clientSecret: 'wrong', resource: RESOURCE },
    })).rejects.toMatchObject({ code: 'ERR_LOGIN_REQUIRED' });
  });
});

describe('trusted issuers and claim rules per connection', () => {
  const rules: WorkloadRule[] = [{ issuer: '', claims: { repository: 'org/payments', ref: ['refs/heads/main', 'refs/tags/v*'] } }];
  const withIssuer = () => rules.map((r) => ({ ...r, issuer: h.issuer }));

  it('matches exact values, lists and globs', async () => {
    const ctx = ctxWith({});
    for (const ref of ['refs/heads/main', 'refs/tags/v1.2.3']) {
      const { claims } = await verifyWorkloadToken(ctx, await h.sign(ghClaims({ ref })), verifyOpts(withIssuer()));
      expect(claims.ref).toBe(ref);
    }
  });

  it('refuses a token whose claims do not match, naming the claim', async () => {
    const ctx = ctxWith({});
    await expect(verifyWorkloadToken(ctx, await h.sign(ghClaims({ ref: 'refs/heads/feature' })), verifyOpts(withIssuer())))
      .rejects.toMatchObject({ code: 'ERR_TOKEN_REFUSED', reason: 'claims', message: expect.stringContaining('ref') });
    await expect(verifyWorkloadToken(ctx, await h.sign(ghClaims({ repository: 'org/payments-fork' })), verifyOpts(withIssuer())))
      .rejects.toMatchObject({ reason: 'claims', message: expect.stringContaining('repository') });
  });

  it('refuses an issuer the connection does not trust, before fetching anything', async () => {
    const ctx = ctxWith({});
    await expect(verifyWorkloadToken(ctx, await h.sign(ghClaims({ iss: 'https://token.actions.githubusercontent.com' })), verifyOpts(withIssuer())))
      .rejects.toMatchObject({ reason: 'untrusted_issuer' });
    await expect(verifyWorkloadToken(ctx, await h.sign(ghClaims()), verifyOpts([]))).rejects.toMatchObject({ reason: 'untrusted_issuer' });
  });

  it('tries every rule for the issuer: a rule with another audience does not hide one that matches', async () => {
    const ctx = ctxWith({});
    const two: WorkloadRule[] = [
      { issuer: h.issuer, audience: 'deploy-tool', claims: {}, any_subject: true },
      { issuer: h.issuer, claims: { repository: 'org/payments' } },
    ];
    expect((await verifyWorkloadToken(ctx, await h.sign(ghClaims()), verifyOpts(two))).claims.repository).toBe('org/payments');
    await expect(verifyWorkloadToken(ctx, await h.sign(ghClaims({ aud: 'elsewhere' })), verifyOpts(two))).rejects.toMatchObject({ reason: 'audience' });
  });

  it('a rule that narrows nothing (no claim, or only *) lets no token in unless it says any_subject', async () => {
    const ctx = ctxWith({});
    const token = await h.sign(ghClaims());
    for (const claims of [{}, { repository: '*' }] as Array<Record<string, string>>) {
      await expect(verifyWorkloadToken(ctx, token, verifyOpts([{ issuer: h.issuer, claims }]))).rejects.toMatchObject({ reason: 'untrusted_issuer' });
    }
    expect((await verifyWorkloadToken(ctx, token, verifyOpts([{ issuer: h.issuer, claims: {}, any_subject: true }]))).claims.repository).toBe('org/payments');
  });

  it('resolveIdentity records auth.fail for a mismatch and returns the workload identity for a match', async () => {
    const ctx = ctxWith({});
    const audit = memoryAudit();
    const config = { identity: identitySection.parse({}) };
    const conn = { workload: withIssuer() };
    await expect(resolveIdentity(ctx, config, { connection: 'prod-db', conn, home: tempHome(), audit, workloadToken: await h.sign(ghClaims({ ref: 'refs/heads/dev' })) }))
      .rejects.toMatchObject({ code: 'ERR_TOKEN_REFUSED' });
    expect(audit.events).toEqual([expect.objectContaining({ type: 'auth.fail', outcome: 'denied', target: { conn: 'prod-db' }, detail: { reason: 'claims', via: 'workload' } })]);
    const id = await resolveIdentity(ctx, config, { connection: 'prod-db', conn, home: tempHome(), audit, workloadToken: await h.sign(ghClaims()) });
    expect(id).toMatchObject({ via: 'workload', sub: 'repo:org/payments:ref:refs/heads/main' });
    // MFA cannot be claimed by a CI token without amr: require_mfa refuses it.
    await expect(resolveIdentity(ctx, config, { connection: 'prod-db', conn: { ...conn, require_mfa: true }, home: tempHome(), audit, workloadToken: await h.sign(ghClaims()) }))
      .rejects.toMatchObject({ code: 'ERR_MFA_REQUIRED' });
    expect(audit.events.at(-1)).toMatchObject({ type: 'auth.fail', detail: { reason: 'mfa_required' } });
  });
});

describe('one use per workload token (replay cache in the data home)', () => {
  const config = { identity: identitySection.parse({}) };
  const rule = (over: Partial<WorkloadRule> = {}): WorkloadRule => ({ issuer: h.issuer, claims: { repository: 'org/payments' }, ...over });
  /** A broker as sessionActor builds one: its own validator cache, resolving the job's token for each session. */
  const broker = (home: string, audit = memoryAudit(), workload = [rule()]) => {
    const cache = new Map();
    const ctx = ctxWith({});
    return { audit, resolve: (workloadToken: string) => resolveIdentity(ctx, config, { connection: 'prod-db', conn: { workload }, home, audit, cache, workloadToken }) };
  };
  /** The rule of a job whose steps share one token (GitLab id_tokens). */
  const steps = () => rule({ reuse: 'until_expiry' });

  it('a second broker presenting a used token is refused and recorded; the broker that used it may again, for its next session', async () => {
    const home = tempHome();
    const token = await h.sign(ghClaims({ jti: 'job-42-attempt-1' }));
    const first = broker(home);
    expect(await first.resolve(token)).toMatchObject({ via: 'workload' });
    expect(await first.resolve(token)).toMatchObject({ via: 'workload' });
    const replay = broker(home);
    await expect(replay.resolve(token)).rejects.toMatchObject({
      code: 'ERR_TOKEN_REFUSED', reason: 'replayed', message: expect.stringMatching(/^this workload token \(jti job-42-attempt-1\) was already used at \d{4}-.*one pcigate run/),
    });
    expect(replay.audit.events).toEqual([expect.objectContaining({ type: 'auth.fail', outcome: 'denied', detail: { reason: 'replayed', via: 'workload' } })]);
    // Another token of the same job is another use.
    expect(await replay.resolve(await h.sign(ghClaims()))).toMatchObject({ via: 'workload' });
    const file = path.join(home, 'workload-jti.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // Keys are hashes: no jti or token text in the file.
    expect(readFileSync(file, 'utf8')).not.toContain('job-42');
  });

  it('a token without jti is refused (its replay could not be told apart), and recorded', async () => {
    const b = broker(tempHome());
    await expect(b.resolve(await h.sign(ghClaims({ jti: undefined })))).rejects.toMatchObject({ code: 'ERR_TOKEN_REFUSED', reason: 'no_jti', message: expect.stringContaining('carries no jti claim') });
    expect(b.audit.events.at(-1)).toMatchObject({ type: 'auth.fail', detail: { reason: 'no_jti', via: 'workload' } });
  });

  it('a token without jti is claimed by its uti (Entra ID\'s identifier): once', async () => {
    const home = tempHome();
    const token = await h.sign(ghClaims({ jti: undefined, uti: 'AAECAwQFBgcICQoL' }));
    expect(await broker(home).resolve(token)).toMatchObject({ via: 'workload' });
    await expect(broker(home).resolve(token)).rejects.toMatchObject({ reason: 'replayed', message: expect.stringContaining('(uti AAECAwQFBgcICQoL) was already used') });
    // The uti is hashed too.
    expect(readFileSync(path.join(home, 'workload-jti.json'), 'utf8')).not.toContain('AAECAwQFBgcICQoL');
  });

  it('reuse: until_expiry lets another process present the token again (every step of a GitLab job), and one with no jti or uti', async () => {
    const home = tempHome();
    const token = await h.sign(ghClaims());
    for (let step = 0; step < 3; step++) expect(await broker(home, memoryAudit(), [steps()]).resolve(token)).toMatchObject({ via: 'workload' });
    const bare = await h.sign(ghClaims({ jti: undefined }));
    for (let step = 0; step < 2; step++) expect(await broker(home, memoryAudit(), [steps()]).resolve(bare)).toMatchObject({ via: 'workload' });
    // Its first use is recorded: a connection whose rule says once refuses it afterwards.
    await expect(broker(home).resolve(token)).rejects.toMatchObject({ reason: 'replayed' });
  });

  it('a token that several rules match is reused only if every one of them says until_expiry, whatever their order', async () => {
    const branch = rule({ claims: { ref: 'refs/heads/main' } });
    for (const rules of [[steps(), branch], [branch, steps()]]) {
      const home = tempHome();
      const token = await h.sign(ghClaims());
      expect(await broker(home, memoryAudit(), rules).resolve(token)).toMatchObject({ via: 'workload' });
      await expect(broker(home, memoryAudit(), rules).resolve(token)).rejects.toMatchObject({ reason: 'replayed' });
    }
    // A rule the token does not match does not take reuse away.
    const home = tempHome();
    const token = await h.sign(ghClaims());
    const rules = [rule({ claims: { ref: 'refs/heads/release' } }), steps()];
    expect(await broker(home, memoryAudit(), rules).resolve(token)).toMatchObject({ via: 'workload' });
    expect(await broker(home, memoryAudit(), rules).resolve(token)).toMatchObject({ via: 'workload' });
  });

  it('a replay cache open to group or others refuses workload tokens (fail closed)', async () => {
    const home = tempHome();
    writeFileSync(path.join(home, 'workload-jti.json'), '{"v":1,"used":{}}', { mode: 0o666 });
    chmodSync(path.join(home, 'workload-jti.json'), 0o666);
    await expect(broker(home).resolve(await h.sign(ghClaims()))).rejects.toMatchObject({ code: 'ERR_HOME', message: expect.stringContaining('readable by its owner only') });
  });
});

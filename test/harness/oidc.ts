/**
 * A real OpenID provider (panva/oidc-provider v9) in process on a free loopback port, for identity tests.
 *
 * - RFC 8628 device flow; JWT access tokens through RFC 8707 resource indicators (audience `pcigate`,
 *   `typ: at+jwt`, RFC 9068) carrying `groups`, `email` and `amr`;
 * - refresh tokens with rotation (public client), RFC 7009 revocation, client credentials for a CI client;
 * - two demo accounts with known passwords (an engineer and an approver); a one-time code on the login form
 *   adds `otp` to `amr` so MFA (PCI DSS 8.4.2) can be tested both ways;
 * - `browser`: a test "browser" that drives the device flow over plain HTTP with a cookie jar.
 *
 * oidc-provider prints a Node 22 engine warning on Node 20; it works.
 */
import { formBrowser } from '../../src/demo/form-browser.js';
import type { Page } from '../../src/demo/form-browser.js';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as jose from 'jose';
import Provider from 'oidc-provider';

export interface DemoAccount {
  sub: string;
  login: string;
  password: string;
  /** The one-time code that, when also given, adds `otp` to `amr`. */
  otp: string;
  email: string;
  groups: string[];
}

export const ACCOUNTS: Record<'engineer' | 'approver', DemoAccount> = {
  engineer: { sub: 'u-1001', login: 'alice', password: 'alice-pass-1', otp: '123456', email: 'alice@example.test', groups: ['engineers', 'payments'] },
  approver: { sub: 'u-2002', login: 'bob', password: 'bob-pass-2', otp: '654321', email: 'bob@example.test', groups: ['approvers', 'security'] },
};

export const CLI_CLIENT_ID = 'pcigate-cli';
export const CI_CLIENT_ID = 'pcigate-ci';
export const CI_CLIENT_SECRET = 'ci-secret-do-not-use-in-production-0123456789';
/** The RFC 8707 resource indicator and the `aud` of access tokens minted for it. */
export const RESOURCE = 'urn:pcigate';
export const AUDIENCE = 'pcigate';

export interface OidcHarnessOptions {
  /** Device code lifetime in seconds (default 600). */
  deviceCodeTtl?: number;
  /** Access token lifetime in seconds (default 300). */
  accessTokenTtl?: number;
  /** `interval` advertised in the device authorization response (seconds, default 1 to keep tests quick). */
  interval?: number;
  /** Answer this many device-code polls with `slow_down` before handling them (an overloaded provider). */
  slowDownPolls?: number;
}

export interface OidcHarness {
  issuer: string;
  port: number;
  /** Public JWKS served at jwks_uri. */
  jwks: jose.JSONWebKeySet;
  /** Signs a JWT with the provider's own key (so it verifies against the JWKS) — for refusal tests. */
  sign(payload: jose.JWTPayload, header?: Partial<jose.JWTHeaderParameters>): Promise<string>;
  /** The provider's public signing key as PEM (for the HMAC-with-public-key attack). */
  publicKeyPem: string;
  browser: TestBrowser;
  /** Count of device-code polls seen at the token endpoint. */
  polls(): number;
  close(): Promise<void>;
}

export interface TestBrowser {
  /**
   * Opens the verification URI, submits the user code, logs in and answers the consent screen.
   * `decision: 'deny'` aborts at the device confirmation page (RFC 8628 §3.5 access_denied).
   */
  approve(opts: { verificationUri: string; userCode: string; account: DemoAccount; otp?: boolean; decision?: 'allow' | 'deny' }): Promise<string>;
}

/**
 * A fetch to the provider whose refresh-token grants at the token endpoint come back `delayMs` late (a
 * renewal still on its way while another pcigate logs in or out); `started` resolves once the first such
 * grant has been answered by the provider and is being held.
 */
export function slowRefreshFetch(delayMs: number): { fetch: typeof globalThis.fetch; started: Promise<void> } {
  let refreshStarted!: () => void;
  const started = new Promise<void>((r) => { refreshStarted = r; });
  const slow: typeof globalThis.fetch = async (input, init) => {
    const res = await fetch(input, init);
    if (String(input).endsWith('/token') && String(init?.body).includes('grant_type=refresh_token')) {
      refreshStarted();
      await new Promise((r) => setTimeout(r, delayMs));
    }
    return res;
  };
  return { fetch: slow, started };
}

/** Starts the provider; always `await h.close()` in afterAll. */
export async function startOidcProvider(opts: OidcHarnessOptions = {}): Promise<OidcHarness> {
  const { privateKey, publicKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const privJwk = { ...(await jose.exportJWK(privateKey)), kid: 'test-rs256', alg: 'RS256', use: 'sig' };
  const pubJwk = { ...(await jose.exportJWK(publicKey)), kid: 'test-rs256', alg: 'RS256', use: 'sig' };
  const publicKeyPem = await jose.exportSPKI(publicKey);

  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const issuer = `http://127.0.0.1:${port}`;
  const byId = new Map(Object.values(ACCOUNTS).map((a) => [a.sub, a]));

  const provider = new Provider(issuer, {
    clients: [
      { client_id: CLI_CLIENT_ID, token_endpoint_auth_method: 'none', grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'], response_types: [], redirect_uris: [] },
      { client_id: CI_CLIENT_ID, client_secret: CI_CLIENT_SECRET, grant_types: ['client_credentials'], response_types: [], redirect_uris: [] },
    ],
    jwks: { keys: [privJwk] },
    scopes: ['openid', 'email', 'groups', 'offline_access', 'pcigate'],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], groups: ['groups'] },
    findAccount: async (_ctx, sub) => {
      const a = byId.get(sub);
      if (!a) return undefined;
      return { accountId: sub, claims: async () => ({ sub, email: a.email, email_verified: true, groups: a.groups }) };
    },
    features: {
      devInteractions: { enabled: false },
      deviceFlow: { enabled: true },
      revocation: { enabled: true },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => RESOURCE,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx: unknown, resource: string) => {
          if (resource !== RESOURCE) throw new Provider.errors.InvalidTarget();
          return { scope: 'pcigate', audience: AUDIENCE, accessTokenFormat: 'jwt', accessTokenTTL: opts.accessTokenTtl ?? 300, jwt: { sign: { alg: 'RS256' } } };
        },
      },
    },
    // Public clients always rotate refresh tokens (oidc-provider default); always issue one for offline_access.
    issueRefreshToken: async (_ctx, client, code) => client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
    extraTokenClaims: async (ctx, token) => {
      const accountId = (token as { accountId?: string }).accountId;
      const a = accountId ? byId.get(accountId) : undefined;
      if (!a) return { groups: ['ci'] };
      const src = ctx.oidc.entities.DeviceCode ?? ctx.oidc.entities.RefreshToken;
      return { email: a.email, groups: a.groups, amr: src?.amr ?? ['pwd'] };
    },
    ttl: {
      DeviceCode: opts.deviceCodeTtl ?? 600,
      AccessToken: opts.accessTokenTtl ?? 300,
      ClientCredentials: opts.accessTokenTtl ?? 300,
      RefreshToken: 86_400,
      Grant: 86_400,
      Session: 86_400,
      Interaction: 600,
    },
    pkce: { required: () => false },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  });
  provider.on('server_error', (_ctx, err) => { process.stderr.write(`oidc harness server_error: ${String(err)}\n`); });

  let slowDownLeft = opts.slowDownPolls ?? 0;
  let pollCount = 0;
  const callback = provider.callback();

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const url = new URL(req.url ?? '/', issuer);
      if (url.pathname.startsWith('/interaction/')) return interaction(provider, req, res, url, byId);
      if (req.method === 'POST' && url.pathname === '/device/auth') injectInterval(res, opts.interval ?? 1);
      if (req.method === 'POST' && url.pathname === '/token') {
        // Pre-read the body so we can see the grant type; oidc-provider falls back to req.body.
        const body = await readBody(req);
        (req as IncomingMessage & { body?: Buffer }).body = body;
        const form = new URLSearchParams(body.toString('utf8'));
        if (form.get('grant_type') === 'urn:ietf:params:oauth:grant-type:device_code') {
          pollCount++;
          if (slowDownLeft > 0) {
            slowDownLeft--;
            res.writeHead(400, { 'content-type': 'application/json', 'cache-control': 'no-store' });
            res.end(JSON.stringify({ error: 'slow_down', error_description: 'polling too fast' }));
            return;
          }
        }
      }
      callback(req, res);
    })().catch((err: unknown) => {
      res.statusCode = 500;
      res.end(String(err));
    });
  });

  const sign = async (payload: jose.JWTPayload, header: Partial<jose.JWTHeaderParameters> = {}) =>
    new jose.SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: 'test-rs256', typ: 'at+jwt', ...header }).sign(privateKey);

  return {
    issuer,
    port,
    jwks: { keys: [pubJwk] },
    sign,
    publicKeyPem,
    browser: makeBrowser(issuer),
    polls: () => pollCount,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** oidc-provider omits `interval` (clients then default to 5 s, RFC 8628 §3.2); tests want a shorter one. */
function injectInterval(res: ServerResponse, interval: number): void {
  const end = res.end.bind(res) as (chunk?: unknown) => ServerResponse;
  // Overriding end() is the narrowest hook: koa sets headers with setHeader and then calls end(body).
  (res as { end: (chunk?: unknown) => ServerResponse }).end = (chunk?: unknown) => {
    if (res.statusCode === 200 && chunk !== undefined) {
      const doc = JSON.parse(Buffer.from(chunk as Buffer | string).toString('utf8')) as Record<string, unknown>;
      const text = JSON.stringify({ ...doc, interval });
      res.setHeader('content-length', Buffer.byteLength(text));
      return end(text);
    }
    return end(chunk);
  };
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** The login and consent screens (what devInteractions would do, but with real passwords and an OTP). */
async function interaction(provider: Provider, req: IncomingMessage, res: ServerResponse, url: URL, byId: Map<string, DemoAccount>): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  const uid = details.uid;
  if (req.method === 'GET') {
    res.setHeader('content-type', 'text/html; charset=utf-8');
    if (details.prompt.name === 'login') {
      res.end(`<!DOCTYPE html><title>Sign in</title><form method="post" action="/interaction/${esc(uid)}/login">
<input name="login"><input name="password" type="password"><input name="otp"><button>Sign in</button></form>`);
    } else {
      res.end(`<!DOCTYPE html><title>Consent</title><form method="post" action="/interaction/${esc(uid)}/confirm">
<p>Allow ${esc(String(details.params.client_id))} to act for you?</p><button>Allow</button></form>`);
    }
    return;
  }
  const form = new URLSearchParams((await readBody(req)).toString('utf8'));
  if (url.pathname.endsWith('/login')) {
    const account = [...byId.values()].find((a) => a.login === form.get('login') && a.password === form.get('password'));
    if (!account) {
      res.statusCode = 401;
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end('<!DOCTYPE html><p>wrong login or password</p>');
      return;
    }
    const amr = form.get('otp') === account.otp ? ['pwd', 'otp', 'mfa'] : ['pwd'];
    await provider.interactionFinished(req, res, { login: { accountId: account.sub, amr } }, { mergeWithLastSubmission: false });
    return;
  }
  // Consent: grant exactly what is missing, including the resource server's scope.
  const accountId = details.session?.accountId;
  if (!accountId) throw new Error('consent without a session');
  const grant = details.grantId
    ? (await provider.Grant.find(details.grantId))!
    : new provider.Grant({ accountId, clientId: String(details.params.client_id) });
  const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

/** The test's browser: src/demo/form-browser.ts with the choices a test makes (deny, no one-time code). */
function makeBrowser(issuer: string): TestBrowser {
  return {
    // Tests start approve() from a login's prompt callback and await it after the login: its promise is given a
    // handler at once, so a failure in between is not an unhandled rejection (the await still throws it).
    approve(o) {
      const approving = approveInBrowser(issuer, o);
      approving.catch(() => undefined);
      return approving;
    },
  };
}

async function approveInBrowser(issuer: string, { verificationUri, userCode, account, otp = true, decision = 'allow' }: Parameters<TestBrowser['approve']>[0]): Promise<string> {
  const { go, submit: post } = formBrowser(fetch, issuer, 'test browser');
  const submit = (page: Page, fields: Record<string, string>, extra: Record<string, string> = {}) => post(page, { ...fields, ...extra });

  let page = await go(verificationUri);
  if (/name="user_code"/.test(page.body)) page = await submit(page, { user_code: userCode });
  // The device confirmation page (oidc-provider's userCodeConfirmSource).
  if (/op\.deviceConfirmForm/.test(page.body)) {
    page = await submit(page, {}, decision === 'deny' ? { abort: 'yes' } : {});
    if (decision === 'deny') return page.body;
  }
  if (/name="password"/.test(page.body)) {
    page = await submit(page, { login: account.login, password: account.password, otp: otp ? account.otp : '' });
  }
  if (/<title>Consent<\/title>/.test(page.body)) page = await submit(page, {});
  return page.body;
}

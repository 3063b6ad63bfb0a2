/**
 * The demo's identity provider: a real OpenID provider (panva/oidc-provider) in this process on a free
 * loopback port, with the RFC 8628 device flow, JWT access tokens for the `pcigate` audience through an
 * RFC 8707 resource indicator (RFC 9068 `at+jwt`), and two demo people. Its "browser" drives the device
 * flow's verification pages over HTTP, so the tour can log people in unattended.
 *
 * oidc-provider is a devDependency: a git clone's `npm install` has it, a production install may not —
 * startDemoOidc() then resolves undefined and the demo uses local identity (and says so).
 * Adapted from test/harness/oidc.ts.
 */
import { formBrowser } from './form-browser.js';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, randomBytes } from 'node:crypto';

export interface DemoOidcPerson {
  sub: string;
  login: string;
  password: string;
  otp: string;
  email: string;
  groups: string[];
}

export interface DemoOidc {
  issuer: string;
  clientId: string;
  audience: string;
  resource: string;
  people: Record<'engineer' | 'approver', DemoOidcPerson>;
  /** Completes a device login in the provider's pages as `person` (with the OTP: amr gets mfa). */
  approveDevice(verificationUri: string, userCode: string, person: DemoOidcPerson): Promise<void>;
  close(): Promise<void>;
}

// oidc-provider ships no TypeScript types and is an optional devDependency imported at run time: its API
// is used through this loose type.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = any;

const CLIENT_ID = 'pcigate-cli';
const RESOURCE = 'urn:pcigate';
const AUDIENCE = 'pcigate';

/** Starts the provider, or resolves undefined when oidc-provider is not installed. */
export async function startDemoOidc(names: { engineer: string; approver: string }, fetch: typeof globalThis.fetch): Promise<DemoOidc | undefined> {
  let Provider: Loose;
  try {
    const specifier = 'oidc-provider';
    Provider = await withoutKnownWarnings(async () => ((await import(specifier)) as { default: Loose }).default);
  } catch {
    return undefined;
  }
  const people = {
    engineer: { sub: `u-${names.engineer}`, login: names.engineer, password: randomBytes(9).toString('base64url'), otp: '123456', email: `${names.engineer}@demo.pcigate.test`, groups: ['engineers'] },
    approver: { sub: `u-${names.approver}`, login: names.approver, password: randomBytes(9).toString('base64url'), otp: '654321', email: `${names.approver}@demo.pcigate.test`, groups: ['approvers'] },
  };
  const byId = new Map(Object.values(people).map((p) => [p.sub, p]));
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'demo-rs256', alg: 'RS256', use: 'sig' };

  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const issuer = `http://127.0.0.1:${port}`;
  const provider: Loose = await withoutKnownWarnings(async () => new Provider(issuer, {
    clients: [{ client_id: CLIENT_ID, token_endpoint_auth_method: 'none', grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'], response_types: [], redirect_uris: [] }],
    jwks: { keys: [jwk] },
    scopes: ['openid', 'email', 'groups', 'offline_access', 'pcigate'],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], groups: ['groups'] },
    findAccount: async (_ctx: unknown, sub: string) => {
      const a = byId.get(sub);
      return a ? { accountId: sub, claims: async () => ({ sub, email: a.email, email_verified: true, groups: a.groups }) } : undefined;
    },
    features: {
      devInteractions: { enabled: false },
      // Our own pages (the defaults print a NOTICE each on first use).
      deviceFlow: {
        enabled: true,
        userCodeInputSource: async (ctx: Loose, form: string) => { ctx.body = `<!DOCTYPE html><title>Device login</title>${form}<input form="op.deviceInputForm" name="user_code"><button form="op.deviceInputForm">Continue</button>`; },
        userCodeConfirmSource: async (ctx: Loose, form: string, _client: unknown, _info: unknown, userCode: string) => { ctx.body = `<!DOCTYPE html><title>Confirm</title>${form}<p>Code ${esc(userCode)}</p><button form="op.deviceConfirmForm">Continue</button>`; },
        successSource: async (ctx: Loose) => { ctx.body = '<!DOCTYPE html><title>Signed in</title><p>You can close this page.</p>'; },
      },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => RESOURCE,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx: unknown, resource: string) => {
          if (resource !== RESOURCE) throw new Provider.errors.InvalidTarget();
          return { scope: 'pcigate', audience: AUDIENCE, accessTokenFormat: 'jwt', accessTokenTTL: 3600, jwt: { sign: { alg: 'RS256' } } };
        },
      },
    },
    issueRefreshToken: async (_ctx: unknown, client: Loose, code: Loose) => client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
    extraTokenClaims: async (ctx: Loose, token: Loose) => {
      const a = token.accountId ? byId.get(token.accountId) : undefined;
      if (!a) return {};
      const src = ctx.oidc.entities.DeviceCode ?? ctx.oidc.entities.RefreshToken;
      return { email: a.email, groups: a.groups, amr: src?.amr ?? ['pwd'] };
    },
    ttl: { DeviceCode: 600, AccessToken: 3600, IdToken: 3600, RefreshToken: 86_400, Grant: 86_400, Session: 86_400, Interaction: 600 },
    pkce: { required: () => false },
    interactions: { url: (_ctx: unknown, interaction: Loose) => `/interaction/${interaction.uid}` },
  }));
  const callback = provider.callback();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const url = new URL(req.url ?? '/', issuer);
      if (url.pathname.startsWith('/interaction/')) return interaction(provider, req, res, url, byId);
      if (req.method === 'POST' && url.pathname === '/device/auth') shortInterval(res);
      callback(req, res);
    })().catch((err: unknown) => { res.statusCode = 500; res.end(String(err)); });
  });
  return {
    issuer, clientId: CLIENT_ID, audience: AUDIENCE, resource: RESOURCE, people,
    approveDevice: (uri, code, person) => approveDevice(fetch, issuer, uri, code, person),
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

/** oidc-provider omits `interval` (clients then wait 5 s between polls, RFC 8628 §3.2); the tour wants 1 s. */
function shortInterval(res: ServerResponse): void {
  const end = res.end.bind(res) as (chunk?: unknown) => ServerResponse;
  (res as { end: (chunk?: unknown) => ServerResponse }).end = (chunk?: unknown) => {
    if (res.statusCode === 200 && chunk !== undefined) {
      const doc = JSON.parse(Buffer.from(chunk as Buffer | string).toString('utf8')) as Record<string, unknown>;
      const text = JSON.stringify({ ...doc, interval: 1 });
      res.setHeader('content-length', Buffer.byteLength(text));
      return end(text);
    }
    return end(chunk);
  };
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** The sign-in (password + one-time code) and consent pages. */
async function interaction(provider: Loose, req: IncomingMessage, res: ServerResponse, url: URL, byId: Map<string, DemoOidcPerson>): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  const uid = String(details.uid);
  if (req.method === 'GET') {
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(details.prompt.name === 'login'
      ? `<!DOCTYPE html><title>Sign in</title><form method="post" action="/interaction/${esc(uid)}/login"><input name="login"><input name="password" type="password"><input name="otp"><button>Sign in</button></form>`
      : `<!DOCTYPE html><title>Consent</title><form method="post" action="/interaction/${esc(uid)}/confirm"><p>Allow pcigate to act for you?</p><button>Allow</button></form>`);
    return;
  }
  const form = new URLSearchParams((await readBody(req)).toString('utf8'));
  if (url.pathname.endsWith('/login')) {
    const account = [...byId.values()].find((a) => a.login === form.get('login') && a.password === form.get('password'));
    if (!account) { res.statusCode = 401; res.end('wrong login or password'); return; }
    const amr = form.get('otp') === account.otp ? ['pwd', 'otp', 'mfa'] : ['pwd'];
    await provider.interactionFinished(req, res, { login: { accountId: account.sub, amr } }, { mergeWithLastSubmission: false });
    return;
  }
  const accountId = details.session?.accountId;
  if (!accountId) throw new Error('consent without a session');
  const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({ accountId, clientId: String(details.params.client_id) });
  const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

/** Signs `person` in at the verification page and confirms the user code. */
async function approveDevice(fetch: typeof globalThis.fetch, issuer: string, verificationUri: string, userCode: string, person: DemoOidcPerson): Promise<void> {
  const { go, submit } = formBrowser(fetch, issuer, 'demo browser');
  let page = await go(verificationUri);
  if (/name="user_code"/.test(page.body)) page = await submit(page, { user_code: userCode });
  if (/op\.deviceConfirmForm/.test(page.body)) page = await submit(page, {});
  if (/name="password"/.test(page.body)) page = await submit(page, { login: person.login, password: person.password, otp: person.otp });
  if (/<title>Consent<\/title>/.test(page.body)) page = await submit(page, {});
}

/**
 * oidc-provider warns on stderr, through console.warn, that Node 20 is not a runtime it supports (it works:
 * the demo and the identity tests run on it) and that its in-memory storage loses everything on restart
 * (the demo's provider lives as long as the demo, by design). Both would read as faults in the demo's
 * output, so while the package loads and the provider is built those two lines, and only those, are
 * dropped; any other warning passes through.
 */
const KNOWN_WARNINGS = [/^(?:\x1b\[[0-9;]*m)?oidc-provider WARNING: Unsupported runtime\b/, /^(?:\x1b\[[0-9;]*m)?oidc-provider WARNING: a quick start development-only in-memory adapter\b/];

async function withoutKnownWarnings<T>(fn: () => Promise<T>): Promise<T> {
  const original = globalThis.console.warn;
  globalThis.console.warn = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && KNOWN_WARNINGS.some((re) => re.test(args[0] as string))) return;
    original(...args);
  };
  try {
    return await fn();
  } finally {
    globalThis.console.warn = original;
  }
}

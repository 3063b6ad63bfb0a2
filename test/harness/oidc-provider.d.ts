/**
 * The slice of oidc-provider v9's API the test harness uses (the package ships no type declarations and
 * @types/oidc-provider is not installed). Loose where the harness only passes values through.
 */
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  interface OidcCtx { oidc: { entities: { DeviceCode?: { amr?: string[] }; RefreshToken?: { amr?: string[] } } } }

  interface GrantInstance {
    addOIDCScope(scope: string): void;
    addOIDCClaims(claims: string[]): void;
    addResourceScope(indicator: string, scope: string): void;
    save(): Promise<string>;
  }

  interface InteractionDetails {
    uid: string;
    prompt: { name: string; details: Record<string, unknown> };
    params: Record<string, unknown>;
    session?: { accountId?: string };
    grantId?: string;
  }

  interface ProviderConfiguration {
    clients?: Array<Record<string, unknown>>;
    jwks?: { keys: Array<Record<string, unknown>> };
    scopes?: string[];
    claims?: Record<string, string[]>;
    findAccount?: (ctx: OidcCtx, sub: string) => Promise<{ accountId: string; claims: () => Promise<Record<string, unknown>> } | undefined>;
    features?: Record<string, Record<string, unknown>>;
    issueRefreshToken?: (ctx: OidcCtx, client: { grantTypeAllowed(g: string): boolean }, code: { scopes: Set<string> }) => Promise<boolean>;
    extraTokenClaims?: (ctx: OidcCtx, token: unknown) => Promise<Record<string, unknown> | undefined>;
    ttl?: Record<string, number>;
    pkce?: { required: () => boolean };
    interactions?: { url: (ctx: OidcCtx, interaction: { uid: string }) => string };
  }

  export default class Provider {
    constructor(issuer: string, configuration: ProviderConfiguration);
    static errors: { InvalidTarget: new (description?: string) => Error };
    Grant: { new (init: { accountId: string; clientId: string }): GrantInstance; find(id: string): Promise<GrantInstance | undefined> };
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>;
    interactionFinished(req: IncomingMessage, res: ServerResponse, result: Record<string, unknown>, options?: { mergeWithLastSubmission?: boolean }): Promise<void>;
    on(event: 'server_error', listener: (ctx: unknown, err: unknown) => void): this;
  }
}

/**
 * `pcigate whoami`: who the saved login says you are — subject, email, groups, issuer, `amr` and whether it
 * counts as MFA (PCI DSS 8.4.2), and when the access token expires. Refreshes it first when near expiry.
 */
import type { CommandSpec } from '../src/cli/command.js';
import { EXIT } from '../src/cli/exit-codes.js';
import { identityCommandContext } from '../src/identity/command-context.js';
import { currentSession } from '../src/identity/session.js';
import type { Identity, StoredTokens } from '../src/identity/types.js';

/** The stable --json fields of whoami (and of login --json). */
export interface WhoamiReport {
  subject: string;
  email: string | null;
  groups: string[];
  issuer: string;
  amr: string[];
  mfa: boolean;
  expires_at: string;
  logged_in_at: string;
  token_store: string;
}

export function whoamiReport(id: Identity, t: StoredTokens, where: string): WhoamiReport {
  return {
    subject: id.sub,
    email: id.email ?? null,
    groups: id.groups ?? [],
    issuer: id.idp ?? t.issuer,
    amr: id.amr ?? [],
    mfa: id.mfa,
    expires_at: new Date(t.expiresAt).toISOString(),
    logged_in_at: new Date(t.loggedInAt).toISOString(),
    token_store: where,
  };
}

export const spec: CommandSpec = {
  description: 'Exits 4 when nobody is logged in or the login can no longer be renewed.',
  examples: [
    ['show the logged-in identity', 'pcigate whoami'],
    ['the same as JSON, e.g. to check MFA in a script', 'pcigate whoami --json'],
  ],
  async run(ctx, { global, out }) {
    const ic = await identityCommandContext(ctx, global, {}, (l) => ctx.log.debug(l));
    try {
      const cur = await currentSession(ctx, { settings: ic.settings, store: ic.store, home: ic.home, ...(ic.audit ? { audit: ic.audit } : {}) });
      const r = whoamiReport(cur.identity, cur.tokens, cur.store.where);
      if (out.json) out.printJson(r);
      else {
        out.data([
          `subject:    ${r.subject}`,
          `email:      ${r.email ?? '-'}`,
          `groups:     ${r.groups.join(', ') || '-'}`,
          `issuer:     ${r.issuer}`,
          `amr:        ${r.amr.join(', ') || '-'}`,
          `mfa:        ${r.mfa ? 'yes' : 'no'}`,
          `expires at: ${r.expires_at}`,
        ].join('\n'));
      }
      return EXIT.ok;
    } finally {
      await ic.close();
    }
  },
};

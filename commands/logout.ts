/**
 * `pcigate logout`: revokes the refresh and access tokens at the provider (RFC 7009), then deletes them
 * from the token store. The local copy is deleted even when the provider cannot be reached; that is said.
 */
import type { CommandSpec } from '../src/cli/command.js';
import { EXIT } from '../src/cli/exit-codes.js';
import { identityCommandContext } from '../src/identity/command-context.js';
import { logout } from '../src/identity/session.js';

export const spec: CommandSpec = {
  examples: [['log out and revoke the tokens at the provider', 'pcigate logout']],
  async run(ctx, { global, out }) {
    const ic = await identityCommandContext(ctx, global, {}, (l) => ctx.log.debug(l));
    try {
      const r = await logout(ctx, { store: ic.store, home: ic.home, auto: ic.settings.tokenStore === 'auto', ...(ic.audit ? { audit: ic.audit } : {}) });
      if (out.json) {
        out.printJson({ logged_out: r.wasLoggedIn, revoked: r.revoked, revocation_error: r.revocationError ?? null, token_store: r.where });
      } else if (!r.wasLoggedIn) {
        out.say('Not logged in; nothing to do.');
      } else {
        if (r.revocationError) out.warn(`warning: the provider did not revoke the tokens (${r.revocationError}); they stay valid until they expire.`);
        else out.say(`Revoked at the provider: ${r.revoked.join(', ')}.`);
        if (r.accessTokenNote) out.say(`Note: ${r.accessTokenNote}.`);
        out.say(`Logged out; tokens deleted from ${r.where}.`);
      }
      return EXIT.ok;
    } finally {
      await ic.close();
    }
  },
};

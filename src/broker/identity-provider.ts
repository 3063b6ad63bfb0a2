/**
 * The identity seam: who is behind a session. Until OIDC identity (src/identity) is wired in, the only
 * provider is the local OS account, marked `via: "local"`, and only where the config opts in with
 * `identity.allow_local: true`. The identity area supplies another IdentityProvider; the proxy and the
 * broker's recording do not change.
 */
import type { Actor } from '../../recorder/types.js';
import { LoginRequired } from '../errors.js';

export interface IdentityProvider {
  /** The actor for a new session; throws LoginRequired (or a subclass) when there is none. */
  actor(): Promise<Actor>;
}

/** The local OS user as the actor (PCI DSS 8.2.1 still holds: one named account per person). */
export function localIdentity(user: { name: string; uid: number }, allowLocal: boolean): IdentityProvider {
  return {
    async actor() {
      if (!allowLocal) {
        throw new LoginRequired('no identity: run `pcigate login`', {
          hint: 'or set identity.allow_local: true in pcigate.yaml to let the local OS account stand in',
        });
      }
      return { sub: `${user.name}`, idp: 'local', via: 'local' };
    },
  };
}

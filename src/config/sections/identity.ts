/**
 * The `identity` section of pcigate.yaml (issue 5, owned by the identity area). This is the minimal initial
 * version from the config area; the identity owner extends it. Only keys the config area needs today are
 * fixed here: `allow_local` (issue 3 item 6: the local OS user may act only where the config opts in).
 */
import { z } from 'zod';

export const identitySection = z
  .object({
    /** Let the local OS account stand in as the actor (`via: "local"`) until OIDC is configured. */
    allow_local: z.boolean().default(false),
    /** OIDC issuer URL used by `pcigate login` and token validation. */
    issuer: z.string().url().optional(),
    /** OIDC client id for the device flow. */
    client_id: z.string().min(1).optional(),
  })
  .strict()
  .default({ allow_local: false });

export type IdentityConfig = z.infer<typeof identitySection>;

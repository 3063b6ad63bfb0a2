/**
 * The `policy` section of pcigate.yaml (issue 6, owned by the policy area). Minimal initial version from
 * the config area; the policy owner extends it.
 */
import { z } from 'zod';

export const policySection = z
  .object({
    /** Roles bound to identity groups or subjects; shape refined by the policy area. */
    roles: z.record(z.string(), z.unknown()).default({}),
  })
  .strict()
  .default({ roles: {} });

export type PolicyConfig = z.infer<typeof policySection>;

/**
 * The root schema of pcigate.yaml (issue 2 item 2). Each section lives in sections/: audit and
 * connections belong to the config area, identity, masking and policy to their own areas. Every object is
 * strict: an unknown key is an error with a "did you mean" (a typo such as `requre_mfa` silently ignored
 * would switch a control off).
 */
import { z } from 'zod';
import { suggest } from '../cli/suggest.js';
import { auditSection } from './sections/audit.js';
import { connectionsSection } from './sections/connections.js';
import { identitySection } from './sections/identity.js';
import { maskingSection } from './sections/masking.js';
import { policySection } from './sections/policy.js';

export const configSchema = z
  .strictObject({
    /** Schema version of this file; only 1 exists. */
    version: z.literal(1).default(1),
    connections: connectionsSection,
    identity: identitySection,
    audit: auditSection,
    masking: maskingSection,
    policy: policySection,
  })
  .superRefine((c, ctx) => {
    // Policy for a connection that does not exist is almost always a typo (`prod-bd`): the real connection
    // then falls back to '*' or to deny-all, and nobody notices until an incident.
    const names = Object.keys(c.connections);
    for (const key of Object.keys(c.policy.connections ?? {})) {
      if (key === '*' || names.includes(key)) continue;
      const guess = suggest(key, names);
      ctx.addIssue({
        code: 'custom',
        path: ['policy', 'connections', key],
        message: `policy for unknown connection '${key}'${guess ? `. Did you mean '${guess}'?` : ` (connections: ${names.join(', ') || 'none'})`}`,
      });
    }
  });

/** The validated configuration, defaults applied, durations in ms, secrets as SecretRef. */
export type PcigateConfig = z.infer<typeof configSchema>;

/** The configuration with every default, as used when no file exists and the command can run without one. */
export function defaultConfig(): PcigateConfig {
  return configSchema.parse({});
}

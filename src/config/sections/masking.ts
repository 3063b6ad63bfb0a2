/**
 * The `masking` section of pcigate.yaml (issue 4, owned by the masking area).
 *
 * ```yaml
 * masking:
 *   format: last4                    # PANs found by content: last4 | first6last4 | full | hmac
 *   networks: major                  # major (issuer ranges of the major networks) | any_luhn (any Luhn-valid
 *                                    # number too, but a decimal fraction after `<digit>.` only in a major range)
 *   hmac_key: env:PCIGATE_MASK_KEY   # secret reference; needed when any format is hmac (PCI DSS 3.5.1.1)
 *   sad_columns: [card_check_value]  # more column names always fully masked (cvv, pin, track1, … are built in), and never recorded
 *   rules:
 *     - name: card-number            # the name counted in `masked: {rule: count}` (default: the first pattern)
 *       columns: ["*card_number*", "pan"]  # column-name globs …
 *       format: full                 # last4 | first6last4 | full | hmac | null
 *     - columns: [public.cards.number]     # … or schema.table.column (table.column = any schema), globs allowed
 *       format: first6last4
 * ```
 *
 * Unmasking is a policy grant per role and connection (policy `roles.<r>.unmask`), never set here.
 */
import { z } from 'zod';
import { secretRef } from '../secret-ref.js';

const FORMATS = ['last4', 'first6last4', 'full', 'hmac', 'null'] as const;

export const maskingRule = z.strictObject({
  name: z.string().min(1).optional(),
  columns: z.array(z.string().regex(/^[^\s]+$/, 'expected a column name, table.column or schema.table.column (globs allowed)')).min(1),
  format: z.enum(FORMATS).default('full'),
});

export const maskingSection = z
  .strictObject({
    format: z.enum(['last4', 'first6last4', 'full', 'hmac']).default('last4'),
    networks: z.enum(['major', 'any_luhn']).default('major'),
    hmac_key: secretRef().optional(),
    sad_columns: z.array(z.string().min(1)).default([]),
    rules: z.array(maskingRule).default([]),
  })
  .superRefine((m, ctx) => {
    const usesHmac = m.format === 'hmac' || m.rules.some((r) => r.format === 'hmac');
    if (usesHmac && !m.hmac_key) ctx.addIssue({ code: 'custom', path: ['hmac_key'], message: 'the hmac mask format needs hmac_key (a secret reference)' });
  })
  .prefault({});

export type MaskingConfig = z.infer<typeof maskingSection>;
export type MaskingRuleConfig = z.infer<typeof maskingRule>;

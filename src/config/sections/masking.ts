/**
 * The `masking` section of pcigate.yaml (issue 4, owned by the masking area). Minimal initial version from
 * the config area; the masking owner extends it.
 */
import { z } from 'zod';

export const maskingSection = z
  .object({
    /** Column rules (name patterns or schema.table.column); shape refined by the masking area. */
    rules: z.array(z.unknown()).default([]),
  })
  .strict()
  .default({ rules: [] });

export type MaskingConfig = z.infer<typeof maskingSection>;

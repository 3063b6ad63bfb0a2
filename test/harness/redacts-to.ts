/** The redaction tests' table check (redact-statement-secrets.test.ts, redact-by-tokens.test.ts). */
import { expect } from 'vitest';
import { redactStatementSecrets } from '../../src/policy/redact-statement-secrets.js';

/** Each `[sql, want]`: redactStatementSecrets(sql) is want. */
export function redactsTo(cases: ReadonlyArray<readonly [string, string]>): void {
  for (const [sql, want] of cases) expect(redactStatementSecrets(sql), sql).toBe(want);
}

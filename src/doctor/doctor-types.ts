/** One line of `pcigate doctor`: what was checked, how it went, and what to do about it. */
export const CHECK_STATUS = ['ok', 'warn', 'fail'] as const;
export type CheckStatus = (typeof CHECK_STATUS)[number];

export interface CheckResult {
  /** Stable id, e.g. `config`, `keychain`, `home`, `keys`, `approvals`, `clock`, `connection:prod-db`, `identity`. */
  id: string;
  status: CheckStatus;
  /** One line: what was found. */
  message: string;
  /** How to fix it (fail and warn only). */
  hint?: string;
}

export function ok(id: string, message: string): CheckResult {
  return { id, status: 'ok', message };
}

export function warn(id: string, message: string, hint: string): CheckResult {
  return { id, status: 'warn', message, hint };
}

export function fail(id: string, message: string, hint: string): CheckResult {
  return { id, status: 'fail', message, hint };
}

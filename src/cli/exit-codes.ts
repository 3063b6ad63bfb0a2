/**
 * The one exit-code table (ARCHITECTURE.md §6). Only main() turns these into a process exit code.
 */
export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  verification: 3,
  login: 4,
  denied: 5,
  approvalTimeout: 6,
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

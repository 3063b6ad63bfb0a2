/**
 * Separation of duties for approval decisions (PCI DSS 7.2.3, and 6.5.1's approval of changes: whoever asks for a
 * change does not approve it). Pure rules over a stored request, the deciding identity and the OS account of the deciding
 * process; approvals.ts records and throws what they refuse.
 */
import type { PolicyIdentity } from './evaluate.js';

export interface ApprovalPerson {
  sub: string;
  email?: string;
  via: string;
}

/** The OS account a process using the store runs as (Ctx.user). */
export interface OsAccount {
  name: string;
  uid: number;
}

/** What of a request the rules read. */
export interface DecidedRequest {
  id: string;
  requester: ApprovalPerson;
  requester_os?: OsAccount;
  approvals: ReadonlyArray<ApprovalPerson & { os?: OsAccount }>;
}

/**
 * One person: the same subject (whatever issuer: a subject shared by two issuers counts as one person, which
 * refuses more, never less) or the same e-mail, case-insensitively.
 */
export function samePerson(a: ApprovalPerson, b: ApprovalPerson): boolean {
  return a.sub === b.sub || (a.email !== undefined && a.email.toLowerCase() === b.email?.toLowerCase());
}

export function sameAccount(a: OsAccount | undefined, b: OsAccount | undefined): boolean {
  return a !== undefined && b !== undefined && a.uid === b.uid && a.name === b.name;
}

const past = (verb: 'approve' | 'deny') => (verb === 'approve' ? 'approved' : 'denied');

/**
 * Why `decider`, acting from OS account `mine`, may not approve or deny `req` for separation of duties, or
 * undefined when nothing here refuses it (the approver lists are checked apart):
 * - a workload never decides;
 * - the requester never decides their own request (same person, {@link samePerson});
 * - a person's request is not decided from the OS account it was filed from, whatever login that account holds
 *   (the requester's own terminal, another alias);
 * - a workload's request is not decided by the local OS account (`via: local`) of the process that filed it:
 *   that account is the CI runner's, so the job would approve its own statement. A person logged in there (OIDC)
 *   is someone else and may. Without both accounts known, a local decider is refused (fail closed);
 * - with several approvals needed, one OS account counts once.
 */
export function separationRefusal(req: DecidedRequest, decider: PolicyIdentity, mine: OsAccount | undefined, verb: 'approve' | 'deny'): string | undefined {
  if (decider.via === 'workload') return `a workload identity (${decider.sub}) cannot ${verb} requests`;
  const who = req.requester.email ?? req.requester.sub;
  if (samePerson({ sub: decider.sub, ...(decider.email ? { email: decider.email } : {}), via: decider.via }, req.requester)) {
    return `${decider.sub} filed request ${req.id} and cannot ${verb} it (separation of duties, PCI DSS 7.2.3)`;
  }
  const theirs = req.requester_os;
  if (req.requester.via !== 'workload' && sameAccount(mine, theirs)) {
    return `${req.id} was filed from this OS account (${mine!.name}) by ${who}; it cannot be ${past(verb)} from the same account, whatever login it holds `
      + `(separation of duties, PCI DSS 7.2.3): the approver runs pcigate ${verb} from their own account`;
  }
  if (req.requester.via === 'workload' && decider.via === 'local' && (!mine || !theirs || sameAccount(mine, theirs))) {
    const where = mine && theirs ? `the OS account (${mine.name}) that runs the job's pcigate` : 'an OS account pcigate cannot tell apart from the one that runs the job\'s pcigate';
    return `${req.id} was filed by the workload ${who} from ${where}; that account cannot ${verb} it as a local identity: `
      + `the job would decide its own request (separation of duties, PCI DSS 7.2.3). An approver logs in (pcigate login) or runs pcigate ${verb} from their own OS account`;
  }
  const before = verb === 'approve' && mine ? req.approvals.find((a) => sameAccount(a.os, mine)) : undefined;
  if (before) {
    return `${req.id} was already approved from this OS account (${mine!.name}) by ${before.email ?? before.sub}; `
      + 'another approval must come from another person\'s account (separation of duties, PCI DSS 7.2.3)';
  }
  return undefined;
}

/**
 * PCI DSS 7.2.5 (system and application accounts get least privilege), as far as pcigate sees it: the accounts
 * pcigate itself uses on the targets — a Postgres connection's database user, an SSH connection's login — from
 * the session records of the period. A database user the server reported as a superuser (session.end
 * `upstream_superuser`, src/broker/pg-broker.ts) or an SSH login as root is an exception: through it a
 * statement granted as `ddl` or `function`, or any command, can do anything on the target
 * (docs/policy-server-secrets.md). Pure: a function of the EvidenceInput.
 */
import type { AuditRecord } from '../../recorder/types.js';
import { count, day, detailOf } from './check-support.js';
import { csvFile } from './csv.js';
import type { ArtifactDraft, EvidenceInput, ProcedureResult } from './types.js';

export const SERVICE_ACCOUNTS_CSV = 'req7/service-accounts.csv';

interface Account { conn: string; kind: string; name: string; sessions: number; superuser: number; unknown: number; first: string; last: string }

/** What a session's end says of its account's power on the target. */
function power(r: AuditRecord, kind: string, name: string): 'superuser' | 'plain' | 'unknown' {
  if (kind === 'ssh') return name === 'root' ? 'superuser' : 'plain';
  const v = detailOf(r).upstream_superuser;
  return v === true ? 'superuser' : v === false ? 'plain' : 'unknown';
}

/** 7.2.5: the inventory of the accounts pcigate uses on its targets, and which of them are all-powerful there. */
export function serviceAccountProcedure(input: EvidenceInput): { procedure: ProcedureResult; artifact: ArtifactDraft } {
  const accounts = new Map<string, Account>();
  for (const { record: r } of input.inPeriod) {
    if (r.type !== 'session.end' || !r.account || !r.target?.conn) continue;
    const { kind, name } = r.account;
    const key = `${r.target.conn}\u0000${kind}\u0000${name}`;
    let a = accounts.get(key);
    if (!a) { a = { conn: r.target.conn, kind, name, sessions: 0, superuser: 0, unknown: 0, first: r.ts, last: r.ts }; accounts.set(key, a); }
    a.sessions++;
    a.last = r.ts;
    const p = power(r, kind, name);
    if (p === 'superuser') a.superuser++;
    if (p === 'unknown') a.unknown++;
  }
  const list = [...accounts.values()].sort((x, y) => (x.conn < y.conn ? -1 : x.conn > y.conn ? 1 : x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
  const powerful = list.filter((a) => a.superuser > 0);
  const unknown = list.filter((a) => a.unknown > 0);
  const artifact: ArtifactDraft = {
    path: SERVICE_ACCOUNTS_CSV,
    bytes: csvFile(['connection', 'kind', 'account', 'sessions', 'sessions_as_superuser', 'sessions_not_reported', 'first_use', 'last_use'],
      list.map((a) => [a.conn, a.kind, a.name, String(a.sessions), String(a.superuser), String(a.unknown), a.first, a.last])),
    mediaType: 'text/csv',
    description: 'Accounts pcigate uses on its targets in the period: per connection, the database user or SSH login, sessions, and how many ran as a superuser (Postgres is_superuser, or root)',
    procedures: ['7.2.5'],
    method: 'EXAMINE',
  };
  const named = (xs: Account[]) => xs.map((a) => `${a.name}@${a.conn}`).join(', ');
  return {
    artifact,
    procedure: {
      id: '7.2.5',
      title: 'System and application accounts have least privilege',
      asks: 'System and application accounts, and their access privileges, are assigned and managed with the least privileges needed for the system or application to work.',
      checked: 'Every session.end of the period: the account pcigate used on the target, and whether the server reported it a superuser (Postgres is_superuser) or the SSH login is root.',
      // Accounts the server did not report on are for the assessor to look at: no evidence either way.
      status: powerful.length > 0 ? 'exception' : list.length === 0 || unknown.length > 0 ? 'manual' : 'evidence',
      result: list.length === 0
        ? `No sessions through pcigate from ${day(input.period.since)} to ${day(input.period.until)}; nothing to examine.`
        : `${count(list.length, 'account')} used on ${count(new Set(list.map((a) => a.conn)).size, 'connection')}; `
          + (powerful.length ? `all-powerful on the target: ${named(powerful)} (a statement granted as ddl or function, or any command, can do everything there)` : 'none a superuser or root')
          + (unknown.length ? `; not reported by the server (a pooler, or records from before pcigate recorded it): ${named(unknown)}` : '') + '.',
      figures: { accounts: list.length, superuser_accounts: powerful.length, unreported_accounts: unknown.length },
      evidence: [SERVICE_ACCOUNTS_CSV],
      limits: 'A role that is no superuser may still hold more than the connection\'s users need (table grants, role memberships, pg_read_server_files …): the assessor examines its grants on the server. The targeted risk analysis and periodic review of 7.2.5.1 are the entity\'s.',
    },
  };
}

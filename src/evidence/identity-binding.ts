/**
 * The 8.2.1 / 8.2.2 checks of requirement 8 (checks-8.ts): every session bound to an individual identity
 * (`session.start` actor), and the shared database/OS accounts (`account`) mapped to distinct `actor.sub`s. Pure.
 */
import type { Actor, AuditRecord } from '../../recorder/types.js';
import { actorKey, byText, cellList, count } from './check-support.js';
import { csvFile } from './csv.js';
import type { ArtifactDraft, EvidenceInput, ProcedureResult } from './types.js';

const IDENTITIES_CSV = 'req8/session-identities.csv';
const SHARED_CSV = 'req8/shared-accounts.csv';

/**
 * Names that identify a role or a shared account rather than a person: a session under one of them is not
 * bound to an individual (8.2.1). Compared with the subject and with the local part of an e-mail-like one.
 */
export const GENERIC_NAMES: readonly string[] = [
  'admin', 'administrator', 'root', 'postgres', 'dba', 'sa', 'shared', 'service', 'svc', 'test', 'guest', 'user',
  'operator', 'oracle', 'ubuntu', 'ec2-user', 'support', 'app', 'deploy', 'readonly', 'default', 'anonymous', 'nobody',
];

function isGeneric(sub: string): boolean {
  const s = sub.toLowerCase();
  return GENERIC_NAMES.includes(s) || GENERIC_NAMES.includes(s.split('@')[0]!);
}

/** The successful session.start records of the period (a refused start is not a session). */
export const sessionStarts = (input: EvidenceInput): AuditRecord[] =>
  input.inPeriod.map((r) => r.record).filter((r) => r.type === 'session.start' && r.outcome === 'success');

/**
 * PCI DSS v4.0.1 8.2.1 (a unique ID per user) and 8.2.2 (shared accounts only by exception, every action
 * attributable): the actor of every session, and each database/OS account mapped to the people who used it.
 */
export function identityProcedures(input: EvidenceInput): { procedures: ProcedureResult[]; artifacts: ArtifactDraft[] } {
  const starts = sessionStarts(input);
  const unbound = starts.filter((r) => !r.actor?.sub);
  const generic = starts.filter((r) => r.actor?.sub && isGeneric(r.actor.sub));
  const via: Record<string, number> = { oidc: 0, workload: 0, local: 0, system: 0 };
  const perActor = new Map<string, { actor: Actor; sessions: number }>();
  for (const r of starts) {
    if (!r.actor?.sub) continue;
    via[r.actor.via] = (via[r.actor.via] ?? 0) + 1;
    const k = actorKey(r.actor);
    const e = perActor.get(k) ?? { actor: r.actor, sessions: 0 };
    e.sessions++;
    perActor.set(k, e);
  }
  const idRows = [...perActor.values()].sort((a, b) => byText(a.actor.sub, b.actor.sub) || byText(a.actor.via, b.actor.via)).map((e) => [
    e.actor.sub, e.actor.email ?? '', e.actor.idp ?? '', e.actor.via, String(e.sessions), isGeneric(e.actor.sub) ? 'yes' : 'no',
  ]);
  if (unbound.length) idRows.push(['', '', '', '', String(unbound.length), 'no identity recorded']);
  const accounts = new Map<string, { kind: string; name: string; conns: Set<string>; people: Set<string>; sessions: number; unbound: number }>();
  for (const r of starts) {
    if (!r.account) continue;
    const k = `${r.account.kind} ${r.account.name} ${r.target?.conn ?? ''}`;
    const a = accounts.get(k) ?? { kind: r.account.kind, name: r.account.name, conns: new Set<string>(), people: new Set<string>(), sessions: 0, unbound: 0 };
    a.sessions++;
    if (r.target?.conn) a.conns.add(r.target.conn);
    if (r.actor?.sub) a.people.add(r.actor.email ? `${r.actor.sub} (${r.actor.email})` : r.actor.sub);
    else a.unbound++;
    accounts.set(k, a);
  }
  const accountRows = [...accounts.values()].sort((a, b) => byText(a.kind, b.kind) || byText(a.name, b.name) || byText(cellList(a.conns), cellList(b.conns)));
  const shared = accountRows.filter((a) => a.people.size > 1);
  const accountsUnbound = accountRows.reduce((n, a) => n + a.unbound, 0);
  const artifacts: ArtifactDraft[] = [
    {
      path: IDENTITIES_CSV,
      bytes: csvFile(['sub', 'email', 'idp', 'via', 'sessions', 'generic_name'], idRows),
      mediaType: 'text/csv',
      description: 'Identities that started sessions through pcigate in the period, with how each was established (oidc, workload, local)',
      procedures: ['8.2.1'],
      method: 'TEST',
    },
    {
      path: SHARED_CSV,
      bytes: csvFile(['account_kind', 'account', 'connections', 'people', 'identities', 'sessions', 'sessions_without_identity'],
        accountRows.map((a) => [a.kind, a.name, cellList(a.conns), String(a.people.size), cellList(a.people, '; '), String(a.sessions), String(a.unbound)])),
      mediaType: 'text/csv',
      description: 'Database and OS accounts used through pcigate in the period, each mapped to the individual identities that used it',
      procedures: ['8.2.2'],
      method: 'TEST',
    },
  ];
  const viaText = Object.entries(via).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
  const genericNames = cellList(generic.map((r) => r.actor!.sub), ', ');
  return {
    artifacts,
    procedures: [
      {
        id: '8.2.1',
        title: 'Every user has a unique ID',
        asks: 'All users get a unique ID before they are allowed access to system components or cardholder data.',
        checked: `Every successful session.start record of the period: an actor subject is present and is not a role or shared name (${GENERIC_NAMES.slice(0, 6).join(', ')}, …).`,
        status: unbound.length + generic.length > 0 ? 'exception' : starts.length === 0 ? 'manual' : 'evidence',
        result: starts.length === 0
          ? 'No sessions in the period; nothing to test.'
          : `${count(starts.length, 'session')} by ${count(perActor.size, 'identity', 'identities')} (${viaText}); ${unbound.length ? `${count(unbound.length, 'session')} without an identity; ` : ''}${generic.length ? `${count(generic.length, 'session')} under generic names (${genericNames})` : 'every session is bound to an individual identity'}.`,
        figures: { sessions: starts.length, identities: perActor.size, without_identity: unbound.length, generic_identities: generic.length, via_oidc: via.oidc ?? 0, via_workload: via.workload ?? 0, via_local: via.local ?? 0 },
        evidence: [IDENTITIES_CSV],
        limits: 'Uniqueness across the organisation is the IdP\'s: pcigate records the subject the IdP (or the local OS account, via local) asserts. Local OS accounts are individual only if the host gives each person their own.',
      },
      {
        id: '8.2.2',
        title: 'Shared accounts are attributable to individuals',
        asks: 'Group, shared or generic accounts are used only when necessary, by exception, and every action is attributable to an individual.',
        checked: 'The account (database user or OS user) and actor of every successful session.start of the period; every statement and command record of a session carries the same actor.',
        status: accountsUnbound > 0 ? 'exception' : starts.length === 0 ? 'manual' : 'evidence',
        result: starts.length === 0
          ? 'No sessions in the period; nothing to test.'
          : `${count(accountRows.length, 'account')} used; ${count(shared.length, 'account')} shared by several people (${shared.map((a) => `${a.name}: ${a.people.size}`).join(', ') || 'none'}); ${accountsUnbound ? `${count(accountsUnbound, 'session')} on an account without an identity` : 'every session on an account is attributed to one identity'}.`,
        figures: { accounts: accountRows.length, shared_accounts: shared.length, sessions_without_identity: accountsUnbound },
        evidence: [SHARED_CSV],
        limits: 'The justification, approval and time limit of each shared account are documents the entity keeps; use of the accounts outside pcigate is not seen.',
      },
    ],
  };
}

/**
 * The server-secrets rule (server-secrets.ts) on top of evaluate(): a statement that reads a superuser-only
 * catalog or setting runs only under a role whose `tables.allow` names each such relation exactly
 * (`pg_catalog.pg_authid` or `pg_authid`; `pg_catalog.pg_settings` for the settings), whatever its wildcard
 * patterns match. The role must allow the statement otherwise as well: among the identity's roles, only those
 * that name every secret it reads are asked (the most permissive of them wins, as in evaluate).
 */
import type { PolicyConfig } from '../config/sections/policy.js';
import type { Classification, StatementInfo } from './classify.js';
import { connectionPolicy, evaluate } from './evaluate.js';
import type { ConnectionFacts, Decision, PolicyIdentity, SessionView, StatementVerdict } from './evaluate.js';
import type { SecretRead } from './server-secrets.js';

const SEVERITY = { allow: 0, hold: 1, deny: 2 } as const;

/** The secrets `st` reads, with those of the prepared statement it EXECUTEs and the bound portal it FETCHes. */
function secretsOf(st: StatementInfo, session: SessionView): SecretRead[] {
  const cursor = st.fetch !== undefined ? session.cursors?.get(st.fetch) : undefined;
  const runs = [st, ...[st.execute, st.executeInto].map((name) => (name === undefined ? undefined : session.prepared.get(name))), cursor?.declare?.bound ? cursor : undefined];
  const out = new Map<string, SecretRead>();
  for (const s of runs.flatMap((x) => x?.secrets ?? [])) out.set(s.what, s);
  return [...out.values()];
}

/** Whether an allow list names `relation` (`schema.x`) exactly, qualified or not. */
function namesExactly(allow: readonly string[], relation: string): boolean {
  return allow.includes(relation) || allow.includes(relation.slice(relation.indexOf('.') + 1));
}

/** `policy` with connection `key` keeping only the grants of `roles`. */
function onlyRoles(policy: PolicyConfig, key: string, roles: readonly string[]): PolicyConfig {
  const cp = policy.connections[key]!;
  return { ...policy, connections: { ...policy.connections, [key]: { ...cp, roles: Object.fromEntries(roles.map((r) => [r, cp.roles[r]!])) } } };
}

/** evaluate() with the server-secrets rule. Pure, as evaluate is. */
export function evaluateWithSecrets(policy: PolicyConfig, identity: PolicyIdentity, conn: ConnectionFacts, c: Classification, session: SessionView): Decision {
  const d = evaluate(policy, identity, conn, c, session);
  const secrets = c.statements.map((st) => secretsOf(st, session));
  // No statement verdicts: refused before any statement was judged (no grant, MFA, a parse error, a misreading SET).
  if (d.statements.length !== c.statements.length || secrets.every((s) => s.length === 0)) return d;
  const { key, cp } = connectionPolicy(policy, conn.name)!;
  const roles = d.roles.filter((r) => cp.roles[r] !== undefined);
  const among = new Map<string, Decision>();
  const statements = d.statements.map((v, i): StatementVerdict => {
    const read = secrets[i]!;
    const named = roles.filter((r) => read.every((s) => namesExactly(cp.roles[r]!.tables.allow, s.relation)));
    // Refused already (by every role): its own reason stands.
    if (named.length === roles.length || v.action === 'deny') return v;
    if (named.length === 0) {
      const role = v.role ?? roles[0]!;
      const missing = read.find((s) => !namesExactly(cp.roles[role]!.tables.allow, s.relation))!;
      return {
        ...v, action: 'deny', role, rule: `policy.connections.${key}.roles.${role}.tables.allow`,
        reason: `${missing.what}: only an allow pattern naming ${missing.relation} exactly grants that, no wildcard does`,
      };
    }
    // Decided again with the roles that name every secret it reads: the same string, so the same session view.
    const k = JSON.stringify(named);
    let sub = among.get(k);
    if (!sub) { sub = evaluate(onlyRoles(policy, key, named), identity, conn, c, session); among.set(k, sub); }
    return sub.statements[i]!;
  });
  const worst = statements.reduce((a, b) => (SEVERITY[b.action] > SEVERITY[a.action] ? b : a));
  const n = statements.length > 1 ? `statement ${worst.index + 1} of ${statements.length}: ` : '';
  return { ...d, action: worst.action, rule: worst.rule, reason: `${n}${worst.reason}`, statements };
}

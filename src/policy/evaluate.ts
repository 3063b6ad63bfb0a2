/**
 * Rule evaluation: a pure function from (policy, identity, connection, classified SQL, session view) to a
 * decision — allow, deny or hold for approval — naming the rule behind it. PCI DSS 7.2.6: every user query
 * against cardholder data passes a programmatic, role-based gate; 7.2.3: privileges beyond a role's are
 * approved per statement. Within one role the strictest verdict of any check wins; across the identity's
 * roles the most permissive role wins (roles are unions of grants); across the statements of one string
 * the strictest statement wins. Anything unknown is denied (fail closed).
 */
import type { ConnectionPolicy, PolicyConfig, RoleGrant } from '../config/sections/policy.js';
import { maskText } from '../mask/pan-masker.js';
import type { Classification, StatementInfo } from './classify.js';
import { columnDenied, DEFAULT_SEARCH_PATH, judgingPaths, pathGains, pathNamesUser, PathList, roleSet, searchPathSchemas, tableAllowed, tableMatchesAny } from './name-match.js';
import { parseErrorRedacted } from './redact-statement-secrets.js';
import type { StatementKind } from './statement-kinds.js';
import { strictestFirst } from './statement-kinds.js';
import { allowedAt, describeWindow } from './time-window.js';

export type Action = 'allow' | 'deny' | 'hold';
const SEVERITY: Record<Action, number> = { allow: 0, hold: 1, deny: 2 };

/** The parts of an identity (src/identity Identity) that policy reads. */
export interface PolicyIdentity {
  sub: string;
  email?: string;
  groups?: string[];
  /** A second factor was used (identity area: amr checked against identity.mfa_amr). */
  mfa?: boolean;
  via: string;
}

/** What policy needs from the connection's own config entry (sections/connections.ts). */
export interface ConnectionFacts {
  name: string;
  require_mfa?: boolean;
  approvers?: string[];
}

/** Session state policy reads: search_path (table resolution), prepared statements (EXECUTE), cursors (FETCH). */
export interface SessionView {
  searchPath: readonly string[];
  /**
   * Every schema an unqualified name may resolve in (default: `searchPath`): policy cannot see whether a
   * SET search_path took effect (SET LOCAL outside a block does nothing, a rollback or an error in its
   * string undoes it), so a session that set one may still have any path it had before.
   */
  resolveIn?: readonly string[];
  /**
   * Schemas a search_path the session may have names but the server skips so far (missing, or not usable):
   * a statement earlier in the string that may make one resolve (StatementInfo.pathChange) puts it in
   * `resolveIn` for the statements after it.
   */
  unresolvedPath?: readonly string[];
  /** The upstream database user, for `$user` in a search_path set in the statement's own string. */
  dbUser?: string;
  /**
   * Every role current_user may be (default: `dbUser`): SET ROLE and SET SESSION AUTHORIZATION change it,
   * and with it the schema `"$user"` in the path names. Policy cannot see whether such a SET took effect or
   * was rolled back, so it keeps them all.
   */
  users?: readonly string[];
  /** Whether a search_path the session may have names `"$user"`: a role set from now on adds its schema. */
  pathNamesUser?: boolean;
  prepared: ReadonlyMap<string, StatementInfo>;
  /** Cursors policy saw declared and allowed, by name (absent: none). */
  cursors?: ReadonlyMap<string, StatementInfo>;
}

export interface Verdict {
  action: Action;
  /** Config path of the rule that decided, e.g. `policy.connections.prod-db.roles.support.tables.deny`. */
  rule: string;
  reason: string;
}

export interface StatementVerdict extends Verdict {
  index: number;
  node: string;
  kind: StatementKind;
  classes: StatementKind[];
  /** The role whose grant decided (the most permissive matching role). */
  role?: string;
}

export interface Decision extends Verdict {
  statements: StatementVerdict[];
  roles: string[];
  /**
   * The statement may run code policy does not read (a DO block, CALL, a function that is not a known-safe
   * built-in, a trigger, a DEFAULT, a view: every statement but SET, SHOW, BEGIN and the like): it may change
   * session settings unseen, so the proxy decides no later text that could read otherwise until the server
   * has answered it (Statement.settlesFirst; policy-engine.ts mayChangeSettingsUnseen).
   */
  settles?: true;
}

function stricter<T extends Verdict>(a: T, b: T): T {
  return SEVERITY[b.action] > SEVERITY[a.action] ? b : a;
}

/** Roles of the policy held by `identity`: group membership or subject (sub or email) listed. */
export function matchRoles(policy: PolicyConfig, identity: PolicyIdentity): string[] {
  const groups = new Set(identity.groups ?? []);
  const out: string[] = [];
  for (const [name, b] of Object.entries(policy.roles)) {
    if (b.groups.some((g) => groups.has(g)) || b.subjects.includes(identity.sub) || (identity.email !== undefined && b.subjects.includes(identity.email))) out.push(name);
  }
  return out.sort();
}

/** The connection's policy entry, or the `*` entry; undefined means no policy (deny everything). */
export function connectionPolicy(policy: PolicyConfig, connection: string): { key: string; cp: ConnectionPolicy } | undefined {
  const own = policy.connections[connection];
  if (own) return { key: connection, cp: own };
  const star = policy.connections['*'];
  return star ? { key: '*', cp: star } : undefined;
}

/**
 * The planner statistics catalog and its views (catalogs.sgml): they hold most common values and histogram
 * bounds sampled from every table's columns, so reading them reads table data.
 */
const STATISTICS_RELATIONS = new Set(['pg_statistic', 'pg_stats', 'pg_stats_ext', 'pg_stats_ext_exprs', 'pg_statistic_ext_data']);

/** Whether `t` names a statistics relation (unqualified, or in pg_catalog). */
function isStatisticsRelation(t: string): boolean {
  const i = t.lastIndexOf('.');
  return (i < 0 || t.slice(0, i) === 'pg_catalog') && STATISTICS_RELATIONS.has(t.slice(i + 1));
}

function fnAllowed(fn: string, allow: readonly string[]): boolean {
  return allow.some((p) => p === fn || (p.endsWith('*') && fn.startsWith(p.slice(0, -1))));
}

/** One statement under one role's grant. */
/**
 * How many roles a session may have set (SessionView.users: every one is kept, and each names a schema in a
 * search_path of "$user"): a string of n SET ROLEs then n SET search_path = "$user" made each path n schemas,
 * n² in all (8,000 of each, 335 KB: 22 s of the event loop every session shares). A SET ROLE to one more is denied.
 */
export const MAX_SESSION_ROLES = 256;

export function judgeStatement(grant: RoleGrant, base: string, st: StatementInfo, session: SessionView): Verdict {
  let target = st;
  if (st.execute !== undefined) {
    const prepared = session.prepared.get(st.execute);
    // EXECUTE of a statement prepared before policy saw it (or never) cannot be classified.
    target = prepared
      ? { ...prepared, userFunctions: [...prepared.userFunctions, ...st.userFunctions] }
      : { ...st, classes: ['unknown'], kind: 'unknown' };
  }
  if (st.executeInto !== undefined) {
    // CREATE TABLE … AS EXECUTE runs the prepared statement: decided as both (one policy never saw
    // prepared, such as a protocol Parse that was never executed, is unclassifiable).
    const prepared = session.prepared.get(st.executeInto);
    target = prepared
      ? {
        ...st, classes: strictestFirst([...st.classes, ...prepared.classes]), reads: [...st.reads, ...prepared.reads], writes: [...st.writes, ...prepared.writes],
        columns: [...st.columns, ...prepared.columns], userFunctions: [...st.userFunctions, ...prepared.userFunctions],
        writeWithoutWhere: st.writeWithoutWhere || prepared.writeWithoutWhere,
      }
      : { ...st, classes: ['unknown'], kind: 'unknown' };
  }
  if (st.fetch !== undefined) {
    // FETCH reads what the cursor's query reads. A cursor's DECLARE was decided (allowed, or approved) when
    // it ran, and its query was planned then, so a FETCH of it is a read and nothing more: deciding the query
    // again would ask for an approval per FETCH. A portal a protocol Bind made was never decided: a FETCH of
    // it is decided as the statement bound into it; one policy does not know cannot be classified.
    const cursor = session.cursors?.get(st.fetch);
    target = !cursor ? { ...st, node: 'FetchStmt of a cursor policy did not see declared', classes: ['unknown'], kind: 'unknown' }
      : cursor.declare?.bound ? { ...cursor, userFunctions: [...cursor.userFunctions, ...st.userFunctions] } : st;
  }
  const classes = new Set<StatementKind>(target.classes);
  const fns = target.userFunctions.filter((f) => !fnAllowed(f, grant.functions.allow));
  if (fns.length > 0) classes.add('function');
  const need = new Set<string>(grant.require_approval);
  let v: Verdict = { action: 'allow', rule: `${base}.classes`, reason: `role may run ${[...classes].join(', ') || 'empty'} statements` };
  const hold = (cond: string, reason: string) => { v = stricter(v, { action: 'hold', rule: `${base}.require_approval.${cond}`, reason }); };
  const deny = (rule: string, reason: string) => { v = stricter(v, { action: 'deny', rule: `${base}.${rule}`, reason }); };

  for (const c of strictestFirst(classes)) {
    // (a statement of another class that calls a function: said as a call, not as "calls f (function) statements")
    const calls = c === 'function' && fns.length > 0 && !target.classes.includes('function') ? fns.join(', ') : undefined;
    if (c === 'unknown') {
      if (need.has('unclassifiable')) hold('unclassifiable', `unclassifiable statement (${target.node}) needs approval`);
      else deny('classes', `unclassifiable statement (${target.node}) is denied`);
    } else if (need.has(c)) hold(c, calls ? `a call to ${calls} (class function) needs approval` : `${c} needs approval`);
    else if (!grant.classes.includes(c)) deny('classes', calls ? `role may not call ${calls} (class function)` : `role may not run ${c} statements`);
  }
  if (target.writeWithoutWhere && need.has('write_without_where')) hold('write_without_where', 'write without a WHERE clause needs approval');
  const role = roleSet(st.setsRole);
  if (role !== undefined) {
    const users = session.users ?? (session.dbUser !== undefined ? [session.dbUser] : []);
    if (users.length >= MAX_SESSION_ROLES && !users.includes(role)) {
      v = stricter(v, { action: 'deny', rule: 'pcigate.session_roles', reason: `pcigate follows at most ${MAX_SESSION_ROLES} roles a session may be (SET ROLE, SET SESSION AUTHORIZATION: "$user" in search_path names each) and ${role} would be one more; start a new session` });
    }
  }

  const tables = [...new Set([...target.reads, ...target.writes])];
  // Where unqualified names are looked up, as the reason for a table outside the allow list gives it: made for
  // the first such table only (per table, a path of n schemas and n tables cost n²: 8000 of each took 3.7 s).
  let lookedUp: string | undefined;
  const lookup = () => {
    if (lookedUp !== undefined) return lookedUp;
    const path = (session.resolveIn ?? session.searchPath).join(', ');
    const which = path === session.searchPath.join(', ') ? 'search_path' : 'the schemas of every search_path the session set';
    return (lookedUp = `${which} ${path}`);
  };
  for (const t of tables) {
    const denied = tableMatchesAny(t, grant.tables.deny);
    if (denied !== undefined) deny('tables.deny', `table ${t} matches deny pattern ${denied}`);
    else if (!tableAllowed(t, grant.tables.allow, session.resolveIn ?? session.searchPath)) {
      const implicit = !t.includes('.') && t.startsWith('pg_') ? 'pg_catalog, then ' : '';
      // (psql's \d and \l, and every client's schema browser, read the catalogs: say what allows them)
      const catalog = /^(?:pg_catalog|information_schema)\./.test(t) || implicit ? `; catalog reads (psql's \\d) need ${t.startsWith('information_schema.') ? 'information_schema' : 'pg_catalog'}.* in tables.allow` : '';
      deny('tables.allow', `table ${t} is not in the allow list (looked up in ${implicit}${lookup()})${catalog}`);
    }
    const held = tableMatchesAny(t, grant.approval_tables);
    if (held !== undefined) v = stricter(v, { action: 'hold', rule: `${base}.approval_tables`, reason: `access to ${t} (${held}) needs approval` });
  }
  // What may reach every column of every table: denied ones cannot be told apart, so a role with any table
  // or column deny, or an allow list short of everything, may not run it (approval tables: held).
  const everyTable = (what: string) => {
    if (grant.columns.deny.length > 0) deny('columns.deny', `${what}, denied columns included`);
    if (grant.tables.deny.length > 0) deny('tables.deny', `${what}, denied tables included`);
    if (!grant.tables.allow.some((p) => p === '*' || p === '*.*')) deny('tables.allow', `${what}, tables outside the allow list included`);
    if (grant.approval_tables.length > 0) v = stricter(v, { action: 'hold', rule: `${base}.approval_tables`, reason: `${what}, tables that need approval included` });
  };
  for (const t of tables.filter(isStatisticsRelation)) everyTable(`${t} shows sampled values (most_common_vals, histogram_bounds) of every table's columns`);
  if (target.opaqueBody !== undefined) everyTable(`the ${target.opaqueBody} body of this ${target.node === 'DoStmt' ? 'DO block' : 'function'} is code policy does not read, which may reach any table`);
  const col = columnDenied(target.columns, tables, grant.columns.deny);
  if (col) deny('columns.deny', `column reference ${col.ref} matches deny pattern ${col.pattern}${col.ref.endsWith('*') ? ' (list the columns instead of *)' : ''}`);
  return v;
}

/**
 * Decides every statement of `c` for `identity` on `conn`. Pure: the same inputs give the same decision.
 * Session limits (duration, idle, hours) are checked separately by {@link checkSessionLimits}.
 */
export function evaluate(policy: PolicyConfig, identity: PolicyIdentity, conn: ConnectionFacts, c: Classification, session: SessionView): Decision {
  const roles = matchRoles(policy, identity);
  const gate = gateIdentity(policy, identity, conn, roles);
  if (gate) return { ...gate, statements: [], roles };
  if (c.error) {
    // The parser's message quotes the statement near where it stopped (`syntax error at or near "'hunter2'"`): what
    // the statement's record hides (a password) is taken out of it, for the client, the log and an approver alike.
    return {
      action: 'deny', rule: 'parse', roles, statements: [],
      reason: `SQL does not parse (${maskText(parseErrorRedacted(c.sql, c.error.message, c.error.cursor))}${c.error.cursor >= 0 ? ` at position ${c.error.cursor}` : ''}); unparsable statements are denied`,
    };
  }
  if (c.statements.length === 0) return { action: 'allow', rule: 'empty', reason: 'no statements', statements: [], roles };
  // Not a grant any role can hold: after it, policy would no longer read statements as the server does.
  const misread = c.statements.find((st) => st.misreads !== undefined);
  if (misread) return { action: 'deny', rule: 'sql_text', reason: `${misread.misreads}; refused`, statements: [], roles };
  const { key, cp } = connectionPolicy(policy, conn.name)!;
  // Cursors declared or closed earlier in the same string count for a FETCH later in it. (A plain object:
  // spreading a PolicySession would drop its getters.) Its lists and cursors stay the session's until a
  // statement changes them, are then copied once and changed in place: a copy for every statement made a
  // string of n SETs or DECLAREs cost n² (8000 SET search_path, 190 KB, took 11 s). Each statement is judged
  // before the next one changes them, and no verdict keeps them.
  const view: { -readonly [K in keyof SessionView]: SessionView[K] } = {
    searchPath: session.searchPath, prepared: session.prepared,
    ...(session.resolveIn ? { resolveIn: session.resolveIn } : {}), ...(session.unresolvedPath ? { unresolvedPath: session.unresolvedPath } : {}),
    ...(session.dbUser !== undefined ? { dbUser: session.dbUser } : {}), ...(session.users ? { users: session.users } : {}),
    ...(session.pathNamesUser ? { pathNamesUser: true } : {}), ...(session.cursors ? { cursors: session.cursors } : {}),
  };
  let resolveIn: PathList | undefined;
  let users: PathList | undefined;
  let cursors: Map<string, StatementInfo> | undefined;
  const statements = judgingPaths(() => c.statements.map((st, index): StatementVerdict => {
    let best: (Verdict & { role?: string }) | undefined;
    for (const role of roles) {
      const grant = cp.roles[role];
      if (!grant) continue;
      const v = { ...judgeStatement(grant, `policy.connections.${key}.roles.${role}`, st, view), role };
      if (!best || SEVERITY[v.action] < SEVERITY[best.action]) best = v;
    }
    // A SET search_path earlier in the string holds for the statements after it (they run in its transaction).
    if (st.setting && (st.setting.name === 'search_path' || st.setting.name === undefined)) {
      const set = st.setting.name === undefined ? DEFAULT_SEARCH_PATH : searchPathSchemas(st.setting.value, view.users ?? view.dbUser);
      view.resolveIn = (resolveIn ??= new PathList(view.resolveIn ?? view.searchPath)).add(set);
      if (pathNamesUser(st.setting.value)) view.pathNamesUser = true;
    }
    // A role set earlier in the string is current_user for the statements after it: "$user" names it. One past
    // MAX_SESSION_ROLES is denied (judgeStatement), and so is the string: it is not followed.
    const role = roleSet(st.setsRole);
    if (role !== undefined && (view.users?.length ?? 0) < MAX_SESSION_ROLES) {
      view.users = (users ??= new PathList(view.users ?? (view.dbUser !== undefined ? [view.dbUser] : []))).add([role]);
      if (view.pathNamesUser) view.resolveIn = (resolveIn ??= new PathList(view.resolveIn ?? view.searchPath)).add([role]);
    }
    if (st.pathChange && view.unresolvedPath) {
      view.resolveIn = (resolveIn ??= new PathList(view.resolveIn ?? view.searchPath)).add(pathGains(st.pathChange, view.unresolvedPath));
    }
    if (st.declare || st.closeCursor !== undefined) {
      cursors ??= view.cursors = new Map(view.cursors);
      if (st.declare) cursors.set(st.declare.name, st);
      else if (st.closeCursor === '*') cursors.clear();
      else cursors.delete(st.closeCursor!);
    }
    return { index, node: st.node, kind: st.kind, classes: st.classes, ...best! };
  }));
  const worst = statements.reduce((a, b) => stricter(a, b));
  const n = statements.length > 1 ? `statement ${worst.index + 1} of ${statements.length}: ` : '';
  return { action: worst.action, rule: worst.rule, reason: `${n}${worst.reason}`, statements, roles };
}

/** Checks that hold for the identity regardless of the SQL: a policy exists, a role applies, MFA. */
export function gateIdentity(policy: PolicyConfig, identity: PolicyIdentity, conn: ConnectionFacts, roles: readonly string[]): Verdict | undefined {
  const found = connectionPolicy(policy, conn.name);
  if (!found) return { action: 'deny', rule: 'policy.connections', reason: `no policy for connection ${conn.name} (and no '*' entry): denied` };
  const { key, cp } = found;
  if ((conn.require_mfa || cp.require_mfa) && !identity.mfa) {
    return { action: 'deny', rule: cp.require_mfa ? `policy.connections.${key}.require_mfa` : `connections.${conn.name}.require_mfa`, reason: 'this connection requires multi-factor authentication (PCI DSS 8.4.2); log in again with a second factor' };
  }
  if (!roles.some((r) => cp.roles[r] !== undefined)) {
    return { action: 'deny', rule: `policy.connections.${key}.roles`, reason: `${identity.sub} holds no role with a grant on ${conn.name} (roles: ${roles.join(', ') || 'none'})` };
  }
  return undefined;
}


/** Session limits (PCI DSS 8.2.8 idle timeout, maximum duration, allowed hours) at time `now` (ms). */
export function checkSessionLimits(policy: PolicyConfig, connection: string, times: { startedAt: number; lastActivity: number }, now: number): Verdict | undefined {
  const found = connectionPolicy(policy, connection);
  if (!found) return undefined; // gateIdentity denies
  const { key, cp } = found;
  const base = `policy.connections.${key}.session`;
  if (now - times.startedAt > cp.session.max_duration) return { action: 'deny', rule: `${base}.max_duration`, reason: 'the session exceeded its maximum duration; connect again' };
  if (now - times.lastActivity > cp.session.idle_timeout) return { action: 'deny', rule: `${base}.idle_timeout`, reason: 'the session was idle too long (PCI DSS 8.2.8); connect again' };
  const h = cp.session.allowed_hours;
  if (h) {
    // One definition of the window for session start, running sessions and statements (time-window.ts).
    if (!allowedAt(h, now)) {
      return { action: 'deny', rule: `${base}.allowed_hours`, reason: `access is allowed ${describeWindow(h)} only` };
    }
  }
  return undefined;
}

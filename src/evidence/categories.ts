/**
 * Which audit records evidence which PCI DSS 10.2.1.1–10.2.1.7 event category. Statements are judged by what
 * the recorder wrote for them (src/broker/sql-record.ts: `detail.command` — the leading SQL word — `detail.kind`
 * and the masked `detail.sql`); only final `pg.query` records count, never their `pg.intent`, so a statement is
 * counted once. Access to cardholder data (10.2.1.1) is judged against the cardholder tables the configuration
 * names (masking rules and policy approval tables and column denials); without any, every query counts.
 */
import type { PcigateConfig } from '../config/schema.js';
import type { AuditRecord } from '../../recorder/types.js';
import { withoutStringTexts } from '../policy/literal-key.js';

export const CATEGORY_IDS = ['10.2.1.1', '10.2.1.2', '10.2.1.3', '10.2.1.4', '10.2.1.5', '10.2.1.6', '10.2.1.7'] as const;
export type CategoryId = (typeof CATEGORY_IDS)[number];

/**
 * A matcher for cardholder data: tables (`schema.table` or `table` patterns) and column names the configuration
 * masks or denies without naming a table (`pan`, `*card_number*`); `*` is a wildcard.
 */
export interface CardholderTables {
  patterns: string[];
  columns: string[];
  /** True when a table name (`cards`, `public.cards`) is a cardholder table. */
  matches(name: string): boolean;
  /** True when an identifier's last part (`c.pan` → `pan`) is a cardholder column. */
  matchesColumn(name: string): boolean;
}

const glob = (s: string) => s.split('*').map((x) => x.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^.]*');

function tableOf(column: string): string | undefined {
  const parts = column.split('.');
  if (parts.length === 3) return `${parts[0]}.${parts[1]}`;
  if (parts.length === 2) return parts[0];
  return undefined;
}

/** The cardholder tables the configuration names: masking rule columns, approval tables, denied columns. */
export function cardholderTables(config: PcigateConfig | undefined): CardholderTables {
  const set = new Set<string>();
  const cols = new Set<string>();
  const column = (c: string) => { const t = tableOf(c); if (t) set.add(t.toLowerCase()); else cols.add(c.toLowerCase()); };
  for (const rule of config?.masking.rules ?? []) rule.columns.forEach(column);
  for (const cp of Object.values(config?.policy.connections ?? {})) {
    for (const g of Object.values(cp.roles)) {
      for (const t of g.approval_tables) set.add(t.toLowerCase());
      g.columns.deny.forEach(column);
    }
  }
  const patterns = [...set].sort();
  const columns = [...cols].sort();
  // An unqualified pattern (`cards`) names that table in any schema.
  const res = patterns.map((p) => new RegExp(p.includes('.') ? `^${glob(p)}$` : `^(?:[^.]+\\.)?${glob(p)}$`));
  const colRes = columns.map((c) => new RegExp(`^${glob(c)}$`));
  return {
    patterns,
    columns,
    matchesColumn: (name) => {
      const last = name.toLowerCase().replace(/"/g, '').split('.').pop() ?? '';
      return colRes.some((r) => r.test(last));
    },
    matches: (name) => {
      const n = name.toLowerCase().replace(/"/g, '');
      // `cards` in SQL resolves through search_path; counted as the configured `<schema>.cards` too.
      return res.some((r, i) => r.test(n) || (!n.includes('.') && patterns[i]!.includes('.') && r.test(`${patterns[i]!.split('.')[0]}.${n}`)));
    },
  };
}

/** The SQL with leading comments, whitespace and parentheses removed (as sql-record.ts statementKind does). */
function head(sql: string): string {
  return sql.replace(/^(?:\s+|--[^\n]*\n?|\/\*[\s\S]*?\*\/|\()+/, '');
}

/** `create`/`alter`/`drop` and the object keyword (`table`, `role`, `function` …) of a DDL/DCL statement. */
export function objectVerb(sql: string): { verb: string; object: string } | undefined {
  const m = /^(create|alter|drop)\s+(?:or\s+replace\s+)?(?:(?:temp|temporary|unlogged|global|local|materialized|unique|trusted|procedural|default|foreign|recursive|constraint)\s+)*([a-z]+)/i.exec(head(sql));
  return m ? { verb: m[1]!.toLowerCase(), object: m[2]!.toLowerCase() } : undefined;
}

/** Identifiers (`name`, `schema.name`, quoted parts unquoted) a statement mentions, lowercased. */
function identifiers(sql: string): string[] {
  const noStrings = withoutStringTexts(sql);
  return [...noStrings.matchAll(/(?:"[^"]+"|[A-Za-z_][\w$]*)(?:\.(?:"[^"]+"|[A-Za-z_][\w$]*))?/g)].map((m) => m[0].replace(/"/g, '').toLowerCase());
}

const ROLE_OBJECTS = new Set(['role', 'user', 'group']);
const ADMIN_KINDS = new Set(['ddl', 'dcl', 'procedural', 'maintenance']);
const AUTH_SQLSTATES = new Set(['28000', '28P01', '42501']);
/** Shell commands that change accounts or credentials on a host reached over SSH. */
const SSH_CREDENTIAL = /\b(useradd|userdel|usermod|adduser|deluser|passwd|chpasswd|chage|groupadd|groupdel|gpasswd|visudo|sudoers|authorized_keys|ssh-copy-id)\b/;
/** Shell commands that create or delete system-level objects. */
const SSH_OBJECTS = /\b(systemctl\s+(enable|disable|mask)|crontab|mkfs|insmod|rmmod|modprobe)\b/;

function sshCommand(r: AuditRecord): string {
  const req = r.detail?.request;
  if (typeof req === 'string') return req;
  if (req && typeof req === 'object' && typeof (req as { command?: unknown }).command === 'string') return (req as { command: string }).command;
  return '';
}

/** The 10.2.1.x categories a record evidences (possibly none, possibly several). */
export function categoriesOf(r: AuditRecord, chd: CardholderTables): CategoryId[] {
  const out: CategoryId[] = [];
  // A held SSH command is written twice (pending, then the decision): count the decision only, as pg.query
  // is counted and never its pg.intent.
  if (r.type === 'ssh.exec' && r.outcome === 'pending') return out;
  const d = r.detail ?? {};
  const sql = typeof d.sql === 'string' ? d.sql : '';
  const command = typeof d.command === 'string' ? d.command.toLowerCase() : '';
  const kind = typeof d.kind === 'string' ? d.kind : '';
  const ov = r.type === 'pg.query' ? objectVerb(sql) : undefined;

  if (r.type === 'pg.query') {
    const objects = r.target?.objects;
    const ids = objects && objects.length > 0 ? objects : identifiers(sql);
    const touches = (chd.patterns.length === 0 && chd.columns.length === 0) ||
      ids.some((i) => chd.matches(i)) || (chd.columns.length > 0 && identifiers(sql).some((i) => chd.matchesColumn(i)));
    if (touches) out.push('10.2.1.1');
    if (ADMIN_KINDS.has(kind) || command === 'copy') out.push('10.2.1.2');
  }
  if (r.type === 'ssh.exec' || r.type === 'ssh.request' || r.type === 'exec.start' || r.type === 'key.rotate') out.push('10.2.1.2');
  if (r.type === 'verify.run' || r.type === 'audit.access' || r.type === 'evidence.export') out.push('10.2.1.3');
  const sqlstate = typeof d.sqlstate === 'string' ? d.sqlstate : '';
  // approval.tamper (outcome failure): a request file put back or renamed to pass as an approval pcigate did not
  // give, refused — an attempt at access that was not granted.
  if (r.type === 'auth.fail' || r.type === 'approval.tamper' || r.outcome === 'denied' || AUTH_SQLSTATES.has(sqlstate)) out.push('10.2.1.4');
  if ((ov && ROLE_OBJECTS.has(ov.object)) || command === 'grant' || command === 'revoke' || r.type === 'key.rotate' ||
    (r.type === 'ssh.exec' && SSH_CREDENTIAL.test(sshCommand(r)))) out.push('10.2.1.5');
  if (r.type === 'log.start' || r.type === 'log.stop' || r.type === 'segment.open' || r.type === 'log.recovered' || r.type === 'log.gap') out.push('10.2.1.6');
  if ((ov && ov.verb !== 'alter' && !ROLE_OBJECTS.has(ov.object)) || (r.type === 'ssh.exec' && SSH_OBJECTS.test(sshCommand(r)))) out.push('10.2.1.7');
  return out;
}

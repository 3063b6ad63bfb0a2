/**
 * The access-control model of a pcigate configuration as tables an assessor reads (PCI DSS v4.0.1 7.2.1 "an
 * access-control model is defined", 7.2.2 "access by job function, least privilege"): per connection and
 * role, which statement classes run, which are held for an approval, which are denied, and the table,
 * column, unmask and approval settings that go with them — rendered by the rules src/policy/evaluate.ts
 * applies (a class in `require_approval` is held even where the role lacks it; an unclassifiable statement
 * is denied unless held; a connection without a policy entry or `*` entry denies every statement). SSH
 * connections have no per-role grants: their `allow` block applies to every identity that may connect, and
 * held exec commands wait for an approval as held SQL does (src/broker/ssh-approval.ts).
 */
import type { PcigateConfig } from '../config/schema.js';
import { GRANTABLE_CLASSES } from '../config/sections/policy.js';
import { UNSAFE_ENV } from '../broker/ssh-env.js';
import { connectionPolicy } from '../policy/evaluate.js';
import { csvFile } from './csv.js';

const MIN = 60_000;
const minutes = (ms: number) => `${Math.round((ms / MIN) * 100) / 100}m`;
const list = (xs: readonly string[]) => xs.join(' ');

export const ACCESS_MODEL_HEADER = [
  'connection', 'kind', 'policy_entry', 'role', 'members', 'require_mfa', 'allowed', 'held_for_approval', 'denied',
  'tables_allow', 'tables_deny', 'columns_deny', 'approval_tables', 'unmask', 'approvers', 'min_approvals', 'idle_timeout', 'max_duration',
];

/** One row per (connection, role) with a grant, plus one per connection for identities without one. */
export function accessModelRows(config: PcigateConfig): string[][] {
  const rows: string[][] = [];
  const members = (role: string) => {
    const b = config.policy.roles[role];
    if (!b) return '(role not defined in policy.roles: nobody holds it)';
    return [...b.groups.map((g) => `group:${g}`), ...b.subjects.map((s) => `subject:${s}`)].join(' ') || '(no members)';
  };
  for (const name of Object.keys(config.connections).sort()) {
    const conn = config.connections[name]!;
    const found = connectionPolicy(config.policy, name);
    const cp = found?.cp;
    const entry = found ? `policy.connections.${found.key}` : '(none)';
    const mfa = conn.require_mfa || cp?.require_mfa ? 'yes' : 'no';
    const approvers = cp ? [...new Set([...conn.approvers, ...cp.approvals.groups])].map((g) => `group:${g}`).concat(cp.approvals.subjects.map((s) => `subject:${s}`)) : conn.approvers.map((g) => `group:${g}`);
    const limits = cp ? [minutes(cp.session.idle_timeout), minutes(cp.session.max_duration)] : ['', ''];
    if (conn.kind === 'ssh') {
      const a = conn.allow;
      const allowed = [
        ...(a.shell ? ['interactive shell'] : []),
        ...a.exec.allow.map((p) => `exec:${p}`),
        ...a.subsystems.map((s) => `subsystem:${s}`),
        ...(a.port_forwarding ? ['port forwarding'] : []),
        ...(a.agent_forwarding ? ['agent forwarding'] : []),
        ...(a.x11 ? ['X11'] : []),
        ...a.env.map((e) => `env:${e}`),
      ];
      const denied = [
        ...(a.shell ? [] : ['interactive shell']),
        ...a.exec.deny.map((p) => `exec:${p}`),
        'exec:(any command matching no pattern)',
        ...(a.port_forwarding ? [] : ['port forwarding']),
        ...(a.agent_forwarding ? [] : ['agent forwarding']),
        ...(a.x11 ? [] : ['X11']),
        'other subsystems',
        'env:(any other variable)',
        `env:${UNSAFE_ENV.join(',')} (always)`,
      ];
      const held = a.exec.hold.map((p) => `exec:${p}`);
      rows.push([name, 'ssh', `connections.${name}.allow`, '(any identity on the connection)', '(any identity allowed to connect)', mfa, list(allowed), list(held), list(denied), '', '', '', '', '', list(approvers), cp ? String(cp.approvals.min_approvals) : '', ...limits]);
      continue;
    }
    if (!cp) {
      rows.push([name, 'postgres', entry, '(any identity)', '', mfa, '', '', 'every statement (no policy entry for the connection and no * entry)', '', '', '', '', '', list(approvers), '', '', '']);
      continue;
    }
    for (const role of Object.keys(cp.roles).sort()) {
      const g = cp.roles[role]!;
      const held: string[] = [...g.require_approval];
      const allowed = g.classes.filter((c) => !held.includes(c));
      const denied = [
        ...GRANTABLE_CLASSES.filter((c) => !g.classes.includes(c) && !held.includes(c)),
        ...(held.includes('unclassifiable') ? [] : ['unclassifiable']),
      ];
      rows.push([
        name, 'postgres', `${entry}.roles.${role}`, role, members(role), mfa, list(allowed), list(held), list(denied),
        list(g.tables.allow), list(g.tables.deny), list(g.columns.deny), list(g.approval_tables), g.unmask, list(approvers),
        String(cp.approvals.min_approvals), ...limits,
      ]);
    }
    rows.push([name, 'postgres', `${entry}.roles`, '(any other identity)', '', mfa, '', '', 'every statement (no role with a grant on the connection)', '', '', '', '', '', list(approvers), String(cp.approvals.min_approvals), ...limits]);
  }
  return rows;
}

/** The access model as RFC 4180 CSV (req7/access-model.csv). */
export function accessModelCsv(config: PcigateConfig): Buffer {
  return csvFile(ACCESS_MODEL_HEADER, accessModelRows(config));
}

/** The role definitions (req7/roles.csv): who holds each role and where it has a grant. */
export function rolesCsv(config: PcigateConfig): Buffer {
  const roles = new Set([...Object.keys(config.policy.roles)]);
  for (const cp of Object.values(config.policy.connections)) for (const r of Object.keys(cp.roles)) roles.add(r);
  const rows = [...roles].sort().map((role) => {
    const b = config.policy.roles[role];
    const grants = Object.keys(config.policy.connections).sort().filter((k) => config.policy.connections[k]!.roles[role] !== undefined);
    return [role, b?.description ?? '', list(b?.groups ?? []), list(b?.subjects ?? []), list(grants), b ? '' : 'not defined in policy.roles: nobody holds it'];
  });
  return csvFile(['role', 'description', 'groups', 'subjects', 'grants_on', 'note'], rows);
}

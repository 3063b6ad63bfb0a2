/** `pcigate sessions`: the sessions in the audit log, filtered (issue 8 item 1). */
import type { CommandSpec } from '../src/cli/command.js';
import { EXIT } from '../src/cli/exit-codes.js';
import { table } from '../src/cli/output.js';
import { resolveAuditHome } from '../src/config/resolve-home.js';
import { auditLogOptionsFromConfig } from '../recorder/index.js';
import { accessActor, recordAuditAccess } from '../src/sessions/audit-access.js';
import { describeFilters, filterSessions, parseFilters } from '../src/sessions/session-filter.js';
import { loadSessionIndex } from '../src/sessions/session-index.js';
import type { SessionSummary } from '../src/sessions/session-summary.js';

export const spec: CommandSpec = {
  description: [
    'Lists the sessions recorded in the audit log: who, which connection, when, how long, how many statements',
    'or commands, denials, approvals, masked values and the outcome. An index in the data home',
    '(index/sessions.json) is brought up to date from the log first; the log stays the source of truth.',
    'Times are UTC: --since/--until take a date, a time or an age (90m, 12h, 7d). Each listing is recorded in',
    'the log as an audit.access record (PCI DSS 10.2.1.3).',
  ].join(' '),
  options: [
    { flags: '--since <time>', description: 'sessions active at or after this time (2026-11-22, 2026-11-22T10:00:00Z, 12h)' },
    { flags: '--until <time>', description: 'sessions active at or before this time' },
    { flags: '--user <user>', description: 'only this identity (subject or email)' },
    { flags: '--conn <name>', description: 'only this connection' },
    { flags: '--kind <kind>', description: 'only this kind of session', choices: ['postgres', 'ssh', 'exec'] },
  ],
  examples: [
    ['sessions of the last day', 'pcigate sessions --since 24h'],
    ['what alice did on prod-db, as JSON', 'pcigate sessions --user alice@example.com --conn prod-db --json'],
  ],
  async run(ctx, { opts, global, out }) {
    const filters = parseFilters(opts, ctx.clock.now());
    const { home, audit, identity } = await resolveAuditHome(ctx, global, out.warn);
    const index = await loadSessionIndex(ctx.fs, home);
    const rows = filterSessions(index.sessions, filters);
    const actor = await accessActor(ctx, { identity }, home, out.warn);
    let recorded = true;
    try {
      await recordAuditAccess(ctx, auditLogOptionsFromConfig(home, audit), actor, { command: 'sessions', filters: describeFilters(filters), listed: rows.length });
    } catch (e) {
      recorded = false;
      out.warn(`warning: this listing could not be recorded in the audit log (audit.access): ${(e as Error).message}`);
    }
    if (out.json) {
      out.printJson({ home, recorded, index: index.how, sessions: rows });
      return EXIT.ok;
    }
    if (rows.length === 0) {
      out.say(index.sessions.length === 0 ? `no sessions in the audit log at ${home}` : 'no sessions match');
      return EXIT.ok;
    }
    out.data(table(
      ['ID', 'WHO', 'KIND', 'TARGET', 'START (UTC)', 'DURATION', 'STMTS/CMDS', 'DENIED', 'APPROVED', 'MASKED', 'OUTCOME'],
      rows.map(row),
    ));
    return EXIT.ok;
  },
};

function row(s: SessionSummary): string[] {
  return [
    s.id.slice(0, 8),
    s.email ?? s.who,
    s.kind,
    s.conn ?? s.host ?? '-',
    s.start.slice(0, 19).replace('T', ' '),
    s.duration_ms === undefined ? '-' : duration(s.duration_ms),
    String(s.kind === 'ssh' ? s.commands : s.kind === 'exec' ? 1 : s.statements),
    String(s.denials),
    String(s.approvals),
    String(s.masked),
    s.outcome,
  ];
}

function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

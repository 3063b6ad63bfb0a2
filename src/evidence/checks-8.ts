/**
 * Requirement 8 of PCI DSS v4.0.1 (identify users and authenticate access), as pcigate evidences it
 * (../shared/PCI.md "Requirement 8"):
 * - 8.2.1 / 8.2.2: every session bound to an individual identity (`session.start` actor), and the shared
 *   database/OS accounts mapped to the people who used them (`account` → distinct `actor.sub`);
 * - 8.2.6: identities whose last use (auth.login / session.start) is more than 90 days before generation;
 * - 8.2.8: the idle timeout per connection (policy `session.idle_timeout`, at most 15 minutes) and the
 *   `session.idle_timeout` records showing it acted;
 * - 8.4.2: the share of people's sessions with a second factor in the IdP's `amr` (RFC 8176);
 * - 8.6.2: no literal secrets in the configuration; the secret references in use (names, never values).
 * Pure: a function of the EvidenceInput (`generatedAt` is "now").
 */
import type { Actor } from '../../recorder/types.js';
import type { PcigateConfig } from '../config/schema.js';
import { connectionPolicy } from '../policy/evaluate.js';
import { DEFAULT_MFA_AMR, actorHasMfa, actorKey, byText, cellList, configOf, count, day, detailOf, noConfigReason } from './check-support.js';
import { identityProcedures, sessionStarts } from './identity-binding.js';
import { csvFile } from './csv.js';
import type { ArtifactDraft, EvidenceInput, ProcedureResult, RequirementCheck } from './types.js';

const LAST_USE_CSV = 'req8/identity-last-use.csv';
const TIMEOUTS_CSV = 'req8/idle-timeouts.csv';
const MFA_CSV = 'req8/mfa-sessions.csv';
const SECRETS_CSV = 'req8/secret-references.csv';

const DAY_MS = 86_400_000;
const IDLE_DAYS = 90;
const IDLE_LIMIT_MS = 15 * 60_000;

/** Milliseconds since the epoch of an RFC 3339 µs timestamp (Date.parse takes milliseconds only). */
const ms = (ts: string): number => Date.parse(`${ts.slice(0, 23)}Z`);

/** 8.2.6: last use per identity over the whole log. */
function idleProcedure(input: EvidenceInput): { procedure: ProcedureResult; artifact: ArtifactDraft } {
  const now = ms(input.generatedAt);
  const seen = new Map<string, { actor: Actor; first: string; login?: string; session?: string }>();
  for (const { record: r } of input.records) {
    if (r.ts > input.generatedAt || !r.actor?.sub || r.actor.via === 'system' || r.outcome !== 'success') continue;
    if (r.type !== 'auth.login' && r.type !== 'session.start') continue;
    const k = actorKey(r.actor);
    const e = seen.get(k) ?? { actor: r.actor, first: r.ts };
    if (r.type === 'auth.login') e.login = r.ts;
    else e.session = r.ts;
    seen.set(k, e);
  }
  const rows = [...seen.values()].map((e) => {
    const last = [e.login, e.session].filter((x): x is string => x !== undefined).sort().pop()!;
    return { e, last, idle: Math.floor((now - ms(last)) / DAY_MS) };
  }).sort((a, b) => b.idle - a.idle || byText(a.e.actor.sub, b.e.actor.sub));
  const over = rows.filter((r) => r.idle > IDLE_DAYS);
  const firstTs = input.records[0]?.record.ts;
  const spanDays = firstTs ? Math.floor((now - ms(firstTs)) / DAY_MS) : 0;
  const artifact: ArtifactDraft = {
    path: LAST_USE_CSV,
    bytes: csvFile(['sub', 'email', 'idp', 'via', 'first_seen', 'last_login', 'last_session', 'last_use', 'idle_days', 'idle_over_90_days'],
      rows.map(({ e, last, idle }) => [e.actor.sub, e.actor.email ?? '', e.actor.idp ?? '', e.actor.via, e.first, e.login ?? '', e.session ?? '', last, String(idle), idle > IDLE_DAYS ? 'yes' : 'no'])),
    mediaType: 'text/csv',
    description: `Last use of pcigate per identity (auth.login, session.start) over the whole log, and days idle at ${day(input.generatedAt)}`,
    procedures: ['8.2.6'],
    method: 'TEST',
  };
  const shortLog = spanDays <= IDLE_DAYS ? ` The log covers only ${spanDays} days, so no identity can appear idle for more than that.` : '';
  return {
    artifact,
    procedure: {
      id: '8.2.6',
      title: 'Inactive user accounts are removed or disabled within 90 days',
      asks: 'User accounts inactive for more than 90 days are removed or disabled.',
      checked: `The last successful auth.login or session.start of every identity over the whole log (${spanDays} days), against the generation time ${input.generatedAt}.`,
      status: over.length > 0 ? 'exception' : seen.size === 0 ? 'manual' : 'evidence',
      result: seen.size === 0
        ? `No logins or sessions in the log; nothing to test.${shortLog}`
        : `${count(seen.size, 'identity', 'identities')} seen; ${over.length ? `${count(over.length, 'identity', 'identities')} idle for more than ${IDLE_DAYS} days (${over.slice(0, 10).map((r) => `${r.e.actor.sub} ${r.idle} d`).join(', ')}): confirm they are disabled in the IdP` : `none idle for more than ${IDLE_DAYS} days`}.${shortLog}`,
      figures: { identities: seen.size, idle_over_90_days: over.length, log_span_days: spanDays, max_idle_days: rows[0]?.idle ?? null },
      evidence: [LAST_USE_CSV],
      limits: 'Whether an idle identity is disabled is decided in the IdP (or the host for local accounts), which pcigate does not see; identities that never used pcigate do not appear.',
    },
  };
}

/** 8.2.8: idle timeout per connection. */
function timeoutProcedure(input: EvidenceInput, cfg: PcigateConfig): { procedure: ProcedureResult; artifact: ArtifactDraft } {
  const rows: string[][] = [];
  const over: string[] = [];
  let governed = 0;
  for (const name of Object.keys(cfg.connections).sort()) {
    const conn = cfg.connections[name]!;
    const found = connectionPolicy(cfg.policy, name);
    // Without a policy entry the broker still applies the default (PolicyEngine.sessionLimits: 15 minutes).
    const t = found?.cp.session.idle_timeout ?? IDLE_LIMIT_MS;
    governed++;
    if (t > IDLE_LIMIT_MS) over.push(name);
    rows.push([name, conn.kind, found ? `policy.connections.${found.key}.session.idle_timeout` : '(no policy entry: the default)', String(t / 1000), t <= IDLE_LIMIT_MS ? 'yes' : 'no']);
  }
  // Sessions, not records: a session ended for idleness may have both a session.idle_timeout record and a
  // session.end saying why.
  const idled = new Set<string>();
  for (const { record: r } of input.inPeriod) {
    if (r.type === 'session.idle_timeout' || (r.type === 'session.end' && /idle/i.test(String(detailOf(r).reason ?? '')))) idled.add(r.session ?? `seq ${r.seq}`);
  }
  const timeouts = idled.size;
  const artifact: ArtifactDraft = {
    path: TIMEOUTS_CSV,
    bytes: csvFile(['connection', 'kind', 'setting', 'idle_timeout_seconds', 'within_15_minutes'], rows),
    mediaType: 'text/csv',
    description: 'Idle timeout per connection from the policy (sessions idle longer are ended and must authenticate again)',
    procedures: ['8.2.8'],
    method: 'EXAMINE',
  };
  return {
    artifact,
    procedure: {
      id: '8.2.8',
      title: 'Sessions idle for more than 15 minutes must re-authenticate',
      asks: 'A user session idle for more than 15 minutes requires the user to authenticate again before continuing.',
      checked: `policy.connections.<name>.session.idle_timeout (default 15 minutes) for every connection in ${input.config.source}, and session.idle_timeout records (or sessions ended as idle) in the period.`,
      status: over.length > 0 ? 'exception' : 'evidence',
      result: `${count(governed, 'connection')}; ${over.length ? `idle timeout over 15 minutes on ${over.join(', ')}` : 'every idle timeout is 15 minutes or less'}; ${count(timeouts, 'session')} ended for idleness in the period.`,
      figures: { connections: governed, over_15_minutes: over.length, idle_timeouts_recorded: timeouts },
      evidence: [TIMEOUTS_CSV],
      limits: 'The timeout ends sessions through pcigate; a client that keeps its own connection elsewhere is not covered. Console and workstation lock screens are outside pcigate.',
    },
  };
}

/** 8.4.2: MFA share of people's sessions. */
function mfaProcedure(input: EvidenceInput, cfg: PcigateConfig | undefined): { procedure: ProcedureResult; artifact: ArtifactDraft } {
  const mfaAmr = cfg?.identity.mfa_amr ?? DEFAULT_MFA_AMR;
  const starts = sessionStarts(input);
  const per = new Map<string, { actor: Actor; sessions: number; mfa: number; amr: Set<string>; conns: Set<string> }>();
  let people = 0;
  let withMfa = 0;
  let workload = 0;
  const local = new Set<string>();
  const without = new Set<string>();
  for (const r of starts) {
    const a = r.actor;
    if (!a?.sub || a.via === 'system') continue;
    if (a.via === 'workload') { workload++; continue; }
    people++;
    const has = a.via !== 'local' && actorHasMfa(a, mfaAmr);
    if (has) withMfa++;
    else without.add(a.sub);
    if (a.via === 'local') local.add(a.sub);
    const k = actorKey(a);
    const e = per.get(k) ?? { actor: a, sessions: 0, mfa: 0, amr: new Set<string>(), conns: new Set<string>() };
    e.sessions++;
    if (has) e.mfa++;
    for (const m of a.amr ?? []) e.amr.add(m);
    if (r.target?.conn) e.conns.add(r.target.conn);
    per.set(k, e);
  }
  const rows = [...per.values()].sort((a, b) => byText(a.actor.sub, b.actor.sub) || byText(a.actor.via, b.actor.via)).map((e) => [
    e.actor.sub, e.actor.via, cellList(e.conns), String(e.sessions), String(e.mfa), String(e.sessions - e.mfa), cellList(e.amr), e.actor.via === 'local' ? 'local OS account: no second factor' : '',
  ]);
  const requireMfa = cfg ? Object.keys(cfg.connections).sort().filter((n) => cfg.connections[n]!.require_mfa || connectionPolicy(cfg.policy, n)?.cp.require_mfa === true) : [];
  const artifact: ArtifactDraft = {
    path: MFA_CSV,
    bytes: csvFile(['sub', 'via', 'connections', 'sessions', 'with_mfa', 'without_mfa', 'amr_seen', 'note'], rows),
    mediaType: 'text/csv',
    description: `People's sessions in the period with and without a second factor in the IdP's amr claim (RFC 8176; counted as MFA: ${mfaAmr.join(', ')})`,
    procedures: ['8.4.2'],
    method: 'TEST',
  };
  const share = people ? Math.round((withMfa / people) * 1000) / 10 : null;
  return {
    artifact,
    procedure: {
      id: '8.4.2',
      title: 'MFA for all access into the cardholder data environment',
      asks: 'Multi-factor authentication is used for all non-console access into the cardholder data environment.',
      checked: `The actor of every successful session.start of the period: MFA when its amr holds one of ${mfaAmr.join(', ')}; sessions of local OS accounts (via local) count as without MFA; workload (CI) identities are counted apart.`,
      status: without.size > 0 ? 'exception' : people === 0 ? 'manual' : 'evidence',
      result: people === 0
        ? `No people's sessions in the period (${count(workload, 'workload session')}); nothing to test.`
        : `${withMfa} of ${count(people, 'session')} by people used MFA (${share}%)${without.size ? `; without MFA: ${cellList(without, ', ')}${local.size ? ` (local accounts: ${cellList(local, ', ')})` : ''}` : ''}; ${count(workload, 'workload session')} not counted; MFA required on ${requireMfa.length ? requireMfa.join(', ') : 'no connection'}.`,
      figures: { people_sessions: people, with_mfa: withMfa, without_mfa: people - withMfa, mfa_percent: share, local_sessions: [...per.values()].filter((e) => e.actor.via === 'local').reduce((n, e) => n + e.sessions, 0), workload_sessions: workload, connections_requiring_mfa: requireMfa.length },
      evidence: [MFA_CSV],
      limits: 'The amr claim is the IdP\'s statement of how the person authenticated; whether the factors are independent and cannot be bypassed (8.5.1) is the IdP\'s configuration.',
    },
  };
}

/** 8.6.2: no literal secrets; references in use. */
function secretsProcedure(input: EvidenceInput): { procedure: ProcedureResult; artifact: ArtifactDraft } {
  const c = input.config;
  const literals = [...c.literalSecrets].sort();
  const refs = [...c.secretRefs].sort((a, b) => byText(a.path, b.path));
  const rows = [
    ...literals.map((p) => [p, '', 'literal secret (value not shown)']),
    ...refs.map((r) => [r.path, r.ref, 'secret reference']),
  ];
  const artifact: ArtifactDraft = {
    path: SECRETS_CSV,
    bytes: csvFile(['path', 'reference', 'kind'], rows),
    mediaType: 'text/csv',
    description: 'Secrets in the pcigate configuration: the references in use (never their values) and any literal secret found (by path only)',
    procedures: ['8.6.2'],
    method: 'TEST',
  };
  const unknown = literals.length === 0 && c.error !== undefined;
  return {
    artifact,
    procedure: {
      id: '8.6.2',
      title: 'No hard-coded passwords for system and application accounts',
      asks: 'Passwords and passphrases of application and system accounts are not hard-coded in scripts, configuration files or source code.',
      checked: `The text of ${c.source} for literal secrets (keys that name a secret without a secret reference, key material, URLs with passwords, token formats), and the secret references it uses.`,
      status: literals.length > 0 ? 'exception' : unknown ? 'manual' : 'evidence',
      result: literals.length > 0
        ? `${count(literals.length, 'literal secret')} in the configuration at ${literals.join(', ')}; ${count(refs.length, 'secret reference')} in use.`
        : unknown
          ? `Not checked: ${noConfigReason(c)}.`
          : `No literal secrets; ${count(refs.length, 'secret reference')} in use (${cellList(refs.map((r) => r.ref.replace(/^<redacted: ([a-z]+):.*$/, '$1').split(':')[0]!), ', ') || 'none'}).`,
      figures: { literal_secrets: literals.length, secret_references: refs.length },
      evidence: [SECRETS_CSV],
      limits: 'Covers pcigate\'s own configuration. Scripts and application source that hold credentials elsewhere need their own review.',
    },
  };
}

/** Requirement 8 checks (PCI DSS v4.0.1 8.2.1, 8.2.2, 8.2.6, 8.2.8, 8.4.2, 8.6.2). */
export const checks8: RequirementCheck = (input) => {
  const cfg = configOf(input.config);
  const ids = identityProcedures(input);
  const idle = idleProcedure(input);
  const mfa = mfaProcedure(input, cfg);
  const secrets = secretsProcedure(input);
  const procedures: ProcedureResult[] = [...ids.procedures, idle.procedure];
  const artifacts: ArtifactDraft[] = [...ids.artifacts, idle.artifact];
  if (cfg) {
    const t = timeoutProcedure(input, cfg);
    procedures.push(t.procedure);
    artifacts.push(t.artifact);
  } else {
    procedures.push({
      id: '8.2.8', title: 'Sessions idle for more than 15 minutes must re-authenticate', asks: 'A user session idle for more than 15 minutes requires the user to authenticate again before continuing.',
      checked: 'Nothing: the configuration is needed for this procedure.', status: 'manual', result: `Not checked: ${noConfigReason(input.config)}.`, figures: {}, evidence: [], limits: 'Examine the policy by hand.',
    });
  }
  procedures.push(mfa.procedure, secrets.procedure);
  artifacts.push(mfa.artifact, secrets.artifact);
  return { requirement: '8', title: 'Identify users and authenticate access to system components', procedures, artifacts };
};

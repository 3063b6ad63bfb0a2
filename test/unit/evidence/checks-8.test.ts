import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../../../src/config/schema.js';
import { checks8 } from '../../../src/evidence/checks-8.js';
import type { ConfigEvidence, ProcedureResult, RequirementSection } from '../../../src/evidence/types.js';
import { ALICE, BOB, CI, CONFIG, DAY, DB, LOCAL, SAM, SSH, buildInput, csvRows, end, start } from './access-input.js';

const proc = (s: RequirementSection, id: string): ProcedureResult => {
  const p = s.procedures.find((x) => x.id === id);
  if (!p) throw new Error(`no procedure ${id}`);
  return p;
};
const rows = (s: RequirementSection, path: string): string[][] => {
  const a = s.artifacts.find((x) => x.path === path);
  if (!a) throw new Error(`no artifact ${path}`);
  return csvRows(a.bytes);
};

describe('checks8: 8.2.1 / 8.2.2 identities and shared accounts', () => {
  it('binds every session to an individual and maps the shared database account to the people who used it', async () => {
    const { input } = await buildInput({
      steps: [start('s1', ALICE), start('s2', BOB), start('s3', CI), start('s4', LOCAL), start('s5', ALICE, SSH), end('s1', ALICE)],
    });
    const s = checks8(input);
    expect(proc(s, '8.2.1')).toMatchObject({ status: 'evidence', figures: { sessions: 5, identities: 4, without_identity: 0, generic_identities: 0, via_oidc: 3, via_workload: 1, via_local: 1 } });
    const p822 = proc(s, '8.2.2');
    expect(p822).toMatchObject({ status: 'evidence', figures: { accounts: 2, shared_accounts: 1, sessions_without_identity: 0 } });
    const shared = rows(s, 'req8/shared-accounts.csv');
    expect(shared[1]).toEqual(['postgres', 'app', 'prod-db', '4', `alice-1 (alice@example.com); bob-2 (bob@example.com); carol; ${CI.sub}`, '4', '0']);
    expect(shared[2]).toEqual(['ssh', 'deploy', 'prod-ssh', '1', 'alice-1 (alice@example.com)', '1', '0']);
  });

  it('is an exception for a session without an identity and one under a generic name', async () => {
    const { input } = await buildInput({ steps: [start('s1', ALICE), start('s2', undefined), start('s3', { sub: 'admin@example.com', via: 'oidc' })] });
    const s = checks8(input);
    const p = proc(s, '8.2.1');
    expect(p.status).toBe('exception');
    expect(p.figures).toMatchObject({ without_identity: 1, generic_identities: 1 });
    expect(p.result).toContain('generic names (admin@example.com)');
    expect(proc(s, '8.2.2')).toMatchObject({ status: 'exception', figures: { sessions_without_identity: 1 } });
  });
});

describe('checks8: 8.2.6 identities idle more than 90 days', () => {
  it('names an identity whose last login is more than 90 days before generation', async () => {
    const { input } = await buildInput({
      steps: [
        { type: 'auth.login', actor: ALICE, outcome: 'success', detail: { idp: ALICE.idp, mfa: true } },
        { type: 'auth.login', actor: LOCAL, outcome: 'failure', detail: {} },
        { tick: 100 * DAY },
        start('s1', BOB),
      ],
    });
    const s = checks8(input);
    const p = proc(s, '8.2.6');
    expect(p.status).toBe('exception');
    expect(p.figures).toMatchObject({ identities: 2, idle_over_90_days: 1, log_span_days: 100, max_idle_days: 100 });
    expect(p.result).toContain('alice-1 100 d');
    const last = rows(s, 'req8/identity-last-use.csv');
    expect(last[1]!.slice(0, 1).concat(last[1]!.slice(8))).toEqual(['alice-1', '100', 'yes']);
    expect(last[2]!.slice(0, 1).concat(last[2]!.slice(8))).toEqual(['bob-2', '0', 'no']);
  });

  it('finds none idle in a recent log and says how far back the log reaches', async () => {
    const { input } = await buildInput({ steps: [start('s1', ALICE), { tick: 30 * DAY }, start('s2', BOB)] });
    const p = proc(checks8(input), '8.2.6');
    expect(p.status).toBe('evidence');
    expect(p.figures.idle_over_90_days).toBe(0);
    expect(p.result).toContain('The log covers only 30 days');
  });
});

describe('checks8: 8.2.8 idle timeout', () => {
  it('reads the idle timeout per connection and counts idle-timeout records', async () => {
    const { input } = await buildInput({
      steps: [start('s1', ALICE), { type: 'session.idle_timeout', session: 's1', actor: ALICE, target: DB, outcome: 'success', detail: { idle_ms: 600_000, limit_ms: 600_000 } }, end('s1', ALICE, DB, { reason: 'idle_timeout' })],
    });
    const s = checks8(input);
    expect(proc(s, '8.2.8')).toMatchObject({ status: 'evidence', figures: { connections: 2, over_15_minutes: 0, idle_timeouts_recorded: 1 } });
    expect(rows(s, 'req8/idle-timeouts.csv').slice(1)).toEqual([
      ['prod-db', 'postgres', 'policy.connections.prod-db.session.idle_timeout', '600', 'yes'],
      ['prod-ssh', 'ssh', '(no policy entry: the default)', '900', 'yes'],
    ]);
  });

  it('is an exception for a timeout over 15 minutes', async () => {
    const cfg = defaultConfig();
    cfg.connections['db'] = { kind: 'postgres', host: 'h', port: 5432, database: 'd', user: 'u', sslmode: 'verify-full', listen: { host: '127.0.0.1', port: 0 }, require_mfa: false, approvers: [], workload: [], connect_timeout: 10_000, upstream_superuser: 'warn' };
    cfg.policy.connections['*'] = { require_mfa: false, session: { max_duration: 3_600_000, idle_timeout: 20 * 60_000, require_approval: false }, approvals: { groups: [], subjects: [], min_approvals: 1, expires: 3_600_000, window: 0, wait: 300_000 }, roles: {} };
    const evidence: ConfigEvidence = { config: cfg, source: 'pcigate.yaml', redacted: null, literalSecrets: [], secretRefs: [] };
    const { input } = await buildInput({ config: evidence, steps: [start('s1', ALICE)] });
    const p = proc(checks8(input), '8.2.8');
    expect(p.status).toBe('exception');
    expect(p.result).toContain('idle timeout over 15 minutes on db');
  });
});

describe('checks8: 8.4.2 MFA', () => {
  it('counts sessions whose amr shows a second factor, names local and password-only ones, leaves workloads apart', async () => {
    const { input } = await buildInput({ steps: [start('s1', ALICE), start('s2', SAM), start('s3', BOB), start('s4', LOCAL), start('s5', CI), start('s6', ALICE, SSH)] });
    const s = checks8(input);
    const p = proc(s, '8.4.2');
    expect(p.status).toBe('exception');
    expect(p.figures).toMatchObject({ people_sessions: 5, with_mfa: 3, without_mfa: 2, mfa_percent: 60, local_sessions: 1, workload_sessions: 1, connections_requiring_mfa: 1 });
    expect(p.result).toContain('without MFA: bob-2, carol (local accounts: carol)');
    const csv = rows(s, 'req8/mfa-sessions.csv');
    expect(csv).toContainEqual(['alice-1', 'oidc', 'prod-db prod-ssh', '2', '2', '0', 'otp pwd', '']);
    expect(csv).toContainEqual(['carol', 'local', 'prod-db', '1', '0', '1', '', 'local OS account: no second factor']);
  });

  it('finds evidence when every person used MFA', async () => {
    const { input } = await buildInput({ steps: [start('s1', ALICE), start('s2', SAM), start('s3', CI)] });
    expect(proc(checks8(input), '8.4.2')).toMatchObject({ status: 'evidence', figures: { people_sessions: 2, with_mfa: 2, mfa_percent: 100 } });
  });
});

describe('checks8: 8.6.2 no literal secrets', () => {
  it('lists the secret references in use, never a value', async () => {
    const { input } = await buildInput({ steps: [start('s1', ALICE)] });
    const s = checks8(input);
    expect(proc(s, '8.6.2')).toMatchObject({ status: 'evidence', figures: { literal_secrets: 0, secret_references: 2 } });
    expect(rows(s, 'req8/secret-references.csv').slice(1)).toEqual([
      ['connections.prod-db.password', '<redacted: env:PGPASSWORD>', 'secret reference'],
      ['connections.prod-ssh.private_key', '<redacted: env:SSH_KEY>', 'secret reference'],
    ]);
  });

  it('is an exception for a literal password in the configuration, named by path only', async () => {
    const config = CONFIG.replace('password: env:PGPASSWORD', 'password: Sup3rSecretLiteral');
    const { input } = await buildInput({ config, steps: [start('s1', ALICE)] });
    const s = checks8(input);
    const p = proc(s, '8.6.2');
    expect(p.status).toBe('exception');
    expect(p.result).toContain('connections.prod-db.password');
    const all = Buffer.concat(s.artifacts.map((a) => a.bytes)).toString() + JSON.stringify(s.procedures);
    expect(all).not.toContain('Sup3rSecretLiteral');
    // The configuration does not load with a literal secret: the idle timeout cannot be read.
    expect(proc(s, '8.2.8').status).toBe('manual');
  });
});

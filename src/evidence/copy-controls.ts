/**
 * PCI DSS v4.0.1 3.4.2: with remote-access technologies, technical controls stop personnel copying or
 * relocating PAN unless explicitly authorised. pcigate's copy paths are `COPY … TO STDOUT` through the
 * Postgres proxy (statement class `copy_out`, src/policy/statement-kinds.ts) and, through the SSH broker,
 * the sftp subsystem, `scp -f` / `rsync --server --sender` exec commands and port forwarding. This module
 * renders, from the configuration, who may use each path (by the same rules the broker applies:
 * src/policy/evaluate.ts and src/policy/ssh-rules.ts) and classifies the log's records of attempts.
 */
import type { AuditRecord } from '../../recorder/types.js';
import type { PcigateConfig } from '../config/schema.js';
import { connectionPolicy } from '../policy/evaluate.js';
import { decideSsh } from '../policy/ssh-rules.js';
import type { SshPolicyRequest } from '../policy/ssh-rules.js';
import { detailOf, objectField, stringField } from './check-support.js';

export interface CopyControlRow {
  connection: string;
  kind: 'postgres' | 'ssh';
  /** A policy role, `any identity on the connection` (SSH has no per-role grants), or `any other identity`. */
  who: string;
  channel: string;
  decision: 'allowed' | 'held for approval' | 'denied';
  rule: string;
  /** True when an allowed path is open to everyone who may use the connection (no named authorisation). */
  unrestricted: boolean;
}

/** Representative requests per SSH copy path, decided by the connection's real `allow` block. */
const SSH_PROBES: Array<{ channel: string; req: SshPolicyRequest }> = [
  { channel: 'sftp subsystem', req: { kind: 'subsystem', name: 'sftp' } },
  { channel: 'scp download (scp -f)', req: { kind: 'exec', command: 'scp -f /path/to/file' } },
  { channel: 'rsync download (rsync --server --sender)', req: { kind: 'exec', command: 'rsync --server --sender -logDtpre.iLsfxC . /path/to/file' } },
  { channel: 'port forwarding (ssh -L)', req: { kind: 'port-forwarding', direction: 'local', host: 'localhost', port: 5432 } },
];

/** Who may use each copy path on each connection, in connection-name order. */
export function copyControlRows(config: PcigateConfig): CopyControlRow[] {
  const rows: CopyControlRow[] = [];
  for (const name of Object.keys(config.connections).sort()) {
    const conn = config.connections[name]!;
    if (conn.kind === 'ssh') {
      for (const p of SSH_PROBES) {
        const d = decideSsh(conn.allow, p.req);
        // Held exec commands wait for an approval (src/broker/ssh-approval.ts); other held requests are refused.
        const decision = d.action === 'allow' ? 'allowed' : d.action === 'hold' && p.req.kind === 'exec' ? 'held for approval' : 'denied';
        rows.push({ connection: name, kind: 'ssh', who: 'any identity on the connection', channel: p.channel, decision, rule: `connections.${name}.allow: ${d.rule}`, unrestricted: decision === 'allowed' });
      }
      continue;
    }
    const channel = 'COPY … TO STDOUT (class copy_out)';
    const found = connectionPolicy(config.policy, name);
    if (!found) {
      rows.push({ connection: name, kind: 'postgres', who: 'any identity', channel, decision: 'denied', rule: 'policy.connections (no entry: every statement is denied)', unrestricted: false });
      continue;
    }
    const base = `policy.connections.${found.key}.roles`;
    for (const role of Object.keys(found.cp.roles).sort()) {
      const g = found.cp.roles[role]!;
      // judgeStatement: a condition in require_approval holds the class even where the role lacks it.
      const decision = g.require_approval.includes('copy_out') ? 'held for approval' : g.classes.includes('copy_out') ? 'allowed' : 'denied';
      const rule = decision === 'held for approval' ? `${base}.${role}.require_approval` : `${base}.${role}.classes`;
      rows.push({ connection: name, kind: 'postgres', who: role, channel, decision, rule, unrestricted: false });
    }
    rows.push({ connection: name, kind: 'postgres', who: 'any other identity', channel, decision: 'denied', rule: `${base} (no grant)`, unrestricted: false });
  }
  return rows;
}

/** The copy path a record is an attempt at, or undefined when it is not one. */
export function copyAttempt(r: AuditRecord): string | undefined {
  const d = detailOf(r);
  if (r.type === 'pg.query') {
    const sql = stringField(d, 'sql') ?? '';
    // Relocating masked values inside the database (INSERT … SELECT cvv, CREATE TABLE AS, a view): refused by pcigate.
    if (stringField(d, 'rule') === 'masking.stored_values') return 'masked values stored elsewhere';
    return stringField(d, 'command') === 'copy' && /\bto\s+stdout\b/i.test(sql) ? 'COPY … TO STDOUT' : undefined;
  }
  const req = objectField(d, 'request');
  if (r.type === 'ssh.request') {
    if (req.kind === 'subsystem' && req.name === 'sftp') return 'sftp subsystem';
    if (req.kind === 'port-forwarding') return 'port forwarding';
    return undefined;
  }
  if (r.type === 'ssh.exec') {
    const cmd = (stringField(req, 'command') ?? '').trim();
    if (/^scp\s(.*\s)?-[a-zA-Z]*f/.test(cmd)) return 'scp download';
    if (/^rsync\s.*--sender/.test(cmd)) return 'rsync download';
  }
  return undefined;
}

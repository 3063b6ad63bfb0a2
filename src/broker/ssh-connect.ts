/**
 * `pcigate connect NAME` and `pcigate exec NAME -- CMD` for an ssh connection: loads the config, resolves
 * the broker-held key, opens the audit log, resolves the identity, then either serves a local SSH server
 * (`--listen`), runs an interactive shell in this terminal, or runs one command and returns its exit
 * status. Refused by policy → exit 5; a held command whose approval got no decision in time → exit 6;
 * a session closed by pcigate for a time limit (idle timeout, max_duration) → 129, a hangup.
 */
import type { Ctx } from '../cli/ctx.js';
import { EXIT } from '../cli/exit-codes.js';
import { resolveHome } from '../cli/home.js';
import type { PcigateConfig, SshConnection } from '../config/index.js';
import { resolveSecret } from '../config/secrets.js';
import { ApprovalTimeout, PolicyDenied } from '../errors.js';
import { PanMasker } from '../mask/pan-masker.js';
import { approvalStoreFor } from '../policy/approvals.js';
import { PolicyEngine } from '../policy/policy-engine.js';
import { startOutboxDrain } from './outbox-drain.js';
import { sessionActor } from './session-identity.js';
import { runSshDirect, startSshBroker } from './ssh-broker.js';
import { openAuditLogWaiting } from '../sessions/audit-access.js';
import { auditLogOptionsFromConfig } from '../../recorder/index.js';

export interface SshListenInfo {
  connection: string;
  host: string;
  port: number;
  user: string;
  password: string;
  fingerprint: string;
  ssh: string;
}

export interface SshConnectOptions {
  config: PcigateConfig;
  name: string;
  conn: SshConnection;
  home?: string;
  /** --listen: serve OpenSSH clients instead of using this terminal. */
  listen?: { port?: number; bind?: string; ready(info: SshListenInfo): void };
  /** One remote command (exec); a shell when absent. */
  command?: string;
  reason?: string;
  /** `pcigate exec`: workload identity. */
  workload?: { tokenEnv?: string };
}

/**
 * The config's `masking` for SSH output, as for Postgres results: `networks: any_luhn` widens what counts as a
 * card number, `format` shapes the mask. One exception: `hmac` becomes `full` stars here. An SSH channel is a
 * byte stream that often frames its own lengths (sftp packets, scp's `C0644 <size>`, rsync), and a token is
 * longer than the number it replaces; stars keep every length and show no digit.
 */
export function sshMaskOptions(m: PcigateConfig['masking']): { style: { format: 'last4' | 'first6last4' | 'full' }; anyLuhn: boolean } {
  return { style: { format: m.format === 'hmac' ? 'full' : m.format }, anyLuhn: m.networks === 'any_luhn' };
}

/** POSIX shell quoting for a command line sent to the remote shell. */
export function shellJoin(argv: string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_./:=@%+,-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

export async function connectSsh(ctx: Ctx, o: SshConnectOptions): Promise<number> {
  const home = resolveHome(ctx, o.home, o.config.audit.dir);
  const privateKey = await resolveSecret(ctx, o.conn.private_key);
  const passphrase = o.conn.passphrase ? await resolveSecret(ctx, o.conn.passphrase) : undefined;
  const log = await openAuditLogWaiting(ctx, auditLogOptionsFromConfig(home, o.config.audit, { createIfMissing: true }));
  try {
    const actor = await sessionActor(ctx, { config: o.config, name: o.name, conn: o.conn, home, sink: log, ...(o.workload ? { workload: o.workload } : {}) });
    // Policy for SSH sessions: who approves held commands and how long they wait, and the session
    // limits (idle timeout per PCI DSS 8.2.8, max_duration, identity.max_session) — as for Postgres.
    const engine = new PolicyEngine(o.config.policy, o.config.connections);
    const approvals = { store: approvalStoreFor(ctx, { home, sink: log, drainOutbox: true, networks: o.config.masking.networks }), settings: engine.approvalSettings(o.name) };
    const { idleTimeoutMs, maxDurationMs } = engine.sessionLimits(o.name);
    const base = {
      mask: sshMaskOptions(o.config.masking),
      name: o.name, conn: o.conn, credentials: { privateKey, ...(passphrase ? { passphrase } : {}) }, sink: log, actor,
      clock: ctx.clock, fs: ctx.fs, log: ctx.log, home, ...(o.reason ? { reason: o.reason } : {}),
      approvals, limits: { idleTimeoutMs, maxDurationMs, maxSessionMs: o.config.identity.max_session }, signal: ctx.interrupt,
      admission: {
        engine, store: approvals.store, connection: o.name, sink: log, clock: ctx.clock, log: ctx.log, signal: ctx.interrupt,
        masker: new PanMasker({ anyLuhn: o.config.masking.networks === 'any_luhn' }),
        ...(o.reason ? { reason: o.reason } : {}),
      },
    };
    if (o.listen) {
      const broker = await startSshBroker({ ...base, announce: (line) => { ctx.stderr.write(`${line}\n`); }, ...(o.listen.bind ? { bind: o.listen.bind } : {}), ...(o.listen.port !== undefined ? { port: o.listen.port } : {}) });
      // Records of approve/deny/verify/sessions/… run meanwhile reach the log within seconds (outbox-drain.ts).
      const drainer = startOutboxDrain({ fs: ctx.fs, home, sink: log, log: ctx.log });
      try {
        o.listen.ready({
          connection: o.name, host: broker.host, port: broker.port, user: 'pcigate', password: broker.secret, fingerprint: broker.fingerprint,
          ssh: `ssh -p ${broker.port} pcigate@${broker.host}`,
        });
        await new Promise<void>((resolve) => {
          if (ctx.interrupt.aborted) resolve();
          else ctx.interrupt.addEventListener('abort', () => resolve(), { once: true });
        });
        return EXIT.ok;
      } finally {
        await drainer.stop();
        await broker.close();
        await drainer.drainNow();
      }
    }
    const result = await runSshDirect(
      { ...base, src: { client: o.command === undefined ? 'pcigate connect' : 'pcigate exec', host: ctx.env.HOSTNAME ?? '' }, via: o.command === undefined ? 'terminal' : 'exec' },
      { stdin: ctx.stdin, stdout: ctx.stdout as never, stderr: ctx.stderr, env: ctx.env },
      o.command,
    );
    if (ctx.interrupt.aborted) {
      ctx.stderr.write(`pcigate: interrupted${'refused' in result ? `: ${result.refused}` : ''}\n`);
      return EXIT.interrupted;
    }
    if ('refused' in result) {
      if (result.timedOut) throw new ApprovalTimeout(`not run: ${result.refused}`);
      throw new PolicyDenied(`refused by policy: ${result.refused}`);
    }
    const { exit } = result;
    if (exit.signal !== undefined) return 128 + (SIGNALS[exit.signal] ?? 1);
    return exit.code ?? 0;
  } finally {
    await log.close();
  }
}

const SIGNALS: Record<string, number> = { HUP: 1, INT: 2, QUIT: 3, ILL: 4, ABRT: 6, FPE: 8, KILL: 9, SEGV: 11, PIPE: 13, ALRM: 14, TERM: 15, USR1: 10, USR2: 12 };

/**
 * `pcigate exec CONN …` for a postgres connection (issue 7 items 5–6), for CI steps and agents:
 * - `--sql SQL` / `-f FILE`: one query string through the broker's ephemeral loopback listener (policy,
 *   masking and recording exactly as for psql), results printed masked as a table, CSV or JSON;
 * - `-- CMD ARGS…`: runs CMD with PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE/DATABASE_URL pointing at the
 *   ephemeral listener (under a pty when stdout is a terminal, plain pipes otherwise), forwards its output
 *   masked, records it as an asciicast, and returns its exit code.
 * Identity: the job's workload token when there is one, else the logged-in person (or the local account
 * where the config allows it).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { AsciicastWriter } from '../../recorder/asciicast.js';
import { auditLogOptionsFromConfig } from '../../recorder/index.js';
import type { Actor, AuditSink } from '../../recorder/types.js';
import type { Ctx } from '../cli/ctx.js';
import { EXIT } from '../cli/exit-codes.js';
import { resolveHome } from '../cli/home.js';
import type { PcigateConfig, PostgresConnection } from '../config/index.js';
import { PgSessionRefused, PgUpstreamError, SessionRefused, UsageError } from '../errors.js';
import type { PcigateError } from '../errors.js';
import { maskText, PanMasker } from '../mask/pan-masker.js';
import type { MaskCounts } from '../mask/pan-masker.js';
import { StreamMasker } from '../mask/stream-masker.js';
import { RecordedTokens } from './recorded-tokens.js';
import { redactArgv } from '../policy/argv/argv-redact.js';
import { upstreamTarget } from './pg-connect.js';
import { startPgBroker } from './pg-broker.js';
import { pgHooksFor } from './pg-hooks.js';
import type { PgHooksFor, PgSessionInfo } from './pg-hooks.js';
import { simpleQuery } from './pg-query-client.js';
import type { QueryOutcome } from './pg-query-client.js';
import type { NoticeFields } from '../pg/protocol/index.js';
import type { Statement, StatementDecision } from '../pg/proxy/hooks.js';
import { renderResults } from './result-format.js';
import type { ResultFormat } from './result-format.js';
import { sessionActor } from './session-identity.js';
import { openAuditLogWaiting } from '../sessions/audit-access.js';

export interface PgExecOptions {
  config: PcigateConfig;
  name: string;
  conn: PostgresConnection;
  home?: string;
  sql?: string;
  program?: string[];
  format: ResultFormat;
  reason?: string;
  workload?: { tokenEnv?: string };
}

export async function execPg(ctx: Ctx, o: PgExecOptions): Promise<number> {
  if ((o.sql === undefined) === (o.program === undefined)) throw new UsageError('give either --sql/-f or -- COMMAND');
  const home = resolveHome(ctx, o.home, o.config.audit.dir);
  const target = await upstreamTarget(ctx, o.conn);
  // pcigate.yaml's audit settings (checkpoints, epoch, segment size, durability) apply to this log.
  const log = await openAuditLogWaiting(ctx, auditLogOptionsFromConfig(home, o.config.audit, { createIfMissing: true }));
  const shutdown = new AbortController();
  try {
    const actor = await sessionActor(ctx, { config: o.config, name: o.name, conn: o.conn, home, sink: log, ...(o.workload ? { workload: o.workload } : {}) });
    const watch = watchRefusals(await pgHooksFor(ctx, { config: o.config, name: o.name, target, home, sink: log, signal: shutdown.signal, tokenExpiry: actor.expiresAt, ...(o.reason ? { reason: o.reason } : {}) }));
    const hooksFor = watch.hooksFor;
    const broker = await startPgBroker({
      conn: o.name, target, sink: log, identity: { actor }, clock: ctx.clock, fs: ctx.fs, log: ctx.log, home,
      bind: '127.0.0.1', port: 0, hooksFor, upstreamSuperuser: o.conn.upstream_superuser, networks: o.config.masking.networks,
      // --sql: the session-start lines ("waiting for approval A-…") go to this stderr as they happen (the
      // query client only reads the startup when it ends); a child program (psql, …) shows them itself.
      admit: o.sql === undefined ? hooksFor.admit : (info) => hooksFor.admit({ ...info, notice: (line) => { ctx.stderr.write(`${line}\n`); } }),
    });
    try {
      // The session's start may wait for an approval, bounded by the policy's approvals.wait in the broker
      // (session-admission.ts): the local client must not give up first.
      const local = { host: broker.host, port: broker.port, database: broker.database, user: broker.user, password: broker.secret, sslmode: 'disable' as const, connectTimeoutMs: 24 * 3_600_000 };
      // Notices are shown as they come: "statement held for approval A-…" must reach a CI log while the
      // statement waits (an approver needs the id), not when the wait is over.
      const notice = (n: NoticeFields) => { ctx.stderr.write(`${n.severity ?? 'NOTICE'}:  ${maskText(n.message ?? '')}\n`); };
      if (o.sql !== undefined) return report(ctx, await simpleQuery({ ...local, params: { application_name: 'pcigate exec' } }, o.sql, { onNotice: notice }).catch(refusedAtStart), o.format, watch.refusal());
      const env: Record<string, string> = {
        PGHOST: broker.host, PGPORT: String(broker.port), PGUSER: broker.user, PGPASSWORD: broker.secret,
        PGDATABASE: broker.database, PGSSLMODE: 'disable', DATABASE_URL: broker.url,
      };
      return await runRecorded(ctx, { argv: o.program!, env, home, sink: log, actor: await actor(), name: o.name, anyLuhn: o.config.masking.networks === 'any_luhn', ...(o.reason ? { reason: o.reason } : {}) });
    } finally {
      shutdown.abort();
      await broker.close();
    }
  } finally {
    await log.close();
  }
}

/** A session refused at its start (FATAL from the broker: allowed_hours, session approval) reported as a query error. */
function refusedAtStart(e: unknown): QueryOutcome {
  if (e instanceof PgUpstreamError && e.fields?.code) return { results: [], notices: [], error: { ...e.fields } };
  throw e;
}

/**
 * The hooks `pcigate exec --sql` runs its query through, noting the refusal pcigate itself gave it as an error
 * class: a statement policy denied, an approver denied or nobody decided in time (the deny decision's
 * `error`), or a session refused at its start (SessionRefused). The query client only sees the wire error,
 * whose text a server error (a trigger's RAISE) can repeat word for word.
 */
function watchRefusals(h: PgHooksFor): { hooksFor: PgHooksFor; refusal(): PcigateError | undefined } {
  let refusal: PcigateError | undefined;
  const seen = (d: StatementDecision): StatementDecision => {
    if (d.action === 'deny' && d.error) refusal = d.error;
    return d.action === 'hold' ? { ...d, until: d.until.then(seen) } : d;
  };
  const hooksFor: PgHooksFor = Object.assign((info: PgSessionInfo) => {
    const hooks = h(info);
    const decide = hooks.onStatement;
    if (!decide) return hooks;
    return { ...hooks, onStatement: (stmt: Statement) => { const d = decide(stmt); return d instanceof Promise ? d.then(seen) : seen(d); } };
  }, {
    admit: async (info: Parameters<PgHooksFor['admit']>[0]) => {
      try {
        await h.admit(info);
      } catch (e) {
        if (e instanceof PgSessionRefused && e.cause instanceof SessionRefused) refusal = e.cause;
        throw e;
      }
    },
  });
  return { hooksFor, refusal: () => refusal };
}

/**
 * Prints the outcome; the exit code says how the query string ended (ARCHITECTURE.md §6): pcigate's own
 * refusal by its class (PolicyDenied 5, ApprovalTimeout 6), never by the message's words; any other error 1.
 */
function report(ctx: Ctx, r: QueryOutcome, format: ResultFormat, refusal: PcigateError | undefined): number {
  if (r.results.length > 0) ctx.stdout.write(renderResults(r.results, format));
  if (!r.error) return EXIT.ok;
  const msg = maskText(r.error.message ?? 'error');
  ctx.stderr.write(`ERROR:  ${msg}${r.error.code ? ` (SQLSTATE ${r.error.code})` : ''}\n`);
  if (r.error.detail) ctx.stderr.write(`DETAIL:  ${maskText(r.error.detail)}\n`);
  return refusal?.exit ?? EXIT.error;
}

interface RunOptions {
  argv: string[];
  env: Record<string, string>;
  home: string;
  sink: AuditSink;
  actor: Actor;
  name: string;
  reason?: string;
  /** masking.networks any_luhn: the child's output is masked by it too, as SSH output and results are. */
  anyLuhn: boolean;
}

/**
 * Runs the child with its output masked on the way to this terminal and into an asciicast recording,
 * committed to the log with an `exec.end` record. A child that cannot be recorded is not run.
 */
async function runRecorded(ctx: Ctx, o: RunOptions): Promise<number> {
  const session = randomUUID();
  const counts: MaskCounts = {};
  const base = { session, actor: o.actor, target: { conn: o.name, kind: 'postgres' as const }, src: { client: 'pcigate exec' } };
  const text = new PanMasker({ anyLuhn: o.anyLuhn });
  const argvText = text.maskText(redactArgv(o.argv).join(' '), counts);
  await o.sink.append({ ...base, type: 'exec.start', outcome: 'success', detail: { argv: argvText, ...(o.reason ? { reason: text.maskText(o.reason) } : {}) } });
  await ctx.fs.mkdir(path.join(o.home, 'recordings'), { recursive: true, mode: 0o700 });
  const rel = path.join('recordings', `${session}.cast`);
  const tty = Boolean(ctx.stdout.isTTY);
  const cols = ctx.stdout.columns ?? 80;
  const rows = (ctx.stdout as { rows?: number }).rows ?? 24;
  const cast = await AsciicastWriter.create(ctx.fs, path.join(o.home, rel), ctx.clock, { width: cols, height: rows, title: `${o.name}: ${argvText}` });
  // Tokens known by their form the child prints are hidden in the recording, not on this terminal (recorded-tokens.ts).
  // (one hold-back for both: stdout and stderr are one stream of output events in the recording, kept in order; what
  // its idle release cannot write is the recording's write error, which cast.close() throws)
  const tokens = new RecordedTokens((t) => cast.output(t), () => undefined);
  const out = new StreamMasker((b) => { ctx.stdout.write(b); tokens.write(b); }, { counts, anyLuhn: o.anyLuhn });
  const err = new StreamMasker((b) => { ctx.stderr.write(b); tokens.write(b); }, { counts, anyLuhn: o.anyLuhn });
  const started = ctx.clock.micros();
  let exit: { code: number; signal?: string };
  try {
    exit = tty ? await runPty(ctx, o, cols, rows, out) : await runPipes(ctx, o, out, err);
  } finally {
    try {
      out.flush();
      err.flush();
      tokens.flush();
    } finally {
      await cast.close();
    }
  }
  const blob = await o.sink.commitBlob(path.join(o.home, rel), 'asciicast');
  await o.sink.append({
    ...base, type: 'exec.end', outcome: exit.code === 0 ? 'success' : 'failure', blobs: [blob],
    detail: { exit_code: exit.code, ...(exit.signal ? { signal: exit.signal } : {}), duration_ms: Number(ctx.clock.micros() - started) / 1000, masked: counts },
  });
  return exit.code;
}

function runPipes(ctx: Ctx, o: RunOptions, out: StreamMasker, err: StreamMasker): Promise<{ code: number; signal?: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(o.argv[0]!, o.argv.slice(1), { env: { ...ctx.env, ...o.env }, stdio: ['inherit', 'pipe', 'pipe'] });
    child.stdout.on('data', (b: Buffer) => out.write(b));
    child.stderr.on('data', (b: Buffer) => err.write(b));
    const onAbort = () => child.kill('SIGTERM');
    ctx.interrupt.addEventListener('abort', onAbort, { once: true });
    child.once('error', (e) => reject(new UsageError(`could not run ${o.argv[0]}: ${e.message}`, { cause: e })));
    child.once('close', (code, signal) => {
      ctx.interrupt.removeEventListener('abort', onAbort);
      resolve(signal ? { code: 128 + (SIGNALS[signal] ?? 1), signal } : { code: code ?? 1 });
    });
  });
}

async function runPty(ctx: Ctx, o: RunOptions, cols: number, rows: number, out: StreamMasker): Promise<{ code: number; signal?: string }> {
  const pty = await import('node-pty');
  const child = pty.spawn(o.argv[0]!, o.argv.slice(1), { name: ctx.env.TERM ?? 'xterm-256color', cols, rows, cwd: ctx.cwd, env: { ...ctx.env, ...o.env } as Record<string, string> });
  const onInput = (b: Buffer) => child.write(b.toString('utf8'));
  if (ctx.stdin.isTTY) ctx.stdin.setRawMode?.(true);
  ctx.stdin.on('data', onInput);
  child.onData((d) => out.write(Buffer.from(d, 'utf8')));
  return new Promise((resolve) => {
    child.onExit(({ exitCode, signal }) => {
      ctx.stdin.off('data', onInput);
      if (ctx.stdin.isTTY) ctx.stdin.setRawMode?.(false);
      ctx.stdin.pause();
      resolve(signal ? { code: 128 + signal, signal: String(signal) } : { code: exitCode });
    });
  });
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15, SIGPIPE: 13 };

/**
 * One SSH session through pcigate: the broker side of the SSH bridge (ARCHITECTURE.md §3, issue 7). It
 * connects upstream with the broker-held key, decides every request with the connection's SSH policy,
 * records each decision durably *before* acting on it (fail closed), masks upstream output with the
 * streaming masker — what the user's terminal shows is what the recording holds — and writes one
 * asciicast v2 recording per shell/exec channel, whose SHA-256 and size go into the log periodically and
 * at session end. Exec commands that policy holds wait for an approval (ssh-approval.ts); the policy's
 * idle timeout (PCI DSS 8.2.8), max_duration and identity.max_session close the session — with the same
 * timers, records and messages as Postgres sessions (session-limits.ts).
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { Client } from 'ssh2';
import { AsciicastWriter } from '../../recorder/asciicast.js';
import type { Actor, AuditEvent, AuditSink, BlobRef, Outcome, Source, Target } from '../../recorder/types.js';
import type { Clock, Fs, Logger } from '../cli/ctx.js';
import { AuditWriteError } from '../errors.js';
import type { SshConnection } from '../config/index.js';
import { mergeCounts, PanMasker } from '../mask/pan-masker.js';
import type { MaskCounts } from '../mask/pan-masker.js';
import { StreamMasker } from '../mask/stream-masker.js';
import type { StreamMaskerOptions } from '../mask/stream-masker.js';
import { RecordedTokens } from './recorded-tokens.js';
import type { PolicyIdentity } from '../policy/evaluate.js';
import { identityOfActor } from '../policy/pg-policy-hooks.js';
import { decideSsh } from '../policy/ssh-rules.js';
import type { SshPolicyDecision } from '../policy/ssh-rules.js';
import type { ChannelInfo, ChannelTaps, LocalSend, SessionBridgeHooks, SshDecision, SshRequest } from '../ssh/session-bridge.js';
import { connectSshUpstream } from '../ssh/upstream.js';
import { commandSecrets, redactCommandLine, redactSecretsIn } from '../policy/argv/argv-redact.js';
import { holdSshCommand } from './ssh-approval.js';
import { SftpAudit, SftpLimitError, SftpProtocolError } from '../ssh/sftp-audit.js';
import type { SftpOp } from '../ssh/sftp-audit.js';
import { SftpOutput } from '../ssh/sftp-output.js';
import { TerminalMasker } from '../ssh/terminal-masker.js';
import { decideEnv } from './ssh-env.js';
import { FailureRecords } from './failure-records.js';
import { readAsShell, smuggledSyntax } from './ssh-exec/index.js';
import type { HoldOutcome, SshApprovals } from './ssh-approval.js';
import { maxSessionMessage } from '../identity/index.js';
import { effectiveLimits, limitOutcome, SessionLimits, systemTimers } from './session-limits.js';
import type { LimitHit, LimitOutcome } from './session-limits.js';
import { Pending } from './pending.js';

export interface SshSessionOptions {
  /** The connection's name in the config. */
  name: string;
  conn: SshConnection;
  credentials: { privateKey: string; passphrase?: string };
  sink: AuditSink;
  actor: Actor;
  src: Source;
  clock: Clock;
  fs: Fs;
  log: Logger;
  home: string;
  /** Masking of terminal output (and of input, when the connection records input). */
  mask?: Omit<StreamMaskerOptions, 'counts' | 'timer'>;
  reason?: string;
  /** How often a running recording's hash is committed to the log (default 5 minutes). */
  commitEveryMs?: number;
  /** `listener` for --listen, `terminal` for the in-terminal client, `exec` for `pcigate exec`. */
  via: 'listener' | 'terminal' | 'exec';
  /** Where held exec commands wait for approval; without it a held command is refused. */
  approvals?: SshApprovals;
  /**
   * The policy's session limits and identity.max_session; without them none are enforced (the broker
   * always passes them). "Idle" for SSH: no channel data in either direction.
   */
  limits?: { idleTimeoutMs: number; maxDurationMs: number; maxSessionMs?: number };
  /** When the token behind the actor expires (identity.max_session); undefined for a local identity. */
  tokenExpiresAt?: number;
  /** When the policy's allowed_hours close for this session (session-admission.ts): a deadline like max_duration. */
  windowEndsAt?: number;
  /** Ends pending approval waits (Ctrl-C, broker shutdown). */
  signal?: AbortSignal;
  /** How long a session.end the log refuses is retried before end() rejects; default until abandonEnd(). */
  endRetryMs?: number;
}

/** A session.end the log refused is tried again after this, then twice as long each time up to END_RETRY_MAX_MS. */
const END_RETRY_FIRST_MS = 1_000;
const END_RETRY_MAX_MS = 30_000;

/** The last marker of a recording whose channel had not exited when its session ended. */
const CUT_MARKER = 'cut: the session ended before this channel exited';

/** Characters of an exit-signal's name kept for the log and the recording (the real ones are a few). */
const MAX_SIGNAL_NAME = 64;

/** After this long without output, a held incomplete UTF-8 tail is sent (longer than the masker's 20 ms idle release). */
const UTF8_TAIL_IDLE_MS = 40;

interface Recording {
  cast: AsciicastWriter;
  rel: string;
  /** Writes a line of pcigate's own to the channel's stderr (after what the maskers hold back). */
  notice(line: string): void;
  /**
   * Set once the channel has exited: its recording is complete and closed then, not at session end (a
   * connection running commands one after another held one open file per command until it ended).
   */
  closing?: Promise<void>;
  /** Records what the token hold-backs keep (recorded-tokens.ts), before the recording's last marker. */
  heldTokens?: () => void;
  /** Set when the session ended before the channel exited: what the upstream still sends goes nowhere. */
  cut?: boolean;
  /** Settles when the client has closed the channel (LocalSend.closed); undefined: not a client's channel. */
  clientClosed?: Promise<void>;
}

/**
 * A command that an allow or hold pattern with a wildcard matched is refused when the wildcard's text holds
 * shell syntax that could run another command (ssh-exec/): `echo *` must not run `echo x; rm -rf /`.
 * A command policy would run or hold is then read as the shell reads it, against the deny and hold patterns
 * (readAsShell): `r''m -rf /` under `rm *` is refused.
 */
function execSyntaxGuard(allow: SshConnection['allow'], req: SshRequest, d: SshPolicyDecision): SshPolicyDecision {
  if (req.kind !== 'exec') return d;
  const m = /^ssh\.exec\.(allow|hold)\[(\d+)\]$/.exec(d.rule);
  const pattern = m ? allow.exec[m[1] as 'allow' | 'hold'][Number(m[2])] : undefined;
  if (d.action === 'deny') return d;
  const why = smuggledSyntax(req.command.trim(), pattern ?? '');
  if (why !== undefined) return { action: 'deny', rule: 'ssh.exec.shell_syntax', reason: why };
  // Deny and hold patterns read text; the shell reads it otherwise (`r''m`, `/bin/rm`, `env rm`): read it so too.
  return readAsShell(req.command.trim(), allow.exec, d.action) ?? d;
}

export class SshSession {
  readonly id = randomUUID();
  readonly upstream: Client;
  readonly #o: SshSessionOptions;
  readonly #target: Target;
  readonly #startedUs: bigint;
  readonly #recordings: Recording[] = [];
  readonly #counts: MaskCounts = {};
  readonly #commitTimer: ReturnType<typeof setInterval>;
  #bytesOut = 0;
  #bytesIn = 0;
  #channels = 0;
  #denied = 0;
  #lastExit: { code?: number; signal?: string } | undefined;
  #problem: unknown;
  #ended = false;
  #endPromise: Promise<void> | undefined;
  readonly #endAbort = new AbortController();
  #limits: SessionLimits | undefined;
  /** Decisions waiting for an approver: the session is not idle meanwhile (the wait has its own bound). */
  #busy = 0;
  /** Set when pcigate closed the session for a time limit: session.end says so. */
  #closedFor: LimitOutcome['reason'] | undefined;
  readonly #closing = new AbortController();
  readonly #identity: PolicyIdentity;
  /** Masks command lines and reasons for the log and the recording with the same settings as the output. */
  readonly #text: PanMasker;
  /**
   * `ssh.request` records that refuse something (and env requests): a client can send any number of them, so
   * per kind, outcome and rule the first ones in a minute are recorded one by one and the rest counted into one
   * record (failure-records.ts). A request that opens something (shell, subsystem) is recorded on its own,
   * durably before it opens.
   */
  readonly #requests: FailureRecords;
  /** Every ssh.request decided in this session, recorded one by one or counted into a summary. */
  #requestCount = 0;
  /** sftp operations recorded (ssh.sftp) in this session. */
  #sftpOps = 0;

  private constructor(o: SshSessionOptions, upstream: Client, target: Target, startedUs: bigint) {
    this.#o = o;
    this.upstream = upstream;
    this.#target = target;
    this.#startedUs = startedUs;
    this.#commitTimer = setInterval(() => { this.#committing ??= this.#commitRunning().finally(() => { this.#committing = undefined; }); }, o.commitEveryMs ?? 300_000);
    this.#commitTimer.unref?.();
    this.#identity = identityOfActor(o.actor);
    this.#requests = new FailureRecords({
      append: (e) => o.sink.append(e),
      warn: (m) => { this.#problem ??= new Error(m); o.log.warn(`ssh session ${this.id}: ${m}`); },
      now: () => o.clock.now(),
      key: (e) => {
        const d = e.detail as { request?: { kind?: string }; rule?: string } | undefined;
        return `${e.type}\0${d?.request?.kind ?? ''}\0${e.outcome}\0${d?.rule ?? ''}`;
      },
    });
    this.#text = new PanMasker({ ...(o.mask?.style ? { style: o.mask.style } : {}), anyLuhn: o.mask?.anyLuhn === true });
    if (o.limits) {
      const startedAt = o.clock.now();
      const expiry = o.tokenExpiresAt !== undefined ? { tokenExpiresAt: o.tokenExpiresAt } : {};
      this.#limits = new SessionLimits({
        limits: effectiveLimits({ startedAt, ...o.limits, ...expiry, ...(o.windowEndsAt !== undefined ? { windowEndsAt: o.windowEndsAt } : {}) }),
        timers: systemTimers(o.clock), startedAt, ...expiry,
        busy: () => this.#busy > 0,
        onLimit: (hit) => { void this.#pending.add(this.#limitReached(hit)); },
      });
      this.#limits.start();
    }
  }

  /**
   * Connects upstream and records `session.start`. A refused upstream (host key mismatch, auth) is
   * recorded as a failed session.start and rethrown.
   */
  static async open(o: SshSessionOptions): Promise<SshSession> {
    const startedUs = o.clock.micros();
    const target: Target = { conn: o.name, kind: 'ssh', host: `${o.conn.host}:${o.conn.port}`, user: o.conn.user };
    const base = { actor: o.actor, account: { kind: 'ssh' as const, name: o.conn.user }, src: o.src, target };
    let upstream: Client;
    try {
      upstream = await connectSshUpstream({
        host: o.conn.host,
        port: o.conn.port,
        user: o.conn.user,
        privateKey: o.credentials.privateKey,
        ...(o.credentials.passphrase ? { passphrase: o.credentials.passphrase } : {}),
        hostKey: o.conn.host_key,
        timeoutMs: o.conn.connect_timeout,
      });
    } catch (err) {
      await o.sink.append({ ...base, type: 'session.start', outcome: 'failure', detail: { kind: 'ssh', via: o.via, error: (err as Error).message, code: (err as { code?: string }).code } });
      throw err;
    }
    const s = new SshSession(o, upstream, target, startedUs);
    try {
      await s.#record({ type: 'session.start', outcome: 'success', detail: { kind: 'ssh', via: o.via, ...(o.reason ? { reason: s.#text.maskText(o.reason) } : {}) } });
    } catch (err) {
      upstream.end();
      clearInterval(s.#commitTimer);
      s.#limits?.stop();
      throw err;
    }
    return s;
  }

  /** The hooks the bridge calls. */
  hooks(): SessionBridgeHooks {
    return {
      decide: (req, notice, signal) => this.decide(req, notice, signal),
      openChannel: (info, send) => this.openChannel(info, send),
      onError: (err) => {
        this.#problem ??= err;
        this.#o.log.warn(`ssh session ${this.id}: ${(err as Error).message}`);
      },
      env: (name, value, refused) => this.env(name, value, refused),
    };
  }

  /** A session channel refused because the connection holds `max` open already: counted like any refusal. */
  refuseChannel(max: number): void {
    this.#requestCount++;
    this.#denied++;
    this.#requests.record({
      ...this.#base(), type: 'ssh.request', outcome: 'denied',
      detail: { request: { kind: 'session-channel' }, decision: 'deny', rule: 'ssh.max_channels', reason: `the connection already holds ${max} session channels open` },
    });
  }

  /**
   * Decides an env request (ssh-env.ts) and records it — the name PAN-masked, never the value, only its size.
   * The names passed on are also in the shell's or command's own record, which is durable before it opens, so
   * these records may be counted into a summary (#requests) without anything running unrecorded.
   */
  env(name: string, value: string, refused?: string): boolean {
    if (this.#final) { this.#afterEnd('env'); return false; }
    const d = refused !== undefined ? { action: 'deny' as const, rule: 'ssh.env.bound', reason: refused } : decideEnv(this.#o.conn.allow.env, name, value);
    this.#requestCount++;
    if (d.action === 'deny') this.#denied++;
    this.#requests.record({
      ...this.#base(), type: 'ssh.request', outcome: d.action === 'allow' ? 'success' : 'denied',
      detail: { request: { kind: 'env', name: this.#text.maskText(name, this.#counts), value_bytes: Buffer.byteLength(value) }, decision: d.action, rule: d.rule, reason: this.#text.maskText(d.reason) },
    });
    return d.action === 'allow';
  }

  /**
   * Decides with the SSH policy and records the decision durably before returning it. A held exec command
   * is recorded as pending, waits for an approval (telling the user through `notice`), and is recorded
   * again with the final decision and the approval's id. `signal` (the client closed the channel) ends the
   * wait: refused, `approval_state: aborted`.
   */
  decide(req: SshRequest, notice?: (line: string) => void, signal?: AbortSignal): Promise<SshDecision> {
    if (this.#final) return Promise.resolve(this.#afterEnd(req.kind));
    return this.#pending.add(this.#decide(req, notice, signal));
  }

  /**
   * session.end is being written: nothing more is recorded for the session (a record after it would be outside the
   * session). A request still arriving then (a packet in flight from a client the broker already disconnected) is
   * refused unrecorded, with a warning in the broker's own log.
   */
  #final = false;

  #afterEnd(kind: string): { action: 'deny'; reason: string } {
    this.#o.log.warn(`ssh session ${this.id}: a ${kind} request arrived after the session ended; refused, not recorded`);
    return { action: 'deny', reason: 'the session has ended' };
  }

  /**
   * Records still being made: decisions (a held command's final record), a time limit's record. The session's end
   * (#end) waits for them, so they come before session.end, as the session's counts do (a held command's wait ends
   * with the session: #closing).
   */
  readonly #pending = new Pending();

  /** The periodic commitment of running recordings in progress (#commitRunning): #end waits for it first. */
  #committing: Promise<void> | undefined;

  async #decide(req: SshRequest, notice?: (line: string) => void, signal?: AbortSignal): Promise<SshDecision> {
    const decided = execSyntaxGuard(this.#o.conn.allow, req, decideSsh(this.#o.conn.allow, req));
    // A reason can quote the command, a reading of it or a pattern matching it (`read as the shell reads it ('mysql
    // -pX')`): the credentials redacted from the command are redacted from it too, for the log, the approver's notice
    // and the client's channel (which is recorded).
    const policy = req.kind === 'exec' ? { ...decided, reason: redactSecretsIn(decided.reason, commandSecrets(req.command), `rule ${decided.rule} (its reason quotes the command, which holds a credential: see the recorded command)`) } : decided;
    // Once the session ends nothing opens: its upstream is ending, so a command allowed now would be recorded as
    // run and never run (a held one is refused below, its wait ended by #closing).
    const d = this.#closing.signal.aborted && policy.action === 'allow'
      ? { action: 'deny' as const, rule: 'session_end', reason: 'the session is closing' } : policy;
    const type = req.kind === 'exec' ? 'ssh.exec' : 'ssh.request';
    // A command line can carry a PAN (`grep 4111… orders.csv`): the log only ever sees it masked. So can every
    // other text the client chooses: a subsystem name, a forwarding host or socket path.
    // The env names passed on with a shell or command are in its record (none: no `env` field).
    const { env: envNames, ...plain } = req as SshRequest & { env?: string[] };
    const withEnv = envNames?.length ? { env: envNames.map((n) => this.#text.maskText(n, this.#counts)) } : {};
    // A credential on it (`TOKEN=…`, `--password …`, a URL's password) is redacted, as `pcigate exec`'s argv is.
    const logged = plain.kind === 'exec' ? { ...plain, command: this.#text.maskText(redactCommandLine(plain.command), this.#counts), ...withEnv }
      : plain.kind === 'subsystem' ? { ...plain, name: this.#text.maskText(plain.name, this.#counts) }
        : plain.kind === 'port-forwarding' ? { ...plain, host: this.#text.maskText(plain.host, this.#counts) }
          : plain.kind === 'shell' ? { ...plain, ...withEnv } : plain;
    if (req.kind !== 'exec') this.#requestCount++;
    // What opens nothing (a refusal, or X11, agent and port forwarding, which are refused even when granted:
    // bridging them is not implemented) is counted into a summary past a burst; the client's answer does not
    // wait for it.
    if (req.kind !== 'exec' && !(d.action === 'allow' && (req.kind === 'shell' || req.kind === 'subsystem'))) {
      const action = d.action === 'allow' ? 'allow' : 'deny';
      if (action === 'deny') this.#denied++;
      this.#requests.record({ ...this.#base(), type, outcome: action === 'allow' ? 'success' : 'denied', detail: { request: logged, decision: action, rule: d.rule, reason: this.#text.maskText(d.reason) } });
      return action === 'allow' ? { action } : { action, reason: d.reason };
    }
    let action: 'allow' | 'deny' = d.action === 'hold' ? 'deny' : d.action;
    let reason = d.reason;
    let rule = d.rule;
    let held: HoldOutcome | undefined;
    if (d.action === 'hold' && req.kind === 'exec' && this.#o.approvals && !this.#closing.signal.aborted) {
      await this.#record({ type, outcome: 'pending', detail: { request: logged, decision: 'hold', rule: d.rule, reason: this.#text.maskText(reason) } });
      // The session may have begun to end while that was written: no approval is asked for (or used) then.
      held = this.#closing.signal.aborted
        ? { action: 'deny', approval: '', state: 'aborted', reason: 'the session closed before an approval was asked for; the command was not run' }
        : await this.#hold(req.command, d, signal, notice);
      action = held.action;
      reason = held.action === 'allow' ? `approved (${held.approval})` : held.reason;
      // Approved as the session ended: its upstream is ending, so it is not run, and its record says so.
      if (action === 'allow' && this.#closing.signal.aborted) {
        action = 'deny';
        rule = 'session_end';
        reason = `approved (${held.approval}), but the session closed before it could run`;
        held = { action: 'deny', approval: held.approval, state: 'aborted', reason };
      }
    } else if (d.action === 'hold') {
      reason = `${d.reason}; it needs an approval, and ${this.#o.approvals ? 'the session is closing' : 'no approvals store is configured'}`;
    }
    const outcome: Outcome = action === 'allow' ? 'success' : 'denied';
    if (action === 'deny') this.#denied++;
    const approval = held?.approval ? { approval: held.approval, ...(held.action === 'deny' ? { approval_state: held.state } : {}) } : {};
    await this.#record({ type, outcome, detail: { request: logged, decision: action, rule, reason: this.#text.maskText(reason), ...approval } });
    if (action === 'allow' && this.#closing.signal.aborted) {
      // The session began to end while its record was written: it is not opened (openChannel refuses), and a second
      // record says so, before session.end (#end waits for this decision).
      const why = 'the session closed before it could run';
      this.#denied++;
      await this.#record({ type, outcome: 'denied', detail: { request: logged, decision: 'deny', rule: 'session_end', reason: why } });
      return { action: 'deny', reason: why };
    }
    if (action === 'allow') return { action };
    const timedOut = held?.action === 'deny' && (held.state === 'timeout' || held.state === 'expired');
    return { action: 'deny', reason, ...(timedOut ? { timedOut } : {}) };
  }

  /** Waits for an approval of a held command (ssh-approval.ts), the session counted busy meanwhile; fails closed. */
  async #hold(command: string, d: { rule: string; reason: string }, signal: AbortSignal | undefined, notice: ((line: string) => void) | undefined): Promise<HoldOutcome> {
    this.#busy++;
    try {
      return await holdSshCommand({
        approvals: this.#o.approvals!, connection: this.#o.name, identity: this.#identity, session: this.id, command,
        rule: d.rule, why: d.reason, signal: signal ? AbortSignal.any([this.#waitSignal(), signal]) : this.#waitSignal(), ...(this.#o.reason ? { reason: this.#o.reason } : {}), ...(notice ? { notice } : {}),
      });
    } catch (err) {
      // Fail closed: an approval that cannot be filed, read or used never lets the command run.
      this.#o.log.warn(`ssh session ${this.id}: approval failed: ${(err as Error).message}`);
      return { action: 'deny', approval: '', state: 'aborted', reason: 'the approval could not be completed; the command was not run' };
    } finally {
      this.#busy--;
      this.#limits?.activity();
    }
  }

  /** Approval waits end with the session (time limit) or the caller's signal (Ctrl-C, shutdown). */
  #waitSignal(): AbortSignal {
    return this.#o.signal ? AbortSignal.any([this.#o.signal, this.#closing.signal]) : this.#closing.signal;
  }

  /** Opens the recording and the maskers for a granted shell/exec/subsystem channel. */
  async openChannel(info: ChannelInfo, send: LocalSend): Promise<ChannelTaps> {
    // Allowed before the session began to end, opened after: its upstream is ending and its recording would be
    // opened after the end closed and committed the others. The bridge refuses the channel.
    if (this.#closing.signal.aborted) throw new Error(`the session is closing; the ${info.kind} was not opened`);
    const n = this.#channels++;
    const rel = path.join('recordings', `${this.id}-${n}.cast`);
    await this.#o.fs.mkdir(path.join(this.#o.home, 'recordings'), { recursive: true, mode: 0o700 });
    // Its command as the recording shows it: a credential on it redacted (as in its ssh.exec record).
    const command = info.command !== undefined ? redactCommandLine(info.command) : undefined;
    const cast = await AsciicastWriter.create(this.#o.fs, path.join(this.#o.home, rel), this.#o.clock, {
      width: info.pty?.cols ?? 80,
      height: info.pty?.rows ?? 24,
      title: this.#text.maskText(`${this.#o.name}: ${info.kind === 'shell' ? 'shell' : command ?? info.kind}`),
      // The client chooses its terminal type as any text: masked (the remote side gets it as sent).
      env: { TERM: this.#text.maskText(info.pty?.term ?? 'dumb', this.#counts) },
    });
    const recording: Recording = { cast, rel, notice: () => {}, ...(send.closed ? { clientClosed: send.closed } : {}) };
    this.#recordings.push(recording);
    cast.marker(info.kind === 'shell' ? 'shell: allowed' : this.#text.maskText(`${info.kind}: ${command ?? ''}: allowed`));
    const maskOpts = { ...this.#o.mask, counts: this.#counts };
    // Fail closed: output reaches the user only once the recording holds it. Each masked chunk goes to the
    // recording and is sent, in order, when that write has succeeded; when a write fails nothing more is sent,
    // the user is told why and the channel is closed (wireChannel). What the user saw is what was recorded.
    let delivery: Promise<void> = Promise.resolve();
    let backlog = 0;
    let failure: unknown;
    const onFailure: Array<(err: unknown) => void> = [];
    const fail = (e: unknown) => {
      if (failure !== undefined) return;
      failure = e;
      this.#problem ??= e;
      this.#o.log.warn(`ssh session ${this.id}: ${(e as Error).message}`);
      // pcigate's own line, sent unrecorded (the recording is what failed); session.end records the failure.
      const cause = (e as { cause?: { code?: string } }).cause?.code;
      void send.stderr(Buffer.from(`\r\npcigate: the session recording could not be written${cause ? ` (${cause})` : ''}; output is withheld and the ${info.kind} is closed\r\n`));
      for (const cb of onFailure) cb(e);
    };
    const deliver = (b: Uint8Array, to: (b: Buffer) => void | Promise<void>, record: () => void) => {
      if (failure !== undefined) throw failure;
      if (recording.cut) return; // the session has ended (its client gone): the recording ends at its cut marker
      try {
        record();
      } catch (e) {
        fail(e);
        throw e;
      }
      const written = cast.written();
      written.catch(() => undefined); // handled by the chain below, which may reach it only later
      const buf = Buffer.from(b);
      backlog += buf.length;
      delivery = delivery.then(() => written).then(() => { backlog -= buf.length; return to(buf); });
      delivery.catch(fail);
    };
    // Read as a terminal shows it: escape sequences between a card number's digits hide none of them (terminal-masker.ts).
    // A release on the maskers' idle timer that fails (the recording cannot be written) fails the channel, as a
    // write does, instead of throwing from the timer, where nothing catches it and the listener process ended.
    const termOpts = { ...maskOpts, onError: fail };
    // With record_input, the end of what the user was last shown: a prompt for a secret there (`Password:`, sudo's,
    // `read -s`) has the keystrokes up to the next Enter recorded as stars (PromptWatch).
    const prompt = this.#o.conn.record_input ? new PromptWatch() : undefined;
    // Tokens known by their form that the terminal shows (`cat .env`) are hidden in the recording; the user sees them.
    // (one hold-back for stdout and stderr: they are one stream of output events in the recording, kept in order)
    const toRecording = (write: (b: Buffer) => void) => new RecordedTokens((t) => { if (!recording.cut && !recording.closing) write(t); }, fail);
    const outTokens = toRecording((t) => cast.output(t));
    const out = new TerminalMasker((b) => { this.#bytesOut += b.length; prompt?.shown(b); deliver(b, send.stdout, () => outTokens.write(b)); }, termOpts);
    const err = new TerminalMasker((b) => { this.#bytesOut += b.length; prompt?.shown(b); deliver(b, send.stderr, () => outTokens.write(b)); }, termOpts);
    // The masker keeps an incomplete UTF-8 sequence at the end of a chunk even past its idle release, waiting
    // for the rest of the character. Binary protocols (sftp, scp, rsync) then wait for that byte forever: the
    // remote side sends nothing more until the client answers, and the client needs the byte first. A held
    // tail of such bytes only is released once the stream has been idle a little longer than the masker's idle
    // release, its context kept (releaseAll): the partial character may begin a full-width digit or a no-break
    // space between digit groups, so what follows is still read after it.
    const settle = (m: TerminalMasker) => {
      let tail = Buffer.alloc(0);
      let timer: ReturnType<typeof setTimeout> | undefined;
      return (b: Buffer) => {
        if (timer) clearTimeout(timer);
        tail = Buffer.concat([tail, b.subarray(Math.max(0, b.length - 3))]).subarray(-3);
        m.write(b);
        if (m.held === 0) return;
        timer = setTimeout(() => {
          timer = undefined;
          try {
            m.release();
            if (m.held > 0 && m.held <= 3 && tail.subarray(-m.held).every((x) => x >= 0x80)) m.releaseAll();
          } catch (e) { fail(e); }
        }, UTF8_TAIL_IDLE_MS);
        timer.unref?.();
      };
    };
    const writeOut = settle(out);
    const writeErr = settle(err);
    const inTokens = this.#o.conn.record_input ? toRecording((t) => cast.input(t)) : undefined;
    const input = inTokens ? new StreamMasker((b) => inTokens.write(b), { ...maskOpts, idleMs: Infinity }) : undefined;
    recording.heldTokens = () => {
      try {
        outTokens.flush();
        inTokens?.flush();
      } catch (e) {
        fail(e);
        throw e;
      }
    };
    recording.notice = (line) => {
      out.flush();
      err.flush();
      recording.heldTokens?.();
      const text = Buffer.from(`\r\n${line}\r\n`);
      deliver(text, send.stderr, () => { cast.output(text); cast.marker(line); });
    };
    // An sftp subsystem's file operations are each recorded (ssh.sftp) before the server gets them; the
    // server's refusals are recorded as they come. Paths are PAN-masked as any text the client chooses.
    const sftp = info.kind === 'subsystem' && info.command === 'sftp' ? new SftpAudit() : undefined;
    // Its output is masked packet by packet, a file's read data as one stream per handle (sftp-output.ts).
    const sftpOut = sftp && new SftpOutput(sftp, maskOpts, (b) => { this.#bytesOut += b.length; deliver(b, send.stdout, () => cast.output(b)); }, fail);
    const channel = n;
    const sftpRecord = (outcome: Outcome, detail: Record<string, unknown>) => this.#record({ type: 'ssh.sftp', outcome, detail: { channel, ...detail } });
    // A handle the audit never saw opened is the client's bytes (hex): masked as a path is.
    const mask = (v: string | undefined) => (v === undefined ? undefined : this.#text.maskText(v, this.#counts));
    const masked = (op: SftpOp) => ({
      ...op,
      ...(op.path !== undefined ? { path: mask(op.path) } : {}),
      ...(op.to !== undefined ? { to: mask(op.to) } : {}),
      ...(op.handle !== undefined ? { handle: mask(op.handle) } : {}),
      ...(op.to_handle !== undefined ? { to_handle: mask(op.to_handle) } : {}),
    });
    return {
      stdout: (b) => {
        this.#limits?.activity();
        if (!sftpOut) { writeOut(b); return; }
        for (const f of sftpOut.write(b)) {
          sftpRecord('failure', { op: f.op, ...(f.path !== undefined ? { path: mask(f.path) } : {}), status: f.status, message: this.#text.maskText(f.message) }).catch(fail);
        }
      },
      ...(sftp ? {
        gate: (b: Buffer) => {
          let ops: SftpOp[];
          try {
            ops = sftp.fromClient(b);
          } catch (e) {
            if (!(e instanceof SftpProtocolError)) throw e;
            // A packet that cannot be read, or more requests or handles than the audit tracks: the channel is
            // closed (the rejection fails it) with the reason recorded, and these bytes are never sent.
            const rule = e instanceof SftpLimitError ? 'ssh.sftp.limit' : 'ssh.sftp.protocol';
            return sftpRecord('denied', { rule, reason: e.message }).then(() => {
              void send.stderr(Buffer.from(`pcigate: ${e.message}; the sftp channel is closed\r\n`));
              throw e;
            });
          }
          if (ops.length === 0) return undefined;
          this.#sftpOps += ops.length;
          return ops.reduce<Promise<unknown>>((p, op) => p.then(() => sftpRecord('success', masked(op))), Promise.resolve()).then(() => undefined);
        },
      } : {}),
      stderr: (b) => { this.#limits?.activity(); writeErr(b); },
      input: (b) => {
        this.#limits?.activity();
        this.#bytesIn += b.length;
        if (failure !== undefined) throw failure;
        input?.write(prompt ? prompt.typed(b) : b);
      },
      resize: (cols, rows) => {
        // (what was shown before it, held for a token, comes before it)
        try {
          outTokens.release();
        } catch (e) {
          fail(e);
          throw e;
        }
        cast.resize(cols, rows);
      },
      flush: () => { sftpOut?.end(); out.flush(); err.flush(); input?.flush(); recording.heldTokens?.(); },
      exit: (exit) => {
        // The upstream names the signal (RFC 4254 §6.10: any string): masked as any text it chooses, and bounded.
        const e = exit.signal === undefined ? exit : { signal: this.#text.maskText(exit.signal, this.#counts).slice(0, MAX_SIGNAL_NAME) };
        this.#lastExit = e;
        if (recording.cut) return; // the recording ended at its cut marker, and end() closes it
        recording.heldTokens?.();
        cast.marker(e.signal !== undefined ? `exit-signal ${e.signal}` : `exit-status ${e.code ?? 0}`);
        recording.closing = cast.close();
        recording.closing.catch(() => undefined); // reported by end(), which awaits it
      },
      delivered: () => delivery,
      backlog: () => backlog,
      onFailure: (cb) => { onFailure.push(cb); },
    };
  }

  /**
   * Closes recordings, commits their hashes and records `session.end`. Idempotent: a second call returns the
   * first call's promise. A session.end the log cannot take (a full disk) is not dropped: it is tried again,
   * after 1 s, then twice as long each time up to 30 s, until it is written (with `ended_at`, when the session
   * really ended, and `end_retries`), until `endRetryMs` has passed, or until abandonEnd(); then it rejects with
   * an AuditWriteError naming the session and its recordings.
   */
  end(outcome?: Outcome, error?: string): Promise<void> {
    this.#endPromise ??= this.#end(outcome, error);
    return this.#endPromise;
  }

  /** Stops retrying an unrecorded session.end: one last attempt now, then end() rejects if it fails too. */
  abandonEnd(): void {
    this.#endAbort.abort();
  }

  async #end(outcome?: Outcome, error?: string): Promise<void> {
    this.#ended = true;
    clearInterval(this.#commitTimer);
    this.#limits?.stop();
    this.#closing.abort();
    this.upstream.end();
    // A periodic commitment under way syncs the recordings this closes, and its record comes before session.end.
    await this.#committing;
    const blobs: BlobRef[] = [];
    let recordingError: string | undefined;
    // A channel that has not exited when the session ends (the client or the connection dropped mid-command): its
    // recording stops where the session did, without an exit. The recording and session.end say so (`cut`).
    const cut: string[] = [];
    for (const r of this.#recordings) {
      if (!r.closing) {
        cut.push(r.rel);
        // (what the token hold-back keeps is recorded first; from then on, what the upstream still sends goes nowhere)
        try { r.heldTokens?.(); } catch { /* a failed recording: recording_error says so */ }
        r.cut = true;
        try { r.cast.marker(CUT_MARKER); } catch { /* as above */ }
      }
      try {
        await (r.closing ?? r.cast.close());
      } catch (err) {
        recordingError = (err as Error).message;
      }
      // A recording whose write failed is committed all the same: it was cut back to its last whole write and
      // holds exactly what the user was shown before pcigate closed the channel (recording_error says why).
      try {
        blobs.push({ ...(await this.#o.sink.commitBlob(path.join(this.#o.home, r.rel), 'asciicast')), path: r.rel });
      } catch (err) {
        recordingError ??= (err as Error).message;
      }
    }
    // A decision still being made (a held command: its wait ended with #closing) records its end first, also one
    // that began meanwhile.
    await this.#pending.settled();
    // Summaries of counted requests come before session.end (their failures set #problem).
    await this.#requests.close();
    const failed = this.#problem !== undefined || recordingError !== undefined || error !== undefined || this.#closedFor !== undefined;
    await this.#recordEnd({
      type: 'session.end',
      outcome: outcome ?? (failed ? 'failure' : 'success'),
      blobs,
      detail: {
        kind: 'ssh',
        duration_ms: Number(this.#o.clock.micros() - this.#startedUs) / 1000,
        bytes_out: this.#bytesOut,
        bytes_in: this.#bytesIn,
        channels: this.#channels,
        requests: this.#requestCount,
        ...(this.#sftpOps > 0 ? { sftp_ops: this.#sftpOps } : {}),
        denied: this.#denied,
        masked: mergeCounts({}, this.#counts),
        ...(this.#lastExit ? { exit: this.#lastExit } : {}),
        ...(cut.length > 0 ? { cut } : {}),
        ...(this.#closedFor ? { reason: this.#closedFor } : {}),
        ...(error ? { error } : {}),
        ...(this.#problem ? { problem: (this.#problem as Error).message } : {}),
        ...(recordingError ? { recording_error: recordingError } : {}),
      },
    });
  }

  /** Appends session.end, retrying while the log cannot take it (see end()). */
  async #recordEnd(e: Omit<AuditEvent, 'session' | 'actor' | 'account' | 'src' | 'target'>): Promise<void> {
    const endedAt = new Date(this.#o.clock.now()).toISOString();
    const giveUpAt = this.#o.clock.now() + (this.#o.endRetryMs ?? Infinity);
    // Whatever is decided from now on is not recorded: it would come after session.end.
    this.#final = true;
    let delay = END_RETRY_FIRST_MS;
    for (let tries = 0; ; tries++) {
      try {
        await this.#record(tries === 0 ? e : { ...e, detail: { ...e.detail, ended_at: endedAt, end_retries: tries } });
        if (tries > 0) this.#o.log.warn(`ssh session ${this.id}: session.end recorded after ${tries} failed ${tries === 1 ? 'attempt' : 'attempts'}`);
        return;
      } catch (err) {
        const why = (err as Error).message;
        const recordings = (e.blobs ?? []).map((b) => `${b.path ?? '?'} sha256:${b.sha256}`).join(', ') || 'none';
        if (this.#endAbort.signal.aborted || this.#o.clock.now() >= giveUpAt) {
          throw new AuditWriteError(`session.end of SSH session ${this.id} could not be recorded (${why}); its recordings are not committed to the log: ${recordings}`, { cause: err });
        }
        if (tries === 0) this.#o.log.warn(`ssh session ${this.id}: session.end could not be recorded (${why}); retrying until the log takes it`);
        await new Promise<void>((resolve) => {
          const done = () => { clearTimeout(timer); this.#endAbort.signal.removeEventListener('abort', done); resolve(); };
          const timer = setTimeout(done, Math.min(delay, Math.max(0, giveUpAt - this.#o.clock.now())));
          this.#endAbort.signal.addEventListener('abort', done, { once: true });
        });
        delay = Math.min(delay * 2, END_RETRY_MAX_MS);
      }
    }
  }

  /**
   * Settles once the client has closed every channel of the session, or after `withinMs` (a client that stopped
   * reading holds the connection no longer). The broker ends the client's connection only then: the upstream closed
   * (a time limit ran out), the bridge sends each channel's last output and exit once recorded, and OpenSSH closes the
   * channel after writing them out. The disconnect that followed the upstream's close at once, or once the output
   * was sent, could reach OpenSSH first, and it exits on it: the user read "Received disconnect" without the notice.
   */
  clientsClosed(withinMs: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const bound = new Promise<void>((resolve) => { timer = setTimeout(resolve, withinMs); timer.unref?.(); });
    const all = Promise.all(this.#recordings.map((r) => r.clientClosed)).then(() => undefined);
    return Promise.race([all, bound]).finally(() => clearTimeout(timer));
  }

  get lastExit(): { code?: number; signal?: string } | undefined {
    return this.#lastExit;
  }

  /**
   * A time limit ran out (PCI DSS 8.2.8 idle timeout, max_duration, identity.max_session): tell the user on
   * every open channel, record `session.idle_timeout` / `session.expired`, then close the upstream
   * connection — the bridge passes the close on (exit reported as a hangup) and session.end follows with
   * the reason. The session is closed also when the record cannot be written: a limit is never lifted
   * because the log is unavailable.
   */
  async #limitReached(hit: LimitHit): Promise<void> {
    if (this.#ended || this.#closedFor) return;
    const out = limitOutcome(hit, this.#o.name, maxSessionMessage);
    this.#closedFor = out.reason;
    for (const r of this.#recordings) {
      if (r.closing) continue; // that channel has ended
      try { r.notice(out.message); } catch { /* the channel may be gone already */ }
    }
    this.#closing.abort();
    try {
      await this.#record({ type: out.type, outcome: 'success', detail: out.detail });
    } catch (err) {
      this.#problem ??= err;
    }
    this.upstream.end();
  }

  /** Periodic commitment of running recordings, so a long session is provable before it ends. */
  async #commitRunning(): Promise<void> {
    if (this.#ended || this.#recordings.length === 0) return;
    try {
      const blobs: BlobRef[] = [];
      for (const r of this.#recordings) {
        await (r.closing ?? r.cast.sync());
        blobs.push({ ...(await this.#o.sink.commitBlob(path.join(this.#o.home, r.rel), 'asciicast.partial')), path: r.rel });
      }
      await this.#record({ type: 'recording.commit', outcome: 'success', blobs, detail: { partial: true } });
    } catch (err) {
      this.#problem ??= err;
    }
  }

  #base(): Pick<AuditEvent, 'session' | 'actor' | 'account' | 'src' | 'target'> {
    return { session: this.id, actor: this.#o.actor, account: { kind: 'ssh', name: this.#o.conn.user }, src: this.#o.src, target: this.#target };
  }

  #record(e: Omit<AuditEvent, 'session' | 'actor' | 'account' | 'src' | 'target'>): Promise<{ seq: number; leaf: string }> {
    return this.#o.sink.append({ ...e, ...this.#base() });
  }
}

/**
 * What `record_input` keeps of keystrokes typed at a prompt for a secret: stars. The remote side turns its echo off
 * there, which pcigate cannot see; the prompt it can (the end of the output last shown: `Password:`, `[sudo] password
 * for ann:`, `Enter passphrase for key …:`, a `PIN`, an OTP or verification code). From such a prompt to the next
 * Enter, every printable byte is recorded as `*` (the remote side gets them as typed).
 */
export class PromptWatch {
  #tail = '';
  #secret = false;

  shown(b: Uint8Array): void {
    const end = b.length > 160 ? b.subarray(b.length - 160) : b;
    this.#tail = (this.#tail + Buffer.from(end.buffer, end.byteOffset, end.length).toString('latin1')).slice(-160);
  }

  typed(b: Uint8Array): Uint8Array {
    if (!this.#secret && SECRET_PROMPT.test(this.#tail)) this.#secret = true;
    if (!this.#secret) return b;
    const out = Buffer.from(b);
    for (let k = 0; k < out.length; k++) {
      const c = out[k]!;
      if (!this.#secret) break;
      if (c === 0x0d || c === 0x0a || c === 0x03 || c === 0x04) { this.#secret = false; this.#tail = ''; continue; }
      if (c >= 0x20 && c !== 0x7f) out[k] = 0x2a;
    }
    return out;
  }
}

/**
 * The end of a prompt for a secret: on the output's last line, a whole word for one, then a colon and spaces at the
 * very end (`Password: `, `[sudo] password for ann: `, `Enter passphrase for key '…': `). Not a question (`rm: remove
 * regular file 'secret.txt'? `), nor a word that only holds one (`passed`, `bypass`).
 */
const SECRET_PROMPT = /\b(?:password|passphrase|passcode|passwd|pin|secret|token|otp|one-time (?:password|code)|verification code)\b[^\n\r]{0,80}:\s*$/i;


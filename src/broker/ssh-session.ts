/**
 * One SSH session through pcigate: the broker side of the SSH bridge (ARCHITECTURE.md §3, issue 7). It
 * connects upstream with the broker-held key, decides every request with the connection's SSH policy,
 * records each decision durably *before* acting on it (fail closed), masks upstream output with the
 * streaming masker — what the user's terminal shows is what the recording holds — and writes one
 * asciicast v2 recording per shell/exec channel, whose SHA-256 and size go into the log periodically and
 * at session end.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { Client } from 'ssh2';
import { AsciicastWriter } from '../../recorder/asciicast.js';
import type { Actor, AuditEvent, AuditSink, BlobRef, Outcome, Source, Target } from '../../recorder/types.js';
import type { Clock, Fs, Logger } from '../cli/ctx.js';
import type { SshConnection } from '../config/index.js';
import { maskText, mergeCounts } from '../mask/pan-masker.js';
import type { MaskCounts } from '../mask/pan-masker.js';
import { StreamMasker } from '../mask/stream-masker.js';
import type { StreamMaskerOptions } from '../mask/stream-masker.js';
import { decideSsh } from '../policy/ssh-rules.js';
import type { ChannelInfo, ChannelTaps, SessionBridgeHooks, SshDecision, SshRequest } from '../ssh/session-bridge.js';
import { connectSshUpstream } from '../ssh/upstream.js';

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
}

interface Recording {
  cast: AsciicastWriter;
  rel: string;
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

  private constructor(o: SshSessionOptions, upstream: Client, target: Target, startedUs: bigint) {
    this.#o = o;
    this.upstream = upstream;
    this.#target = target;
    this.#startedUs = startedUs;
    this.#commitTimer = setInterval(() => { void this.#commitRunning(); }, o.commitEveryMs ?? 300_000);
    this.#commitTimer.unref?.();
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
      await s.#record({ type: 'session.start', outcome: 'success', detail: { kind: 'ssh', via: o.via, ...(o.reason ? { reason: o.reason } : {}) } });
    } catch (err) {
      upstream.end();
      clearInterval(s.#commitTimer);
      throw err;
    }
    return s;
  }

  /** The hooks the bridge calls. */
  hooks(): SessionBridgeHooks {
    return {
      decide: (req) => this.decide(req),
      openChannel: (info, send) => this.openChannel(info, send),
      onError: (err) => {
        this.#problem ??= err;
        this.#o.log.warn(`ssh session ${this.id}: ${(err as Error).message}`);
      },
    };
  }

  /** Decides with the SSH policy and records the decision durably before returning it. */
  async decide(req: SshRequest): Promise<SshDecision> {
    const d = decideSsh(this.#o.conn.allow, req);
    // Approval of held SSH commands is not wired yet: a held command is refused, and says why.
    const action = d.action === 'hold' ? 'deny' : d.action;
    const reason = d.action === 'hold' ? `${d.reason}; it needs an approval, which SSH sessions cannot wait for yet` : d.reason;
    const outcome: Outcome = action === 'allow' ? 'success' : 'denied';
    if (action === 'deny') this.#denied++;
    const type = req.kind === 'exec' ? 'ssh.exec' : 'ssh.request';
    // A command line can carry a PAN (`grep 4111… orders.csv`): the log only ever sees it masked.
    const logged = req.kind === 'exec' ? { ...req, command: maskText(req.command, this.#counts) } : req;
    await this.#record({ type, outcome, detail: { request: logged, decision: action, rule: d.rule, reason: maskText(reason) } });
    return action === 'allow' ? { action } : { action: 'deny', reason };
  }

  /** Opens the recording and the maskers for a granted shell/exec/subsystem channel. */
  async openChannel(info: ChannelInfo, send: { stdout(b: Buffer): void; stderr(b: Buffer): void }): Promise<ChannelTaps> {
    const n = this.#channels++;
    const rel = path.join('recordings', `${this.id}-${n}.cast`);
    await this.#o.fs.mkdir(path.join(this.#o.home, 'recordings'), { recursive: true, mode: 0o700 });
    const cast = await AsciicastWriter.create(this.#o.fs, path.join(this.#o.home, rel), this.#o.clock, {
      width: info.pty?.cols ?? 80,
      height: info.pty?.rows ?? 24,
      title: maskText(`${this.#o.name}: ${info.kind === 'shell' ? 'shell' : info.command ?? info.kind}`),
      env: { TERM: info.pty?.term ?? 'dumb' },
    });
    this.#recordings.push({ cast, rel });
    cast.marker(info.kind === 'shell' ? 'shell: allowed' : maskText(`${info.kind}: ${info.command ?? ''}: allowed`));
    const maskOpts = { ...this.#o.mask, counts: this.#counts };
    const out = new StreamMasker((b) => { this.#bytesOut += b.length; send.stdout(Buffer.from(b)); cast.output(b); }, maskOpts);
    const err = new StreamMasker((b) => { this.#bytesOut += b.length; send.stderr(Buffer.from(b)); cast.output(b); }, maskOpts);
    const input = this.#o.conn.record_input ? new StreamMasker((b) => cast.input(b), { ...maskOpts, idleMs: Infinity }) : undefined;
    return {
      stdout: (b) => out.write(b),
      stderr: (b) => err.write(b),
      input: (b) => { this.#bytesIn += b.length; input?.write(b); },
      resize: (cols, rows) => cast.resize(cols, rows),
      flush: () => { out.flush(); err.flush(); input?.flush(); },
      exit: (e) => {
        this.#lastExit = e;
        cast.marker(e.signal !== undefined ? `exit-signal ${e.signal}` : `exit-status ${e.code ?? 0}`);
      },
    };
  }

  /** Closes recordings, commits their hashes and records `session.end`. Idempotent. */
  async end(outcome?: Outcome, error?: string): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    clearInterval(this.#commitTimer);
    this.upstream.end();
    const blobs: BlobRef[] = [];
    let recordingError: string | undefined;
    for (const r of this.#recordings) {
      try {
        await r.cast.close();
        blobs.push({ ...(await this.#o.sink.commitBlob(path.join(this.#o.home, r.rel), 'asciicast')), path: r.rel });
      } catch (err) {
        recordingError = (err as Error).message;
      }
    }
    const failed = this.#problem !== undefined || recordingError !== undefined || error !== undefined;
    await this.#record({
      type: 'session.end',
      outcome: outcome ?? (failed ? 'failure' : 'success'),
      blobs,
      detail: {
        kind: 'ssh',
        duration_ms: Number(this.#o.clock.micros() - this.#startedUs) / 1000,
        bytes_out: this.#bytesOut,
        bytes_in: this.#bytesIn,
        channels: this.#channels,
        denied: this.#denied,
        masked: mergeCounts({}, this.#counts),
        ...(this.#lastExit ? { exit: this.#lastExit } : {}),
        ...(error ? { error } : {}),
        ...(this.#problem ? { problem: (this.#problem as Error).message } : {}),
        ...(recordingError ? { recording_error: recordingError } : {}),
      },
    });
  }

  get lastExit(): { code?: number; signal?: string } | undefined {
    return this.#lastExit;
  }

  /** Periodic commitment of running recordings, so a long session is provable before it ends. */
  async #commitRunning(): Promise<void> {
    if (this.#ended || this.#recordings.length === 0) return;
    try {
      const blobs: BlobRef[] = [];
      for (const r of this.#recordings) {
        await r.cast.sync();
        blobs.push({ ...(await this.#o.sink.commitBlob(path.join(this.#o.home, r.rel), 'asciicast.partial')), path: r.rel });
      }
      await this.#record({ type: 'recording.commit', outcome: 'success', blobs, detail: { partial: true } });
    } catch (err) {
      this.#problem ??= err;
    }
  }

  #record(e: Omit<AuditEvent, 'session' | 'actor' | 'account' | 'src' | 'target'>): Promise<{ seq: number; leaf: string }> {
    return this.#o.sink.append({
      ...e,
      session: this.id,
      actor: this.#o.actor,
      account: { kind: 'ssh', name: this.#o.conn.user },
      src: this.#o.src,
      target: this.#target,
    });
  }
}

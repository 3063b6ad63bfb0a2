/**
 * Bridges one SSH "session" channel of a local client (ssh2 server side) to the upstream (ssh2 client
 * side): pty, env, shell, exec, subsystem, window-change, signal, exit-status/exit-signal and stderr
 * (RFC 4254 §6). This layer knows nothing of policy, masking or recording: it asks `hooks.decide` before
 * opening anything upstream and hands every byte of upstream output to the taps the broker supplies, which
 * forward (masked) bytes to the local side.
 *
 * pty and env requests — and window changes — usually arrive before the shell/exec request that opens
 * the upstream channel (ssh2's client API takes them with exec()/shell()), so they are kept and applied
 * when it opens.
 */
import type { ClientChannel, Client, PseudoTtyInfo, ServerChannel, Session } from 'ssh2';

/** `env`: the names of the env requests passed on with a shell or command (their values are never recorded). */
export type SshRequest =
  | { kind: 'shell'; env?: string[] }
  | { kind: 'exec'; command: string; env?: string[] }
  | { kind: 'subsystem'; name: string }
  | { kind: 'x11' }
  | { kind: 'agent-forwarding' }
  | { kind: 'port-forwarding'; direction: 'local' | 'remote' | 'streamlocal'; host: string; port: number };

/**
 * `timedOut`: a held request got no decision in time (or its approval request expired) — `pcigate exec`
 * exits 6 for it instead of 5.
 */
export type SshDecision = { action: 'allow' } | { action: 'deny'; reason: string; timedOut?: boolean };

export interface ChannelInfo {
  kind: 'shell' | 'exec' | 'subsystem';
  command?: string;
  pty?: { term: string; cols: number; rows: number };
  env: Record<string, string>;
}

/** What the broker plugs into each opened channel. */
export interface ChannelTaps {
  /** Upstream stdout; the tap sends (masked) bytes on with `send.stdout`. */
  stdout(chunk: Buffer): void;
  stderr(chunk: Buffer): void;
  /** Keyboard/stdin bytes going upstream (already forwarded; for recording). */
  input(chunk: Buffer): void;
  /**
   * Client bytes that must not reach the upstream before something is done (an sftp operation's record is
   * durable): a promise holds these bytes, and every later byte, until it settles; a rejection fails the
   * channel and the bytes are never sent. Undefined: nothing to wait for. Called after `input`.
   */
  gate?(chunk: Buffer): Promise<void> | undefined;
  resize(cols: number, rows: number): void;
  /** Flush whatever the taps hold back; called before the exit status is sent. */
  flush(): void;
  /** The remote side's exit: status code or signal name. */
  exit(info: { code?: number; signal?: string }): void;
  /**
   * Resolves once everything handed to the taps so far has been sent on (output is held until the
   * recording has it); rejects when it never will be (the recording failed). Without it, sent at once.
   */
  delivered?(): Promise<void>;
  /** Bytes handed to the taps and not yet sent on; above BACKLOG_LIMIT the upstream channel is paused. */
  backlog?(): number;
  /** Registers the callback for a failure found later (a recording write failed): the channel is closed. */
  onFailure?(cb: (err: unknown) => void): void;
}

/**
 * Where the upstream channel is paused while output waits for its recording or the local client's window:
 * memory stays bounded (ARCHITECTURE.md §7) whatever the remote side prints.
 */
export const BACKLOG_LIMIT = 1 << 20;

export interface SessionBridgeHooks {
  /**
   * Decides a request; may take long (a command held for approval). `notice` shows a line to the user
   * (the channel's stderr) while the decision is pending; `signal` aborts when the client closed the channel
   * meanwhile (a held command then ends its wait, refused).
   */
  decide(req: SshRequest, notice?: (line: string) => void, signal?: AbortSignal): Promise<SshDecision>;
  openChannel(info: ChannelInfo, send: LocalSend): Promise<ChannelTaps>;
  /**
   * An env request: true to pass it on with the shell or command. `refused` says why the bridge refuses it
   * whatever the policy (the command has started, or the channel's env bound is reached); it is still
   * recorded. Without the hook every env request is refused.
   */
  env?(name: string, value: string, refused?: string): boolean;
  /** A hook failed (e.g. the recording could not be written): the channel is closed, fail closed. */
  onError(err: unknown): void;
}

/**
 * How the taps send bytes to the local side. A returned promise means the local side's window is full: the
 * next bytes wait for it (backpressure to the upstream channel through `ChannelTaps.backlog`).
 */
export interface LocalSend {
  stdout(b: Buffer): void | Promise<void>;
  stderr(b: Buffer): void | Promise<void>;
  /**
   * Settles when the client has closed the channel. OpenSSH closes it once it has written out what it got; a
   * disconnect before then loses that output (the client exits on it at once).
   */
  closed?: Promise<void>;
}

/** Env requests one channel may make, and their bytes in all (names and values); more are refused. */
export const MAX_ENV_VARS = 64;
export const MAX_ENV_BYTES = 64 * 1024;

/** The signal names ssh2 sends and passes on (RFC 4254 §6.10's list, as OpenSSH's sig2name): it throws for others. */
export const SIGNAL_NAMES: ReadonlySet<string> = new Set(['ABRT', 'ALRM', 'FPE', 'HUP', 'ILL', 'INT', 'KILL', 'PIPE', 'QUIT', 'SEGV', 'TERM', 'USR1', 'USR2']);

/** Exit status given to the local client when pcigate refuses a shell or command (like a shell's 126). */
export const REFUSED_EXIT = 126;

/**
 * Exit status given to the local client when pcigate closed a running channel because it could not record
 * or mask it (fail closed), after a line on stderr saying why; 255 is what OpenSSH's own ssh exits with when
 * the connection failed, so scripts treat it as "did not complete", never as the command's own status.
 */
export const FAILED_CLOSED_EXIT = 255;

/** Writes to a stream; when its buffer is full, resolves on 'drain' (or when it closes). */
export function writeOrWait(stream: NodeJS.WritableStream & { once(ev: string, cb: () => void): unknown; off(ev: string, cb: () => void): unknown }, b: Buffer): void | Promise<void> {
  if (stream.write(b)) return undefined;
  return new Promise((resolve) => {
    const done = () => { stream.off('drain', done); stream.off('close', done); resolve(); };
    stream.once('drain', done);
    stream.once('close', done);
  });
}

/** Wires one accepted local session channel to the upstream connection. */
export function bridgeSession(local: Session, upstream: Client, hooks: SessionBridgeHooks): void {
  let pty: PseudoTtyInfo | undefined;
  // No prototype: a client's env name such as `__proto__` is a plain key here.
  const env: Record<string, string> = Object.create(null) as Record<string, string>;
  let remote: ClientChannel | undefined;
  let taps: ChannelTaps | undefined;
  let started = false;
  const session = local;

  local.on('pty', (accept, _reject, info) => {
    pty = info;
    accept?.();
  });
  let envBytes = 0;
  local.on('env', (accept, reject, info) => {
    // Kept until the shell/exec request: bounded, or a client could fill pcigate's memory with env requests
    // before (or after: they apply to nothing then) its command.
    // Each is decided by the broker (which names may change what runs) and recorded, passed or not.
    const size = Buffer.byteLength(info.key) + Buffer.byteLength(info.val);
    const refused = started ? 'the channel has started its shell, command or subsystem'
      : (!Object.hasOwn(env, info.key) && Object.keys(env).length >= MAX_ENV_VARS) || envBytes + size > MAX_ENV_BYTES ? `more than ${MAX_ENV_VARS} env requests or ${MAX_ENV_BYTES} bytes on one channel` : undefined;
    let ok = false;
    try {
      ok = hooks.env ? hooks.env(info.key, info.val, refused) : false;
    } catch (err) {
      hooks.onError(err);
    }
    if (refused !== undefined || !ok) { reject?.(); return; }
    envBytes += size;
    env[info.key] = info.val;
    accept?.();
  });
  local.on('window-change', (accept, _reject, info) => {
    if (pty) { pty.cols = info.cols; pty.rows = info.rows; pty.width = info.width; pty.height = info.height; }
    remote?.setWindow(info.rows, info.cols, info.height, info.width);
    taps?.resize(info.cols, info.rows);
    accept?.();
  });
  local.on('signal', (accept, reject, info) => {
    // ssh2 throws for a name outside its table, inside its packet handler: the client's connection was dropped.
    if (!SIGNAL_NAMES.has(info.name.toUpperCase().replace(/^SIG/, ''))) { reject?.(); return; }
    remote?.signal(info.name);
    accept?.();
  });
  // Refused whatever the decision (bridging them is not implemented); a decision that cannot be recorded is
  // reported (session.end says so) and never left as an unhandled rejection, which would end the process and
  // every session in it.
  local.on('x11', (_accept, reject) => {
    void hooks.decide({ kind: 'x11' }).catch(hooks.onError).finally(() => reject?.());
  });
  local.on('auth-agent', (_accept, reject) => {
    // Forwarding the user's agent to a cardholder-data host is refused even when granted: pcigate holds
    // the upstream credential itself, and bridging an agent channel is not implemented.
    void hooks.decide({ kind: 'agent-forwarding' }).catch(hooks.onError).finally(() => reject?.());
  });

  const open = async (info: ChannelInfo, req: SshRequest, accept: () => ServerChannel | undefined, reject: () => void) => {
    if (started) { reject(); return; }
    started = true;
    // The channel is accepted at once, paused, and a denial is then explained on stderr with exit status 126:
    // ssh2 drops channel data that arrives before accept(), and OpenSSH's sftp and scp send their first
    // packet right behind the subsystem request (accepted only after the decision was recorded, sftp hung
    // forever); a client that has already sent EOF (ssh with stdin closed) cannot be answered later either.
    const ch = accept();
    if (!ch) return;
    ch.pause();
    const refuse = (why: string) => {
      ch.stderr.write(`pcigate: ${why}\r\n`);
      ch.exit(REFUSED_EXIT);
      ch.end();
    };
    // A client that closes the channel (or the connection) while its request is decided or held for approval
    // has gone: the wait ends, and nothing is opened upstream for it, whatever the decision.
    const gone = new AbortController();
    // (ssh2 emits the client's CHANNEL_CLOSE as 'close' on the Session at once; the paused channel's own 'close'
    // waits for its readable side to be read.)
    session.once('close', () => gone.abort());
    ch.once('close', () => gone.abort());
    let decision: SshDecision;
    try {
      decision = await hooks.decide(req, (line) => { if (!gone.signal.aborted) ch.stderr.write(`${line}\r\n`); }, gone.signal);
    } catch (err) {
      hooks.onError(err);
      if (!gone.signal.aborted) refuse('the request could not be recorded; refusing it');
      return;
    }
    if (gone.signal.aborted) return;
    if (decision.action === 'deny') { refuse(`refused by policy: ${decision.reason}`); return; }
    const local = ch;
    // The client's close as `gone` sees it: the Session's 'close' comes at once, the channel's only once its readable
    // side was read to its end (never while it is paused: a full upstream window, a gate, a refusal after opening).
    const closed = new Promise<void>((resolve) => { gone.signal.addEventListener('abort', () => resolve(), { once: true }); });
    const send: LocalSend = { stdout: (b) => writeOrWait(local, b), stderr: (b) => writeOrWait(local.stderr as never, b), closed };
    try {
      taps = await hooks.openChannel(info, send);
    } catch (err) {
      hooks.onError(err);
      if (!gone.signal.aborted) refuse('the session could not be recorded; refusing to continue');
      return;
    }
    if (gone.signal.aborted) return;
    const window = pty ? { term: pty.term, cols: pty.cols, rows: pty.rows, width: pty.width, height: pty.height, modes: pty.modes } : false;
    // Refused upstream after the recording was opened: the recording ends with the exit the client gets (and
    // its file is closed, as for a channel that ran).
    const refuseOpened = (why: string) => {
      try { taps!.flush(); taps!.exit({ code: REFUSED_EXIT }); } catch (err) { hooks.onError(err); }
      refuse(why);
    };
    const onRemote = (err: Error | undefined, rc: ClientChannel) => {
      if (err) { refuseOpened(`upstream refused the ${info.kind} request`); return; }
      remote = rc;
      wireChannel(serverChannelEnd(local), rc, taps!, hooks.onError);
      local.resume();
    };
    // The upstream connection may have dropped while the decision or the recording was awaited: ssh2
    // throws "Not connected" synchronously then, and the channel is refused rather than the process crashing.
    try {
      if (info.kind === 'shell') upstream.shell(window, { env }, onRemote);
      else if (info.kind === 'exec') upstream.exec(info.command ?? '', { env, pty: window || undefined }, onRemote);
      else upstream.subsys(info.command ?? '', onRemote);
    } catch {
      refuseOpened(`the upstream connection closed before the ${info.kind} request could be sent`);
    }
  };

  const ptyInfo = () => (pty ? { term: pty.term, cols: pty.cols, rows: pty.rows } : undefined);
  local.on('shell', (accept, reject) => {
    void open({ kind: 'shell', pty: ptyInfo(), env: { ...env } }, { kind: 'shell', env: Object.keys(env) }, accept, reject);
  });
  local.on('exec', (accept, reject, info) => {
    void open({ kind: 'exec', command: info.command, pty: ptyInfo(), env: { ...env } }, { kind: 'exec', command: info.command, env: Object.keys(env) }, accept, reject);
  });
  local.on('subsystem', (accept, reject, info) => {
    void open({ kind: 'subsystem', command: info.name, env: { ...env } }, { kind: 'subsystem', name: info.name }, accept, reject);
  });
}

/**
 * The local end of a bridged channel: an ssh2 server channel (listener mode) or the user's own terminal
 * (direct mode). Output is not written here: the taps do that (masked).
 */
export interface LocalEnd {
  onInput(cb: (b: Buffer) => void): void;
  /** Stop and restart reading input (while the upstream channel's window is full). */
  pause?(): void;
  resume?(): void;
  onEof(cb: () => void): void;
  onClose(cb: () => void): void;
  exit(info: { code?: number; signal?: string }): void;
  close(): void;
}

/**
 * The client's EOF is the end of the channel's readable side: ssh2 emits 'eof' on the server-side Session,
 * never on its channel, and ends the channel's stream once the data before the EOF has been read — so an EOF
 * that arrived before the channel was wired (ssh with stdin closed) still comes after that data.
 */
export function serverChannelEnd(ch: ServerChannel): LocalEnd {
  refuseWindowOverrun(ch);
  return {
    onInput: (cb) => { ch.on('data', cb); },
    // A paused channel is not read, so ssh2 stops adjusting its window and the client has to wait.
    pause: () => { ch.pause(); },
    resume: () => { ch.resume(); },
    onEof: (cb) => {
      if (ch.readableEnded) queueMicrotask(cb);
      else ch.once('end', cb);
    },
    onClose: (cb) => { ch.on('close', cb); },
    exit: (info) => {
      // A signal ssh2 cannot name goes as none (sshd's SIG@openssh.com for SIGBUS, SIGSYS and the like, or any name a
      // hostile upstream sends): ssh2 threw, the channel was never ended and the client waited for ever. Without an
      // exit status OpenSSH's ssh exits 255.
      const signal = info.signal?.replace(/^SIG/, '');
      if (signal === undefined) ch.exit(info.code ?? 0);
      else if (SIGNAL_NAMES.has(signal)) ch.exit(signal, false, '');
      ch.end();
    },
    close: () => { ch.close(); },
  };
}

/**
 * A client that sends past the channel's window (RFC 4254 §5.2: it must not) is cut off. ssh2 drops a client's
 * data only while the window is exactly 0 and lets an overrun drive it negative, from where it takes every byte
 * into the channel's buffer, paused or not: pausing the client (forward(), below) bounds pcigate's memory only
 * for a client that keeps to the window. The channel's `push` is where ssh2 hands it each packet it took.
 */
function refuseWindowOverrun(ch: ServerChannel): void {
  const inner = ch as unknown as { incoming?: { window?: number }; push(chunk: unknown, encoding?: BufferEncoding): boolean };
  const push = inner.push.bind(ch);
  inner.push = (chunk, encoding) => {
    if (chunk !== null && typeof inner.incoming?.window === 'number' && inner.incoming.window < 0) {
      if (!ch.destroyed) { ch.close(); ch.destroy(); }
      return false;
    }
    return push(chunk, encoding);
  };
}

/**
 * Pumps bytes between a local end and an upstream channel through the taps; on upstream close, flushes
 * the taps, waits until what they hold was sent, reports the exit and passes it on. A tap that throws, or
 * fails later (cannot mask or record), closes the upstream channel and answers the local end with
 * FAILED_CLOSED_EXIT after what was recorded (the taps tell the user why): fail closed. While the taps hold
 * more than BACKLOG_LIMIT bytes the upstream channel is paused; while the upstream channel cannot take more
 * input, the local end is not read.
 */
export function wireChannel(local: LocalEnd, remote: ClientChannel, taps: ChannelTaps, onError: (err: unknown) => void): void {
  let exit: { code?: number; signal?: string } = {};
  let failed = false;
  let paused = false;
  const fail = (err: unknown) => {
    if (failed) return;
    failed = true;
    onError(err);
    remote.close();
  };
  const guard = (fn: () => void) => {
    if (failed) return;
    try {
      fn();
    } catch (err) {
      fail(err);
    }
  };
  const throttle = () => {
    if (paused || failed || !taps.backlog || !taps.delivered || taps.backlog() < BACKLOG_LIMIT) return;
    paused = true;
    remote.pause();
    remote.stderr.pause();
    const resume = () => { paused = false; remote.resume(); remote.stderr.resume(); };
    taps.delivered().then(resume, resume);
  };
  taps.onFailure?.(fail);
  remote.on('data', (b: Buffer) => { guard(() => taps.stdout(b)); throttle(); });
  remote.stderr.on('data', (b: Buffer) => { guard(() => taps.stderr(b)); throttle(); });
  let inputPaused = false;
  let remoteClosed = false;
  // Client bytes held until a gate (taps.gate) opens, in order; the client is not read meanwhile.
  let gated: Promise<void> | undefined;
  let gatedCount = 0;
  const forward = (b: Buffer) => {
    if (remote.write(b) || inputPaused || !local.pause) return;
    // The upstream window is full and ssh2 buffers the rest in memory: stop reading the client until it drains
    // (a client pushing stdin into a command that does not read it held all of it in pcigate's memory). Bytes
    // a gate released count too: they were written regardless, and the client read again at once, so a client
    // with an sftp operation in every packet filled pcigate's memory while sftp-server read nothing.
    inputPaused = true;
    local.pause();
    remote.once('drain', () => { inputPaused = false; if (!remoteClosed && !gated) local.resume?.(); });
  };
  local.onInput((b) => {
    // Recorded (when the connection records input) before it is forwarded: a recording that has failed stops it.
    guard(() => taps.input(b));
    let gate: Promise<void> | undefined;
    guard(() => { gate = taps.gate?.(b); });
    if (failed) return;
    if (gate || gated) {
      gatedCount++;
      local.pause?.();
      const mine = gate;
      gated = (gated ?? Promise.resolve()).then(() => mine).then(
        () => { if (!failed && !remoteClosed) forward(b); },
        (err: unknown) => fail(err),
      ).finally(() => {
        if (--gatedCount > 0) return;
        gated = undefined;
        if (!failed && !remoteClosed && !inputPaused) local.resume?.();
      });
      return;
    }
    forward(b);
  });
  // The client's EOF follows the bytes a gate still holds.
  local.onEof(() => { if (gated) void gated.then(() => remote.end(), () => undefined); else remote.end(); });
  remote.on('exit', (code: number | null, signal?: string) => {
    exit = code === null || code === undefined ? { signal: (signal ?? 'KILL').replace(/^SIG/, '') } : { code };
  });
  remote.on('close', () => {
    remoteClosed = true;
    // No exit-status or exit-signal: the channel was closed under the command (pcigate closed the session
    // for a time limit, or the upstream dropped) — reported as a hangup, as a terminal would.
    if (exit.code === undefined && exit.signal === undefined) exit = { signal: 'HUP' };
    guard(() => taps.flush());
    const answer = () => {
      guard(() => taps.exit(exit));
      try {
        local.exit(failed ? { code: FAILED_CLOSED_EXIT } : exit);
      } catch {
        // The local channel is gone already (the client dropped).
      }
    };
    if (failed || !taps.delivered) answer();
    else taps.delivered().then(answer, (err: unknown) => { fail(err); answer(); });
  });
  local.onClose(() => remote.close());
}

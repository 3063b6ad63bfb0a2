/**
 * SSH through pcigate, two ways (issue 7 item 2):
 * - `startSshBroker`: a local ssh2 server (`connect NAME --listen`) for OpenSSH tools, authenticated by a
 *   per-listener secret; each authenticated client gets an SshSession and its session channels are bridged.
 *   Port forwarding (ssh -L/-R, streamlocal) is decided by policy, recorded, and refused unless granted
 *   (and bridging a granted forward is not implemented, so it is refused with that reason).
 * - `runSshDirect`: the in-terminal client (`connect NAME`) and `pcigate exec NAME -- CMD`: no local server,
 *   the user's terminal is the local end.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { ClientChannel, Connection, ServerChannel, Session } from 'ssh2';
import type { Actor, AuditSink } from '../../recorder/types.js';
import type { OutStream } from '../cli/ctx.js';
import { createLocalSshServer, loadOrCreateHostKey } from '../ssh/local-server.js';
import { bridgeSession, FAILED_CLOSED_EXIT, REFUSED_EXIT, wireChannel } from '../ssh/session-bridge.js';
import type { LocalEnd } from '../ssh/session-bridge.js';
import { AuditWriteError, SessionRefused } from '../errors.js';
import { maskText } from '../mask/pan-masker.js';
import { FailureRecords } from './failure-records.js';
import { admitSession } from './session-admission.js';
import type { AdmissionOptions } from './session-admission.js';
import { SshSession } from './ssh-session.js';
import type { SshSessionOptions } from './ssh-session.js';
import { Pending } from './pending.js';
import { loadParser } from '../policy/pg-parser.js';

/**
 * `actor` resolves the identity of each new session; `actor.expiresAt` (src/broker/session-identity.ts)
 * gives its token's expiry for the identity.max_session deadline.
 */
export type SshBaseOptions = Omit<SshSessionOptions, 'src' | 'via' | 'actor' | 'tokenExpiresAt' | 'windowEndsAt'> & {
  actor: (() => Promise<Actor>) & { expiresAt?(actor: Actor): number | undefined; known?(): Actor | undefined };
  /** Session-level policy (allowed_hours, require_approval) applied before each session starts. */
  admission?: AdmissionOptions;
  /** Lines for the listener's owner (a listener session waiting for its approval); default: warnings. */
  announce?(line: string): void;
};

/** The session options for one resolved actor. */
function withActor(o: SshBaseOptions, actor: Actor): Omit<SshSessionOptions, 'src' | 'via'> {
  const expiresAt = o.actor.expiresAt?.(actor);
  return { ...o, actor, ...(expiresAt !== undefined ? { tokenExpiresAt: expiresAt } : {}) };
}

/**
 * Admits (session-admission.ts) and opens one session: a refusal (SessionRefused, after `session.denied`)
 * is thrown before anything reaches the upstream host.
 */
async function admitAndOpen(o: SshBaseOptions, actor: Actor, src: SshSessionOptions['src'], via: SshSessionOptions['via'], notice?: (line: string) => void): Promise<SshSession> {
  const target = { conn: o.name, kind: 'ssh' as const, host: `${o.conn.host}:${o.conn.port}`, user: o.conn.user };
  const admitted = o.admission
    ? await admitSession(o.admission, { actor, src, target, account: { kind: 'ssh', name: o.conn.user }, ...(notice ? { notice } : {}) })
    : {};
  return SshSession.open({ ...withActor(o, actor), src, via, ...(admitted.windowEndsAt !== undefined ? { windowEndsAt: admitted.windowEndsAt } : {}) });
}

/**
 * A session refused at its start still answers the client's shell/exec/subsystem request, so the person sees
 * why: the message on the channel's stderr, then exit status 5 (denied by policy, ARCHITECTURE.md §6), or
 * FAILED_CLOSED_EXIT for a session that could not be opened.
 */
function refuseSession(conn: Connection, accept: () => Session, message: string, status = 5): void {
  const s = accept();
  s.on('pty', (a) => a?.());
  s.on('env', (a) => a?.());
  const answer = (a: (() => ServerChannel) | undefined) => {
    const ch = a?.();
    if (!ch) return;
    ch.stderr.write(`${message}\r\n`);
    ch.exit(status);
    ch.end();
    // Once the client closed the channel, having written out the message (a disconnect read first loses it). The
    // Session's 'close' is the client's: the channel's own waits for its unread side, which nothing reads here.
    const late = setTimeout(() => conn.end(), 5_000);
    late.unref();
    s.once('close', () => { clearTimeout(late); conn.end(); });
  };
  s.on('shell', (a) => answer(a));
  s.on('exec', (a) => answer(a));
  s.on('subsystem', (a) => answer(a));
}

/**
 * What the client is told when its session could not be opened for another reason than policy: only
 * wire-safe text (STYLE.md) — the cause is in the audit log or, when the log is what failed, the warnings.
 */
function openFailure(err: unknown): string {
  if (err instanceof AuditWriteError) return 'pcigate: could not record the session in the audit log; it was not opened';
  return 'pcigate: could not open the upstream session (details are in the audit log)';
}

/** Session channels one listener connection may hold open at once (sshd's MaxSessions is 10 by default). */
export const MAX_SESSION_CHANNELS = 64;

export interface SshBroker {
  host: string;
  port: number;
  secret: string;
  fingerprint: string;
  readonly active: number;
  close(): Promise<void>;
}

/** `loginGraceMs` and `maxUnauthenticated`: see createLocalSshServer (defaults as sshd's). */
export async function startSshBroker(o: SshBaseOptions & { bind?: string; port?: number; secret?: string; loginGraceMs?: number; maxUnauthenticated?: number }): Promise<SshBroker> {
  const secret = o.secret ?? randomBytes(18).toString('base64url');
  // SQL given to a client on a command line (`psql -c`, a here-document) is redacted as the Postgres proxy reads it.
  await loadParser();
  const hostKey = await loadOrCreateHostKey(o.fs, o.home);
  const sessions = new Set<{ session: SshSession; conn: Connection }>();
  const ending = new Pending();
  // Sessions whose session.end is being written (and retried while the log cannot take it, ssh-session.ts), and
  // what could not be written at all: closing the listener says so and fails (ERR_AUDIT_WRITE, exit 1).
  const endingSessions = new Set<SshSession>();
  const unrecorded: string[] = [];
  // The listener is closing: a session.end that cannot be written gets one attempt, not retries (close() must end).
  let closing = false;
  const endSession = (session: SshSession): Promise<void> => {
    endingSessions.add(session);
    if (closing) session.abandonEnd();
    return ending.add(session.end().catch((err: unknown) => {
      unrecorded.push(session.id);
      o.log.warn(`cannot record session.end: ${(err as Error).message}`);
    }).finally(() => { endingSessions.delete(session); }));
  };
  // Failed logins anyone reaching the listener can cause: recorded, but bounded per address (failure-records.ts).
  const failures = new FailureRecords({ append: (e) => o.sink.append(e), warn: (m) => o.log.warn(m), now: () => o.clock.now() });
  const server = createLocalSshServer({
    hostKey,
    secret,
    ...(o.loginGraceMs !== undefined ? { loginGraceMs: o.loginGraceMs } : {}),
    ...(o.maxUnauthenticated !== undefined ? { maxUnauthenticated: o.maxUnauthenticated } : {}),
    onAuthFail: (f) => {
      // The listener's owner as last resolved, not resolved anew: a wrong secret starts no session, and anyone who
      // reaches the port must not make pcigate read the keychain or ask the identity provider (live-check.ts).
      const actor = o.actor.known?.();
      failures.record({
        type: 'auth.fail',
        outcome: 'failure',
        ...(actor ? { actor } : {}),
        src: { ip: f.ip, port: f.port, client: 'ssh' },
        target: { conn: o.name, kind: 'ssh', host: `${o.conn.host}:${o.conn.port}`, user: o.conn.user },
        // The user name is the client's to choose: PAN-masked as any text.
        detail: { reason: 'wrong listener secret', method: f.method, user: maskText(f.user) },
      });
    },
    onClient: (conn, info) => {
      // Handlers are registered at once: the client opens its session channel right after authentication,
      // before the upstream connection is up; requests wait for the session instead of being dropped.
      // A session's start may wait for an approval: the lines go to this broker's stderr (the listener's owner).
      const opening = o.actor().then((actor) => admitAndOpen(o, actor, { ip: info.ip, port: info.port, client: 'ssh' }, 'listener', (line) => (o.announce ?? o.log.warn)(line)));
      let entry: { session: SshSession; conn: Connection } | undefined;
      let closed = false;
      const finish = () => {
        closed = true;
        if (!entry || !sessions.delete(entry)) return;
        void endSession(entry.session);
      };
      const withSession = (fn: (s: SshSession) => void, refuse: () => void) => {
        opening.then(fn, refuse);
      };
      const refuseForward = (s: SshSession, req: Parameters<ReturnType<SshSession['hooks']>['decide']>[0], reject?: () => void) => {
        void s.hooks().decide(req).catch(() => undefined).finally(() => reject?.());
      };
      // Session channels open at once on this connection: bounded, or a client opening channels and never closing
      // them held pcigate's memory without limit (sshd's MaxSessions; its default of 10 applies upstream anyway).
      let channelsOpen = 0;
      conn.on('session', (accept, reject) => {
        if (channelsOpen >= MAX_SESSION_CHANNELS) {
          reject();
          void opening.then((s) => s.refuseChannel(MAX_SESSION_CHANNELS), () => undefined);
          return;
        }
        channelsOpen++;
        const take = () => { const ch = accept(); ch.once('close', () => { channelsOpen--; }); return ch; };
        opening.then((s) => bridgeSession(take(), s.upstream, s.hooks()), (err: unknown) => {
          if (err instanceof SessionRefused) refuseSession(conn, take, err.message);
          else refuseSession(conn, take, openFailure(err), FAILED_CLOSED_EXIT);
        });
      });
      conn.on('tcpip', (_accept, reject, i) => withSession((s) => refuseForward(s, { kind: 'port-forwarding', direction: 'local', host: i.destIP, port: i.destPort }, reject), reject));
      conn.on('openssh.streamlocal', (_accept: unknown, reject: () => void, i: { socketPath: string }) =>
        withSession((s) => refuseForward(s, { kind: 'port-forwarding', direction: 'streamlocal', host: i.socketPath, port: 0 }, reject), reject));
      conn.on('request', (_accept, reject, name: string, i) => {
        const bind = i as { bindAddr?: string; bindPort?: number } | undefined;
        if (name === 'tcpip-forward' || name === 'streamlocal-forward@openssh.com') {
          withSession((s) => refuseForward(s, { kind: 'port-forwarding', direction: 'remote', host: bind?.bindAddr ?? '', port: bind?.bindPort ?? 0 }, reject), () => reject?.());
        } else reject?.();
      });
      conn.on('close', finish);
      conn.on('error', finish);
      opening.then(
        (session) => {
          entry = { session, conn };
          sessions.add(entry);
          // The client's connection ends once the client has closed its channels (SshSession.clientsClosed): it
          // writes out their last output (a time limit's notice) first.
          const hangUp = () => { void session.clientsClosed(2_000).then(() => { conn.end(); finish(); }); };
          session.upstream.on('close', hangUp);
          session.upstream.on('error', hangUp);
          if (closed) finish();
        },
        (err: unknown) => {
          o.log.warn(`ssh session refused: ${(err as Error).message}`);
          // A refused session's channel tells the client why (refuseSession), then the connection ends.
          setTimeout(() => conn.end(), 5_000).unref();
        },
      );
    },
  });
  const bind = o.bind ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, bind, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    host: bind,
    port: addr.port,
    secret,
    fingerprint: hostKey.fingerprint,
    get active() { return sessions.size; },
    async close() {
      // Sessions' clients are told first (an SSH disconnect); closing the server then drops any other socket.
      for (const e of [...sessions]) e.conn.end();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      for (const e of [...sessions]) {
        sessions.delete(e);
        void endSession(e.session);
      }
      // A session.end still waiting for the log gets one last attempt, and so does one of a session that finishes
      // opening meanwhile (endSession); what fails then is reported, not dropped.
      closing = true;
      for (const s of endingSessions) s.abandonEnd();
      await ending.settled();
      await failures.close();
      if (unrecorded.length > 0) {
        throw new AuditWriteError(`the end of ${unrecorded.length} SSH ${unrecorded.length === 1 ? 'session' : 'sessions'} could not be recorded in the audit log (${unrecorded.join(', ')}); the warnings above name their recordings`, {
          hint: 'Free space where the audit log lives; a log.gap record will count the lost records once it can be written.',
        });
      }
    },
  };
}

/** How long `pcigate connect NAME` / `exec` keeps trying to record its session.end before it fails. */
export const DIRECT_END_RETRY_MS = 30_000;

export interface DirectTerminal {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  stdout: OutStream & { on?(ev: 'resize', cb: () => void): unknown; off?(ev: 'resize', cb: () => void): unknown; rows?: number };
  stderr: OutStream;
  env: Record<string, string | undefined>;
}

/**
 * Runs a shell (no command) or one command on the upstream from the user's own terminal. Returns the
 * remote exit status; a refused request returns `refused` so the command maps it to exit 5.
 */
export async function runSshDirect(
  o: SshBaseOptions & { src: SshSessionOptions['src']; via: 'terminal' | 'exec' },
  term: DirectTerminal,
  command?: string,
): Promise<{ exit: { code?: number; signal?: string } } | { refused: string; timedOut?: boolean }> {
  await loadParser(); // as startSshBroker's
  let session: SshSession;
  try {
    // One command or shell: a session.end the log refuses is retried for a while, then pcigate fails (exit 1).
    session = await admitAndOpen({ ...o, endRetryMs: o.endRetryMs ?? DIRECT_END_RETRY_MS }, await o.actor(), o.src, o.via, (line) => { term.stderr.write(`${line}\n`); });
  } catch (err) {
    if (err instanceof SessionRefused) return { refused: err.message, ...(err.kind === 'approval_timeout' ? { timedOut: true } : {}) };
    throw err;
  }
  const hooks = session.hooks();
  const tty = Boolean(term.stdin.isTTY && term.stdout.isTTY);
  const pty = tty ? { term: term.env.TERM ?? 'xterm-256color', cols: term.stdout.columns ?? 80, rows: term.stdout.rows ?? 24 } : undefined;
  try {
    const req = command === undefined ? { kind: 'shell' as const } : { kind: 'exec' as const, command };
    const decision = await hooks.decide(req, (line) => { term.stderr.write(`${line}\n`); });
    if (decision.action === 'deny') {
      await session.end('denied');
      return { refused: decision.reason, ...(decision.timedOut ? { timedOut: true } : {}) };
    }
    const taps = await hooks.openChannel(
      { kind: command === undefined ? 'shell' : 'exec', ...(command !== undefined ? { command } : {}), ...(pty ? { pty } : {}), env: {} },
      { stdout: (b) => { term.stdout.write(b); }, stderr: (b) => { term.stderr.write(b); } },
    );
    const window = pty ? { term: pty.term, cols: pty.cols, rows: pty.rows, width: 0, height: 0 } : false;
    // Wired inside ssh2's callback, not after an await: the reply to the request, the output, the exit status and
    // the close can arrive in one read, and ssh2 emits them all before a continuation would run — the exit status
    // was missed and the command reported as hung up (exit 129) on a loaded machine.
    const exit = await new Promise<{ code?: number; signal?: string }>((resolve, reject) => {
      const onRemote = (err: Error | undefined, remote: ClientChannel) => {
        if (err) { reject(err); return; }
        const onResize = () => {
          const cols = term.stdout.columns ?? 80;
          const rows = term.stdout.rows ?? 24;
          remote.setWindow(rows, cols, 0, 0);
          taps.resize(cols, rows);
        };
        const inputListeners: Array<(b: Buffer) => void> = [];
        const end: LocalEnd = {
          onInput: (cb) => { inputListeners.push(cb); term.stdin.on('data', cb); },
          pause: () => { term.stdin.pause(); },
          resume: () => { term.stdin.resume(); },
          onEof: (cb) => { term.stdin.on('end', cb); },
          onClose: () => {},
          exit: (info) => {
            o.signal?.removeEventListener('abort', onAbort);
            clearTimeout(grace);
            for (const cb of inputListeners) term.stdin.off('data', cb);
            term.stdout.off?.('resize', onResize);
            if (tty) term.stdin.setRawMode?.(false);
            term.stdin.pause();
            resolve(info);
          },
          close: () => { resolve({ code: REFUSED_EXIT }); },
        };
        // Ctrl-C in raw mode is a byte for the remote side; a SIGINT/SIGTERM that reaches pcigate itself (a CI
        // job cancelled, no terminal) is passed on as a signal request (RFC 4254 §6.9); if the command is still
        // there a moment later (sshd may ignore the request, and it does not close a channel whose pty-less
        // command still runs), the upstream connection is dropped so pcigate itself ends promptly.
        let grace: ReturnType<typeof setTimeout> | undefined;
        const onAbort = () => {
          o.log.debug('interrupted: sending TERM to the remote command');
          remote.signal('TERM');
          grace = setTimeout(() => { remote.close(); session.upstream.end(); }, 1000);
          grace.unref?.();
        };
        if (o.signal?.aborted) onAbort();
        else o.signal?.addEventListener('abort', onAbort, { once: true });
        if (tty) term.stdin.setRawMode?.(true);
        term.stdout.on?.('resize', onResize);
        wireChannel(end, remote, taps, hooks.onError);
        term.stdin.resume();
      };
      if (command === undefined) session.upstream.shell(window, {}, onRemote);
      else session.upstream.exec(command, window ? { pty: window } : {}, onRemote);
    });
    await session.end();
    return { exit };
  } catch (err) {
    await session.end('failure', (err as Error).message).catch(() => undefined);
    throw err;
  }
}

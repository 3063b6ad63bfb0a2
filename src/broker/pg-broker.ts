/**
 * The Postgres broker: the composition root around proxied sessions (ARCHITECTURE.md §2–§3). It owns the
 * local listener and its per-listener secret (a fresh random secret checked with SCRAM-SHA-256, so the
 * loopback port is not an open door to any local process), resolves the actor through the identity
 * seam, wires policy/masking hooks and the recorder into each session, maps cancel keys, and records
 * session.start / session.end / auth.fail / pg.cancel.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import net from 'node:net';
import type tls from 'node:tls';
import type { Actor, AuditEvent, AuditSink, Source, Target } from '../../recorder/types.js';
import type { Clock, Fs, Logger } from '../cli/ctx.js';
import { AuditWriteError, LoginRequired, MfaRequired, PcigateError, PgSessionRefused, PgUpstreamError, SessionRefused, TokenRefused } from '../errors.js';
import { defaultPanMasker, PanMasker } from '../mask/pan-masker.js';
import { loadParser } from '../policy/pg-parser.js';
import { CancelMap } from '../pg/proxy/cancel-map.js';
import { FailureRecords } from './failure-records.js';
import type { StartupInfo } from '../pg/proxy/local-auth.js';
import { optionsSetSearchPath, startupSetting } from '../pg/protocol/startup-params.js';
import { makeScramVerifier } from '../pg/proxy/scram.js';
import type { SessionHooks } from '../pg/proxy/hooks.js';
import { PgSession, type ClientAddress, type SessionOwner, type SessionSummary } from '../pg/proxy/session.js';
import { readCString } from '../pg/proxy/wire.js';
import { connectUpstream, sendUpstreamCancel, type UpstreamTarget } from '../pg/proxy/upstream.js';
import type { IdentityProvider } from './identity-provider.js';
import { PgSessionRecorder, type BrokerHooks } from './pg-session-recorder.js';
import { PgTranscript } from './pg-transcript.js';
import { Pending } from './pending.js';

export interface PgBrokerOptions {
  /** The connection's name in the config (`target.conn`). */
  conn: string;
  /** RelayOptions.vanishedDrainMs (tests shorten it). */
  vanishedDrainMs?: number;
  target: UpstreamTarget;
  sink: AuditSink;
  identity: IdentityProvider;
  clock: Clock;
  fs: Fs;
  log: Logger;
  /** Data home: transcripts go under `recordings/`. */
  home: string;
  bind?: string;
  port?: number;
  /** Serve TLS to local clients that ask for it (`connect --tls`). */
  tls?: tls.SecureContext;
  /** The listener secret; a fresh random one when absent. */
  secret?: string;
  /**
   * Session-level policy before `session.start` (allowed hours, session approval; session-admission.ts):
   * `notice` reaches the client as a NoticeResponse while it waits; a PgSessionRefused refuses the session.
   */
  admit?(info: { actor: Actor; src: Source; target: Target; notice(line: string): void }): Promise<void>;
  /** Policy and masking hooks for a new session. */
  hooksFor?(info: { session: string; actor: Actor; startup: StartupInfo; src: Source; target: Target }): BrokerHooks;
  /** Write per-session transcripts (default true). */
  transcripts?: boolean;
  /** When the server says the upstream user is a superuser: warn once (default) or refuse each session (config `upstream_superuser`). */
  upstreamSuperuser?: 'warn' | 'refuse';
  /**
   * The deployment's card networks (config `masking.networks`, default major): what the broker writes itself
   * (session.start's client name and user, auth.fail, pg.error, session.end's reason) is masked by them, as the
   * hooks' records are; under any_luhn an application_name the client saw masked went to the log in clear.
   */
  networks?: 'major' | 'any_luhn';
}

export interface PgBroker {
  host: string;
  port: number;
  secret: string;
  user: string;
  database: string;
  /** postgresql://user:secret@host:port/database — ready to paste. */
  url: string;
  /** Sessions currently open. */
  readonly active: number;
  /** Stops listening, ends every session from pcigate's side, and waits for their session.end records. */
  close(): Promise<void>;
}

interface Live {
  id: string;
  actor: Actor;
  src: Source;
  startedUs: bigint;
  startedMs: number;
  recorder: PgSessionRecorder;
  transcript: PgTranscript | null;
  problems: number;
  /** What the server said of the upstream user (`is_superuser`), once connected. */
  upstreamSuperuser?: boolean;
}

/** Starts the listener. Resolves once it is bound. */
export async function startPgBroker(o: PgBrokerOptions): Promise<PgBroker> {
  // Every statement recorded is redacted by the server's scanner (redact-by-tokens.ts), hooks or none.
  await loadParser();
  const masker = o.networks === 'any_luhn' ? new PanMasker({ anyLuhn: true }) : defaultPanMasker();
  const maskText = (text: string): string => masker.maskText(text);
  const secret = o.secret ?? randomBytes(24).toString('base64url');
  const cancelMap = new CancelMap();
  const live = new Map<PgSession, Live>();
  const sessions = new Set<PgSession>();
  const ending = new Pending();
  const target: Target = {
    conn: o.conn, kind: 'postgres', host: o.target.host.startsWith('/') ? `${o.target.host}/.s.PGSQL.${o.target.port}` : `${o.target.host}:${o.target.port}`,
    db: o.target.database, user: o.target.user,
  };
  const now = (): number => o.clock.now();
  // Failures anyone reaching the listener can cause without logging in: recorded, but bounded per address.
  const failures = new FailureRecords({ append: (e) => o.sink.append(e), warn: (m) => o.log.warn(m), now });

  const append = (e: AuditEvent) => o.sink.append(e);
  const background = (p: Promise<unknown>, what: string) => {
    ending.add(p.then(() => undefined, (e: unknown) => { o.log.warn(`${what}: ${errText(e)}`); }));
  };
  const srcOf = (c: ClientAddress, startup?: StartupInfo): Source => ({
    ...(c.ip ? { ip: c.ip } : {}), ...(c.port ? { port: c.port } : {}),
    ...(startup?.params.application_name ? { client: maskText(startup.params.application_name) } : {}),
  });

  /**
   * A listener serves its connection's one database. A client asking for another (psql's `\c analytics`, a
   * GUI's maintenance database `postgres`) is refused with the server's own 3D000 rather than silently
   * given this one, where its statements would run against the wrong data. No name is the user name, as the
   * server reads it (libpq sends it so). Recorded as `session.denied`.
   */
  const refuseOtherDatabase = async (startup: StartupInfo, actor: Actor, src: Source): Promise<void> => {
    if (startup.database === o.target.database) return;
    const wanted = maskText(startup.database);
    const message = `pcigate: this listener serves database "${o.target.database}" only, not "${wanted}"`;
    await append({
      type: 'session.denied', actor, src, target, account: { kind: 'postgres', name: o.target.user }, outcome: 'denied',
      detail: { reason: 'database', rule: `connections.${o.conn}.database`, message, client_database: wanted },
    }).catch((e: unknown) => o.log.warn(`session.denied could not be recorded: ${errText(e)}`));
    throw new PgSessionRefused(message, '3D000', { hint: `Connect to "${o.target.database}", or run pcigate connect for the connection that serves "${wanted}".` });
  };

  /** Startup `options` are not forwarded; one that sets search_path would leave the client in other tables. */
  const refuseSearchPathOption = (startup: StartupInfo): void => {
    if (!optionsSetSearchPath(startupSetting(startup.params, 'options'))) return;
    throw new PgSessionRefused('pcigate: startup options are not passed to the server, and these set search_path', '0A000', {
      hint: 'Send search_path as its own startup parameter (pgjdbc currentSchema, PGOPTIONS without it), or SET search_path after connecting.',
    });
  };

  /**
   * Through a superuser upstream, a statement granted as `ddl` or `function` can do anything (plpgsql EXECUTE;
   * docs/policy-server-secrets.md): the listener says so once, or refuses every session when configured to.
   */
  let warnedSuperuser = false;
  const refuseOrWarnSuperuser = (upstream: { end(): void }, known: boolean): void => {
    if (o.upstreamSuperuser === 'refuse') {
      upstream.end();
      // A server (or a pooler in front of it) that does not say: refused too (fail closed).
      const is = known ? 'is a superuser' : 'may be a superuser (the server did not report is_superuser)';
      throw new PgSessionRefused(`pcigate: ${o.conn}'s database user "${o.target.user}" ${is}, and the configuration refuses one (upstream_superuser: refuse)`, '28000', {
        hint: 'An administrator gives pcigate a role that is not a superuser, with the privileges its users need.',
      });
    }
    if (warnedSuperuser || !known) return;
    warnedSuperuser = true;
    o.log.warn(`${o.conn}'s database user "${o.target.user}" is a superuser: a statement policy allows as ddl or function can do anything a superuser can (docs/policy-server-secrets.md). Give pcigate a role that is not a superuser, or set upstream_superuser: refuse.`);
  };

  /**
   * The session's role may become a superuser later: SET ROLE to a superuser role the user is a member of (the
   * server reports is_superuser again). Recorded in session.end; with upstream_superuser: refuse the session ends
   * (the hook's throw drops the message and closes it, the server's report never reaching the client).
   */
  const watchSuperuser = (state: Live, hooks: SessionHooks): SessionHooks => {
    const inner = hooks.onBackendMessage?.bind(hooks);
    return {
      ...hooks,
      onBackendMessage: (frame, stmt) => {
        if (frame[0] === 0x53 && parameterStatus(frame, 'is_superuser') === 'on') {
          state.upstreamSuperuser = true;
          if (o.upstreamSuperuser === 'refuse') throw new PgSessionRefused(`pcigate: the session became a superuser (SET ROLE), and ${o.conn} refuses one (upstream_superuser: refuse)`, '28000');
        }
        return inner ? inner(frame, stmt) : null;
      },
    };
  };

  const owner: SessionOwner = {
    verifier: makeScramVerifier(secret),
    tls: o.tls,
    cancelMap,
    now: () => Number(o.clock.micros()) / 1000,

    async open(startup, client, session) {
      let actor: Actor;
      try {
        actor = await o.identity.actor();
      } catch (e) {
        // The identity refusals say why (a revoked login, a provider that did not answer: live-check.ts) and what next,
        // in words written for the person at this terminal. Anything else (a token store's lock path and pid, a
        // keychain's error) stays generic: a client's error may end up in a CI log.
        if (!(e instanceof LoginRequired || e instanceof MfaRequired || e instanceof TokenRefused)) {
          throw new PgSessionRefused(`pcigate: no identity for this session (${e instanceof PcigateError ? e.code : 'error'}); run \`pcigate login\``, '28000', { cause: e });
        }
        throw new PgSessionRefused(`pcigate: no identity for this session (${e.code}): ${maskText(e.message)}`, '28000', { cause: e, hint: maskText(e.hint ?? 'Run `pcigate login`.') });
      }
      const id = randomUUID();
      const src = srcOf(client, startup);
      try {
        await refuseOtherDatabase(startup, actor, src);
        refuseSearchPathOption(startup);
        await o.admit?.({ actor, src, target, notice: (line) => session.notice(line) });
        await append({
          type: 'session.start', session: id, actor, src, target, outcome: 'success',
          account: { kind: 'postgres', name: o.target.user },
          detail: { client_user: maskText(startup.user), client_database: maskText(startup.database), tls: startup.tls, listener: `${host}:${port}` },
        });
      } catch (e) {
        // Fail closed, and say why: a session whose start (or refusal) cannot be recorded is not opened.
        if (e instanceof AuditWriteError) throw new PgSessionRefused('pcigate could not record the session in the audit log; it was not opened', '58030', { cause: e });
        throw e;
      }
      // The transcript's file is created while the server is reached and logs the user in (a file's creation took ~1 ms
      // on this project's machine, the server's login ~4): both are waited for before anything is forwarded.
      const creating = o.transcripts === false ? null : PgTranscript.create(o.fs, o.home, id).catch((e: unknown) => {
        o.log.warn(`transcript for session ${id} could not be created: ${errText(e)}`);
        return null;
      });
      const connecting = connectUpstream(o.target, startup.params).catch((e: unknown) => {
        // The server's refusal goes to the client as it is (session.ts), and it may quote what the client sent
        // (a startup setting's value): PAN-masked like every other server message.
        if (e instanceof PgUpstreamError && e.fields) e.fields = Object.fromEntries(Object.entries(e.fields).map(([k, v]) => [k, maskText(v)]));
        throw e;
      });
      connecting.catch(() => undefined); // (its refusal is taken below, after the transcript)
      let state: Live;
      try {
        const transcript = await creating;
        const st: Live = {
          id, actor, src, startedUs: o.clock.micros(), startedMs: now(), transcript, problems: 0,
          recorder: null as unknown as PgSessionRecorder, // set just below; the recorder needs the problem callback
        };
        st.recorder = new PgSessionRecorder({
          sink: o.sink, session: id, actor, src, target, transcript,
          inner: o.hooksFor?.({ session: id, actor, startup, src, target }) ?? {},
          onProblem: (e) => { st.problems++; o.log.warn(`session ${id}: ${errText(e)}`); },
        });
        state = st;
      } catch (e) {
        // (the server's connection, made meanwhile, goes with the session)
        void connecting.then((u) => u.end(), () => undefined);
        throw e;
      }
      live.set(session, state);
      state.transcript?.add({ t: 'start', session: id, actor: actor.sub, target: o.conn, db: o.target.database, user: o.target.user });
      const upstream = await connecting;
      if (upstream.superuser !== undefined) state.upstreamSuperuser = upstream.superuser;
      if (upstream.superuser !== false) {
        if (upstream.superuser || o.upstreamSuperuser === 'refuse') refuseOrWarnSuperuser(upstream, upstream.superuser === true);
      }
      return {
        hooks: watchSuperuser(state, state.recorder.hooks()),
        upstream,
        cancelUpstream: async () => {
          if (upstream.backendKey) await sendUpstreamCancel(o.target, upstream.backendKey).catch((e: unknown) => o.log.warn(`cancel: ${errText(e)}`));
        },
        ...(o.vanishedDrainMs !== undefined ? { vanishedDrainMs: o.vanishedDrainMs } : {}),
      };
    },

    closed(summary: SessionSummary, session: PgSession) {
      sessions.delete(session);
      const state = live.get(session);
      live.delete(session);
      if (!state) return;
      background(endSession(state, summary), `session.end for ${state.id}`);
    },

    refused(info, client) {
      if (!info.authFailed) { o.log.debug(`local connection refused: ${info.reason}`); return; }
      failures.record({
        type: 'auth.fail', src: srcOf(client, info.authFailed), target, outcome: 'failure',
        // The names are the client's to choose, and the server's message repeats the user's: PAN-masked as any text.
        account: { kind: 'pcigate', name: maskText(info.authFailed.user) },
        detail: { reason: maskText(info.reason), sqlstate: info.error?.code ?? '28000', client_user: maskText(info.authFailed.user), client_database: maskText(info.authFailed.database), listener: `${host}:${port}` },
      });
    },

    cancelRequested(pid, secretKey, client) {
      const s = cancelMap.lookup(pid, secretKey);
      const state = s instanceof PgSession ? live.get(s) : undefined;
      if (!s || !state) {
        failures.record({ type: 'pg.cancel', src: srcOf(client), target, outcome: 'failure', detail: { reason: 'unknown cancel key' } });
        return;
      }
      // A statement waiting for an approval, or for its record before it is forwarded, is cancelled here: the
      // server is not running it. The cancel goes upstream too only when the server may be running an earlier
      // statement of the session (pipelined before it); sent to an idle server it is ignored, or could reach the
      // statement the client sends once it has the 57014.
      const { local, upstream } = state.recorder.cancelWaiting();
      state.recorder.record('pg.cancel', 'success', { from: srcOf(client), ...(local ? { held: true } : {}) });
      state.transcript?.add({ t: 'cancel' });
      if (upstream) void s.cancelUpstream();
    },

    internalError(e, session) {
      const state = session ? live.get(session) : undefined;
      if (state) state.problems++;
      o.log.debug(`session error: ${errText(e)}`);
      if (isPeerReset(e)) return;
      // A refusal by session-level policy is already in the log as session.denied (session-admission.ts).
      if (e instanceof PgSessionRefused && e.cause instanceof SessionRefused) return;
      background(append({
        type: 'pg.error', session: state?.id, target, outcome: 'failure',
        detail: { error: e instanceof PcigateError ? e.code : 'internal', message: maskText(errText(e)) },
      }), 'pg.error');
    },
  };

  async function endSession(state: Live, summary: SessionSummary): Promise<void> {
    await state.recorder.settle();
    const extra = state.recorder.sessionDetail();
    const blobs = [];
    if (state.transcript) {
      // A reason may quote the server, which quotes the client (a startup setting's value): masked.
      state.transcript.add({ t: 'end', reason: maskText(summary.reason) });
      try {
        await state.transcript.close();
        blobs.push(await o.sink.commitBlob(state.transcript.file, 'pg-transcript'));
      } catch (e) {
        state.problems++;
        o.log.warn(`transcript for session ${state.id}: ${errText(e)}`);
      }
    }
    await append({
      type: 'session.end', session: state.id, actor: state.actor, src: state.src, target,
      account: { kind: 'postgres', name: o.target.user },
      outcome: summary.clean && state.problems === 0 && state.recorder.failedAppends === 0 ? 'success' : 'failure',
      detail: {
        duration_ms: Number(o.clock.micros() - state.startedUs) / 1000,
        bytes_in: summary.bytesIn, bytes_out: summary.bytesOut,
        statements: state.recorder.statements, denied: state.recorder.denied,
        ...(state.upstreamSuperuser !== undefined ? { upstream_superuser: state.upstreamSuperuser } : {}),
        ...extra,
        reason: maskText(summary.reason),
      },
      ...(blobs.length ? { blobs } : {}),
    });
  }

  const sockets = new Set<net.Socket>();
  const runs = new Pending();
  const server = net.createServer({ noDelay: true }, (socket) => {
    const session = new PgSession(socket, owner);
    sessions.add(session);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => { /* reported by the session */ });
    // run() reports its own failures; one that escaped it is said, not dropped (Pending only waits).
    runs.add(session.run().catch((e: unknown) => { o.log.warn(`pg session: ${errText(e)}`); }).finally(() => { sessions.delete(session); }));
  });
  const bind = o.bind ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, bind, () => { server.off('error', reject); resolve(); });
  });
  const addr = server.address() as net.AddressInfo;
  const host = addr.address;
  const port = addr.port;
  const hostForUrl = host.includes(':') ? `[${host}]` : host;

  return {
    host, port, secret, user: o.target.user, database: o.target.database,
    url: `postgresql://${encodeURIComponent(o.target.user)}:${encodeURIComponent(secret)}@${hostForUrl}:${port}/${encodeURIComponent(o.target.database)}?sslmode=${o.tls ? 'require' : 'disable'}`,
    get active() { return live.size; },
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sessions) s.shutdown();
        // A client that ignores the FATAL and keeps its socket open must not hold the shutdown.
        setTimeout(() => { for (const s of sockets) s.destroy(); }, 3_000).unref();
      });
      // Every session's run() ends after its closed() queued the session.end append.
      await runs.settled();
      await ending.settled();
      await failures.close();
    },
  };
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function isPeerReset(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === 'ECONNRESET' || code === 'EPIPE';
}

/** A ParameterStatus frame's value when it is for `name` (code byte, length, name, value). */
function parameterStatus(frame: Buffer, name: string): string | undefined {
  const [n, at] = readCString(frame, 5);
  return n === name ? readCString(frame, at)[0] : undefined;
}

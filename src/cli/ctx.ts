/**
 * Ctx carries the world into src/ and recorder/: streams, environment, clock, file system, fetch and a
 * logger (STYLE.md "One context object carries the world", after gh's IOStreams). Code below commands/
 * never touches process.*, console, Date.now() or global fetch directly, so every command can be run in
 * a test with buffers and a fixed clock (see testCtx in test/harness/test-ctx.ts).
 */
import * as fsp from 'node:fs/promises';
import os from 'node:os';

/** The writable half of a stream as pcigate uses it. */
export interface OutStream {
  write(chunk: string | Uint8Array): boolean;
  isTTY?: boolean;
  columns?: number;
}

/** Wall clock, injectable. `now()` is milliseconds since the epoch; `micros()` is microseconds. */
export interface Clock {
  now(): number;
  micros(): bigint;
}

/** Levelled talk to stderr; debug only with PCIGATE_DEBUG. Never given secrets or PAN. */
export interface Logger {
  debug(msg: string): void;
  warn(msg: string): void;
}

export type Fs = typeof fsp;

export interface Ctx {
  stdout: OutStream;
  stderr: OutStream;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  env: Record<string, string | undefined>;
  cwd: string;
  clock: Clock;
  fs: Fs;
  fetch: typeof globalThis.fetch;
  log: Logger;
  /** The local OS account: the temporary actor until identity is configured. */
  user: { name: string; uid: number };
  /** Aborted on Ctrl-C / SIGTERM. The first read installs the handlers (long-running commands only). */
  readonly interrupt: AbortSignal;
  /**
   * This process's pid and whether another runs, for the locks a dead process leaves (log/.lock, keys/.lock, the
   * login lock). Without it they read /proc, which macOS has not: there a dead holder's lock stood for ever.
   */
  processes?: ProcessTable;
}

/**
 * The process table as the caller sees it: this process's pid, and whether a pid runs on this host (kill(pid, 0)
 * answers where /proc is not, as on macOS).
 */
export interface ProcessTable {
  readonly pid: number;
  alive(pid: number): boolean;
}

/** The real process table: kill(pid, 0) finds a pid that runs (EPERM: it runs as another user), ESRCH one that does not. */
export const PROCESS_TABLE: ProcessTable = {
  pid: process.pid,
  alive(pid) {
    try {
      process.kill(pid, 0);
      return true;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'EPERM';
    }
  },
};

/** A wall clock that keeps microsecond resolution from the monotonic clock, anchored once to Date. */
export function systemClock(): Clock {
  const anchorMs = BigInt(Date.now());
  const anchorHr = process.hrtime.bigint();
  return {
    now: () => Date.now(),
    micros: () => anchorMs * 1000n + (process.hrtime.bigint() - anchorHr) / 1000n,
  };
}

/** The Ctx of the real process; only bin/pcigate.js calls this. */
export function processCtx(): Ctx {
  let controller: AbortController | undefined;
  const debug = Boolean(process.env.PCIGATE_DEBUG);
  const info = os.userInfo();
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    cwd: process.cwd(),
    clock: systemClock(),
    fs: fsp,
    fetch: globalThis.fetch.bind(globalThis),
    log: {
      debug: (msg) => { if (debug) process.stderr.write(`debug: ${msg}\n`); },
      warn: (msg) => { process.stderr.write(`warning: ${msg}\n`); },
    },
    user: { name: info.username, uid: info.uid },
    processes: PROCESS_TABLE,
    get interrupt() {
      if (!controller) {
        const c = new AbortController();
        controller = c;
        const onSignal = (sig: NodeJS.Signals) => {
          if (c.signal.aborted) process.exit(130); // a second Ctrl-C: stop waiting for clean-up
          c.abort(sig);
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
      }
      return controller.signal;
    },
  };
}

/**
 * `ctx` whose fetch gives up when `deadline` fires. Not a spread copy: reading `ctx.interrupt` installs the
 * process's signal handlers, which a short command must not do, so it stays a getter.
 *
 * `postsRunOn`: a POST is not started after the deadline, but one sent before it runs to its own end (the
 * caller's signal, openid-client's timeout). For a refresh grant: once the provider has it, it may have rotated
 * the refresh token, and the answer cut off would lose the only token it still accepts.
 */
export function withDeadline(ctx: Ctx, deadline: AbortSignal, opts: { postsRunOn?: boolean } = {}): Ctx {
  return {
    stdout: ctx.stdout, stderr: ctx.stderr, stdin: ctx.stdin, env: ctx.env, cwd: ctx.cwd, clock: ctx.clock, fs: ctx.fs,
    log: ctx.log, user: ctx.user, ...(ctx.processes ? { processes: ctx.processes } : {}),
    get interrupt() { return ctx.interrupt; },
    fetch: (input, init) => {
      if (opts.postsRunOn && (init?.method ?? '').toUpperCase() === 'POST') {
        return deadline.aborted ? Promise.reject(deadline.reason as Error) : ctx.fetch(input, init);
      }
      return ctx.fetch(input, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, deadline]) : deadline });
    },
  };
}

/**
 * `work`'s outcome, or `late()` thrown once `deadline` fires first. `work` runs on to its end (a POST left to
 * finish under withDeadline's postsRunOn); its later failure is dropped, not left unhandled.
 */
export function beforeDeadline<T>(work: Promise<T>, deadline: AbortSignal, late: () => Error): Promise<T> {
  work.catch(() => {});
  if (deadline.aborted) return Promise.reject(late());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(late());
    deadline.addEventListener('abort', onAbort, { once: true });
    const done = () => deadline.removeEventListener('abort', onAbort);
    work.then((v) => { done(); resolve(v); }, (e: unknown) => { done(); reject(e); });
  });
}

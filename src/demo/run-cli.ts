/**
 * Runs pcigate sub-commands for the demo in this process, each as one of the demo people: the command's
 * Ctx carries the demo's environment (its config and data home) and the person as the local account, so
 * `approve` by the approver is a different person from the engineer who asked — through the same
 * commands, locks, approval store and audit outbox a person at a terminal would use.
 */
import type { Ctx, OutStream } from '../cli/ctx.js';
import { main } from '../cli/main.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved in the order they were written, as a terminal would show them. */
  output: string;
}

/** A stream that keeps its own text and also appends to `both` (the two streams in write order). */
function buffer(both: string[]): OutStream & { text(): string } {
  const chunks: string[] = [];
  return {
    isTTY: false,
    write(chunk: string | Uint8Array) {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      chunks.push(text);
      both.push(text);
      return true;
    },
    text: () => chunks.join(''),
  };
}

/** A Ctx for `person` inside the demo; `signal` stands in for Ctrl-C of that command. */
export function personCtx(base: Ctx, env: Record<string, string | undefined>, person: string, signal: AbortSignal): Ctx & { out(): CliResult } {
  const both: string[] = [];
  const stdout = buffer(both);
  const stderr = buffer(both);
  return {
    stdout, stderr, stdin: base.stdin, env, cwd: base.cwd, clock: base.clock, fs: base.fs, fetch: base.fetch, log: {
      debug: (m) => base.log.debug(`[${person}] ${m}`),
      warn: (m) => { stderr.write(`warning: ${m}\n`); },
    },
    user: { name: person, uid: base.user.uid },
    interrupt: signal,
    ...(base.processes ? { processes: base.processes } : {}),
    out: () => ({ code: -1, stdout: stdout.text(), stderr: stderr.text(), output: both.join('') }),
  };
}

/** Runs `pcigate ARGS` as `person`; never throws for a failing command (its exit code says so). */
export async function runPcigate(base: Ctx, env: Record<string, string | undefined>, person: string, args: string[], signal: AbortSignal): Promise<CliResult> {
  const ctx = personCtx(base, env, person, signal);
  const code = await main(args, ctx);
  return { ...ctx.out(), code };
}

/** Starts `pcigate ARGS` as `person` and returns at once: its output so far, and its exit code when done. */
export function startPcigate(base: Ctx, env: Record<string, string | undefined>, person: string, args: string[], signal: AbortSignal): { output(): CliResult; done: Promise<number> } {
  const ctx = personCtx(base, env, person, signal);
  return { output: () => ctx.out(), done: main(args, ctx) };
}

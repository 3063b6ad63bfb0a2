/**
 * Resolving secret references (PCI DSS 8.6.2, 8.3.2: credentials stored outside the configuration and
 * protected). Values are fetched at the moment they are needed and never cached, logged or written.
 * - `env:NAME`: the environment of the Ctx.
 * - `file:PATH`: a regular file readable by its owner only (0600/0400); a group- or world-readable file is
 *   refused, as OpenSSH refuses such private keys. One trailing newline is stripped.
 * - `keychain:NAME`: the OS keychain via @napi-rs/keyring, service `pcigate`.
 * - `cmd:COMMAND`: `/bin/sh -c COMMAND`, stdout trimmed, with a timeout (vault, op, aws secretsmanager …).
 */
import { spawn as nodeSpawn } from 'node:child_process';
import path from 'node:path';
import type { Ctx } from '../cli/ctx.js';
import { SecretError } from '../errors.js';
import { SecretRef, parseSecretRef } from './secret-ref.js';

export const KEYCHAIN_SERVICE = 'pcigate';
const MAX_SECRET_BYTES = 64 * 1024;

export interface ResolveSecretOptions {
  /** Kill a `cmd:` reference after this long (default 10 s). */
  timeoutMs?: number;
  /** Injected process spawner (tests); node:child_process.spawn by default. */
  spawn?: typeof nodeSpawn;
  /** Injected keychain lookup (tests); @napi-rs/keyring's Entry by default. Returns null when absent. */
  keychain?: (service: string, name: string) => Promise<string | null> | string | null;
}

/**
 * Returns the secret a reference points to. Throws SecretError (exit 1) with a message that names the
 * reference but never the value. Accepts a parsed SecretRef or the reference text.
 */
export async function resolveSecret(
  ctx: Pick<Ctx, 'env' | 'cwd' | 'fs'>,
  ref: SecretRef | string,
  opts: ResolveSecretOptions = {},
): Promise<string> {
  const r = typeof ref === 'string' ? parseSecretRef(ref) : ref;
  if (typeof r === 'string') throw new SecretError(`invalid secret reference: ${r}`);
  switch (r.kind) {
    case 'env': return fromEnv(ctx, r);
    case 'file': return fromFile(ctx, r);
    case 'keychain': return fromKeychain(r, opts);
    case 'cmd': return fromCmd(ctx, r, opts);
  }
}

function fromEnv(ctx: Pick<Ctx, 'env'>, r: SecretRef): string {
  const v = ctx.env[r.target];
  if (v === undefined || v === '') throw new SecretError(`secret ${r.ref}: environment variable ${r.target} is not set or empty`);
  return v;
}

function expandHome(ctx: Pick<Ctx, 'env'>, p: string): string {
  if ((p === '~' || p.startsWith('~/')) && ctx.env.HOME) return path.join(ctx.env.HOME, p.slice(1));
  return p;
}

async function fromFile(ctx: Pick<Ctx, 'env' | 'cwd' | 'fs'>, r: SecretRef): Promise<string> {
  const p = path.resolve(r.base ?? ctx.cwd, expandHome(ctx, r.target));
  let fh;
  try {
    fh = await ctx.fs.open(p, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new SecretError(`secret ${r.ref}: cannot open ${p} (${code})`, { cause: e });
  }
  try {
    // Check the opened file itself (fstat), so a swap between check and read cannot slip through.
    const st = await fh.stat();
    if (!st.isFile()) throw new SecretError(`secret ${r.ref}: ${p} is not a regular file`);
    if ((st.mode & 0o077) !== 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
      throw new SecretError(`secret ${r.ref}: ${p} is readable or writable by group or others (mode ${mode}); refusing to use it`, {
        hint: `Restrict it to its owner: chmod 600 ${p}`,
      });
    }
    if (st.size > MAX_SECRET_BYTES) throw new SecretError(`secret ${r.ref}: ${p} is larger than ${MAX_SECRET_BYTES} bytes`);
    const text = await fh.readFile('utf8');
    const value = text.replace(/\r?\n$/, '');
    if (value === '') throw new SecretError(`secret ${r.ref}: ${p} is empty`);
    return value;
  } finally {
    await fh.close();
  }
}

async function fromKeychain(r: SecretRef, opts: ResolveSecretOptions): Promise<string> {
  let value: string | null;
  try {
    if (opts.keychain) {
      value = await opts.keychain(KEYCHAIN_SERVICE, r.target);
    } else {
      const { Entry } = await import('@napi-rs/keyring');
      value = new Entry(KEYCHAIN_SERVICE, r.target).getPassword() ?? null;
    }
  } catch (e) {
    throw new SecretError(`secret ${r.ref}: the OS keychain is not available (${(e as Error).message})`, {
      cause: e,
      hint: 'Use env:, file: or cmd: on hosts without a keychain service.',
    });
  }
  if (value === null || value === '') {
    throw new SecretError(`secret ${r.ref}: no entry '${r.target}' for service '${KEYCHAIN_SERVICE}' in the OS keychain`);
  }
  return value;
}

function fromCmd(ctx: Pick<Ctx, 'env' | 'cwd'>, r: SecretRef, opts: ResolveSecretOptions): Promise<string> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const spawn = opts.spawn ?? nodeSpawn;
  const program = r.target.trim().split(/\s+/)[0] ?? '';
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', r.target], {
      cwd: r.base ?? ctx.cwd,
      env: ctx.env as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let settled = false;
    const fail = (msg: string, cause?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new SecretError(`secret cmd:${program}: ${msg}`, cause === undefined ? undefined : { cause }));
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(`command did not finish within ${timeoutMs} ms`);
    }, timeoutMs);
    child.stdout?.on('data', (c: Buffer) => {
      outBytes += c.length;
      if (outBytes > MAX_SECRET_BYTES) { child.kill('SIGKILL'); fail(`command printed more than ${MAX_SECRET_BYTES} bytes`); return; }
      out.push(c);
    });
    child.stderr?.on('data', (c: Buffer) => { if (err.length < 16) err.push(c); });
    child.on('error', (e) => fail(`cannot run the command (${e.message})`, e));
    child.on('close', (code, signal) => {
      if (settled) return;
      if (code !== 0) {
        // The first stderr line helps diagnose (e.g. "vault: permission denied"); stdout is never shown.
        const why = Buffer.concat(err).toString('utf8').split('\n')[0]!.trim().slice(0, 200);
        fail(`command exited with ${signal ? `signal ${signal}` : `status ${code}`}${why ? `: ${why}` : ''}`);
        return;
      }
      const value = Buffer.concat(out).toString('utf8').trim();
      if (value === '') { fail('command printed nothing on stdout'); return; }
      settled = true;
      clearTimeout(timer);
      resolve(value);
    });
  });
}

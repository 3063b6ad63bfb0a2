import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/parse-config.js';
import { redact } from '../../../src/config/redact.js';
import { SecretRef, parseSecretRef } from '../../../src/config/secret-ref.js';
import { resolveSecret } from '../../../src/config/secrets.js';
import { SecretError, hasCode } from '../../../src/errors.js';
import { testCtx } from '../../harness/test-ctx.js';

/** The SecretError a promise rejects with; fails the test when it resolves. */
async function rejection(p: Promise<unknown>): Promise<SecretError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(SecretError);
    return e as SecretError;
  }
  throw new Error('expected the secret not to resolve');
}

const dir = () => mkdtempSync(path.join(os.tmpdir(), 'pcigate-secret-'));

function secretFile(mode: number, content = 'file-secret-value\n'): { dir: string; file: string } {
  const d = dir();
  const file = path.join(d, 'pw');
  writeFileSync(file, content);
  chmodSync(file, mode);
  return { dir: d, file };
}

describe('resolveSecret', () => {
  it('env: reads the Ctx environment, and refuses an unset or empty variable', async () => {
    const ctx = testCtx({ env: { PGPASS: 'from-env', EMPTY: '' } });
    expect(await resolveSecret(ctx, 'env:PGPASS')).toBe('from-env');
    await expect(resolveSecret(ctx, 'env:MISSING')).rejects.toSatisfy((e) => hasCode(e, 'ERR_SECRET') && /MISSING is not set/.test((e as Error).message));
    await expect(resolveSecret(ctx, 'env:EMPTY')).rejects.toBeInstanceOf(SecretError);
  });

  it('file: reads an owner-only file, stripping one trailing newline', async () => {
    const { file } = secretFile(0o600);
    expect(await resolveSecret(testCtx(), `file:${file}`)).toBe('file-secret-value');
    const ro = secretFile(0o400, 'two\nlines\n');
    expect(await resolveSecret(testCtx(), `file:${ro.file}`)).toBe('two\nlines');
  });

  it('file: refuses a group- or world-readable file with a chmod hint, without reading it', async () => {
    for (const mode of [0o644, 0o640, 0o604, 0o620]) {
      const { file } = secretFile(mode);
      const err = await rejection(resolveSecret(testCtx(), `file:${file}`));
      expect(err).toBeInstanceOf(SecretError);
      expect(err.message).toContain(`mode ${mode.toString(8).padStart(4, '0')}`);
      expect(err.message).not.toContain('file-secret-value');
      expect(err.hint).toBe(`Restrict it to its owner: chmod 600 ${file}`);
    }
  });

  it('file: resolves a relative path against the config file directory, and reports a missing file', async () => {
    const { dir: d } = secretFile(0o600);
    const config = parseConfigText('identity:\n  workload:\n    client_secret: file:pw\n', path.join(d, 'pcigate.yaml'));
    const ref = config.identity.workload.client_secret!;
    expect(ref.base).toBe(d);
    expect(await resolveSecret(testCtx({ cwd: '/' }), ref)).toBe('file-secret-value');
    await expect(resolveSecret(testCtx(), `file:${path.join(d, 'nope')}`)).rejects.toThrow(/cannot open .*ENOENT/);
    await expect(resolveSecret(testCtx(), `file:${d}`)).rejects.toThrow(/not a regular file|EISDIR/);
  });

  it('cmd: runs the command with the Ctx environment and trims stdout', async () => {
    const ctx = testCtx({ env: { PATH: process.env.PATH, WHO: 'vault' } });
    expect(await resolveSecret(ctx, 'cmd:printf "  %s-token\\n" "$WHO"')).toBe('vault-token');
  });

  it('cmd: a failing command is a SecretError naming the status and stderr, never stdout', async () => {
    const ctx = testCtx({ env: { PATH: process.env.PATH } });
    const err = await rejection(resolveSecret(ctx, 'cmd:echo leaked-stdout; echo "permission denied" >&2; exit 3'));
    expect(err).toBeInstanceOf(SecretError);
    expect(err.message).toMatch(/status 3: permission denied/);
    expect(err.message).not.toContain('leaked-stdout');
    await expect(resolveSecret(ctx, 'cmd:true')).rejects.toThrow(/printed nothing/);
  });

  it('cmd: a command that hangs is killed after the timeout', async () => {
    const ctx = testCtx({ env: { PATH: process.env.PATH } });
    // Not killed, `sleep 20` would end in 20 s having printed nothing: another error than this one.
    await expect(resolveSecret(ctx, 'cmd:sleep 20', { timeoutMs: 200 })).rejects.toThrow(/did not finish within 200 ms/);
  });

  it('keychain: asks the keychain for service pcigate, and fails clearly when the entry is absent', async () => {
    const asked: string[] = [];
    const keychain = (service: string, name: string) => { asked.push(`${service}/${name}`); return name === 'db' ? 'from-keychain' : null; };
    expect(await resolveSecret(testCtx(), 'keychain:db', { keychain })).toBe('from-keychain');
    expect(asked).toEqual(['pcigate/db']);
    await expect(resolveSecret(testCtx(), 'keychain:other', { keychain })).rejects.toThrow(/no entry 'other' for service 'pcigate'/);
  });

  it('keychain: without an injected lookup uses @napi-rs/keyring and never throws a raw error', async () => {
    // CI hosts have no Secret Service: either the entry is missing or the keychain is unavailable.
    const err = await resolveSecret(testCtx(), 'keychain:pcigate-test-entry-that-does-not-exist').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SecretError);
  });

  it('rejects a malformed reference', async () => {
    await expect(resolveSecret(testCtx(), 'hunter2')).rejects.toThrow(/invalid secret reference/);
  });
});

describe('redact', () => {
  it('shows the kind and name of every reference and never a resolved value', async () => {
    const d = dir();
    const text = [
      'connections:',
      '  db:',
      '    kind: postgres',
      '    host: h',
      '    database: d',
      '    user: u',
      '    password: env:PGPASS',
      'identity:',
      '  workload:',
      '    client_secret: cmd:vault read -field=secret ci/app',
    ].join('\n');
    const config = parseConfigText(text, path.join(d, 'pcigate.yaml'));
    const ctx = testCtx({ env: { PGPASS: 'resolved-db-password' } });
    const db = config.connections.db!;
    if (db.kind !== 'postgres') throw new Error('kind');
    expect(await resolveSecret(ctx, db.password!)).toBe('resolved-db-password');

    const r = redact(config) as { connections: { db: { password: string } }; identity: { workload: { client_secret: string } } };
    expect(r.connections.db.password).toBe('<redacted: env:PGPASS>');
    // Only the program of a cmd: reference is shown: its arguments may carry something sensitive.
    expect(r.identity.workload.client_secret).toBe('<redacted: cmd:vault …>');
    for (const out of [JSON.stringify(r), stringify(r), JSON.stringify(config), String(db.password)]) {
      expect(out).not.toContain('resolved-db-password');
      expect(out).not.toContain('field=secret');
    }
    // The original is untouched: a SecretRef still resolves after redaction.
    expect(db.password).toBeInstanceOf(SecretRef);
  });

  it('parses each kind of reference', () => {
    for (const [text, kind, target] of [['env:A_B', 'env', 'A_B'], ['file:~/x', 'file', '~/x'], ['keychain:db', 'keychain', 'db'], ['cmd:op read x', 'cmd', 'op read x']] as const) {
      const r = parseSecretRef(text);
      expect(r).toBeInstanceOf(SecretRef);
      expect([(r as SecretRef).kind, (r as SecretRef).target]).toEqual([kind, target]);
    }
    expect(typeof parseSecretRef('vault:x')).toBe('string');
  });
});

/**
 * The time limit on keychain reads for the commands that read the audit trail (src/identity/keychain-read.ts):
 * a keychain that never answers (locked and waiting on an unlock prompt nobody sees, a hung Secret Service) is
 * given up on at the bound (the error says so: the reader here never answers), its reader process is killed,
 * and the saved login is reported unusable with one line, so the command goes on as the local OS account. The
 * "keychain" here is a reader process that blocks its only thread for ever, as a native keychain call does. */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { identitySection } from '../../../src/config/sections/identity.js';
import { boundedKeychainRead, KeychainTimeout } from '../../../src/identity/keychain-read.js';
import { storedLoginIdentity } from '../../../src/identity/stored-login.js';
import { testCtx } from '../../harness/test-ctx.js';

/** A reader that writes its pid to `pidFile`, then blocks its thread for ever and never answers. */
function neverAnswers(pidFile: string): string[] {
  const js = `require('node:fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);`;
  return [process.execPath, '-e', js];
}

const answers = (out: unknown) => [process.execPath, '-e', `process.stdout.write(${JSON.stringify(JSON.stringify(out))})`];

async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 40; i++) {
    if (!existsSync(`/proc/${pid}`)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

const config = (tokenStore: 'keychain' | 'auto') => ({ identity: identitySection.parse({ issuer: 'https://idp.example', client_id: 'pcigate-cli', token_store: tokenStore }) });

describe('bounded keychain read', () => {
  it('gives up on a keychain that never answers within the bound and kills its reader', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pcigate-kcb-'));
    const pidFile = path.join(dir, 'pid');
    const read = boundedKeychainRead({ env: {}, timeoutMs: 700, command: neverAnswers(pidFile) });
    const started = Date.now();
    const err = await read('pcigate', 'login').then(() => undefined, (e: unknown) => e);
    const took = Date.now() - started;
    expect(err).toBeInstanceOf(KeychainTimeout);
    expect(err).toMatchObject({ code: 'ERR_KEYCHAIN_TIMEOUT', message: expect.stringMatching(/^the OS keychain did not answer within 0\.7 s/) });
    expect(took).toBeGreaterThanOrEqual(650);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    expect(pid).toBeGreaterThan(0);
    if (existsSync('/proc/self')) expect(await gone(pid)).toBe(true);
  });

  it('passes on what the reader answers: the secret, no entry, or the keychain error', async () => {
    await expect(boundedKeychainRead({ env: {}, command: answers({ value: '{"a":1}' }) })('pcigate', 'login')).resolves.toBe('{"a":1}');
    await expect(boundedKeychainRead({ env: {}, command: answers({ value: null }) })('pcigate', 'login')).resolves.toBeNull();
    await expect(boundedKeychainRead({ env: {}, command: answers({ error: 'unlock prompt was dismissed' }) })('pcigate', 'login'))
      .rejects.toMatchObject({ code: 'ERR_TOKEN_STORE', message: 'unlock prompt was dismissed' });
  });

  for (const kind of ['keychain', 'auto'] as const) {
    it(`a saved login behind a keychain that never answers is unusable, with one line, within the bound (token_store: ${kind})`, async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'pcigate-kcb-'));
      const home = path.join(dir, 'home');
      const r = await storedLoginIdentity(testCtx(), config(kind), home, { keychainTimeoutMs: 700, keychainCommand: neverAnswers(path.join(dir, 'pid')) });
      // `auto` must not take the silence for "no keychain" and read the (empty) file instead: that would drop
      // the login without a word.
      expect(r).toEqual({ identity: undefined, reason: 'unusable', message: expect.stringMatching(/^the OS keychain did not answer within 0\.7 s \(locked and waiting on an unlock prompt, or its service is hung\)$/) });
      expect(existsSync(path.join(home, 'tokens.json'))).toBe(false);
    });
  }
});

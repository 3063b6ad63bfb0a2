/**
 * The OS keychain token store through @napi-rs/keyring against a real freedesktop Secret Service
 * (gnome-keyring under a private dbus session), and the `auto` fallback to the 0600 file with its one-line
 * warning when no keychain service answers. Runs the built dist (npx tsc -p tsconfig.json first) in a
 * child process, because the Secret Service must live on a dbus session of its own.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../harness/cli.js';

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const STORE = path.join(ROOT, 'dist', 'src', 'identity', 'token-store.js');
const DOCTOR = path.join(ROOT, 'dist', 'src', 'doctor', 'local-checks.js');
const doctorLine = (kind: string) => `(await checkTokenStore(ctx, { identity: { token_store: '${kind}' } }, home))`;
const missing = ['dbus-run-session', 'gnome-keyring-daemon'].filter((c) => !has(c));
const skipReason = missing.length ? `keychain test skipped: ${missing.join(' and ')} not installed (apt-get install dbus gnome-keyring)` : !existsSync(STORE) ? 'keychain test skipped: dist not built (npx tsc -p tsconfig.json)' : '';
if (skipReason) process.stderr.write(`${skipReason}\n`);

function script(home: string, body: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pcigate-kc-'));
  const file = path.join(dir, 'run.mjs');
  writeFileSync(file, `
import * as fsp from 'node:fs/promises';
import { keychainStore, openTokenStore } from ${JSON.stringify(STORE)};
import { checkTokenStore } from ${JSON.stringify(DOCTOR)};
const ctx = { fs: fsp, clock: { now: () => Date.now() }, log: { debug() {}, warn() {} } };
const home = ${JSON.stringify(home)};
const warnings = [];
const t = { issuer: 'https://idp.example', clientId: 'pcigate-cli', accessToken: 'header.payload.sig', refreshToken: 'rt-1', expiresAt: 1, loggedInAt: 1 };
const out = {};
${body}
process.stdout.write(JSON.stringify({ ...out, warnings }));
`);
  return file;
}

describe.skipIf(Boolean(skipReason))('keychain token store (Secret Service via gnome-keyring)', () => {
  it('saves, loads and deletes under service pcigate; auto picks the keychain when it answers', () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-kc-home-'));
    const file = script(home, `
const s = await openTokenStore(ctx, { kind: 'auto', home, warn: (l) => warnings.push(l) });
out.kind = s.kind;
await s.save(t);
out.loaded = await s.load();
out.deleted = await s.delete();
out.after = (await s.load()) ?? null;
out.doctor = ${doctorLine('auto')};
`);
    const stdout = execFileSync('dbus-run-session', ['--', 'sh', '-c', `echo -n pcigate-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1; exec "${process.execPath}" "${file}"`], {
      encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'ignore'],
      // A private HOME: gnome-keyring creates a fresh login keyring there, unlocked with the password above.
      env: { PATH: process.env.PATH, HOME: home, XDG_DATA_HOME: path.join(home, '.local', 'share') },
    });
    const r = JSON.parse(stdout) as Record<string, unknown>;
    expect(r).toMatchObject({ kind: 'keychain', loaded: { accessToken: 'header.payload.sig', refreshToken: 'rt-1' }, deleted: true, after: null, warnings: [] });
    // Nothing touched the disk in the data home.
    expect(existsSync(path.join(home, 'tokens.json'))).toBe(false);
    expect(existsSync(path.join(home, '.local', 'share', 'keyrings'))).toBe(true);
    // pcigate doctor proves the keychain stores (a throwaway entry written and deleted), not just answers.
    expect(r.doctor).toMatchObject({ id: 'keychain', status: 'ok' });
    expect(String((r.doctor as { message: string }).message)).toMatch(/reachable and storing/);
  });
});

describe.skipIf(!existsSync(STORE))('token store fallback without a keychain service', () => {
  // Without a session bus address, either no Secret Service answers at all (the probe fails) or one is
  // autolaunched that answers reads but refuses writes (AccessDenied): both must end in the file, warned once.
  it('auto falls back to a 0600 file with one warning line; keychain asked explicitly is an error', () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-kc-home-'));
    const file = script(home, `
const s = await openTokenStore(ctx, { kind: 'auto', home, warn: (l) => warnings.push(l) });
await s.save(t);
out.kind = s.kind;
out.loaded = await s.load();
try { await keychainStore().save(t); out.explicit = 'saved'; } catch (e) { out.explicit = e.code; }
out.doctorAuto = ${doctorLine('auto')};
out.doctorKeychain = ${doctorLine('keychain')};
`);
    const env = { PATH: process.env.PATH, HOME: home };
    const stdout = execFileSync(process.execPath, [file], { encoding: 'utf8', timeout: 30_000, env, stdio: ['ignore', 'pipe', 'ignore'] });
    const r = JSON.parse(stdout) as { kind: string; explicit: string; warnings: string[]; loaded: unknown; doctorAuto: unknown; doctorKeychain: unknown };
    expect(r.kind).toBe('file');
    expect(r.loaded).toMatchObject({ accessToken: 'header.payload.sig', refreshToken: 'rt-1' });
    expect(r.explicit).toBe('ERR_TOKEN_STORE');
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/no OS keychain service answered; keeping tokens in a 0600 file/);
    expect(statSync(path.join(home, 'tokens.json')).mode & 0o777).toBe(0o600);
    // doctor: a warning (the fallback is supported) for auto, a failure when the keychain is required.
    expect(r.doctorAuto).toMatchObject({ id: 'keychain', status: 'warn' });
    expect(r.doctorKeychain).toMatchObject({ id: 'keychain', status: 'fail' });
  });
});

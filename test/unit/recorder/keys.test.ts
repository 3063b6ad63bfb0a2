import * as fsp from 'node:fs/promises';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { canonicalize } from '../../../recorder/canonical-json.js';
import { ed25519Verify, privateKeyFromPem, rawPublicKey } from '../../../recorder/ed25519.js';
import { openAuditLog } from '../../../recorder/index.js';
import { initKeys, loadKeys, loadPublicKeys, parsePublicKeyFile, rotateKeys } from '../../../recorder/keys.js';
import { testCtx } from '../../harness/test-ctx.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'pcigate-keys-'));
const mode = (p: string) => statSync(p).mode & 0o777;

describe('key store', () => {
  it('init creates root.pub, epoch 0 certified by the root key, a 0600 epoch.key in 0700 dirs', async () => {
    const ctx = testCtx();
    const home = path.join(tmp(), 'home');
    const rootOut = path.join(tmp(), 'root.pem');
    const r = await initKeys(ctx, home, { origin: 'test.example/log', rootKeyOut: rootOut });
    expect(mode(home)).toBe(0o700);
    expect(mode(path.join(home, 'keys'))).toBe(0o700);
    expect(mode(path.join(home, 'keys', 'epoch.key'))).toBe(0o600);
    expect(mode(rootOut)).toBe(0o600);
    expect(readFileSync(path.join(home, 'origin'), 'utf8')).toBe('test.example/log\n');
    const rootPub = parsePublicKeyFile(readFileSync(path.join(home, 'keys', 'root.pub'), 'utf8'));
    expect(rootPub.equals(r.rootPub)).toBe(true);
    expect(rawPublicKey(privateKeyFromPem(readFileSync(rootOut))).equals(rootPub)).toBe(true);
    // the root private key is nowhere in the home
    for (const f of readdirSync(path.join(home, 'keys'))) expect(readFileSync(path.join(home, 'keys', f), 'utf8')).not.toContain(readFileSync(rootOut, 'utf8').split('\n')[1]);
    const line = readFileSync(path.join(home, 'keys', 'epochs.jsonl'), 'utf8').trim();
    const sc = JSON.parse(line);
    expect(line).toBe(canonicalize(sc));
    expect(sc.cert).toEqual({ type: 'pcigate.epoch', origin: 'test.example/log', epoch: 0, pub: sc.cert.pub, not_before: '2026-11-22T12:00:00.000000Z' });
    expect(ed25519Verify(rootPub, Buffer.from(canonicalize(sc.cert)), Buffer.from(sc.sig, 'base64'))).toBe(true);
    const k = await loadKeys(ctx, home);
    expect(k.epoch).toBe(0);
    expect(k.keyName).toBe('test.example/log#e0');
    expect(k.publicRaw.toString('base64')).toBe(sc.cert.pub);
  });

  it('init refuses an initialised home and a bad origin', async () => {
    const ctx = testCtx();
    const home = tmp();
    await initKeys(ctx, home, { origin: 'o' });
    await expect(initKeys(ctx, home, { origin: 'o' })).rejects.toMatchObject({ code: 'ERR_KEYS', message: expect.stringContaining('already initialised') });
    await expect(initKeys(ctx, tmp(), { origin: 'has space' })).rejects.toMatchObject({ code: 'ERR_KEYS' });
  });

  it('a first start killed part-way leaves a home that initialises; two at once make one key store; one with records is refused', async () => {
    // Killed after writing epoch.key (empty) and root.pub, before origin: set aside under the init lock, warned.
    const home = tmp();
    await initKeys(testCtx(), home, { origin: 'o' });
    rmSync(path.join(home, 'origin'));
    writeFileSync(path.join(home, 'keys', 'epoch.key'), '');
    rmSync(path.join(home, 'keys', 'epochs.jsonl'));
    const warnings: string[] = [];
    await initKeys(testCtx({ log: { debug: () => {}, warn: (m: string) => { warnings.push(m); } } }), home, { origin: 'o' });
    expect((await loadKeys(testCtx(), home)).epoch).toBe(0);
    const aside = readdirSync(home).filter((n) => n.startsWith('keys.incomplete-'));
    expect(aside).toHaveLength(1);
    expect(readdirSync(path.join(home, aside[0]!)).sort()).toEqual(['epoch.key', 'root.pub']);
    expect(warnings.join('\n')).toContain('never finished');
    expect(readdirSync(path.join(home, 'keys')).sort()).toEqual(['epoch.key', 'epochs.jsonl', 'root.pub']);

    // An older pcigate killed between creating origin and writing it: an empty origin. Not a key store: set aside too.
    const empty = tmp();
    await initKeys(testCtx(), empty, { origin: 'o' });
    writeFileSync(path.join(empty, 'origin'), '');
    const opened = await openAuditLog(testCtx(), { home: empty, createIfMissing: true });
    await opened.close();
    expect(readFileSync(path.join(empty, 'origin'), 'utf8')).not.toBe('');
    const emptyAside = readdirSync(empty).filter((n) => n.startsWith('keys.incomplete-'));
    expect(readdirSync(path.join(empty, emptyAside[0]!)).sort()).toEqual(['epoch.key', 'epochs.jsonl', 'origin', 'root.pub']);

    // keys/ a link to a directory elsewhere (keys on another volume): the files go there, the link stays.
    const linked = tmp();
    const elsewhere = tmp();
    symlinkSync(elsewhere, path.join(linked, 'keys'));
    writeFileSync(path.join(elsewhere, 'epoch.key'), '');
    await initKeys(testCtx(), linked, { origin: 'o' });
    expect(lstatSync(path.join(linked, 'keys')).isSymbolicLink()).toBe(true);
    expect(readdirSync(elsewhere).sort()).toEqual(['epoch.key', 'epochs.jsonl', 'root.pub']);
    expect((await loadKeys(testCtx(), linked)).epoch).toBe(0);

    // Two first initialisations of one home at once: A paused as it writes origin, B runs meanwhile. B
    // must not set A's keys aside as an unfinished initialisation: it finds the home's init lock held and fails.
    const both = tmp();
    let paused!: () => void;
    let resume!: () => void;
    const atOrigin = new Promise<void>((r) => { paused = r; });
    const gate = new Promise<void>((r) => { resume = r; });
    const fsA = new Proxy(fsp, {
      get: (t, k) => (k === 'open'
        ? async (f: string, ...rest: unknown[]) => { if (f.endsWith(`${path.sep}origin.tmp`)) { paused(); await gate; } return (fsp.open as (...a: unknown[]) => unknown)(f, ...rest); }
        : Reflect.get(t, k)),
    });
    const a = initKeys(testCtx({ fs: fsA as typeof fsp }), both, { origin: 'site-a' });
    await atOrigin;
    await expect(initKeys(testCtx(), both, { origin: 'site-b' })).rejects.toThrow(/in use by process/);
    resume();
    const ra = await a;
    expect(readFileSync(path.join(both, 'origin'), 'utf8')).toBe('site-a\n');
    expect((await loadKeys(testCtx(), both)).rootPub.equals(ra.rootPub)).toBe(true);
    expect(readdirSync(both).filter((n) => n.startsWith('keys.'))).toEqual([]);

    // Keys without an origin beside audit records: the origin was lost, not never written. Nothing is replaced.
    const lost = tmp();
    await initKeys(testCtx(), lost, { origin: 'o' });
    mkdirSync(path.join(lost, 'log'));
    writeFileSync(path.join(lost, 'log', '000000000000.jsonl'), '{"seq":0}\n');
    rmSync(path.join(lost, 'origin'));
    const before = readFileSync(path.join(lost, 'keys', 'epoch.key'), 'utf8');
    await expect(initKeys(testCtx(), lost, { origin: 'o' })).rejects.toMatchObject({ code: 'ERR_KEYS', message: expect.stringContaining('no origin file') });
    expect(readFileSync(path.join(lost, 'keys', 'epoch.key'), 'utf8')).toBe(before);
  });

  it('unwritable home → HomeError', async () => {
    // A path under a regular file cannot be a directory, even for root (who ignores permission bits).
    const file = path.join(tmp(), 'plain-file');
    writeFileSync(file, '');
    await expect(initKeys(testCtx(), path.join(file, 'home'), { origin: 'o' })).rejects.toMatchObject({
      code: 'ERR_HOME', message: expect.stringContaining('cannot create or write the data home'),
    });
  });

  it('rotation certifies the new key with the old one and removes the old private key', async () => {
    const ctx = testCtx();
    const home = tmp();
    await initKeys(ctx, home, { origin: 'o' });
    const k0 = await loadKeys(ctx, home);
    const oldPem = readFileSync(path.join(home, 'keys', 'epoch.key'), 'utf8');
    ctx.clock.advance(1000);
    const { state: k1, cert, fromEpoch } = await rotateKeys(ctx, home, k0);
    expect(fromEpoch).toBe(0);
    expect(k1.epoch).toBe(1);
    expect(cert.cert.not_before).toBe('2026-11-22T12:00:01.000000Z');
    expect(ed25519Verify(k0.publicRaw, Buffer.from(canonicalize(cert.cert)), Buffer.from(cert.sig, 'base64'))).toBe(true);
    expect(ed25519Verify(k1.publicRaw, Buffer.from(canonicalize(cert.cert)), Buffer.from(cert.sig, 'base64'))).toBe(false);
    // old private key gone from every file under keys/
    const files = readdirSync(path.join(home, 'keys'));
    expect(files.sort()).toEqual(['epoch.key', 'epochs.jsonl', 'root.pub']);
    for (const f of files) expect(readFileSync(path.join(home, 'keys', f), 'utf8')).not.toBe(oldPem);
    expect(mode(path.join(home, 'keys', 'epoch.key'))).toBe(0o600);
    const again = await loadKeys(ctx, home);
    expect(again.epoch).toBe(1);
    expect(again.publicRaw.equals(k1.publicRaw)).toBe(true);
    expect((await loadPublicKeys(ctx, home)).certs).toHaveLength(2);
  });

  it('loading refuses a broken chain and a mismatched epoch.key', async () => {
    const ctx = testCtx();
    const home = tmp();
    await initKeys(ctx, home, { origin: 'o' });
    const k0 = await loadKeys(ctx, home);
    const { state: k1 } = await rotateKeys(ctx, home, k0);
    await rotateKeys(ctx, home, k1);
    const epochsFile = path.join(home, 'keys', 'epochs.jsonl');
    const lines = readFileSync(epochsFile, 'utf8').trim().split('\n');
    // skipping epoch 1: epoch 2 then is not signed by the root/previous key and is numbered wrong
    writeFileSync(epochsFile, `${lines[0]}\n${lines[2]}\n`);
    await expect(loadKeys(ctx, home)).rejects.toMatchObject({ code: 'ERR_KEYS', message: expect.stringContaining('expected 1') });
    // a certificate signed by the wrong key
    const forged = JSON.parse(lines[1]!);
    forged.cert.not_before = '2026-11-22T13:00:00.000000Z';
    writeFileSync(epochsFile, `${lines[0]}\n${JSON.stringify(forged)}\n${lines[2]}\n`);
    await expect(loadKeys(ctx, home)).rejects.toMatchObject({ message: expect.stringContaining('not signed by') });
    // chain intact but epoch.key is an older key
    writeFileSync(epochsFile, `${lines.join('\n')}\n`);
    writeFileSync(path.join(home, 'keys', 'epoch.key'), readFileSync(path.join(home, 'keys', 'epoch.key')));
    expect((await loadKeys(ctx, home)).epoch).toBe(2);
    writeFileSync(epochsFile, `${lines.slice(0, 2).join('\n')}\n`);
    await expect(loadKeys(ctx, home)).rejects.toMatchObject({ message: expect.stringContaining('does not match') });
  });

  it('a rotation interrupted after the certificate was appended is finished on load', async () => {
    const ctx = testCtx();
    const home = tmp();
    await initKeys(ctx, home, { origin: 'o' });
    const k0 = await loadKeys(ctx, home);
    const { state: k1 } = await rotateKeys(ctx, home, k0);
    // simulate: epoch.key still the old key, the new one waiting in epoch.key.next
    const keys = path.join(home, 'keys');
    writeFileSync(path.join(keys, 'epoch.key.next'), readFileSync(path.join(keys, 'epoch.key')));
    writeFileSync(path.join(keys, 'epoch.key'), 'stale');
    const k = await loadKeys(ctx, home);
    expect(k.publicRaw.equals(k1.publicRaw)).toBe(true);
    expect(existsSync(path.join(keys, 'epoch.key.next'))).toBe(false);
  });
});

/** The 0600 file token store: created private, replaced atomically, refused when others can read it. */
import { chmodSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileStore } from '../../../src/identity/token-store.js';
import { testCtx } from '../../harness/test-ctx.js';

const tokens = { issuer: 'https://idp.example', clientId: 'c', accessToken: 'a.b.c', refreshToken: 'r1', expiresAt: 1, loggedInAt: 1 };

describe('file token store', () => {
  it('writes a 0600 file in a 0700 directory and reads it back; delete removes it', async () => {
    const home = path.join(mkdtempSync(path.join(os.tmpdir(), 'pcigate-fs-')), 'data');
    const s = fileStore(testCtx(), home);
    expect(await s.load()).toBeUndefined();
    await s.save(tokens);
    expect(statSync(path.join(home, 'tokens.json')).mode & 0o777).toBe(0o600);
    expect(statSync(home).mode & 0o777).toBe(0o700);
    await s.save({ ...tokens, refreshToken: 'r2' });
    expect((await s.load())?.refreshToken).toBe('r2');
    expect(readdirSync(home)).toEqual(['tokens.json']);
    expect(await s.delete()).toBe(true);
    expect(await s.delete()).toBe(false);
  });

  it('refuses a token file other users can read', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-fs-'));
    const s = fileStore(testCtx(), home);
    await s.save(tokens);
    chmodSync(path.join(home, 'tokens.json'), 0o644);
    await expect(s.load()).rejects.toMatchObject({ code: 'ERR_TOKEN_STORE', message: expect.stringContaining('readable by other users') });
  });

  it('reports an unreadable file as a token-store error, not a crash', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-fs-'));
    const ctx = testCtx();
    await ctx.fs.writeFile(path.join(home, 'tokens.json'), 'not json', { mode: 0o600 });
    await expect(fileStore(ctx, home).load()).rejects.toMatchObject({ code: 'ERR_TOKEN_STORE' });
  });
});

/**
 * A failed save of the 0600 token file leaves no copy behind. The copy would hold the newest tokens (after a
 * refresh: the only live refresh token), and logout, which revokes and deletes tokens.json, would never see it.
 */
import { mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileStore } from '../../../src/identity/token-store.js';
import { testCtx } from '../../harness/test-ctx.js';

describe('file token store, failed save', () => {
  it('removes its temporary copy when the rename into place fails', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-fs-fail-'));
    // tokens.json is a directory: the write of the copy succeeds, the rename over it fails (EISDIR).
    mkdirSync(path.join(home, 'tokens.json'));
    const s = fileStore(testCtx(), home);
    await expect(s.save({ issuer: 'https://idp.example', clientId: 'c', accessToken: 'a.b.c', refreshToken: 'rotated-live-refresh-token', expiresAt: 1, loggedInAt: 1 }))
      .rejects.toMatchObject({ code: 'ERR_TOKEN_STORE' });
    expect(readdirSync(home)).toEqual(['tokens.json']);
  });
});

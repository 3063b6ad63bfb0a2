/**
 * The workload token replay cache's bounds (replay-cache.ts), on a real data home directory: an entry lives until
 * its token's exp plus the clock skew and is dropped by the next claim after that, so the file holds only tokens
 * the validator would still accept; until then the same issuer and jti are refused, another issuer's are not.
 * Claims that verifyWorkloadToken did not mark with a rule's reuse are single use (fail closed).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { claimWorkloadToken, REPLAY_FILE, withReuse } from '../../../src/identity/replay-cache.js';
import { fixedClock } from '../../harness/test-ctx.js';

const SKEW = 30_000;
const entries = (home: string) => Object.keys((JSON.parse(readFileSync(path.join(home, REPLAY_FILE), 'utf8')) as { used: object }).used).length;

describe('claimWorkloadToken', () => {
  it('keeps an entry until exp + skew, refusing the token until then, and drops it afterwards', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-replay-'));
    const clock = fixedClock();
    const deps = { fs: fsp, clock };
    const exp = Math.floor(clock.now() / 1000) + 300;
    await claimWorkloadToken(deps, home, { iss: 'https://ci.example', jti: 'a', exp }, SKEW);
    await claimWorkloadToken(deps, home, { iss: 'https://other.example', jti: 'a', exp }, SKEW);
    expect(entries(home)).toBe(2);
    clock.advance(300_000 + SKEW - 1);
    await expect(claimWorkloadToken(deps, home, { iss: 'https://ci.example', jti: 'a', exp }, SKEW)).rejects.toMatchObject({ reason: 'replayed' });
    clock.advance(1);
    await claimWorkloadToken(deps, home, { iss: 'https://ci.example', jti: 'b', exp: exp + 600 }, SKEW);
    expect(entries(home)).toBe(1);
  });

  it('refuses a file that is not a replay cache rather than start an empty one', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-replay-'));
    await fsp.writeFile(path.join(home, REPLAY_FILE), '{"v":1,"used":{"k":"x"}}', { mode: 0o600 });
    await expect(claimWorkloadToken({ fs: fsp, clock: fixedClock() }, home, { iss: 'i', jti: 'a', exp: 1 }, SKEW)).rejects.toMatchObject({ code: 'ERR_HOME' });
  });

  it('refuses a FIFO in the cache\'s place instead of waiting for its writer', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-replay-'));
    execFileSync('mkfifo', ['-m', '600', path.join(home, REPLAY_FILE)]);
    await expect(claimWorkloadToken({ fs: fsp, clock: fixedClock() }, home, { iss: 'i', jti: 'a', exp: 1 }, SKEW))
      .rejects.toMatchObject({ code: 'ERR_HOME', message: expect.stringContaining('(a FIFO)') });
  });

  it('lets claims marked until_expiry through again, but not their unmarked original nor claims with no identifier unless marked', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-replay-'));
    const deps = { fs: fsp, clock: fixedClock() };
    const claims = { iss: 'https://ci.example', uti: 'u-1', exp: Math.floor(deps.clock.now() / 1000) + 300 };
    await claimWorkloadToken(deps, home, withReuse(claims, 'until_expiry'), SKEW);
    await claimWorkloadToken(deps, home, withReuse(claims, 'until_expiry'), SKEW);
    expect(entries(home)).toBe(1);
    await expect(claimWorkloadToken(deps, home, claims, SKEW)).rejects.toMatchObject({ reason: 'replayed' });
    const bare = { iss: 'https://ci.example', exp: claims.exp };
    await claimWorkloadToken(deps, home, withReuse(bare, 'until_expiry'), SKEW);
    await expect(claimWorkloadToken(deps, home, withReuse(bare, 'once'), SKEW)).rejects.toMatchObject({ reason: 'no_jti' });
    expect(entries(home)).toBe(1);
  });
});

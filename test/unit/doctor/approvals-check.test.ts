/**
 * `pcigate doctor`'s approvals check on a data home whose approval key the real store made: ✓ as the store
 * leaves it (directory 0700, key 0600, yours); ✗ with a fix hint for a key open to group or others, a key of
 * another mode, a key owned by another user, a key that is a symbolic link, and a world-writable directory.
 */
import { chmodSync, mkdirSync, renameSync, symlinkSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ApprovalStore } from '../../../src/policy/approvals.js';
import { checkApprovals } from '../../../src/doctor/local-checks.js';
import { tempDir } from '../../harness/cli.js';
import { fixedClock, testCtx } from '../../harness/test-ctx.js';

const me = { name: os.userInfo().username, uid: os.userInfo().uid };
const ctx = () => testCtx({ user: me });

/** A data home whose approvals/.key the store made (as on the first held statement). */
async function homeWithKey(): Promise<{ home: string; dir: string; key: string }> {
  const home = tempDir('pcigate-doctor-approvals-');
  const sink = { append: async () => ({ seq: 0, leaf: '' }), commitBlob: async () => { throw new Error('unused'); } };
  await new ApprovalStore({ fs: fsp, clock: fixedClock(), home, sink }).binding('select 1');
  const dir = path.join(home, 'approvals');
  return { home, dir, key: path.join(dir, '.key') };
}

describe('doctor: approvals', () => {
  it('is ✓ as the store leaves the directory and key, and before there is one', async () => {
    const { home } = await homeWithKey();
    expect(await checkApprovals(ctx(), home)).toEqual({ id: 'approvals', status: 'ok', message: `approvals directory ${path.join(home, 'approvals')} (mode 0700); approval key 0600, yours` });
    expect(await checkApprovals(ctx(), tempDir('pcigate-doctor-approvals-'))).toMatchObject({ id: 'approvals', status: 'ok' });
  });

  it.each([0o640, 0o604, 0o666])('is ✗ for a key of mode %o (group or others can read it), with chmod 600', async (mode) => {
    const { home, key } = await homeWithKey();
    chmodSync(key, mode);
    const r = await checkApprovals(ctx(), home);
    expect(r).toMatchObject({ id: 'approvals', status: 'fail' });
    expect(r.message).toContain(`the approval key ${key} has mode 0${mode.toString(8)}, not 0600: group or others can read or write it`);
    expect(r.hint).toMatch(new RegExp(`^chmod 600 ${key}; if others may have read it, remove it`));
  });

  it('is ✗ for a key of mode 0400, with chmod 600', async () => {
    const { home, key } = await homeWithKey();
    chmodSync(key, 0o400);
    expect(await checkApprovals(ctx(), home)).toEqual({ id: 'approvals', status: 'fail', message: `the approval key ${key} has mode 0400, not 0600`, hint: `chmod 600 ${key}` });
  });

  it('is ✗ for a key owned by another user, with chown', async () => {
    const { home, key } = await homeWithKey();
    const r = await checkApprovals(testCtx({ user: { name: 'ann', uid: me.uid + 1 } }), home);
    expect(r).toMatchObject({ id: 'approvals', status: 'fail', hint: `chown ann ${key} && chmod 600 ${key}` });
    expect(r.message).toContain(`is owned by uid ${me.uid}, not by you (uid ${me.uid + 1})`);
  });

  it('is ✗ for a key that is a symbolic link', async () => {
    const { home, key } = await homeWithKey();
    renameSync(key, `${key}.real`);
    symlinkSync(`${key}.real`, key);
    expect(await checkApprovals(ctx(), home)).toMatchObject({ status: 'fail', message: `${key} is not a regular file (a symbolic link)` });
  });

  it('is ✗ for a world-writable approvals directory, with chmod 700', async () => {
    const { home, dir } = await homeWithKey();
    chmodSync(dir, 0o777);
    expect(await checkApprovals(ctx(), home)).toMatchObject({ id: 'approvals', status: 'fail', hint: `chmod 700 ${dir}` });
    expect((await checkApprovals(ctx(), home)).message).toContain('is writable by every user (mode 0777)');
  });

  it('is ✗ when approvals is not a directory', async () => {
    const home = tempDir('pcigate-doctor-approvals-');
    mkdirSync(path.join(home, 'x'));
    symlinkSync(path.join(home, 'x'), path.join(home, 'approvals'));
    expect(await checkApprovals(ctx(), home)).toMatchObject({ status: 'fail', message: `${path.join(home, 'approvals')} is not a directory` });
  });
});

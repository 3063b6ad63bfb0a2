/** decideEnv (src/broker/ssh-env.ts): env requests against allow.env globs. */
import { describe, expect, it } from 'vitest';
import { decideEnv } from '../../../src/broker/ssh-env.js';

describe('decideEnv', () => {
  it('matches allow.env globs with several wildcards against a long name', () => {
    // A backtracking RegExp of '*_*_*_X' took half a minute on this 8 kB name, which a client chooses (how the
    // time grows is measured in bench/complexity).
    const name = 'A_'.repeat(4_000);
    expect(decideEnv(['*_*_*_X'], name, 'v')).toMatchObject({ action: 'deny', rule: 'ssh.env.default' });
    expect(decideEnv(['*_*_*_X'], `${name}X`, 'v')).toMatchObject({ action: 'allow', rule: 'ssh.env[0]' });
  });
});

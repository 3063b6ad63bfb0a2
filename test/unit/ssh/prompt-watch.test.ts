/** PromptWatch (broker/ssh-session.ts): with record_input, what is typed at a prompt for a secret is recorded as stars. */
import { describe, expect, it } from 'vitest';
import { PromptWatch } from '../../../src/broker/ssh-session.js';

function typedAfter(shown: string, typed: string): string {
  const w = new PromptWatch();
  w.shown(Buffer.from(shown, 'latin1'));
  return Buffer.from(w.typed(Buffer.from(typed, 'latin1'))).toString('latin1');
}

describe('PromptWatch', () => {
  it('stars what is typed after a prompt for a secret, up to the Enter', () => {
    for (const prompt of ['Password: ', '[sudo] password for ann: ', "Enter passphrase for key '/root/.ssh/id_ed25519': ", 'login\r\nPIN:', 'Verification code: ', 'Token:']) {
      expect(typedAfter(prompt, 'hunter2\rls\r'), prompt).toBe('*******\rls\r');
    }
  });

  it('leaves answers to questions and words that only hold one as typed', () => {
    for (const prompt of ["rm: remove regular file 'secret.txt'? ", "cp: overwrite 'tokens.json'? ", '12 tests passed. Deploy now? ', 'compass bearing: ', '$ ']) {
      expect(typedAfter(prompt, 'y\r'), prompt).toBe('y\r');
    }
  });
});

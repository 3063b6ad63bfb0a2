/**
 * The config's `masking` section applies to SSH output as to Postgres results (`pcigate exec NAME -- CMD`,
 * real sshd): `networks: any_luhn` masks a Luhn-valid number outside the major networks' ranges, `format`
 * shapes the mask, and `hmac` becomes length-keeping stars (a token would change the lengths that sftp, scp
 * and rsync frame their data with).
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from '../harness/cli.js';
import { sshConnectionYaml, startSshd, sshdAvailable } from '../harness/sshd.js';
import type { Sshd } from '../harness/sshd.js';

const skip = sshdAvailable();
if (skip) process.stderr.write(`skipping the SSH masking-config tests: ${skip}\n`);
/** Luhn-valid, 16 digits, in no major network's range: a card number only under `networks: any_luhn`. */
const PRIVATE_LABEL = '9900 1234 5678 9017';
const VISA = '4111 1111 1111 1111';

let sshd: Sshd;
let dir: string;

beforeAll(async () => {
  if (skip) return;
  sshd = await startSshd();
  dir = tempDir('pcigate-ssh-masking-');
}, 60_000);

afterAll(async () => {
  await sshd?.stop();
});

function configWith(masking: string[]): string {
  const file = path.join(dir, `pcigate-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, [
    'identity:', '  allow_local: true', 'masking:', ...masking.map((l) => `  ${l}`), 'connections:',
    ...sshConnectionYaml(sshd, dir, 'prod-ssh', { extra: ['allow: { exec: { allow: ["printf *"] } }'] }), '',
  ].join('\n'), { mode: 0o600 });
  return file;
}

const exec = (config: string, home: string) =>
  runCli(['exec', '--config', config, '--home', home, 'prod-ssh', '--', 'printf', '%s|%s\\n', PRIVATE_LABEL, VISA], { home, timeoutMs: 30_000 });

describe.skipIf(Boolean(skip))('masking settings for SSH output (pcigate exec, real sshd)', () => {
  it('networks: any_luhn and format: first6last4 apply to the output and the recording', async () => {
    const home = tempDir('pcigate-home-');
    const r = await exec(configWith(['networks: any_luhn', 'format: first6last4']), home);
    expect(r.stdout).toBe('9900 12** **** 9017|4111 11** **** 1111\n');
    expect(r.code).toBe(0);
    const recordings = path.join(home, 'recordings');
    const cast = readdirSync(recordings).map((f) => readFileSync(path.join(recordings, f), 'utf8')).join('');
    expect(cast).toContain('9900 12** **** 9017|4111 11** **** 1111');
    expect(cast).not.toContain(PRIVATE_LABEL);
    // The command line in the recording's title and marker and in the log is masked the same way.
    expect(cast).toContain("'9900 12** **** 9017'");
    const logDir = path.join(home, 'log');
    const log = readdirSync(logDir).map((f) => readFileSync(path.join(logDir, f), 'utf8')).join('');
    expect(log).toContain("'9900 12** **** 9017'");
    expect(log).not.toContain(PRIVATE_LABEL);
  });

  it('hmac is stars of the same length on SSH; the default still masks only the major networks', async () => {
    const hmac = await exec(configWith(['format: hmac', 'hmac_key: env:PCIGATE_TEST_MASK_KEY']), tempDir('pcigate-home-'));
    expect(hmac.stdout).toBe(`${PRIVATE_LABEL}|**** **** **** ****\n`);
    const plain = await exec(configWith([]), tempDir('pcigate-home-'));
    expect(plain.stdout).toBe(`${PRIVATE_LABEL}|**** **** **** 1111\n`);
  });
});

/**
 * A CI job's workload token is good for one `pcigate exec` run (src/identity/replay-cache.ts), through the built
 * bin against a real PostgreSQL 15 and the in-process OIDC provider: the same token presented by a second run
 * (a token copied out of a job log) is refused with exit 4 and a clear message, recorded as auth.fail
 * `replayed`, and nothing reaches the server; a fresh token of the same job runs. A connection whose rule says
 * `reuse: until_expiry` (a GitLab job's one id_tokens token for all its steps) runs the same token twice; a token
 * carrying Entra ID's `uti` instead of a jti is claimed once by it.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLog } from '../harness/audit-records.js';
import { CI_SUB, ciJobToken } from '../harness/ci-job.js';
import { AUDIENCE } from '../harness/oidc.js';
import { runCli, tempDir } from '../harness/cli.js';
import { startOidcProvider } from '../harness/oidc.js';
import type { OidcHarness } from '../harness/oidc.js';
import { connectionYaml, startPostgres, type PostgresServer } from '../harness/postgres.js';

let server: PostgresServer;
let oidc: OidcHarness;
let config: string;

beforeAll(async () => {
  server = await startPostgres();
  server.psql('create table runs (n int)');
  oidc = await startOidcProvider();
  config = path.join(tempDir('pcigate-token-replay-'), 'pcigate.yaml');
  writeFileSync(config, [
    'connections:', ...connectionYaml(server, 'ci-db'),
    '    workload:', `      - { issuer: "${oidc.issuer}", claims: { repository: org/payments } }`,
    ...connectionYaml(server, 'ci-steps-db'),
    '    workload:', `      - { issuer: "${oidc.issuer}", claims: { repository: org/payments }, reuse: until_expiry }`,
    'policy:', '  roles:', `    ci: { subjects: ["${CI_SUB}"] }`,
    '  connections:', '    ci-db: { roles: { ci: { classes: [read, write, transaction, utility] } } }',
    '    ci-steps-db: { roles: { ci: { classes: [read, write, transaction, utility] } } }', '',
  ].join('\n'), { mode: 0o600 });
}, 120_000);

afterAll(async () => {
  await oidc?.close();
  await server?.stop();
});

const token = () => ciJobToken(oidc);

const exec = (home: string, idToken: string, conn = 'ci-db') => runCli(['exec', '--config', config, '--home', home, conn, '--sql', 'insert into runs values (1)'], {
  home, env: { PCIGATE_ID_TOKEN: idToken, TEST_DB_PASSWORD: server.password }, timeoutMs: 30_000,
});

describe('pcigate exec with a workload token used before', () => {
  it('is refused (exit 4, auth.fail replayed, nothing run); a fresh token runs', async () => {
    const home = tempDir('pcigate-home-');
    const once = await token();
    expect((await exec(home, once)).code).toBe(0);
    const again = await exec(home, once);
    expect(again.stderr).toMatch(/this workload token \(jti [0-9a-f-]{36}\) was already used at .*good for one pcigate run/);
    expect(again.code).toBe(4);
    expect(server.psql('select count(*) from runs').trim()).toBe('1');
    expect(readLog(home).filter((r) => r.type === 'auth.fail').map((r) => r.detail)).toEqual([{ reason: 'replayed', via: 'workload' }]);
    expect((await exec(home, await token())).code).toBe(0);
    expect(server.psql('select count(*) from runs').trim()).toBe('2');
  }, 90_000);

  it('a uti (Entra ID\'s token identifier) stands for a missing jti: claimed once, refused the second time', async () => {
    const home = tempDir('pcigate-home-');
    const now = Math.floor(Date.now() / 1000);
    const uti = randomUUID();
    const entra = await oidc.sign({ iss: oidc.issuer, aud: AUDIENCE, sub: CI_SUB, repository: 'org/payments', iat: now, exp: now + 300, uti }, { typ: 'JWT' });
    const before = Number(server.psql('select count(*) from runs').trim());
    expect((await exec(home, entra)).code).toBe(0);
    const again = await exec(home, entra);
    expect(again.stderr).toContain(`this workload token (uti ${uti}) was already used at`);
    expect(again.code).toBe(4);
    expect(Number(server.psql('select count(*) from runs').trim())).toBe(before + 1);
  }, 90_000);
});

describe('pcigate exec under a workload rule with reuse: until_expiry', () => {
  it('runs the same token in two steps of a job', async () => {
    const home = tempDir('pcigate-home-');
    const jobToken = await token();
    const before = Number(server.psql('select count(*) from runs').trim());
    for (const step of [1, 2]) {
      const r = await exec(home, jobToken, 'ci-steps-db');
      expect(r.code, `step ${step}: ${r.stderr}`).toBe(0);
    }
    expect(Number(server.psql('select count(*) from runs').trim())).toBe(before + 2);
    expect(readLog(home).filter((r) => r.type === 'auth.fail')).toEqual([]);
  }, 90_000);
});

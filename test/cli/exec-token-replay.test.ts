/**
 * A CI job's workload token is good for one `pcigate exec` run (src/identity/replay-cache.ts), through the built
 * bin against a real PostgreSQL 15 and the in-process OIDC provider: the same token presented by a second run
 * (a token copied out of a job log) is refused with exit 4 and a clear message, recorded as auth.fail
 * `replayed`, and nothing reaches the server; a fresh token of the same job runs.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLog } from '../harness/audit-records.js';
import { CI_SUB, ciJobToken } from '../harness/ci-job.js';
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
    'policy:', '  roles:', `    ci: { subjects: ["${CI_SUB}"] }`,
    '  connections:', '    ci-db: { roles: { ci: { classes: [read, write, transaction, utility] } } }', '',
  ].join('\n'), { mode: 0o600 });
}, 120_000);

afterAll(async () => {
  await oidc?.close();
  await server?.stop();
});

const token = () => ciJobToken(oidc);

const exec = (home: string, idToken: string) => runCli(['exec', '--config', config, '--home', home, 'ci-db', '--sql', 'insert into runs values (1)'], {
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
});

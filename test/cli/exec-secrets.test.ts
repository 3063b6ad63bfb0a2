/**
 * `pcigate exec CONN -- CMD` as a CI step, through the built bin against a real PostgreSQL 15 with real
 * psql: a step whose command line carries credentials (`postgres://u:PASS@h`, `--password PASS`,
 * `TOKEN=…`) gets them as given, but neither the audit log (`exec.start` argv) nor the recording (its
 * title) holds them; a failing step's exit code is passed through and recorded (`exec.end` failure); a card
 * number the step prints is masked on the way out and in the recording.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from '../harness/cli.js';
import { connectionYaml, startPostgres, type PostgresServer } from '../harness/postgres.js';
import { readLog } from '../integration/pg-proxy-setup.js';

const OS_USER = os.userInfo().username;
let server: PostgresServer;
let config: string;

beforeAll(async () => {
  server = await startPostgres();
  server.psql("create table cards (id int primary key, pan text); insert into cards values (1, '4111111111111111');");
  config = path.join(tempDir('pcigate-exec-secrets-'), 'pcigate.yaml');
  writeFileSync(config, [
    'identity:', '  allow_local: true',
    'connections:', ...connectionYaml(server),
    'policy:', '  roles:', `    ci: { subjects: [${OS_USER}] }`,
    '  connections:', '    test-db: { roles: { ci: { classes: [read] } } }', '',
  ].join('\n'), { mode: 0o600 });
}, 120_000);

afterAll(async () => { await server?.stop(); });

describe('pcigate exec -- CMD', () => {
  it('keeps credentials on its command line out of the log and the recording; a failing step exits with its code', async () => {
    const home = tempDir('pcigate-home-');
    // $1…$4 are the step's own arguments; it uses none of them, prints a card number through psql, fails with 3.
    const step = 'psql -X -At -c "select pan from cards" && exit 3';
    const r = await runCli(['exec', '--config', config, '--home', home, 'test-db', '--', 'sh', '-c', step, 'sh',
      'postgresql://app:hunter2@db.internal/pay', '--password', 's3cr3t-pw', 'GITHUB_TOKEN=ghs_abc123'], { env: { TEST_DB_PASSWORD: server.password }, home, timeoutMs: 30_000 });
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/1111/);
    expect(r.stdout).not.toContain('4111111111111111');
    const log = readLog(home);
    const start = log.find((x) => x.type === 'exec.start')!;
    expect((start.detail as { argv: string }).argv).toContain('postgresql://app:[redacted]@db.internal/pay --password [redacted] GITHUB_TOKEN=[redacted]');
    expect(log.find((x) => x.type === 'exec.end')).toMatchObject({ outcome: 'failure', detail: { exit_code: 3 } });
    const recordings = path.join(home, 'recordings');
    const stored = [JSON.stringify(log), ...readdirSync(recordings).map((f) => readFileSync(path.join(recordings, f), 'utf8'))].join('\n');
    for (const secret of ['hunter2', 's3cr3t-pw', 'ghs_abc123', '4111111111111111']) expect(stored, secret).not.toContain(secret);
  }, 60_000);

  it('keeps a password given on a here-document or piped into a reader out of the log and the recording', async () => {
    const home = tempDir('pcigate-home-');
    // The ALTER ROLE is refused by policy (the role may only read); its password is typed all the same.
    const step = "psql -X -At <<'SQL'\nALTER ROLE app PASSWORD 'hunterDoc1';\nSQL\necho hunterPipe2 | timeout 5 true --password-stdin; echo 'ann:hunterLine3' | sh -c 'cat >/dev/null'; echo step-done";
    const r = await runCli(['exec', '--config', config, '--home', home, 'test-db', '--', 'sh', '-c', step], { env: { TEST_DB_PASSWORD: server.password }, home, timeoutMs: 30_000 });
    expect(r.stdout).toContain('step-done');
    const log = readLog(home);
    const argv = (log.find((x) => x.type === 'exec.start')!.detail as { argv: string }).argv;
    expect(argv).toContain("ALTER ROLE app PASSWORD '[redacted]'");
    expect(argv).toContain('echo [redacted] | timeout 5 true --password-stdin');
    expect(log.some((x) => x.type === 'pg.query' && x.outcome === 'denied')).toBe(true);
    const recordings = path.join(home, 'recordings');
    const stored = [JSON.stringify(log), ...readdirSync(recordings).map((f) => readFileSync(path.join(recordings, f), 'utf8'))].join('\n');
    for (const secret of ['hunterDoc1', 'hunterPipe2']) expect(stored, secret).not.toContain(secret);
  }, 60_000);
});

/**
 * `pcigate sessions` and `pcigate replay` on what `pcigate exec test-db -- CMD` recorded (the built bin, a
 * real config, a real PostgreSQL): the exec session (an asciicast of the child's masked output) and the
 * Postgres session its psql opened through the ephemeral listener are both listed, and both replay what
 * was shown.
 */
import os from 'node:os';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from '../harness/cli.js';
import { connectionYaml, startPostgres, type PostgresServer } from '../harness/postgres.js';

const OS_USER = os.userInfo().username;
let server: PostgresServer;
let config: string;
let home: string;
let env: Record<string, string>;
let shown: string;

beforeAll(async () => {
  server = await startPostgres();
  const dir = tempDir('pcigate-replay-exec-');
  home = path.join(dir, 'home');
  config = path.join(dir, 'pcigate.yaml');
  writeFileSync(config, [
    'identity:', '  allow_local: true',
    'connections:', ...connectionYaml(server),
    'policy:', '  roles:', `    ci: { subjects: [${OS_USER}] }`, '  connections:', '    test-db:', '      roles:',
    '        ci: { classes: [read, write, transaction, utility] }', '',
  ].join('\n'), { mode: 0o600 });
  env = { TEST_DB_PASSWORD: server.password };
  const r = await runCli(['exec', '--config', config, '--home', home, 'test-db', '--', 'sh', '-c',
    `printf 'migrating card 4111111111111111\\n'; psql -X -A -t -c 'select 6 * 7 as answer'`], { env, home: dir, timeoutMs: 60_000 });
  expect(r.code).toBe(0);
  shown = r.stdout;
}, 120_000);

afterAll(async () => {
  await server?.stop();
});

const cli = (args: string[]) => runCli([...args, '--config', config, '--home', home], { env, timeoutMs: 30_000 });

describe('sessions and replay of pcigate exec', () => {
  it('lists the exec session and the Postgres session it opened', async () => {
    expect(shown).toContain('migrating card ************1111');
    expect(shown).toContain('42');
    const r = await cli(['sessions', '--conn', 'test-db', '--json']);
    expect(r.code).toBe(0);
    const s = (JSON.parse(r.stdout) as { sessions: Array<Record<string, unknown>> }).sessions;
    const exec = s.find((x) => x.kind === 'exec')!;
    const pg = s.find((x) => x.kind === 'postgres')!;
    expect(exec).toMatchObject({ who: OS_USER, outcome: 'success', masked: 2 });
    expect(exec.command).toContain('sh -c');
    expect(exec.command).not.toContain('4111111111111111');
    expect(pg).toMatchObject({ statements: 1, outcome: 'success' });
    const onlyExec = await cli(['sessions', '--kind', 'exec', '--json']);
    expect((JSON.parse(onlyExec.stdout) as { sessions: unknown[] }).sessions).toHaveLength(1);
  });

  it('replays the exec recording exactly as shown, and the statement psql sent', async () => {
    const s = (JSON.parse((await cli(['sessions', '--json'])).stdout) as { sessions: Array<{ id: string; kind: string; end_seq: number }> }).sessions;
    const exec = s.find((x) => x.kind === 'exec')!;
    const r = await cli(['replay', exec.id, '--speed', '1000']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(shown);
    expect(r.stderr).toContain(`verified against log record ${exec.end_seq}`);
    const pg = s.find((x) => x.kind === 'postgres')!;
    const t = await cli(['replay', pg.id]);
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/#1\s+allowed\s+select 6 \* 7 as answer/);
    expect(t.stdout).toMatch(/answer\s*\n\s*42/);
  });
});

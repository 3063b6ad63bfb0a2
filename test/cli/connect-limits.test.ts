/**
 * Session limits through the built bin (`pcigate connect --exec`), configured in pcigate.yaml: psql idles
 * past `policy.connections.test-db.session.idle_timeout` (1 s) between two statements and is told why its
 * session ended (FATAL 57P05); the log has session.idle_timeout before session.end, and the Postgres
 * session's masked count reaches `pcigate sessions`.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from '../harness/cli.js';
import { localConfigYaml, startPostgres, type PostgresServer } from '../harness/postgres.js';
import { readLog } from '../integration/pg-proxy-setup.js';

let server: PostgresServer;
let config: string;

beforeAll(async () => {
  server = await startPostgres();
  const dir = tempDir('pcigate-limits-');
  config = path.join(dir, 'pcigate.yaml');
  writeFileSync(config, localConfigYaml(server, { classes: ['read', 'transaction', 'utility'], session: '{ idle_timeout: 1s }' }), { mode: 0o600 });
}, 120_000);

afterAll(async () => { await server?.stop(); });

describe('pcigate connect with session limits', () => {
  it('ends a session idle past idle_timeout with FATAL 57P05 and records why', async () => {
    const home = tempDir('pcigate-home-');
    const env = { TEST_DB_PASSWORD: server.password };
    const r = await runCli(['connect', '--config', config, '--home', home, 'test-db', '--exec', 'psql', '-X', '-At',
      '-c', "select '4111111111111111' as pan", '-c', '\\! sleep 2.5', '-c', 'select 2 as second'], { env, home, timeoutMs: 30_000 });
    expect(r.stdout).toContain('************1111');
    expect(r.stdout).not.toContain('4111111111111111');
    expect(r.stderr).toContain('FATAL:  pcigate: terminating the session after 1 s idle (session.idle_timeout of test-db, PCI DSS 8.2.8)');
    expect(r.code, r.stderr + r.stdout).not.toBe(0);
    const log = readLog(home);
    const start = log.find((x) => x.type === 'session.start')!;
    const mine = log.filter((x) => x.session === start.session).map((x) => x.type);
    expect(mine.slice(-2)).toEqual(['session.idle_timeout', 'session.end']);
    expect(log.find((x) => x.type === 'session.end')).toMatchObject({ detail: { reason: 'idle_timeout', masked: { pan: 1 } } });
    const sessions = await runCli(['sessions', '--home', home, '--json'], { home });
    const rows = (JSON.parse(sessions.stdout) as { sessions: Array<{ kind: string; masked: number; outcome: string }> }).sessions;
    expect(rows).toEqual([expect.objectContaining({ kind: 'postgres', masked: 1, outcome: 'failure' })]);
  });
});

/** pgbench through pcigate (default TPC-B-like, -S, -M extended, -M prepared), every statement recorded. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { readLog, run, startGate, until, type Gate } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  gate = await startGate(server, { transcripts: false });
  const init = await run('pgbench', ['-i', '-s', '1', '-q'], gate.env, { timeoutMs: 60_000 });
  expect(init.code).toBe(0);
});
afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

const pgQueries = () => readLog(gate.home).filter((r) => r.type === 'pg.query');
/** Every session that started has ended (so all its records are in the log). */
const settled = () => until(() => {
  const log = readLog(gate.home);
  return log.filter((r) => r.type === 'session.start').length === log.filter((r) => r.type === 'session.end').length;
}, 20_000);

describe('pgbench through pcigate', () => {
  const modes: Array<[string, string[], number]> = [
    // [name, args, statements per transaction]
    ['default (simple protocol)', ['-c', '2', '-t', '50'], 7],
    ['-S', ['-S', '-c', '2', '-t', '50'], 1],
    ['-S -M extended', ['-S', '-M', 'extended', '-c', '2', '-t', '50'], 1],
    ['-M prepared', ['-M', 'prepared', '-c', '2', '-t', '50'], 7],
  ];
  for (const [name, args, perTx] of modes) {
    it(`runs ${name} with no failed transactions and records each statement`, async () => {
      await settled();
      const before = pgQueries().length;
      const r = await run('pgbench', ['-n', ...args], gate.env, { timeoutMs: 120_000 });
      expect(r.stderr).not.toMatch(/error|abort/i);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/number of transactions actually processed: 100\/100/);
      await settled();
      // pgbench also runs two set-up queries per run (scale and partitioning checks); those are recorded too.
      const all = pgQueries().slice(before);
      const setup = all.filter((q) => /pg_catalog|count\(\*\)/.test((q.detail as { sql: string }).sql));
      expect(setup.length).toBe(2);
      const added = all.filter((q) => !setup.includes(q));
      expect(added.length).toBe(100 * perTx);
      expect(added.every((q) => q.outcome === 'success')).toBe(true);
    }, 120_000);
  }
});

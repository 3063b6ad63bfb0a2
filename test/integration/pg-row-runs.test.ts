/**
 * A large result's rows go to the masking hooks as runs (SessionHooks.onRows: the DataRows, or a COPY TO's
 * CopyData, read together, one call), once the transcript's sample of the statement is taken. Through `pcigate
 * connect`'s hooks (policy, masking, recording) against a real PostgreSQL: card numbers sprinkled through 3,000
 * rows, in the forms whose masking reads past a value's own bytes (a JSON `\u` escape, found from the row's first
 * backslash; a float's exponent print; an int8) and in those no digit run shows (every digit a `\u` escape; a bytea
 * printed in hex), over the simple protocol, the extended one, a named statement
 * executed again (its rows described by the statement's Describe, not by one of their own), and COPY TO STDOUT in
 * text and csv: every row with one is masked, every other comes back exactly as the server sent it, in order. A
 * session without masking hooks still has its sample of a statement's rows taken; and the rows do reach the hooks
 * in runs (without them, every test above would pass on the one-at-a-time path alone).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { gateConfig, pgClient, readLog, run, startConfiguredGate, startGate, until, type Gate } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;
let direct: pg.Client;
let through: pg.Client;

const ROWS = 3000;
const panRow = (id: number) => [97, 89, 83, 79, 73, 71].some((k) => id % k === 0);
/** Every digit of 4111111111111111 a JSON `\u` escape: no run of digits to find, only the escapes' reading shows it. */
const ESCAPED = [...'4111111111111111'].map((d) => `\\u003${d}`).join('');

beforeAll(async () => {
  server = await startPostgres();
  // Each card number alone in its row, in one column (97: spaced text, 89: text holding JSON with a `\u` escape,
  // 83: float8, 79: int8, 73: a bytea holding its text, 71: text holding JSON with every digit escaped); the JSON
  // column of every row and the text of some hold a backslash that spells nothing, and every other bytea is an md5.
  server.psql(`create table runs (id int primary key, t text, j json, f float8, b bigint, x bytea);
    insert into runs select g,
      case when g % 97 = 0 then 'card 4111 1111 1111 1111 ' || g when g % 89 = 0 then '{"pan": "\\u0034111111111111111"}'
        when g % 71 = 0 then '{"pan": "${ESCAPED}"}'
        when g % 5 = 0 then 'a\\"b ' || g else md5(g::text) end,
      ('{"q": "a\\"b ' || g || '"}')::json,
      case when g % 83 = 0 then 4111111111111111 else g * 1.5 end,
      case when g % 79 = 0 then 4111111111111111 else g end,
      case when g % 73 = 0 then convert_to('4111111111111111', 'UTF8') else decode(md5(g::text), 'hex') end
    from generate_series(1, ${ROWS}) g;`);
  gate = await startConfiguredGate(server, gateConfig(server, { classes: ['read', 'copy_out'] }));
  direct = new pg.Client({ host: server.host, port: server.port, user: server.superuser, password: server.password, database: server.database });
  await direct.connect();
  through = await pgClient(gate);
}, 120_000);

afterAll(async () => {
  await through?.end().catch(() => undefined);
  await direct?.end().catch(() => undefined);
  await gate?.close();
  await server?.stop();
});

/** The rows through the gate against the server's own: the card-number rows all masked, the rest unchanged. */
function expectMasked(got: pg.QueryResult, want: pg.QueryResult): void {
  expect(got.rows.length).toBe(ROWS);
  const masked: number[] = [];
  got.rows.forEach((row: { id: number; x: Buffer }, i) => {
    expect(row.id).toBe(i + 1);
    const seen = JSON.stringify(row);
    expect(seen).not.toMatch(/4111 1111 1111 1111|4111111111111111|4\.111111111111111e\+15|u0034111|u0034\\+u0031/);
    expect(row.x.toString('latin1')).not.toContain('4111111111111111');
    if (seen !== JSON.stringify(want.rows[i])) masked.push(row.id);
  });
  expect(masked).toEqual(want.rows.map((r: { id: number }) => r.id).filter(panRow));
}

describe('rows read together go to the masking hooks as runs', () => {
  it('the simple protocol', async () => {
    const sql = 'select * from runs order by id';
    expectMasked(await through.query(sql), await direct.query(sql));
  });

  it('the extended protocol', async () => {
    const sql = 'select * from runs where id > $1 order by id';
    expectMasked(await through.query(sql, [0]), await direct.query(sql, [0]));
  });

  it('a named statement executed again', async () => {
    const q = { name: 'runs_by_id', text: 'select * from runs where id >= $1 order by id', values: [1] };
    const want = await direct.query(q);
    expectMasked(await through.query(q), want);
    expectMasked(await through.query(q), want);
  });

  // Every column, and only those whose rows are read in place (no number or JSON column: #plainCopyRow).
  const copies = [
    { columns: '*', pan: panRow },
    { columns: 'id, t, x', pan: (id: number) => [97, 89, 73, 71].some((k) => id % k === 0) },
  ];
  for (const format of ['text', 'csv']) {
    for (const { columns, pan } of copies) {
      it(`COPY TO STDOUT, ${format}, columns ${columns}`, async () => {
        const sql = `copy (select ${columns} from runs order by id) to stdout (format ${format})`;
        const got = await run('psql', ['-X', '-v', 'ON_ERROR_STOP=1', '-c', sql], gate.env);
        expect(got.code, got.stderr).toBe(0);
        const want = server.psql(sql).split('\n').filter(Boolean);
        const lines = got.stdout.split('\n').filter(Boolean);
        expect(lines.length).toBe(ROWS);
        expect(got.stdout).not.toMatch(/4111 1111 1111 1111|4111111111111111|4\.111111111111111e\+15|u0034111|u0034\\+u0031|34313131/);
        const masked = lines.map((l, i) => [Number(/^\d+/.exec(l)?.[0]), l !== want[i]] as const).filter(([, m]) => m).map(([id]) => id);
        expect(masked).toEqual(Array.from({ length: ROWS }, (_, i) => i + 1).filter(pan));
      });
    }
  }

  it('a session with no masking hooks still has its sample of a statement\'s rows taken, as many as before', async () => {
    const bare = await startGate(server);
    try {
      const c = await pgClient(bare);
      expect((await c.query('select * from runs order by id')).rows.length).toBe(ROWS);
      await c.end();
      await until(() => readLog(bare.home).some((r) => r.type === 'session.end'));
      const dir = path.join(bare.home, 'recordings');
      const lines = readdirSync(dir).flatMap((f) => readFileSync(path.join(dir, f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { t: string }));
      expect(lines.filter((l) => l.t === 'row').length).toBe(20);
    } finally { await bare.close(); }
  });

  it('the rows read together reach the hooks as runs: each row once, most of them in a run', async () => {
    let single = 0;
    let inRuns = 0;
    const counting = await startGate(server, {
      hooksFor: () => ({
        onBackendMessage: (f) => { if (f[0] === 0x44) single++; return null; },
        onRows: (buf, from, to) => { for (let s = from; s < to; s += 1 + buf.readInt32BE(s + 1)) inRuns++; return null; },
      }),
    });
    try {
      const c = await pgClient(counting);
      expect((await c.query('select * from runs order by id')).rows.length).toBe(ROWS);
      await c.end();
    } finally { await counting.close(); }
    expect(single + inRuns).toBe(ROWS);
    expect(inRuns).toBeGreaterThan(ROWS / 2);
  });
});

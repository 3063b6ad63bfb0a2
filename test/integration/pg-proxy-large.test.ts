/** Large messages through pcigate: a multi-megabyte bind parameter, a multi-megabyte row, a slow reader. */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { readLog, startGate, until, type Gate } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  gate = await startGate(server);
});
afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

describe('large messages', () => {
  it('forwards a 4 MB bind parameter and a 4 MB row intact, and records the parameter capped', async () => {
    const c = new pg.Client({ host: gate.broker.host, port: gate.broker.port, user: gate.broker.user, password: gate.broker.secret, database: gate.broker.database });
    await c.connect();
    try {
      const big = 'x'.repeat(4 << 20);
      const r = await c.query('select length($1::text) as n, md5($1::text) as h', [big]);
      expect(r.rows[0].n).toBe(4 << 20);
      const row = await c.query("select repeat('y', 4194304) as v");
      expect(row.rows[0].v.length).toBe(4 << 20);
    } finally { await c.end(); }
    await until(() => readLog(gate.home).some((q) => q.type === 'pg.query' && String((q.detail as { sql: string }).sql).startsWith('select length($1')));
    const rec = readLog(gate.home).find((q) => q.type === 'pg.query' && String((q.detail as { sql: string }).sql).startsWith('select length($1'))!;
    const p0 = (rec.detail as { params: string[] }).params[0]!;
    expect(p0.length).toBeLessThan(2000);
    expect(p0).toMatch(/4194304 chars/);
  });

  it('keeps a slow reader correct: the whole result arrives in order (backpressure)', async () => {
    const c = new pg.Client({ host: gate.broker.host, port: gate.broker.port, user: gate.broker.user, password: gate.broker.secret, database: gate.broker.database });
    await c.connect();
    try {
      const stream = (c as unknown as { connection: { stream: import('node:net').Socket } }).connection.stream;
      // Stop reading for a while mid-result so pcigate's write buffer fills and it must pause upstream.
      const q = c.query("select g, repeat('z', 100) as pad from generate_series(1, 200000) g");
      setTimeout(() => { stream.pause(); setTimeout(() => stream.resume(), 1500); }, 50);
      const r = await q;
      expect(r.rows.length).toBe(200000);
      expect(r.rows[199999].g).toBe(200000);
    } finally { await c.end(); }
  });
});

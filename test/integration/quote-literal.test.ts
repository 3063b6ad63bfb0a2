/**
 * quoteLiteral (src/broker/pg-copy-plan.ts): how pcigate's side connections (the COPY planner's column lookups,
 * the field-call function lookup, relation columns) put a client's names into their SQL. Doubling quotes is a
 * literal only while standard_conforming_strings is on; a role may turn it off for its own later sessions
 * (ALTER ROLE CURRENT_USER SET standard_conforming_strings = off), and then `\'` in a name ended the literal and
 * the rest of the name ran as SQL on the side connection. The literal must read back as the name under both.
 */
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { quoteLiteral } from '../../src/broker/pg-copy-plan.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';

let server: PostgresServer;

beforeAll(async () => { server = await startPostgres({ tls: false }); }, 120_000);
afterAll(async () => { await server?.stop(); });

const NAMES = ["plain", "it's", "a\\'b", "\\", "x\\", "\\'); select 1; --", "''", "é\\u0041"];

for (const scs of ['on', 'off'] as const) {
  it(`reads back as the name it quotes with standard_conforming_strings ${scs}`, async () => {
    const c = new pg.Client({ host: server.host, port: server.port, user: server.superuser, password: server.password, database: server.database });
    await c.connect();
    try {
      await c.query(`set standard_conforming_strings = ${scs}`);
      for (const name of NAMES) {
        // The simple protocol, as the side connections send their lookups.
        const r = await c.query({ text: `select ${quoteLiteral(name)} as v, 1 as n`, rowMode: 'array' });
        expect(r.rows, name).toEqual([[name, 1]]);
      }
    } finally {
      await c.end();
    }
  });
}

/**
 * A statement policy would hold for approval that the broker would refuse once approved (masking.stored_values:
 * it copies a CVV into an unmasked column) is refused at once: no approval request is filed, nobody is asked to
 * approve what cannot run, and a usable approval is not spent on it (real PostgreSQL, the broker's own hooks,
 * an approvals store). The same hold without the copy files its request as before.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApprovalStore } from '../../src/policy/approvals.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { type Gate, heldGate, pgClient, until } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;
let store: ApprovalStore;

beforeAll(async () => {
  server = await startPostgres();
  server.psql("create table cards (id int, cvv text); insert into cards values (1, '739'); create table items (id int, name text); insert into items values (1, 'a');");
  ({ gate, store } = await heldGate(server));
}, 120_000);

afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

describe('a held statement the broker would refuse once approved', () => {
  it('is refused at once, with no approval request', async () => {
    const c = await pgClient(gate);
    try {
      await expect(c.query('update items set name = (select cvv from cards limit 1)')).rejects.toMatchObject({ code: '42501', message: expect.stringContaining('masking rule sad') });
      expect((await store.list()).filter((r) => r.sql.includes('select cvv from cards'))).toEqual([]);
      // The same hold without the copy files its request, as before.
      const held = c.query("update items set name = 'b'").catch((e: unknown) => e);
      await until(async () => (await store.list()).some((r) => r.sql.includes("name = 'b'") && r.state === 'pending'), 15_000);
      void held;
    } finally {
      await c.end().catch(() => undefined);
    }
    expect(server.psql('select name from items').trim()).toBe('a');
  });
});

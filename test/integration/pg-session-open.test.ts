/**
 * A session's set-up through the broker (src/broker/pg-broker.ts open): the transcript's file is created while the
 * server logs the session in, and when the set-up fails after the server's connection was made (the session's hooks
 * cannot be built), that connection is ended with the session rather than left at the server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { pgClient, readLog, startGate, until } from './pg-proxy-setup.js';

let server: PostgresServer;
beforeAll(async () => { server = await startPostgres(); });
afterAll(async () => { await server?.stop(); });

/** Client backends at the server other than the asking one (pcigate's upstream sessions, as the superuser). */
const serverSessions = () => Number(server.psql("select count(*) from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid()").trim());

describe('a session being set up', () => {
  it('is refused when its hooks cannot be built, and the server connection made meanwhile is ended', async () => {
    const seen: string[] = [];
    const gate = await startGate(server, {
      hooksFor: () => { throw new Error('policy for this session could not be built'); },
      log: { debug: (m) => { seen.push(m); }, warn: (m) => { seen.push(m); } },
    });
    try {
      const refused = await pgClient(gate).then(() => undefined, (e: Error & { severity?: string }) => e);
      // (internal errors go to pcigate's log; the client gets a generic message)
      expect(refused).toMatchObject({ severity: 'FATAL' });
      expect(refused!.message).not.toContain('could not be built');
      expect(seen.some((m) => m.includes('policy for this session could not be built'))).toBe(true);
      // The server's connection is made while the set-up fails: it may show for a moment (waited for up to 2 s, so a
      // connection left behind is seen), and then it must go.
      await until(() => serverSessions() > 0, 2_000).catch(() => undefined);
      await until(() => serverSessions() === 0);
      expect(readLog(gate.home).filter((r) => r.type === 'session.start')).toHaveLength(1);
    } finally { await gate.close(); }
  });

});

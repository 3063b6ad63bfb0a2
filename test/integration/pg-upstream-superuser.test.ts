/**
 * The upstream user's superuser status, as the real server reports it (`is_superuser`): recorded in each
 * session.end, said once per listener, or every session refused with `upstream_superuser: refuse`
 * (src/broker/pg-broker.ts). Through a superuser, `ddl` and `function` grant everything
 * (docs/policy-server-secrets.md).
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/index.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { pgClient as connect, readLog, startGate, targetOf, until } from './pg-proxy-setup.js';

let server: PostgresServer;
const PLAIN_PW = 'plain-role-pw-5521';

beforeAll(async () => {
  server = await startPostgres();
  server.psql(`create role plain_broker login password '${PLAIN_PW}'`);
  // A role that is no superuser but may SET ROLE to one (a member of the superuser role).
  server.psql(`create role member_broker login password '${PLAIN_PW}'; grant ${server.superuser} to member_broker`);
});
afterAll(async () => { await server?.stop(); });

/** A logger that keeps warnings. */
function warnings(): { log: { debug(m: string): void; warn(m: string): void }; seen: string[] } {
  const seen: string[] = [];
  return { log: { debug: () => {}, warn: (m) => { seen.push(m); } }, seen };
}

const sessionEnds = (home: string) => readLog(home).filter((r) => r.type === 'session.end');

describe('the upstream user is a superuser', () => {
  it('is recorded in each session.end and said once per listener (the default: warn)', async () => {
    const w = warnings();
    const gate = await startGate(server, { log: w.log });
    try {
      for (let i = 0; i < 2; i++) {
        const c = await connect(gate);
        expect((await c.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
        await c.end();
      }
      await until(() => sessionEnds(gate.home).length === 2);
      expect(sessionEnds(gate.home).map((r) => (r.detail as { upstream_superuser?: boolean }).upstream_superuser)).toEqual([true, true]);
      const said = w.seen.filter((m) => m.includes('is a superuser'));
      expect(said).toHaveLength(1);
      expect(said[0]).toContain(`test-db's database user "${server.superuser}" is a superuser`);
    } finally { await gate.close(); }
  });

  it('refuses every session with upstream_superuser: refuse, and records why', async () => {
    const gate = await startGate(server, { upstreamSuperuser: 'refuse' });
    try {
      await expect(connect(gate)).rejects.toMatchObject({ code: '28000', message: expect.stringContaining('is a superuser, and the configuration refuses one') });
      await until(() => sessionEnds(gate.home).length === 1);
      expect(sessionEnds(gate.home)[0]).toMatchObject({ outcome: 'failure', detail: { upstream_superuser: true, reason: expect.stringContaining('is a superuser') } });
      // The upstream session it opened is ended, not left behind.
      await until(() => server.psql("select count(*) from pg_stat_activity where backend_type = 'client backend' and usename = current_user and pid <> pg_backend_pid()").trim() === '0');
    } finally { await gate.close(); }
  });

  it('a user that is no superuser: recorded as such, nothing said, and refuse lets it in', async () => {
    const w = warnings();
    const gate = await startGate(server, { log: w.log, target: targetOf(server, { user: 'plain_broker', password: PLAIN_PW }), upstreamSuperuser: 'refuse' });
    try {
      const c = await connect(gate);
      expect((await c.query('select current_user as u')).rows).toEqual([{ u: 'plain_broker' }]);
      await c.end();
      await until(() => sessionEnds(gate.home).length === 1);
      expect(sessionEnds(gate.home)[0]).toMatchObject({ outcome: 'success', detail: { upstream_superuser: false } });
      expect(w.seen.filter((m) => m.includes('superuser'))).toEqual([]);
    } finally { await gate.close(); }
  });

  it('a session that becomes a superuser by SET ROLE: recorded; with refuse, ended before the client sees it', async () => {
    const member = { target: targetOf(server, { user: 'member_broker', password: PLAIN_PW }) };
    const warn = await startGate(server, member);
    try {
      const c = await connect(warn);
      await c.query(`set role ${server.superuser}`);
      expect((await c.query('select current_setting(\'is_superuser\') as su')).rows).toEqual([{ su: 'on' }]);
      await c.end();
      await until(() => sessionEnds(warn.home).length === 1);
      expect(sessionEnds(warn.home)[0]).toMatchObject({ detail: { upstream_superuser: true } });
    } finally { await warn.close(); }

    const refuse = await startGate(server, { ...member, upstreamSuperuser: 'refuse' });
    try {
      const c = await connect(refuse);
      expect((await c.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
      await expect(c.query(`set role ${server.superuser}; select current_setting('is_superuser') as su`)).rejects.toThrow();
      await until(() => sessionEnds(refuse.home).length === 1);
      expect(sessionEnds(refuse.home)[0]).toMatchObject({ outcome: 'failure', detail: { upstream_superuser: true } });
    } finally { await refuse.close(); }
  });

  it('a server that does not report is_superuser: refuse refuses (it may be one), warn lets the session in unrecorded', async () => {
    // plain_broker is no superuser, but through this relay pcigate cannot know it.
    const relay = await withoutParameter('is_superuser');
    const target = { ...targetOf(server, { user: 'plain_broker', password: PLAIN_PW }), port: relay.port };
    try {
      const refuse = await startGate(server, { target, upstreamSuperuser: 'refuse' });
      try {
        await expect(connect(refuse)).rejects.toMatchObject({ code: '28000', message: expect.stringContaining('may be a superuser (the server did not report is_superuser)') });
        await until(() => sessionEnds(refuse.home).length === 1);
        const end = sessionEnds(refuse.home)[0]!;
        expect(end).toMatchObject({ outcome: 'failure', detail: { reason: expect.stringContaining('may be a superuser') } });
        expect(end.detail).not.toHaveProperty('upstream_superuser');
      } finally { await refuse.close(); }

      const w = warnings();
      const warn = await startGate(server, { target, log: w.log });
      try {
        const c = await connect(warn);
        expect((await c.query('select current_user as u')).rows).toEqual([{ u: 'plain_broker' }]);
        await c.end();
        await until(() => sessionEnds(warn.home).length === 1);
        const end = sessionEnds(warn.home)[0]!;
        expect(end).toMatchObject({ outcome: 'success' });
        // Not known, so not recorded as false (evidence 7.2.5 asks for a manual check then).
        expect(end.detail).not.toHaveProperty('upstream_superuser');
        expect(w.seen.filter((m) => m.includes('superuser'))).toEqual([]);
      } finally { await warn.close(); }
    } finally { await relay.close(); }
  });

  it('the setting is warn unless the connection says refuse; another value is a configuration error', () => {
    const conn = { kind: 'postgres', host: 'db', database: 'd', user: 'u' };
    expect(configSchema.parse({ connections: { a: conn } }).connections['a']).toMatchObject({ upstream_superuser: 'warn' });
    expect(configSchema.parse({ connections: { a: { ...conn, upstream_superuser: 'refuse' } } }).connections['a']).toMatchObject({ upstream_superuser: 'refuse' });
    expect(configSchema.safeParse({ connections: { a: { ...conn, upstream_superuser: 'allow' } } }).success).toBe(false);
  });
});

/**
 * A TCP relay to the server that drops the server's ParameterStatus `name` from the startup phase (up to the first
 * ReadyForQuery), as a pooler or proxy in front of the server that does not pass it on. Plain TCP: the gates here
 * connect with sslmode disable, so the server's bytes are framed messages from the first.
 */
async function withoutParameter(name: string): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const relay = net.createServer((client) => {
    const up = net.connect(server.port, server.host);
    for (const s of [client, up]) { sockets.add(s); s.on('error', () => { client.destroy(); up.destroy(); }); s.on('close', () => { client.destroy(); up.destroy(); }); }
    client.pipe(up);
    let pending = Buffer.alloc(0);
    let startup = true;
    up.on('data', (d: Buffer) => {
      if (!startup) { client.write(d); return; }
      pending = Buffer.concat([pending, d]);
      const out: Buffer[] = [];
      while (startup && pending.length >= 5 && pending.length >= 1 + pending.readInt32BE(1)) {
        const frame = pending.subarray(0, 1 + pending.readInt32BE(1));
        pending = pending.subarray(frame.length);
        if (frame[0] === 0x53 && frame.subarray(5, 5 + name.length + 1).equals(Buffer.from(`${name}\0`, 'latin1'))) continue;
        out.push(frame);
        if (frame[0] === 0x5a) startup = false;
      }
      if (!startup) { out.push(pending); pending = Buffer.alloc(0); }
      if (out.length > 0) client.write(Buffer.concat(out));
    });
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  return {
    port: (relay.address() as net.AddressInfo).port,
    close: async () => { for (const s of sockets) s.destroy(); await new Promise((resolve) => relay.close(resolve)); },
  };
}

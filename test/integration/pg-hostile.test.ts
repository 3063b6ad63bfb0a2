/**
 * Hostile input to `pcigate connect`'s Postgres listener and proxy, with real sockets: a broken or hostile
 * upstream (a small scripted server in this file: it is the bad input under test) and malformed client bytes in
 * every phase against a real PostgreSQL. The standard: a precise error with a real SQLSTATE, nothing forwarded
 * unmasked or unrecorded, the session's session.end written, the listener still serving, the log verifying.
 */
import * as fsp from 'node:fs/promises';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditSink } from '../../recorder/types.js';
import { verifyLog } from '../../recorder/verify.js';
import { loadVerifyInput } from '../../recorder/verify-load.js';
import { bytes } from '../harness/pg-bytes.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { RawPgClient } from '../harness/raw-pg-client.js';
import { ScramClient } from '../../src/pg/proxy/scram.js';
import { PgMasker } from '../../src/mask/pg-masker.js';
import { gateConfig, readLog, run, startGate, until, type Gate } from './pg-proxy-setup.js';

const { i16, i32, msg } = bytes;
const PAN = '4111111111111111';

/** What a client saw of one exchange: every byte (latin1), the frames' letters, the ErrorResponse fields, closed or not. */
interface Seen { text: string; letters: string; error: Record<string, string> | undefined; closed: boolean }

/** Sends `data` on a logged-in (or fresh) raw client and collects what arrives until the socket closes or `ms` pass. */
async function exchange(c: RawPgClient, data: Buffer, ms = 3000): Promise<Seen> {
  const chunks: Buffer[] = [];
  c.sock.on('data', (b: Buffer) => chunks.push(b));
  c.sock.write(data);
  const end = Date.now() + ms;
  while (!c.closed && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  c.sock.destroy();
  const all = Buffer.concat(chunks);
  let letters = '';
  let error: Record<string, string> | undefined;
  for (let at = 0; at + 5 <= all.length;) {
    const len = all.readInt32BE(at + 1);
    if (len < 4 || at + 1 + len > all.length) break;
    const f = all.subarray(at, at + 1 + len);
    letters += String.fromCharCode(f[0]!);
    if (f[0] === 0x45) {
      error = {};
      for (let off = 5; off < f.length && f[off] !== 0;) {
        const z = f.indexOf(0, off + 1);
        error[String.fromCharCode(f[off]!)] = f.subarray(off + 1, z).toString();
        off = z + 1;
      }
    }
    at += 1 + len;
  }
  return { text: all.toString('latin1'), letters, error, closed: c.closed };
}

/** The log verifies (closed gate: checkpointed and sealed). */
async function verifies(g: Gate): Promise<void> {
  const report = await verifyLog(await loadVerifyInput(fsp, g.home, { nowMicros: Date.now() * 1000, maxUnsealedMicros: 3600e6 }));
  expect(report.problems).toEqual([]);
  expect(report.result).toBe('pass');
}

// ---- a hostile upstream -------------------------------------------------------------------------------

/**
 * A scripted PostgreSQL: trust login, a normal start, then each simple Query whose text names a case
 * (`hostile:<name>`) answered by that case's bytes (and the connection closed after them when the case says so);
 * any other Query gets one row holding `public`: what the broker's side connection asking the server's search_path
 * (current_schemas) reads.
 */
class ScriptedServer {
  private server!: net.Server;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  constructor(private readonly cases: Record<string, { reply: Buffer; close?: boolean }>, private readonly hello: Buffer) {}

  async start(): Promise<void> {
    this.server = net.createServer((s) => this.serve(s));
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }

  private serve(s: net.Socket): void {
    this.sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => this.sockets.delete(s));
    let buf = Buffer.alloc(0);
    let started = false;
    s.on('data', (b: Buffer) => {
      buf = Buffer.concat([buf, b]);
      for (;;) {
        if (!started) {
          if (buf.length < 8 || buf.length < buf.readInt32BE(0)) return;
          const code = buf.readInt32BE(4);
          buf = buf.subarray(buf.readInt32BE(0));
          if (code === 80877103) { s.write('N'); continue; }
          if (code === 80877102) { s.end(); return; }
          started = true;
          s.write(this.hello);
          continue;
        }
        if (buf.length < 5 || buf.length < buf.readInt32BE(1) + 1) return;
        const f = buf.subarray(0, buf.readInt32BE(1) + 1);
        buf = buf.subarray(f.length);
        if (f[0] === 0x58) { s.end(); return; }
        if (f[0] === 0x53) { s.write(bytes.readyForQuery()); continue; }
        if (f[0] !== 0x51) continue;
        const name = /hostile:([^']+)/.exec(f.subarray(5, f.length - 1).toString())?.[1];
        const c = name === undefined ? undefined : this.cases[name];
        if (!c) { s.write(Buffer.concat([bytes.rowDescription([{ name: 'v' }]), bytes.dataRow(['public']), bytes.commandComplete('SELECT 1'), bytes.readyForQuery()])); continue; }
        if (c.close) { s.end(c.reply); return; }
        s.write(c.reply);
      }
    });
  }
}

const SETTINGS = Buffer.concat([bytes.parameterStatus('server_version', '15.0'), bytes.parameterStatus('client_encoding', 'UTF8'),
  bytes.parameterStatus('standard_conforming_strings', 'on'), bytes.parameterStatus('integer_datetimes', 'on')]);
const HELLO = Buffer.concat([bytes.authOk(), SETTINGS, bytes.backendKeyData(4242, 777), bytes.readyForQuery()]);
const ROWS = bytes.rowDescription([{ name: 'v' }]);

/**
 * A gate in front of the scripted server `srv` whose sessions mask as `pcigate connect` does (content detection of
 * PANs, the config's default), without policy: what is under test is what the proxy lets through.
 */
function maskingGate(srv: PostgresServer): Promise<Gate> {
  const masking = gateConfig(srv, { classes: ['read'] }).masking;
  return startGate(srv, {
    hooksFor: () => {
      const masker = new PgMasker({ config: masking });
      return { onBackendMessage: (f, stmt) => masker.onBackendMessage(f, stmt), onRows: (b, from, to, stmt) => masker.onRows(b, from, to, stmt) };
    },
  });
}

/** Messages a server never sends after its first ReadyForQuery, or never with these bytes: each carries a PAN. */
const MALFORMED: Record<string, Buffer> = {
  'a message type that does not exist': msg('x', `card ${PAN}`),
  'ParseComplete with a payload': msg('1', `card ${PAN}`),
  'CommandComplete with bytes after its tag': msg('C', bytes.cstr('SELECT 1'), PAN),
  'ParameterStatus with a third string': msg('S', bytes.cstr('application_name'), bytes.cstr('x'), bytes.cstr(PAN)),
  'an ErrorResponse whose fields do not end': msg('E', `SERROR\0C42000\0Mboom ${PAN}`),
  'AuthenticationCleartextPassword mid-session': bytes.authCleartext(),
  'BackendKeyData mid-session': bytes.backendKeyData(1, 2),
  'ReadyForQuery without its status': msg('Z'),
  'DataRow with fewer columns than its values': Buffer.concat([ROWS, msg('D', i16(1), i32(2), 'ab', i32(16), PAN)]),
  // Read with the rows before it, it is not handed to the masking hooks in their run (onRows), where it would be
  // masking's failure (XX000), not the server's.
  'DataRow with fewer columns than its values, behind rows read with it': Buffer.concat([ROWS, bytes.dataRow(['a']), bytes.dataRow(['b']), bytes.dataRow(['c']), msg('D', i16(1), i32(2), 'ab', i32(16), PAN)]),
  'NotificationResponse cut short': msg('A', i32(1)),
};

describe('a hostile upstream', () => {
  let fake: ScriptedServer;
  let gate: Gate;

  beforeAll(async () => {
    const cases: Record<string, { reply: Buffer; close?: boolean }> = {
      rows: { reply: Buffer.concat([ROWS, bytes.dataRow([PAN]), bytes.commandComplete('SELECT 1'), bytes.readyForQuery()]) },
    };
    for (const [name, bad] of Object.entries(MALFORMED)) cases[name] = { reply: Buffer.concat([bad, bytes.commandComplete('SELECT 0'), bytes.readyForQuery()]) };
    fake = new ScriptedServer(cases, HELLO);
    await fake.start();
    const srv = { host: '127.0.0.1', port: fake.port, database: 'db', superuser: 'su', password: 'pw' } as unknown as PostgresServer;
    gate = await maskingGate(srv);
  });
  afterAll(async () => {
    await gate?.close();
    await fake?.stop();
  });

  it('masks a PAN in a well-formed result (the control: the scripted server and masking work)', async () => {
    const seen = await exchange(await RawPgClient.login(gate.broker), bytes.query("select 'hostile:rows'"), 1000);
    expect(seen.letters).toBe('TDCZ');
    expect(seen.text).not.toContain(PAN);
    expect(seen.text).toContain('1111');
  });

  for (const name of Object.keys(MALFORMED)) {
    it(`${name}: the client gets FATAL 08P01 and none of its bytes, the session ends recorded, the listener serves on`, async () => {
      const violations = () => readLog(gate.home).filter((r) => r.type === 'session.end' && (r.detail as { reason?: string }).reason === 'upstream protocol violation');
      const before = violations().length;
      const seen = await exchange(await RawPgClient.login(gate.broker), bytes.query(`select 'hostile:${name}'`));
      expect(seen.text).not.toContain(PAN);
      expect(seen.closed).toBe(true);
      expect(seen.error).toMatchObject({ S: 'FATAL', C: '08P01' });
      expect(seen.error!.M).toMatch(/upstream server sent an invalid message/);
      await until(() => violations().length > before);
      expect(violations().at(-1)!.outcome).toBe('failure');
      const next = await exchange(await RawPgClient.login(gate.broker), bytes.query('select 1'), 1000);
      expect(next.letters).toBe('TDCZ');
    });
  }

  it('the log verifies after all of them', async () => {
    await gate.close();
    await verifies(gate);
  });
});

describe('a hostile upstream at the start of a session', () => {
  /** A gate in front of a scripted server that starts every session with `hello`. */
  async function gateWith(hello: Buffer): Promise<{ gate: Gate; fake: ScriptedServer }> {
    const fake = new ScriptedServer({}, hello);
    await fake.start();
    const srv = { host: '127.0.0.1', port: fake.port, database: 'db', superuser: 'su', password: 'pw' } as unknown as PostgresServer;
    return { fake, gate: await maskingGate(srv) };
  }

  it('masks a NoticeResponse the server sends before its first ReadyForQuery (a login trigger can RAISE NOTICE with table data)', async () => {
    const notice = bytes.noticeResponse({ S: 'NOTICE', V: 'NOTICE', C: '00000', M: `welcome, card ${PAN}` });
    const { gate, fake } = await gateWith(Buffer.concat([bytes.authOk(), SETTINGS, notice, bytes.backendKeyData(4242, 777), bytes.readyForQuery()]));
    try {
      const c = await RawPgClient.connect(gate.broker);
      c.startup({ user: 'u', database: 'db' });
      const frames = await c.scram(gate.broker.secret);
      const text = Buffer.concat(frames).toString('latin1');
      expect(frames.map((f) => String.fromCharCode(f[0]!)).join('')).toContain('N');
      expect(text).toContain('welcome, card');
      expect(text).not.toContain(PAN);
      c.sock.destroy();
    } finally {
      await gate.close();
      await fake.stop();
    }
  });

  it('refuses a session whose server sends a message it cannot send there, and records why', async () => {
    const { gate, fake } = await gateWith(Buffer.concat([bytes.authOk(), SETTINGS, msg('x', `card ${PAN}`), bytes.backendKeyData(4242, 777), bytes.readyForQuery()]));
    try {
      const c = await RawPgClient.connect(gate.broker);
      const got: Buffer[] = [];
      c.sock.on('data', (b: Buffer) => got.push(b));
      c.startup({ user: 'u', database: 'db' });
      await expect(c.scram(gate.broker.secret)).rejects.toThrow();
      expect(Buffer.concat(got).toString('latin1')).not.toContain(PAN);
      expect(Buffer.concat(got).toString('latin1')).toContain('08006');
      c.sock.destroy();
      await until(() => readLog(gate.home).some((r) => r.type === 'pg.error' && /'x'/.test(String((r.detail as { message?: string }).message))));
    } finally {
      await gate.close();
      await fake.stop();
    }
    await verifies(gate);
  });
});

// ---- malformed client bytes, against a real PostgreSQL ---------------------------------------------------

describe('malformed client messages', () => {
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

  /** psql through the listener still works. */
  async function psqlServes(): Promise<void> {
    const r = await run('psql', ['-X', '-At', '-c', 'select 40 + 2'], gate.env);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('42');
  }

  const cstr = bytes.cstr;
  /** Messages pcigate cannot read after the login: each ends the session with FATAL 08P01 naming what is wrong. */
  const UNREADABLE: Record<string, [Buffer, RegExp]> = {
    'a length below 4': [Buffer.from([0x51, 0, 0, 0, 3]), /invalid length 3 for message 'Q'/],
    'a length above the maximum': [Buffer.concat([Buffer.from('Q'), i32(256 * 1024 * 1024 + 1)]), /invalid length 268435457 for message 'Q'/],
    'a Query without its terminator': [msg('Q', 'select 1'), /Query message with a string that does not end/],
    'a Parse cut short': [msg('P', cstr('')), /Parse message with a string that does not end/],
    'a Bind cut short': [msg('B', cstr(''), cstr(''), i16(0), i16(3)), /Bind message cut short/],
    'an Execute cut short': [msg('E', cstr('')), /Execute message cut short/],
    'a Describe without its target': [msg('D'), /Describe message cut short/],
    'a Close without its name': [msg('C', 'S'), /Close message with a string that does not end/],
    'a FunctionCall cut short': [msg('F', [0, 0]), /FunctionCall message cut short/],
  };

  for (const [name, [bad, why]] of Object.entries(UNREADABLE)) {
    it(`${name}: FATAL 08P01 that says so, session.end and a pg.error recorded, psql served after`, async () => {
      const ends = () => readLog(gate.home).filter((r) => r.type === 'session.end' && (r.detail as { reason?: string }).reason === 'client protocol violation');
      const before = ends().length;
      const seen = await exchange(await RawPgClient.login(gate.broker), Buffer.concat([bytes.query('select 1'), bad]));
      expect(seen.letters).toBe('TDCZE');
      expect(seen.error).toMatchObject({ S: 'FATAL', C: '08P01' });
      expect(seen.error!.M).toMatch(/^pcigate: invalid message from the client \(/);
      expect(seen.error!.M).toMatch(why);
      expect(seen.closed).toBe(true);
      await until(() => ends().length > before);
      expect(ends().at(-1)!.outcome).toBe('failure');
      expect(readLog(gate.home).some((r) => r.type === 'pg.error' && (r.detail as { error?: string }).error === 'ERR_PROTOCOL' && why.test(String((r.detail as { message?: string }).message)))).toBe(true);
      await psqlServes();
    });
  }

  const { untyped } = bytes;
  /** Packets the listener refuses before a login: FATAL 08P01 naming what is wrong (no packet was silently dropped). */
  const BAD_START: Record<string, [Buffer, RegExp]> = {
    'a startup packet length of 4': [i32(4), /invalid startup message: invalid startup packet length 4/],
    'a parameter without its value': [untyped(i32(196608), Buffer.from('user\0xyz')), /invalid startup packet layout/],
    'parameters without the final terminator': [untyped(i32(196608), cstr('user'), cstr('x')), /invalid startup packet layout/],
    'a CancelRequest of 12 bytes': [untyped(i32(80877102), i32(1)), /invalid length 12 of CancelRequest packet/],
    'an SSLRequest of 12 bytes': [untyped(i32(80877103), i32(1)), /invalid length 12 of SSLRequest packet/],
  };
  for (const [name, [bad, why]] of Object.entries(BAD_START)) {
    it(`before the login, ${name}: FATAL 08P01 that says so`, async () => {
      const seen = await exchange(await RawPgClient.connect(gate.broker), bad);
      expect(seen.error).toMatchObject({ S: 'FATAL', C: '08P01', M: expect.stringMatching(why) });
      expect(seen.closed).toBe(true);
    });
  }

  /** A client past its StartupMessage, given AuthenticationSASL, with its SCRAM client. */
  async function saslStarted(): Promise<{ c: RawPgClient; scram: ScramClient }> {
    const c = await RawPgClient.connect(gate.broker);
    c.startup({ user: 'mallory', database: gate.broker.database });
    expect((await c.frame()).readInt32BE(5)).toBe(10);
    return { c, scram: new ScramClient(gate.broker.secret) };
  }
  /** client-final-message of a complete, successful login (what an eavesdropper of the loopback could replay). */
  async function capturedFinal(): Promise<string> {
    const { c, scram } = await saslStarted();
    c.sock.write(bytes.saslInitial('SCRAM-SHA-256', scram.first()));
    const final = scram.final((await c.frame()).subarray(9).toString());
    c.sock.write(bytes.saslResponse(final));
    expect((await c.untilReady()).at(-1)![0]).toBe(0x5a);
    c.sock.end(bytes.terminate());
    return final;
  }

  const BAD_SASL: Record<string, (s: { c: RawPgClient; scram: ScramClient }) => Promise<Buffer>> = {
    'a SASLInitialResponse cut short': async () => msg('p', cstr('SCRAM-SHA-256'), [0, 0]),
    'a SASLInitialResponse whose length says more than it holds': async () => msg('p', cstr('SCRAM-SHA-256'), i32(1000), 'n,,n=,r=abcdef'),
    'a Query in place of the SASLInitialResponse': async () => bytes.query('select 1'),
    // Refused at its header: before a login the listener holds no more than an authentication token's worth.
    'a SASLInitialResponse announcing 1 MB': async () => Buffer.concat([Buffer.from('p'), i32(1_000_000), cstr('SCRAM-SHA-256')]),
    'a client-final-message with another nonce': async ({ c, scram }) => {
      c.sock.write(bytes.saslInitial('SCRAM-SHA-256', scram.first()));
      const final = scram.final((await c.frame()).subarray(9).toString());
      return bytes.saslResponse(final.replace(/,r=([^,]+)/, ',r=$1x'));
    },
    'a client-final-message replayed from an earlier login': async ({ c, scram }) => {
      const replay = await capturedFinal();
      c.sock.write(bytes.saslInitial('SCRAM-SHA-256', scram.first()));
      await c.frame();
      return bytes.saslResponse(replay);
    },
    'a Query in place of the SASLResponse': async ({ c, scram }) => {
      c.sock.write(bytes.saslInitial('SCRAM-SHA-256', scram.first()));
      await c.frame();
      return bytes.query('select 1');
    },
  };
  for (const [name, step] of Object.entries(BAD_SASL)) {
    it(`during SCRAM, ${name}: FATAL 08P01, recorded as auth.fail`, async () => {
      const fails = () => readLog(gate.home).filter((r) => r.type === 'auth.fail' && (r.detail as { sqlstate?: string }).sqlstate === '08P01');
      const before = fails().length;
      const started = await saslStarted();
      const seen = await exchange(started.c, await step(started));
      expect(seen.error).toMatchObject({ S: 'FATAL', C: '08P01', M: expect.stringMatching(/^invalid SASL authentication message: /) });
      expect(seen.closed).toBe(true);
      await until(() => fails().length > before);
      expect(fails().at(-1)!.detail).toMatchObject({ client_user: 'mallory', reason: seen.error!.M });
    });
  }

  it("the server's FATAL and its closing while the response waits for its record: the client gets the server's error, the record its SQLSTATE", async () => {
    // The pg.intent of the statement is held until the server has answered and closed the connection.
    let release = () => {};
    const held = new Promise<void>((r) => { release = r; });
    const sinkWrap = (s: AuditSink): AuditSink => ({
      append: (e) => (e.type === 'pg.intent' && String((e.detail as { sql?: string }).sql).includes('hostile_fatal') ? s.append(e).then(async (r) => { await held; return r; }) : s.append(e)),
      commitBlob: (file, kind) => s.commitBlob(file, kind),
    });
    const g = await startGate(server, { sinkWrap });
    try {
      const c = await RawPgClient.login(g.broker);
      const got: Buffer[] = [];
      c.sock.on('data', (b: Buffer) => got.push(b));
      // A read (forwarded at once, its response gated) that runs long enough to be terminated by an administrator.
      server.psql('create table if not exists hostile_big as select g from generate_series(1, 2000) g');
      c.sock.write(bytes.query('select count(*) as hostile_fatal from hostile_big a, hostile_big b, hostile_big c'));
      await until(() => server.psql("select count(*) from pg_stat_activity where query like '%as hostile_fatal from%' and pid <> pg_backend_pid()").trim() === '1');
      server.psql("select pg_terminate_backend(pid) from pg_stat_activity where query like '%as hostile_fatal from%' and pid <> pg_backend_pid()");
      await new Promise((r) => setTimeout(r, 500)); // the server has sent its FATAL and closed
      release();
      await until(() => c.closed);
      const text = Buffer.concat(got).toString('latin1');
      expect(text).toContain('C57P01\0');
      expect(text).not.toContain('C08006\0');
      await until(() => readLog(g.home).some((r) => r.type === 'pg.query' && String((r.detail as { sql?: string }).sql).includes('hostile_fatal')));
      const q = readLog(g.home).find((r) => r.type === 'pg.query' && String((r.detail as { sql?: string }).sql).includes('hostile_fatal'))!;
      expect(q.detail).toMatchObject({ result: 'failure', sqlstate: '57P01' });
    } finally {
      release();
      await g.close();
    }
    await verifies(g);
  });

  it('a bad message with nothing owed before it: FATAL 08P01 at once, once', async () => {
    const seen = await exchange(await RawPgClient.login(gate.broker), msg('E', cstr('')));
    expect(seen.letters).toBe('E');
    expect(seen.error).toMatchObject({ S: 'FATAL', C: '08P01', M: expect.stringMatching(/Execute message cut short/) });
    expect(seen.closed).toBe(true);
  });

  it('a client that sends a statement waiting for its record, a bad length behind it, and closes does not crash the listener', async () => {
    // The write waits for its pg.intent record (the pump is paused on it) when the close arrives: the frames behind
    // it are read then, and the bad length was thrown out of the socket's 'close' listener (an uncaught exception).
    const c = await RawPgClient.login(gate.broker);
    c.sock.end(Buffer.concat([bytes.query('create table hostile_close (x int)'), Buffer.from([0x51, 0, 0, 0, 3])]));
    const intent = () => readLog(gate.home).find((r) => r.type === 'pg.intent' && String((r.detail as { sql?: string }).sql).includes('hostile_close'));
    await until(() => intent() !== undefined && readLog(gate.home).some((r) => r.type === 'session.end' && r.session === intent()!.session));
    await psqlServes();
  });

  it('the log verifies after all of them', async () => {
    await gate.close();
    await verifies(gate);
  });
});

describe('floods that need no login', () => {
  let server: PostgresServer;
  beforeAll(async () => { server = await startPostgres(); });
  afterAll(async () => { await server?.stop(); });

  /** One connection that sends `data` and waits for the listener to close it. */
  const sendAndWait = (g: Gate, data: Buffer) => new Promise<void>((resolve) => {
    const s = net.connect(g.broker.port, g.broker.host, () => s.end(data));
    s.on('data', () => undefined);
    s.on('close', () => resolve());
    s.on('error', () => resolve());
  });

  it('60 CancelRequests with unknown keys and 30 wrong-secret logins: the first 20 of each recorded one by one, the rest in one record that counts them', async () => {
    const g = await startGate(server);
    try {
      for (let i = 0; i < 60; i++) await sendAndWait(g, bytes.cancelRequest(1000 + i, 0x5eed0000 + i));
      for (let i = 0; i < 30; i++) {
        const r = await run('psql', ['-X', '-At', '-c', 'select 1'], { ...g.env, PGPASSWORD: `wrong-${i}` });
        expect(r.stderr).toMatch(/28P01|password authentication failed/);
      }
      const r = await run('psql', ['-X', '-At', '-c', 'select 40 + 2'], g.env);
      expect(r.stdout.trim()).toBe('42');
    } finally { await g.close(); }
    const log = readLog(g.home);
    const cancels = log.filter((r) => r.type === 'pg.cancel' && r.outcome === 'failure');
    const fails = log.filter((r) => r.type === 'auth.fail');
    const repeated = (r: (typeof log)[number]) => (r.detail as { repeated?: number }).repeated;
    expect(cancels.filter((r) => repeated(r) === undefined)).toHaveLength(20);
    expect(cancels.filter((r) => repeated(r) !== undefined).map(repeated)).toEqual([40]);
    expect(fails.filter((r) => repeated(r) === undefined)).toHaveLength(20);
    const summary = fails.filter((r) => repeated(r) !== undefined);
    expect(summary.map(repeated)).toEqual([10]);
    expect(summary[0]!.detail).toMatchObject({ sqlstate: '28P01', first_at: expect.stringMatching(/^\d{4}-/), last_at: expect.stringMatching(/^\d{4}-/) });
    expect(summary[0]!.src).toMatchObject({ ip: '127.0.0.1' });
    await verifies(g);
  });
});

/**
 * The codec playing the server to real clients (psql and `pg`): SSLRequest refused with 'N',
 * StartupMessage, SCRAM-SHA-256 verified with scramServerFirst/scramServerFinal, then a simple query
 * answered with encoded RowDescription/DataRow/CommandComplete. A wrong password gets FATAL 28P01.
 */
import { execFile } from 'node:child_process';
import net from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as P from '../../src/pg/protocol/index.js';

const PASSWORD = 'listener-sécret';
let server: net.Server;
let port = 0;
const seen: string[] = [];

function session(sock: net.Socket): void {
  const framer = new P.MessageFramer({ startup: true, peer: 'client' });
  const secret = P.scramSecret(PASSWORD);
  let step: 'startup' | 'sasl-initial' | 'sasl-final' | 'ready' = 'startup';
  let scram: P.ScramServerState | undefined;
  const fatal = (code: string, message: string) => { sock.end(P.encodeErrorResponse({ severity: 'FATAL', code, message })); };
  sock.on('data', (chunk: Buffer) => {
    framer.push(chunk);
    let f: P.Frame | undefined;
    try {
      while ((f = framer.next())) {
        if (step === 'startup') {
          const pkt = P.decodeStartupPacket(f.payload);
          if (pkt.kind === 'ssl' || pkt.kind === 'gssenc') { sock.write(P.SSL_REFUSE); framer.expectStartup(); continue; }
          if (pkt.kind === 'cancel') { sock.end(); return; }
          seen.push(`${pkt.params.user}@${pkt.params.database}`);
          sock.write(P.encodeAuthSASL());
          step = 'sasl-initial';
        } else if (step === 'sasl-initial') {
          const init = P.decodeSASLInitialResponse(f.payload);
          if (init.mechanism !== P.SCRAM_MECHANISM || !init.data) { fatal(P.SqlState.protocolViolation, 'bad mechanism'); return; }
          const first = P.scramServerFirst(secret, init.data.toString('utf8'));
          scram = first.state;
          sock.write(P.encodeAuthSASLContinue(first.message));
          step = 'sasl-final';
        } else if (step === 'sasl-final') {
          const fin = P.scramServerFinal(scram!, P.decodeSASLResponse(f.payload).data.toString('utf8'));
          if (!fin.ok) { fatal(P.SqlState.invalidPassword, 'password authentication failed'); return; }
          sock.write(Buffer.concat([P.encodeAuthSASLFinal(fin.message), P.AUTH_OK, P.encodeParameterStatus('server_version', '15.0'),
            P.encodeParameterStatus('client_encoding', 'UTF8'), P.encodeParameterStatus('standard_conforming_strings', 'on'),
            P.encodeParameterStatus('DateStyle', 'ISO, MDY'), P.encodeParameterStatus('integer_datetimes', 'on'),
            P.encodeBackendKeyData(1234, Buffer.from([1, 2, 3, 4])), P.READY_IDLE]));
          step = 'ready';
        } else if (f.code === P.FrontendCode.Query) {
          const { sql } = P.decodeQuery(f.payload);
          sock.write(Buffer.concat([
            P.encodeRowDescription([{ name: 'sql', typeOid: 25 }, { name: 'n', typeOid: 25 }]),
            P.encodeDataRow([sql, null]), P.encodeDataRow(['naïve 💳', '2']),
            P.encodeNoticeResponse({ severity: 'NOTICE', code: '00000', message: 'from the codec' }),
            P.encodeCommandComplete('SELECT 2'), P.READY_IDLE]));
        } else if (f.code === P.FrontendCode.Terminate) {
          sock.end();
          return;
        } else {
          sock.write(Buffer.concat([P.encodeErrorResponse({ severity: 'ERROR', code: P.SqlState.featureNotSupported, message: 'not here' }), P.READY_IDLE]));
        }
      }
    } catch (e) {
      fatal(P.SqlState.protocolViolation, (e as Error).message);
    }
  });
  sock.on('error', () => undefined);
}

beforeAll(async () => {
  server = net.createServer(session);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as net.AddressInfo).port;
});
afterAll(async () => { await new Promise((r) => server.close(r)); });

describe('codec as a server', () => {
  it('authenticates pg with SCRAM-SHA-256 and answers a query', async () => {
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'alice', database: 'prod', password: PASSWORD });
    const notices: string[] = [];
    client.on('notice', (n) => notices.push(n.message ?? ''));
    await client.connect();
    const r = await client.query('select 1');
    await client.end();
    expect(r.rows).toEqual([{ sql: 'select 1', n: null }, { sql: 'naïve 💳', n: '2' }]);
    expect(notices).toEqual(['from the codec']);
    expect(seen).toContain('alice@prod');
  });

  it('refuses a wrong password with 28P01', async () => {
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'alice', database: 'prod', password: 'wrong' });
    let err: { code?: string } | undefined;
    try { await client.connect(); } catch (e) { err = e as { code?: string }; }
    expect(err?.code).toBe('28P01');
  });

  // psql must run asynchronously: the server under test lives in this process's event loop.
  const psql = (password: string, sslmode: string, sql: string) => new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile('psql', ['-X', '-At', '-h', '127.0.0.1', '-p', String(port), '-U', 'bob', '-d', 'db', '-c', sql],
      { encoding: 'utf8', env: { ...process.env, PGPASSWORD: password, PGSSLMODE: sslmode }, timeout: 20_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });

  it("serves psql after refusing SSL with 'N'", async () => {
    const r = await psql(PASSWORD, 'prefer', 'select 42');
    expect(r.stderr).toContain('from the codec');
    expect(r.stdout.split('\n')[0]).toBe('select 42|');
    const bad = await psql('nope', 'disable', 'select 1');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/password authentication failed/);
  });
});

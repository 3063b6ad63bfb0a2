/**
 * Every message type round-trips: bytes built from intent (test/harness/pg-bytes.ts, independent of the
 * codec) decode to the intent, and the codec's encoders produce the same bytes. Frontend encoders are also
 * checked against node-postgres's own serializer (pg-protocol), an independent implementation.
 */
import { serialize } from 'pg-protocol';
import { describe, expect, it } from 'vitest';
import * as P from '../../../src/pg/protocol/index.js';
import { bytes } from '../../harness/pg-bytes.js';

const payload = (m: Buffer): Buffer => m.subarray(5);
const b = (s: string): Buffer => Buffer.from(s, 'utf8');

describe('startup packets', () => {
  it('decode StartupMessage, SSLRequest, GSSENCRequest, CancelRequest', () => {
    const st = bytes.startup({ user: 'alice', database: 'prod', application_name: 'psql', _pq_: 'x' });
    expect(P.decodeStartupPacket(st.subarray(4))).toEqual({ kind: 'startup', major: 3, minor: 0,
      params: { user: 'alice', database: 'prod', application_name: 'psql', _pq_: 'x' } });
    expect(P.encodeStartupMessage({ user: 'alice', database: 'prod', application_name: 'psql', _pq_: 'x' })).toEqual(st);
    expect(P.encodeStartupMessage({ user: 'u', database: 'd', client_encoding: 'UTF8' })).toEqual(serialize.startup({ user: 'u', database: 'd' }));
    expect(P.decodeStartupPacket(bytes.sslRequest().subarray(4))).toEqual({ kind: 'ssl' });
    expect(P.SSL_REQUEST).toEqual(bytes.sslRequest());
    expect(P.SSL_REQUEST).toEqual(serialize.requestSsl());
    expect(P.decodeStartupPacket(bytes.gssencRequest().subarray(4))).toEqual({ kind: 'gssenc' });
    expect(P.GSSENC_REQUEST).toEqual(bytes.gssencRequest());
    const cancel = bytes.cancelRequest(4242, 0x0a0b0c0d);
    expect(P.decodeStartupPacket(cancel.subarray(4))).toEqual({ kind: 'cancel', pid: 4242, key: Buffer.from([10, 11, 12, 13]) });
    expect(P.encodeCancelRequest(4242, Buffer.from([10, 11, 12, 13]))).toEqual(cancel);
    expect(P.encodeCancelRequest(4242, Buffer.from([10, 11, 12, 13]))).toEqual(serialize.cancel(4242, 0x0a0b0c0d));
    expect(P.decodeStartupPacket(bytes.startup({ user: 'u' }, 3, 2).subarray(4))).toMatchObject({ minor: 2 });
  });

  it('rejects protocol 2, unknown codes, a missing user and malformed bodies', () => {
    expect(() => P.decodeStartupPacket(bytes.startup({ user: 'u' }, 2, 0).subarray(4))).toThrow(/unsupported frontend protocol 2\.0/);
    expect(() => P.decodeStartupPacket(bytes.startup({ database: 'd' }).subarray(4))).toThrow(/no PostgreSQL user name/);
    expect(() => P.decodeStartupPacket(Buffer.from([0, 3, 0, 0, 0x75, 0x73]))).toThrow(/unterminated string/);
    expect(() => P.decodeStartupPacket(Buffer.concat([bytes.sslRequest().subarray(4), Buffer.from([1])]))).toThrow(/trailing/);
    expect(() => P.decodeStartupPacket(bytes.cancelRequest(1, Buffer.from([1, 2])).subarray(4))).toThrow(/cancel key length/);
  });
});

describe('frontend messages', () => {
  it('Query', () => {
    const m = bytes.query('select \'é💳\'');
    expect(P.decodeQuery(payload(m))).toEqual({ sql: 'select \'é💳\'' });
    expect(P.encodeQuery('select \'é💳\'')).toEqual(m);
    expect(P.encodeQuery('select \'é💳\'')).toEqual(serialize.query('select \'é💳\''));
  });

  it('Parse', () => {
    const m = bytes.parse('s1', 'select $1, $2', [23, 0xffffffff]);
    expect(P.decodeParse(payload(m))).toEqual({ name: 's1', sql: 'select $1, $2', paramTypes: [23, 0xffffffff] });
    expect(P.encodeParse({ name: 's1', sql: 'select $1, $2', paramTypes: [23, 0xffffffff] })).toEqual(m);
    expect(P.encodeParse({ name: 'n', sql: 'select $1', paramTypes: [25] })).toEqual(serialize.parse({ name: 'n', text: 'select $1', types: [25] }));
  });

  it('Bind with text, binary and NULL parameters and the 0/1/N format rule', () => {
    const bin = Buffer.from([0, 0, 0, 42]);
    const m = bytes.bind('p1', 's1', ['4111111111111111', null, bin], [0, 0, 1], [1]);
    const d = P.decodeBind(payload(m));
    expect(d).toEqual({ portal: 'p1', statement: 's1', paramFormats: [0, 0, 1], params: [b('4111111111111111'), null, bin], resultFormats: [1] });
    expect([0, 1, 2].map((i) => P.bindParamFormat(d, i))).toEqual([0, 0, 1]);
    expect(P.bindParamFormat({ paramFormats: [] }, 3)).toBe(0);
    expect(P.bindParamFormat({ paramFormats: [1] }, 3)).toBe(1);
    expect(P.encodeBind({ portal: 'p1', statement: 's1', paramFormats: [0, 0, 1], params: ['4111111111111111', null, bin], resultFormats: [1] })).toEqual(m);
    expect(P.encodeBind({ statement: 's', paramFormats: [0, 0], params: ['a', null], resultFormats: [0] })).toEqual(serialize.bind({ statement: 's', values: ['a', null] }));
    expect(() => P.decodeBind(payload(bytes.bind('', '', ['a', 'b', 'c'], [0, 1])))).toThrow(/2 parameter formats for 3/);
    expect(() => P.decodeBind(payload(bytes.bind('', '', ['a'], [2])))).toThrow(/invalid format code 2/);
  });

  it('Describe, Close, Execute, Sync, Flush, Terminate', () => {
    expect(P.decodeTarget(payload(bytes.describe('S', 'st')), 'Describe')).toEqual({ kind: 'S', name: 'st' });
    expect(P.decodeTarget(payload(bytes.close('P', 'po')), 'Close')).toEqual({ kind: 'P', name: 'po' });
    expect(() => P.decodeTarget(payload(bytes.describe('X' as 'S', 'st')), 'Describe')).toThrow(/invalid Describe target/);
    expect(P.encodeTarget(P.FrontendCode.Describe, 'P', '')).toEqual(serialize.describe({ type: 'P', name: '' }));
    expect(P.encodeTarget(P.FrontendCode.Close, 'S', 'x')).toEqual(bytes.close('S', 'x'));
    expect(P.decodeExecute(payload(bytes.execute('po', 50)))).toEqual({ portal: 'po', maxRows: 50 });
    expect(P.encodeExecute('po', 50)).toEqual(serialize.execute({ portal: 'po', rows: 50 }));
    expect(P.SYNC).toEqual(bytes.sync());
    expect(P.FLUSH).toEqual(bytes.flush());
    expect(P.TERMINATE).toEqual(bytes.terminate());
    expect(P.SYNC).toEqual(serialize.sync());
  });

  it('CopyData, CopyDone, CopyFail', () => {
    const data = b('1\t4111111111111111\n');
    expect(P.decodeCopyData(payload(bytes.copyData(data))).data).toEqual(data);
    expect(P.encodeCopyData(data)).toEqual(bytes.copyData(data));
    expect(P.encodeCopyData(data)).toEqual(serialize.copyData(data));
    expect(P.COPY_DONE).toEqual(bytes.copyDone());
    expect(P.decodeCopyFail(payload(bytes.copyFail('aborted')))).toEqual({ message: 'aborted' });
    expect(P.encodeCopyFail('aborted')).toEqual(bytes.copyFail('aborted'));
  });

  it('FunctionCall', () => {
    const m = bytes.functionCall(952, ['x', null, Buffer.from([1])], [0, 0, 1], 1);
    const d = P.decodeFunctionCall(payload(m));
    expect(d).toEqual({ oid: 952, argFormats: [0, 0, 1], args: [b('x'), null, Buffer.from([1])], resultFormat: 1 });
    expect(P.encodeFunctionCall(d)).toEqual(m);
  });

  it('PasswordMessage, SASLInitialResponse, SASLResponse (the step decides which)', () => {
    expect(P.decodePasswordMessage(payload(bytes.password('md5abc')))).toEqual({ password: 'md5abc' });
    expect(P.encodePasswordMessage('md5abc')).toEqual(serialize.password('md5abc'));
    const init = bytes.saslInitial('SCRAM-SHA-256', 'n,,n=,r=abc');
    expect(P.decodeSASLInitialResponse(payload(init))).toEqual({ mechanism: 'SCRAM-SHA-256', data: b('n,,n=,r=abc') });
    expect(P.encodeSASLInitialResponse('SCRAM-SHA-256', 'n,,n=,r=abc')).toEqual(init);
    expect(P.encodeSASLInitialResponse('SCRAM-SHA-256', 'n,,n=,r=abc')).toEqual(serialize.sendSASLInitialResponseMessage('SCRAM-SHA-256', 'n,,n=,r=abc'));
    expect(P.decodeSASLInitialResponse(payload(bytes.saslInitial('X', null)))).toEqual({ mechanism: 'X', data: null });
    expect(P.decodeSASLResponse(payload(bytes.saslResponse('c=biws,r=abc,p=xyz'))).data).toEqual(b('c=biws,r=abc,p=xyz'));
    expect(P.encodeSASLResponse('c=biws')).toEqual(serialize.sendSCRAMClientFinalMessage('c=biws'));
  });
});

describe('backend messages', () => {
  it('Authentication requests', () => {
    expect(P.decodeAuthentication(payload(bytes.authOk()))).toEqual({ type: 0 });
    expect(P.AUTH_OK).toEqual(bytes.authOk());
    expect(P.decodeAuthentication(payload(bytes.authCleartext()))).toEqual({ type: 3 });
    expect(P.AUTH_CLEARTEXT).toEqual(bytes.authCleartext());
    const salt = Buffer.from([1, 2, 3, 4]);
    expect(P.decodeAuthentication(payload(bytes.authMD5(salt)))).toEqual({ type: 5, salt });
    expect(P.encodeAuthMD5(salt)).toEqual(bytes.authMD5(salt));
    expect(P.decodeAuthentication(payload(bytes.authSASL(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'])))).toEqual({ type: 10, mechanisms: ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'] });
    expect(P.encodeAuthSASL()).toEqual(bytes.authSASL(['SCRAM-SHA-256']));
    expect(P.decodeAuthentication(payload(bytes.authSASLContinue('r=x,s=y,i=4096')))).toEqual({ type: 11, data: b('r=x,s=y,i=4096') });
    expect(P.encodeAuthSASLContinue('r=x,s=y,i=4096')).toEqual(bytes.authSASLContinue('r=x,s=y,i=4096'));
    expect(P.decodeAuthentication(payload(bytes.authSASLFinal('v=abc')))).toEqual({ type: 12, data: b('v=abc') });
    expect(P.encodeAuthSASLFinal('v=abc')).toEqual(bytes.authSASLFinal('v=abc'));
    expect(() => P.decodeAuthentication(payload(bytes.msg('R', bytes.i32(99))))).toThrow(/unknown authentication request 99/);
  });

  it('BackendKeyData, ParameterStatus, ReadyForQuery', () => {
    const key = Buffer.from([0xde, 0xad, 0xbe, 0xef]);
    expect(P.decodeBackendKeyData(payload(bytes.backendKeyData(31337, key)))).toEqual({ pid: 31337, key });
    expect(P.encodeBackendKeyData(31337, key)).toEqual(bytes.backendKeyData(31337, key));
    expect(P.decodeParameterStatus(payload(bytes.parameterStatus('TimeZone', 'UTC')))).toEqual({ name: 'TimeZone', value: 'UTC' });
    expect(P.encodeParameterStatus('TimeZone', 'UTC')).toEqual(bytes.parameterStatus('TimeZone', 'UTC'));
    for (const s of ['I', 'T', 'E'] as const) {
      expect(P.decodeReadyForQuery(payload(bytes.readyForQuery(s)))).toEqual({ status: s });
      expect(P.encodeReadyForQuery(s)).toEqual(bytes.readyForQuery(s));
    }
    expect(() => P.decodeReadyForQuery(payload(bytes.msg('Z', 'Q')))).toThrow(/invalid transaction status/);
  });

  it('RowDescription with table OID and attribute numbers, ParameterDescription', () => {
    const cols = [
      { name: 'id', tableOid: 16385, column: 1, typeOid: 23, typeSize: 4, typeMod: -1, format: 0 as const },
      { name: 'pan', tableOid: 16385, column: 3, typeOid: 25, typeSize: -1, typeMod: -1, format: 1 as const },
      { name: '?column?', tableOid: 0, column: 0, typeOid: 0xfffffff0, typeSize: -1, typeMod: 12, format: 0 as const },
    ];
    const m = bytes.rowDescription(cols);
    expect(P.decodeRowDescription(payload(m))).toEqual({ fields: cols });
    expect(P.encodeRowDescription(cols)).toEqual(m);
    expect(P.decodeParameterDescription(payload(bytes.parameterDescription([23, 25])))).toEqual({ typeOids: [23, 25] });
    expect(P.encodeParameterDescription([23, 25])).toEqual(bytes.parameterDescription([23, 25]));
  });

  it('DataRow with NULL, empty, UTF-8 and binary values, and re-encoding', () => {
    const values = [null, b(''), b('4111 1111 1111 1111'), b('naïve 💳'), Buffer.from([0, 255, 1])];
    const m = bytes.dataRow(values);
    expect(P.decodeDataRow(payload(m))).toEqual({ values });
    expect(P.encodeDataRow(values)).toEqual(m);
    expect(P.encodeDataRow([null, '', '4111 1111 1111 1111', 'naïve 💳', Buffer.from([0, 255, 1])])).toEqual(m);
    expect(() => P.decodeDataRow(payload(bytes.msg('D', bytes.i16(1), bytes.i32(10), 'abc')))).toThrow(/truncated DataRow/);
    expect(() => P.decodeDataRow(payload(bytes.msg('D', bytes.i16(1), bytes.i32(-2))))).toThrow(/negative value length/);
  });

  it('CommandComplete and command tags', () => {
    expect(P.decodeCommandComplete(payload(bytes.commandComplete('INSERT 0 5')))).toEqual({ tag: 'INSERT 0 5' });
    expect(P.encodeCommandComplete('SELECT 3')).toEqual(bytes.commandComplete('SELECT 3'));
    expect(P.parseCommandTag('INSERT 0 5')).toEqual({ command: 'INSERT', rows: 5 });
    expect(P.parseCommandTag('SELECT 3')).toEqual({ command: 'SELECT', rows: 3 });
    expect(P.parseCommandTag('COPY 1000000')).toEqual({ command: 'COPY', rows: 1000000 });
    expect(P.parseCommandTag('CREATE TABLE')).toEqual({ command: 'CREATE TABLE', rows: undefined });
  });

  it('ErrorResponse and NoticeResponse with all fields', () => {
    const all = { S: 'ERROR', V: 'ERROR', C: '23505', M: 'duplicate key', D: 'Key (id)=(1) already exists.', H: 'hint', P: '5',
      p: '2', q: 'iq', W: 'where', s: 'public', t: 'cards', c: 'pan', d: 'text', n: 'cards_pkey', F: 'nbtinsert.c', L: '666', R: '_bt_check_unique' };
    const d = P.decodeNotice(payload(bytes.errorResponse(all)));
    expect(d).toEqual({ severity: 'ERROR', severityV: 'ERROR', code: '23505', message: 'duplicate key', detail: 'Key (id)=(1) already exists.',
      hint: 'hint', position: '5', internalPosition: '2', internalQuery: 'iq', where: 'where', schema: 'public', table: 'cards',
      column: 'pan', dataType: 'text', constraint: 'cards_pkey', file: 'nbtinsert.c', line: '666', routine: '_bt_check_unique' });
    const again = P.encodeErrorResponse({ ...d, severity: 'ERROR', code: '23505', message: 'duplicate key' });
    expect(P.decodeNotice(payload(again))).toEqual(d);
    expect(again[0]).toBe('E'.charCodeAt(0));
    const n = P.encodeNoticeResponse({ severity: 'NOTICE', code: P.SqlState.successfulCompletion, message: 'waiting for approval A-1' });
    expect(n).toEqual(bytes.noticeResponse({ S: 'NOTICE', V: 'NOTICE', C: '00000', M: 'waiting for approval A-1' }));
    expect(P.decodeNotice(payload(bytes.noticeResponse({ S: 'NOTICE', Z: 'future field', M: 'm' })))).toEqual({ severity: 'NOTICE', Z: 'future field', message: 'm' });
  });

  it('NotificationResponse, Copy*Response, CopyData, FunctionCallResponse, NegotiateProtocolVersion', () => {
    expect(P.decodeNotification(payload(bytes.notification(7, 'jobs', '{"id":1}')))).toEqual({ pid: 7, channel: 'jobs', payload: '{"id":1}' });
    expect(P.encodeNotification(7, 'jobs', '{"id":1}')).toEqual(bytes.notification(7, 'jobs', '{"id":1}'));
    for (const [code, build] of [[P.BackendCode.CopyInResponse, bytes.copyInResponse], [P.BackendCode.CopyOutResponse, bytes.copyOutResponse],
      [P.BackendCode.CopyBothResponse, bytes.copyBothResponse]] as const) {
      expect(P.decodeCopyResponse(payload(build(1, [1, 1])))).toEqual({ format: 1, columnFormats: [1, 1] });
      expect(P.encodeCopyResponse(code, 1, [1, 1])).toEqual(build(1, [1, 1]));
    }
    expect(P.encodeCopyDataBackend('x')).toEqual(bytes.copyData('x'));
    expect(P.COPY_DONE_BACKEND).toEqual(bytes.copyDone());
    expect(P.decodeFunctionCallResponse(payload(bytes.functionCallResponse(null)))).toEqual({ value: null });
    expect(P.decodeFunctionCallResponse(payload(bytes.functionCallResponse('42')))).toEqual({ value: b('42') });
    expect(P.encodeFunctionCallResponse('42')).toEqual(bytes.functionCallResponse('42'));
    expect(P.decodeNegotiateProtocolVersion(payload(bytes.negotiateProtocolVersion(0, ['_pq_.x'])))).toEqual({ minor: 0, unrecognized: ['_pq_.x'] });
    expect(P.encodeNegotiateProtocolVersion(0, ['_pq_.x'])).toEqual(bytes.negotiateProtocolVersion(0, ['_pq_.x']));
  });

  it('constant messages: ParseComplete, BindComplete, CloseComplete, NoData, PortalSuspended, EmptyQueryResponse', () => {
    expect(P.PARSE_COMPLETE).toEqual(bytes.parseComplete());
    expect(P.BIND_COMPLETE).toEqual(bytes.bindComplete());
    expect(P.CLOSE_COMPLETE).toEqual(bytes.closeComplete());
    expect(P.NO_DATA).toEqual(bytes.noData());
    expect(P.PORTAL_SUSPENDED).toEqual(bytes.portalSuspended());
    expect(P.EMPTY_QUERY_RESPONSE).toEqual(bytes.emptyQuery());
  });
});

describe('MessageWriter', () => {
  it('grows, writes lengths from byte counts and copies on take()', () => {
    const w = new P.MessageWriter(4);
    const a = w.begin(0x51).cstring('é'.repeat(100)).end().take();
    expect(a.readInt32BE(1)).toBe(4 + 200 + 1);
    const c = w.begin(0x51).cstring('x').end().take();
    expect(a.subarray(5, 7).toString()).toBe('é');
    expect(c).toEqual(bytes.query('x'));
  });
});

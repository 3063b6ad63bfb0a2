/** backendMessageProblem: every message a server sends mid-session passes as built; a layout it cannot have is named. */
import { describe, expect, it } from 'vitest';
import { backendMessageProblem } from '../../../src/pg/protocol/backend-check.js';
import { bytes } from '../../harness/pg-bytes.js';

const { i16, i32, msg, cstr } = bytes;

const wellFormed: Record<string, Buffer> = {
  dataRow: bytes.dataRow([null, '', '4111 1111 1111 1111', Buffer.from([0, 1, 2])]),
  dataRowNone: bytes.dataRow([]),
  copyData: bytes.copyData('anything at all\0\xff'),
  commandComplete: bytes.commandComplete('INSERT 0 5'),
  readyIdle: bytes.readyForQuery('I'),
  readyTx: bytes.readyForQuery('T'),
  readyFailed: bytes.readyForQuery('E'),
  parseComplete: bytes.parseComplete(),
  bindComplete: bytes.bindComplete(),
  closeComplete: bytes.closeComplete(),
  noData: bytes.noData(),
  portalSuspended: bytes.portalSuspended(),
  emptyQuery: bytes.emptyQuery(),
  copyDone: bytes.copyDone(),
  rowDescription: bytes.rowDescription([{ name: 'a' }, { name: '' }, { name: 'ü', typeOid: 23, format: 1 }]),
  error: bytes.errorResponse({ S: 'ERROR', V: 'ERROR', C: '42P01', M: 'relation "x" does not exist', P: '15' }),
  notice: bytes.noticeResponse({ S: 'NOTICE', C: '00000', M: '' }),
  errorNoFields: msg('E', [0]),
  parameterStatus: bytes.parameterStatus('application_name', ''),
  notification: bytes.notification(42, 'chan', 'payload'),
  parameterDescription: bytes.parameterDescription([23, 25]),
  copyIn: bytes.copyInResponse(0, [0, 0]),
  copyOut: bytes.copyOutResponse(1, [1]),
  copyBoth: bytes.copyBothResponse(0, []),
  functionResult: bytes.functionCallResponse('42'),
  functionNull: bytes.functionCallResponse(null),
};

const malformed: Record<string, [Buffer, RegExp]> = {
  unknownType: [msg('x', 'hello'), /'x', which is no server message type/],
  nonPrintable: [msg('\x01'), /'\\x01'/],
  authentication: [bytes.authCleartext(), /authentication request\) after the session started/],
  backendKey: [bytes.backendKeyData(1, 2), /BackendKeyData\) after the session started/],
  negotiate: [bytes.negotiateProtocolVersion(0, []), /NegotiateProtocolVersion/],
  parseCompleteBody: [msg('1', 'x'), /'1' with a body of 1 bytes where there is none/],
  readyEmpty: [msg('Z'), /'Z' with a body of 0 bytes/],
  readyStatus: [msg('Z', 'X'), /unknown transaction status/],
  commandTrailing: [msg('C', cstr('SELECT 1'), 'x'), /1 bytes after its strings/],
  commandUnterminated: [msg('C', 'SELECT 1'), /does not end/],
  statusOneString: [msg('S', cstr('a')), /does not end/],
  errorUnterminatedField: [msg('E', 'SERROR'), /a field that does not end/],
  errorNoTerminator: [msg('E', cstr('SERROR')), /no terminator/],
  errorTrailing: [msg('E', cstr('SERROR'), [0], 'x'), /no terminator/],
  rowDescriptionShort: [msg('T', i16(1), cstr('a'), [0, 0]), /field 1 of 1 cut short/],
  rowDescriptionTrailing: [Buffer.concat([bytes.rowDescription([{ name: 'a' }]).subarray(0, 1), i32(bytes.rowDescription([{ name: 'a' }]).length), bytes.rowDescription([{ name: 'a' }]).subarray(5), Buffer.from('x')]), /1 bytes after its 1 fields/],
  dataRowMoreValues: [msg('D', i16(1), i32(1), 'a', i32(1), 'b'), /5 bytes after its 1 values/],
  dataRowFewerValues: [msg('D', i16(2), i32(1), 'a'), /value 2 of 2 missing/],
  dataRowLongValue: [msg('D', i16(1), i32(10), 'abc'), /value 1 of 1 has length 10 with 3 bytes left/],
  dataRowNegative: [msg('D', i16(1), i32(-2)), /length -2/],
  dataRowNegativeCount: [msg('D', i16(-1)), /column count/],
  notificationShort: [msg('A', [0, 0]), /no process ID/],
  parameterDescriptionLies: [msg('t', i16(2), i32(23)), /parameter count/],
  copyOutFormat: [msg('H', [2], i16(0)), /format or column count/],
  copyInLies: [msg('G', [0], i16(2), i16(0)), /format or column count/],
  functionLies: [msg('V', i32(5), 'ab'), /result length/],
  functionNullTrailing: [msg('V', i32(-1), 'ab'), /bytes after a NULL result/],
};

describe('backendMessageProblem', () => {
  for (const [name, f] of Object.entries(wellFormed)) {
    it(`passes ${name}`, () => expect(backendMessageProblem(f)).toBeNull());
  }
  for (const [name, [f, why]] of Object.entries(malformed)) {
    it(`names ${name}`, () => expect(backendMessageProblem(f)).toMatch(why));
  }
  it('never quotes a message body (it is shown to the client and logged)', () => {
    for (const [f] of Object.values(malformed)) expect(backendMessageProblem(Buffer.concat([f.subarray(0, 5), f.subarray(5)]))).not.toMatch(/hello|SELECT|SERROR/);
  });
});

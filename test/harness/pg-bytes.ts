/**
 * Byte builders from intent for protocol tests: `bytes.query('select 1')`, `bytes.dataRow([null, '4111…'])`.
 * Written independently of src/pg/protocol (plain concatenation, no shared writer) so that a codec bug
 * cannot hide behind the same bug in the test's bytes. Layouts:
 * https://www.postgresql.org/docs/current/protocol-message-formats.html
 */
type Part = Buffer | string | number[];

const cstr = (s: string): Buffer => Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);
const i16 = (n: number): Buffer => { const b = Buffer.alloc(2); b.writeInt16BE(n); return b; };
const i32 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeInt32BE(n); return b; };
const u32 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
const raw = (p: Part): Buffer => (Buffer.isBuffer(p) ? p : typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p));
const val = (v: Buffer | string | null): Buffer => (v === null ? i32(-1) : Buffer.concat([i32(raw(v).length), raw(v)]));

/** A typed message: letter, Int32 length (counting itself), payload. */
export function msg(letter: string, ...parts: Part[]): Buffer {
  const body = Buffer.concat(parts.map(raw));
  return Buffer.concat([Buffer.from(letter, 'latin1'), i32(body.length + 4), body]);
}

/** An untyped startup-phase packet: Int32 length then payload. */
export function untyped(...parts: Part[]): Buffer {
  const body = Buffer.concat(parts.map(raw));
  return Buffer.concat([i32(body.length + 4), body]);
}

const fields = (f: Record<string, string>): Buffer =>
  Buffer.concat([...Object.entries(f).map(([k, v]) => Buffer.concat([Buffer.from(k, 'latin1'), cstr(v)])), Buffer.from([0])]);

export const bytes = {
  cstr, i16, i32, u32, msg, untyped,
  // ---- startup phase ----
  startup: (params: Record<string, string>, major = 3, minor = 0): Buffer =>
    untyped(i32(major * 65536 + minor), ...Object.entries(params).flatMap(([k, v]) => [cstr(k), cstr(v)]), [0]),
  sslRequest: (): Buffer => untyped(i32(80877103)),
  gssencRequest: (): Buffer => untyped(i32(80877104)),
  cancelRequest: (pid: number, key: Buffer | number): Buffer =>
    untyped(i32(80877102), i32(pid), typeof key === 'number' ? i32(key) : key),
  // ---- frontend ----
  /** A Query; a Buffer is sent as its bytes (a text in the client's encoding, not UTF-8). */
  query: (sql: string | Buffer): Buffer => msg('Q', typeof sql === 'string' ? cstr(sql) : Buffer.concat([sql, Buffer.from([0])])),
  parse: (name: string, sql: string, types: number[] = []): Buffer => msg('P', cstr(name), cstr(sql), i16(types.length), ...types.map(u32)),
  bind: (portal: string, stmt: string, params: (Buffer | string | null)[], paramFormats: number[] = [], resultFormats: number[] = []): Buffer =>
    msg('B', cstr(portal), cstr(stmt), i16(paramFormats.length), ...paramFormats.map(i16), i16(params.length), ...params.map(val),
      i16(resultFormats.length), ...resultFormats.map(i16)),
  describe: (kind: 'S' | 'P', name: string): Buffer => msg('D', kind, cstr(name)),
  close: (kind: 'S' | 'P', name: string): Buffer => msg('C', kind, cstr(name)),
  execute: (portal = '', maxRows = 0): Buffer => msg('E', cstr(portal), i32(maxRows)),
  sync: (): Buffer => msg('S'),
  flush: (): Buffer => msg('H'),
  terminate: (): Buffer => msg('X'),
  copyData: (data: Buffer | string): Buffer => msg('d', raw(data)),
  copyDone: (): Buffer => msg('c'),
  copyFail: (message: string): Buffer => msg('f', cstr(message)),
  functionCall: (oid: number, args: (Buffer | string | null)[], argFormats: number[] = [], resultFormat = 0): Buffer =>
    msg('F', u32(oid), i16(argFormats.length), ...argFormats.map(i16), i16(args.length), ...args.map(val), i16(resultFormat)),
  password: (pw: string): Buffer => msg('p', cstr(pw)),
  saslInitial: (mechanism: string, data: string | null): Buffer => msg('p', cstr(mechanism), val(data)),
  saslResponse: (data: string): Buffer => msg('p', data),
  // ---- backend ----
  authOk: (): Buffer => msg('R', i32(0)),
  authCleartext: (): Buffer => msg('R', i32(3)),
  authMD5: (salt: Buffer): Buffer => msg('R', i32(5), salt),
  authSASL: (mechs: string[]): Buffer => msg('R', i32(10), ...mechs.map(cstr), [0]),
  authSASLContinue: (data: string): Buffer => msg('R', i32(11), data),
  authSASLFinal: (data: string): Buffer => msg('R', i32(12), data),
  backendKeyData: (pid: number, key: Buffer | number): Buffer => msg('K', i32(pid), typeof key === 'number' ? i32(key) : key),
  parameterStatus: (name: string, value: string): Buffer => msg('S', cstr(name), cstr(value)),
  readyForQuery: (status: 'I' | 'T' | 'E' = 'I'): Buffer => msg('Z', status),
  rowDescription: (cols: { name: string; tableOid?: number; column?: number; typeOid?: number; typeSize?: number; typeMod?: number; format?: number }[]): Buffer =>
    msg('T', i16(cols.length), ...cols.flatMap((c) => [cstr(c.name), u32(c.tableOid ?? 0), i16(c.column ?? 0), u32(c.typeOid ?? 25),
      i16(c.typeSize ?? -1), i32(c.typeMod ?? -1), i16(c.format ?? 0)])),
  parameterDescription: (oids: number[]): Buffer => msg('t', i16(oids.length), ...oids.map(u32)),
  dataRow: (values: (Buffer | string | null)[]): Buffer => msg('D', i16(values.length), ...values.map(val)),
  commandComplete: (tag: string): Buffer => msg('C', cstr(tag)),
  errorResponse: (f: Record<string, string>): Buffer => msg('E', fields(f)),
  noticeResponse: (f: Record<string, string>): Buffer => msg('N', fields(f)),
  notification: (pid: number, channel: string, payload: string): Buffer => msg('A', i32(pid), cstr(channel), cstr(payload)),
  copyInResponse: (format: number, cols: number[]): Buffer => msg('G', [format], i16(cols.length), ...cols.map(i16)),
  copyOutResponse: (format: number, cols: number[]): Buffer => msg('H', [format], i16(cols.length), ...cols.map(i16)),
  copyBothResponse: (format: number, cols: number[]): Buffer => msg('W', [format], i16(cols.length), ...cols.map(i16)),
  functionCallResponse: (v: Buffer | string | null): Buffer => msg('V', val(v)),
  negotiateProtocolVersion: (minor: number, opts: string[]): Buffer => msg('v', i32(minor), i32(opts.length), ...opts.map(cstr)),
  parseComplete: (): Buffer => msg('1'),
  bindComplete: (): Buffer => msg('2'),
  closeComplete: (): Buffer => msg('3'),
  noData: (): Buffer => msg('n'),
  portalSuspended: (): Buffer => msg('s'),
  emptyQuery: (): Buffer => msg('I'),
};

/** Every way to cut `data` in two: [data[0..i), data[i..)] for i = 0..length. */
export function* splitsAtEveryOffset(data: Buffer): Generator<[Buffer, Buffer, number]> {
  for (let i = 0; i <= data.length; i++) yield [data.subarray(0, i), data.subarray(i), i];
}

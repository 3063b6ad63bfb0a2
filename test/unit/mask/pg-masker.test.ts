import { describe, expect, it, vi } from 'vitest';
import { decodeDataRow, decodeNotice, decodeNotification, decodeRowDescription } from '../../../src/pg/protocol/backend.js';
import { hasCode } from '../../../src/errors.js';
import { PgMasker } from '../../../src/mask/pg-masker.js';
import type { PgMaskerOptions } from '../../../src/mask/pg-masker.js';
import { bytes } from '../../harness/pg-bytes.js';

const PAN = '4111111111111111';
const config = (over: Partial<PgMaskerOptions['config']> = {}): PgMaskerOptions['config'] => ({ format: 'last4', networks: 'major', rules: [], sad_columns: [], ...over });
const rows = (frame: Buffer | null) => decodeDataRow(frame!.subarray(5)).values.map((v) => (v === null ? null : v.toString('latin1')));
const i64 = (n: bigint) => { const b = Buffer.alloc(8); b.writeBigInt64BE(n); return b; };

describe('PgMasker', () => {
  it('forwards untouched rows as the original bytes (null)', () => {
    const m = new PgMasker({ config: config() });
    m.onBackendMessage(bytes.rowDescription([{ name: 'id', typeOid: 23 }, { name: 'note' }]));
    expect(m.onBackendMessage(bytes.dataRow(['1', 'order 1234567812345678']))).toBeNull();
    expect(m.takeCounts()).toEqual({});
  });

  it('a value of a type that prints no float (bytea in escape output) holding a card number and a float print of one: both masked', () => {
    const m = new PgMasker({ config: config() });
    m.onBackendMessage(bytes.rowDescription([{ name: 'b', typeOid: 17 }]));
    expect(rows(m.onBackendMessage(bytes.dataRow(['card 4111111111111111 as float 4.111111111111111e+15'])))).toEqual(['card ************1111 as float *.*************11e+15']);
  });

  it('masks a run of rows (onRows) as it masks each row alone, and hands unchanged rows on as the run\'s own bytes', () => {
    const rd = bytes.rowDescription([{ name: 'id', typeOid: 23 }, { name: 't' }, { name: 'f', typeOid: 701 }, { name: 'b', typeOid: 20 }]);
    // Values whose reading depends on what is around them in the run: a backslash that spells nothing before one that
    // spells a card number (`\u0034…`, found from the row's first backslash), a row after a masked one, NULLs.
    const values = [
      ['1', 'plain', '1.5', '7'], ['2', 'a\\"b', '2.5', '8'], ['3', '{"p": "\\u0034111111111111111"}', '3.5', '9'],
      ['4', `card ${PAN}`, null, null], ['5', 'md5 0cc175b9c0f1b6a831c399e269772661', '4.111111111111111e+15', '10'],
      ['6', 'x', '6.5', PAN], ['7', 'a\\"b', '7.5', '11'], ['8', '4111 1111 1111 1111', '8.5', '12'], ['9', 'tail', '9.5', '13'],
    ];
    const frames = values.map((v) => bytes.dataRow(v));
    const one = new PgMasker({ config: config() });
    one.onBackendMessage(rd);
    const alone = frames.map((f) => one.onBackendMessage(f) ?? f);
    const run = new PgMasker({ config: config() });
    run.onBackendMessage(rd);
    // The run sits in a larger buffer, as the framer's: bytes before it and after it are not its rows'.
    const buf = Buffer.concat([bytes.commandComplete('x'), ...frames, bytes.dataRow(['\\u0034'])]);
    const from = bytes.commandComplete('x').length;
    const out = run.onRows(buf, from, buf.length - bytes.dataRow(['\\u0034']).length)!;
    expect(Buffer.concat(out).equals(Buffer.concat(alone))).toBe(true);
    expect(run.takeCounts()).toEqual(one.takeCounts());
    expect(alone.filter((f, i) => f !== frames[i]).length).toBe(5);
    // The unchanged rows between two changed ones go on as one view of the run's buffer.
    expect(out.some((b) => b.buffer === buf.buffer && b.length === frames[0]!.length + frames[1]!.length)).toBe(true);
    const clean = Buffer.concat([frames[0]!, frames[1]!, frames[8]!]);
    expect(run.onRows(clean, 0, clean.length)).toBeNull();
    // Nothing of an earlier run's search is taken for this one's: it starts past where the last search ended.
    const later = Buffer.concat([Buffer.alloc(2000, 0x20), frames[2]!]);
    expect(run.onRows(later, 2000, later.length)?.[0]?.equals(alone[2]!)).toBe(true);
  });

  it('masks a PAN in a text DataRow by content, whatever the column is called', () => {
    const m = new PgMasker({ config: config() });
    m.onBackendMessage(bytes.rowDescription([{ name: 'x' }, { name: 'y' }]));
    expect(rows(m.onBackendMessage(bytes.dataRow([`card ${PAN}`, null])))).toEqual(['card ************1111', null]);
    expect(m.takeCounts()).toEqual({ pan: 1 });
  });

  it('hides SAD columns fully and applies name and qualified rules (aliases do not dodge)', async () => {
    const m = new PgMasker({
      config: config({ rules: [{ name: 'secret', columns: ['secret_*'], format: 'null' }, { name: 'cards.number', columns: ['public.cards.number'], format: 'first6last4' }] }),
      lookup: async (oid) => new Map(oid === 5000 ? [[2, 'public.cards.number'], [3, 'public.cards.other']] : []),
    });
    const rd = bytes.rowDescription([{ name: 'cvv' }, { name: 'secret_note' }, { name: 'x', tableOid: 5000, column: 2 }, { name: 'y', tableOid: 5000, column: 3 }]);
    await m.prepareRows(rd);
    expect(m.prepareRows(rd)).toBeNull(); // cached now: nothing to wait for
    m.onBackendMessage(rd);
    expect(rows(m.onBackendMessage(bytes.dataRow(['123', 'hello', '5555555555554444', 'plain'])))).toEqual(['***', null, '555555******4444', null].map((v, i) => (i === 3 ? 'plain' : v)));
    expect(m.takeCounts()).toEqual({ sad: 1, secret: 1, 'cards.number': 1 });
  });

  it('a SAD column under an alias is hidden by its source name, also without any qualified rule', async () => {
    const m = new PgMasker({ config: config(), lookup: async (oid) => new Map(oid === 5000 ? [[2, 'public.cards.cvv'], [3, 'public.cards.note']] : []) });
    const rd = bytes.rowDescription([{ name: 'x', tableOid: 5000, column: 2 }, { name: 'y', tableOid: 5000, column: 3 }]);
    await m.prepareRows(rd);
    m.onBackendMessage(rd);
    expect(rows(m.onBackendMessage(bytes.dataRow(['123', 'hello'])))).toEqual(['***', 'hello']);
    expect(m.takeCounts()).toEqual({ sad: 1 });
  });

  it('fails closed while a qualified lookup is pending', () => {
    let resolve!: (v: ReadonlyMap<number, string>) => void;
    const m = new PgMasker({ config: config({ rules: [{ columns: ['public.cards.number'], format: 'full' }] }), lookup: () => new Promise((r) => { resolve = r; }) });
    m.onBackendMessage(bytes.rowDescription([{ name: 'n', tableOid: 7, column: 1 }]));
    expect(rows(m.onBackendMessage(bytes.dataRow(['12345'])))).toEqual(['*****']);
    resolve(new Map([[1, 'public.other.n']]));
  });

  it('prepareRows: null without a catalog or for a description with no table columns; a lookup that never answers is waited for at most 2 s', async () => {
    vi.useFakeTimers();
    try {
      const plain = new PgMasker({ config: config() });
      expect(plain.prepareRows(bytes.rowDescription([{ name: 'n', tableOid: 7, column: 1 }]))).toBeNull();
      const m = new PgMasker({ config: config({ rules: [{ columns: ['public.cards.number'], format: 'full' }] }), lookup: () => new Promise(() => undefined) });
      expect(m.prepareRows(bytes.rowDescription([{ name: 'expr' }]))).toBeNull();
      let done = false;
      void m.prepareRows(bytes.rowDescription([{ name: 'n', tableOid: 7, column: 1 }]))!.then(() => { done = true; });
      await vi.advanceTimersByTimeAsync(1999);
      expect(done).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect(done).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a repeated RowDescription keeps its plan, except one made while a lookup was pending', async () => {
    let resolve!: (v: ReadonlyMap<number, string>) => void;
    const m = new PgMasker({ config: config({ rules: [{ name: 'num', columns: ['public.cards.number'], format: 'full' }] }), lookup: () => new Promise((r) => { resolve = r; }) });
    const rd = bytes.rowDescription([{ name: 'n', tableOid: 7, column: 1 }]);
    m.onBackendMessage(rd);
    expect(rows(m.onBackendMessage(bytes.dataRow(['12345'])))).toEqual(['*****']); // unresolved: fail closed
    resolve(new Map([[1, 'public.other.n']]));
    await new Promise((r) => setImmediate(r));
    m.onBackendMessage(rd);
    expect(m.onBackendMessage(bytes.dataRow(['12345']))).toBeNull(); // planned again: not a card number column
    // Another description in between, then the first again: each gets its own plan.
    m.onBackendMessage(bytes.rowDescription([{ name: 'cvv' }]));
    expect(rows(m.onBackendMessage(bytes.dataRow(['123'])))).toEqual(['***']);
    m.onBackendMessage(rd);
    expect(m.onBackendMessage(bytes.dataRow(['12345']))).toBeNull();
  });

  it('binary values: text-like masked, int8/numeric PANs and ruled non-text values become NULL', () => {
    const m = new PgMasker({ config: config({ rules: [{ name: 'amount', columns: ['amount'], format: 'full' }] }) });
    m.onBackendMessage(bytes.rowDescription([
      { name: 't', typeOid: 25, format: 1 }, { name: 'b', typeOid: 20, format: 1 }, { name: 'ok', typeOid: 20, format: 1 },
      { name: 'amount', typeOid: 23, format: 1 }, { name: 'n', typeOid: 1700, format: 1 },
    ]));
    // numeric 4111111111111111 = base-10000 digits 4111 1111 1111 1111, weight 3
    const num = Buffer.from([0, 4, 0, 3, 0, 0, 0, 0, 0x10, 0x0f, 0x04, 0x57, 0x04, 0x57, 0x04, 0x57]);
    const out = rows(m.onBackendMessage(bytes.dataRow([PAN, i64(4111111111111111n), i64(42n), Buffer.from([0, 0, 0, 7]), num])));
    expect(out).toEqual(['************1111', null, i64(42n).toString('latin1'), null, null]);
    expect(m.takeCounts()).toEqual({ pan: 3, binary_null: 3, amount: 1 });
  });

  it('binary text[] elements are masked in place; jsonb keeps valid JSON', () => {
    const m = new PgMasker({ config: config() });
    m.onBackendMessage(bytes.rowDescription([{ name: 'a', typeOid: 1009, format: 1 }, { name: 'j', typeOid: 3802, format: 1 }, { name: 'jt', typeOid: 114 }]));
    const el = (s: string) => [bytes.i32(Buffer.byteLength(s)), Buffer.from(s)];
    const arr = Buffer.concat([bytes.i32(1), bytes.i32(0), bytes.u32(25), bytes.i32(2), bytes.i32(1), ...el('a'), ...el(PAN)]);
    const jsonb = Buffer.concat([Buffer.of(1), Buffer.from(`{"pan": ${PAN}}`)]);
    const out = m.onBackendMessage(bytes.dataRow([arr, jsonb, `{"pan": "${PAN}"}`]));
    const [a, j, jt] = decodeDataRow(out!.subarray(5)).values;
    expect(a!.toString('latin1')).not.toContain(PAN);
    expect(a!.toString('latin1')).toContain('************1111');
    expect(JSON.parse(j!.subarray(1).toString())).toEqual({ pan: '************1111' });
    expect(JSON.parse(jt!.toString())).toEqual({ pan: '************1111' });
  });

  it('json[] and jsonb[] in text format: every element still parses (a bare card number quoted inside its element)', () => {
    const m = new PgMasker({ config: config() });
    m.onBackendMessage(bytes.rowDescription([{ name: 'ja', typeOid: 199 }, { name: 'jba', typeOid: 3807 }, { name: 'dims', typeOid: 199 }]));
    const ja = String.raw`{"{\"p\": ${PAN}, \"n\": \"amex 378282246310005\"}",${PAN},NULL,"\"${PAN}\""}`;
    const jba = String.raw`{{"{\"p\": ${PAN}}"},{"{\"q\": 1}"}}`;
    const dims = String.raw`[0:0]={${PAN}}`;
    const out = rows(m.onBackendMessage(bytes.dataRow([ja, jba, dims])));
    expect(out).toEqual([
      String.raw`{"{\"p\": \"************1111\", \"n\": \"amex ***********0005\"}","\"************1111\"",NULL,"\"************1111\""}`,
      String.raw`{{"{\"p\": \"************1111\"}"},{"{\"q\": 1}"}}`,
      String.raw`[0:0]={"\"************1111\""}`,
    ]);
    // What a client's array parser reads back: each element parses as JSON.
    const elements = JSON.parse(`[${out[0]!.slice(1, -1).replace(/,NULL,/, ',null,')}]`) as Array<string | null>;
    for (const e of elements) if (e !== null) expect(() => JSON.parse(e)).not.toThrow();
  });

  it('json[] and jsonb[] are read element by element, not on the hot path: the detector finds there what it may not in the whole text', () => {
    // A card number of mixed full-width and ASCII digits is found in the element's text, not in the array's.
    const m = new PgMasker({ config: config() });
    m.onBackendMessage(bytes.rowDescription([{ name: 'id', typeOid: 23 }, { name: 'jba', typeOid: 3807 }]));
    const out = m.onBackendMessage(bytes.dataRow(['1', String.raw`{"\"4111 1111 １２147379\""}`]));
    expect(out && Buffer.from(rows(out)[1]!, 'latin1').toString()).toBe(String.raw`{"\"**** **** ＊＊**7379\""}`);
  });

  describe('the DataRow hot path and JSON kept in text columns', () => {
    const ESCAPED = String.raw`{"c":"4111\u00a01111\u00a01111\u00a01111"}`;
    const MASKED = String.raw`{"c":"****\u00a0****\u00a0****\u00a01111"}`;
    const HARMLESS = String.raw`{"a":"x\"y\n"}`;
    const planned = () => {
      const m = new PgMasker({ config: config() });
      m.onBackendMessage(bytes.rowDescription([{ name: 'id', typeOid: 23 }, { name: 'a', typeOid: 25 }, { name: 'b', typeOid: 25 }]));
      return m;
    };

    it('a card number spelt with \\u escapes is masked, in the 2nd or the 3rd column', () => {
      const m = planned();
      expect(rows(m.onBackendMessage(bytes.dataRow(['1', ESCAPED, 'x'])))).toEqual(['1', MASKED, 'x']);
      expect(rows(m.onBackendMessage(bytes.dataRow(['2', 'x', ESCAPED])))).toEqual(['2', 'x', MASKED]);
      expect(m.takeCounts()).toEqual({ pan: 2 });
    });

    it('a value whose escapes spell no card number comes back byte for byte, also next to one that does', () => {
      const m = planned();
      expect(m.onBackendMessage(bytes.dataRow(['1', HARMLESS, String.raw`{"b":"caf\u00e9 \ud83d\ude00","p":"C:\\100"}`]))).toBeNull();
      for (const values of [['2', HARMLESS, ESCAPED], ['3', ESCAPED, HARMLESS]]) {
        const out = decodeDataRow(m.onBackendMessage(bytes.dataRow(values))!.subarray(5)).values;
        expect(out, values[0]).toEqual(values.map((v) => Buffer.from(v === ESCAPED ? MASKED : v)));
      }
      expect(m.takeCounts()).toEqual({ pan: 2 });
    });
  });

  it('json and jsonb stay valid JSON: a PAN inside a string is masked in place, a bare number is quoted whole', () => {
    const m = new PgMasker({ config: config() });
    m.onBackendMessage(bytes.rowDescription([{ name: 'j', typeOid: 114 }, { name: 'jb', typeOid: 3802 }, { name: 'jbin', typeOid: 3802, format: 1 }]));
    // row_to_json of a row with a free-text note, a range and markup; a numeric PAN with a fraction.
    const doc = `{"note": "amex 378282246310005 on file", "rg": "[${PAN},41111111111111110)", "x": "<p>${PAN}</p>", "esc": "a\\\\ \\" ${PAN}", "n": ${PAN}.0, "neg": -${PAN}}`;
    const out = m.onBackendMessage(bytes.dataRow([doc, doc, Buffer.concat([Buffer.of(1), Buffer.from(doc)])]));
    const [j, jb, jbin] = decodeDataRow(out!.subarray(5)).values;
    const want = { note: 'amex ***********0005 on file', rg: '[************1111,41111111111111110)', x: '<p>************1111</p>', esc: 'a\\ " ************1111', n: '************1111.0', neg: '-************1111' };
    expect(JSON.parse(j!.toString())).toEqual(want);
    expect(JSON.parse(jb!.toString())).toEqual(want);
    expect(JSON.parse(jbin!.subarray(1).toString())).toEqual(want);
  });

  it('a json array of many bare card numbers, strings between: each number quoted whole with its own masking', () => {
    // Each number's spans were found by filtering all the spans of the value: 80,000 of them took 15 s.
    const m = new PgMasker({ config: config() });
    m.onBackendMessage(bytes.rowDescription([{ name: 'j', typeOid: 3802 }]));
    const items = Array.from({ length: 20_000 }, (_, i) => (i % 3 === 2 ? `"ref ${PAN}"` : i % 3 === 1 ? `${PAN}.5` : PAN));
    const out = m.onBackendMessage(bytes.dataRow([`[${items.join(',')}]`]));
    const got = JSON.parse(decodeDataRow(out!.subarray(5)).values[0]!.toString()) as string[];
    expect(got).toHaveLength(20_000);
    expect(got.map((v, i) => v === (i % 3 === 2 ? 'ref ************1111' : i % 3 === 1 ? '************1111.5' : '************1111'))).not.toContain(false);
  });

  it('masks a card number in a column name of a RowDescription, and keeps the rest of the description', () => {
    const m = new PgMasker({ config: config() });
    const rd = bytes.rowDescription([{ name: 'id', typeOid: 23 }, { name: `card ${PAN}`, typeOid: 25, tableOid: 7, column: 2 }]);
    const out = m.onBackendMessage(rd);
    const fields = decodeRowDescription(out!.subarray(5)).fields;
    expect(fields.map((f) => [f.name, f.typeOid, f.tableOid, f.column])).toEqual([['id', 23, 0, 0], ['card ************1111', 25, 7, 2]]);
    expect(m.onBackendMessage(bytes.rowDescription([{ name: 'id', typeOid: 23 }, { name: 'created_at_1700000000000', typeOid: 25 }]))).toBeNull();
  });

  it('masks every field of ErrorResponse and NoticeResponse', () => {
    const m = new PgMasker({ config: config() });
    const err = bytes.errorResponse({ S: 'ERROR', C: '23505', M: 'duplicate key value violates unique constraint "cards_pan_key"', D: `Key (pan)=(${PAN}) already exists.` });
    const f = decodeNotice(m.onBackendMessage(err)!.subarray(5));
    expect(f.detail ?? f.D).toBe('Key (pan)=(************1111) already exists.');
    expect(Object.values(f).join(' ')).toContain('23505');
    const n = m.onBackendMessage(bytes.noticeResponse({ S: 'NOTICE', C: '00000', M: `card ${PAN}` }));
    expect(Object.values(decodeNotice(n!.subarray(5))).join(' ')).not.toContain(PAN);
    expect(m.onBackendMessage(bytes.noticeResponse({ S: 'NOTICE', C: '00000', M: 'fine' }))).toBeNull();
  });

  it('masks NOTIFY payloads and FunctionCallResponse', () => {
    const m = new PgMasker({ config: config() });
    const n = decodeNotification(m.onBackendMessage(bytes.notification(42, 'ch', `pay ${PAN}`))!.subarray(5));
    expect(n).toEqual({ pid: 42, channel: 'ch', payload: 'pay ************1111' });
    const v = m.onBackendMessage(bytes.functionCallResponse(PAN))!;
    expect(v.subarray(9).toString()).toBe('************1111');
  });

  it('masks COPY text/csv rows and binary COPY tuples (header, int8 field, trailer)', () => {
    const m = new PgMasker({ config: config() });
    m.onBackendMessage(bytes.copyOutResponse(0, [0, 0]));
    expect(m.onBackendMessage(bytes.copyData(`1\t${PAN}\n`))!.subarray(5).toString()).toBe('1\t************1111\n');
    expect(m.onBackendMessage(bytes.copyData(`2,"x ${PAN}"\n`))!.subarray(5).toString()).toBe('2,"x ************1111"\n');
    const sig = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
    const header = Buffer.concat([sig, bytes.i32(0), bytes.i32(0)]);
    const tuple = Buffer.concat([bytes.i16(2), bytes.i32(16), Buffer.from(PAN), bytes.i32(8), i64(4111111111111111n)]);
    const out = m.onBackendMessage(bytes.copyData(Buffer.concat([header, tuple])))!.subarray(5);
    expect(out.subarray(0, 19).equals(header)).toBe(true);
    expect(out.subarray(19).equals(Buffer.concat([bytes.i16(2), bytes.i32(16), Buffer.from('************1111'), bytes.i32(-1)]))).toBe(true);
    expect(m.onBackendMessage(bytes.copyData(Buffer.from([0xff, 0xff])))).toBeNull();
    // The next COPY (text) after the trailer is not parsed as binary.
    expect(m.onBackendMessage(bytes.copyData(`3\t${PAN}\n`))!.subarray(5).toString()).toBe('3\t************1111\n');
  });

  it('unmask grants relax PAN formats but never SAD', () => {
    const m = new PgMasker({ config: config(), grants: ['first6last4'] });
    m.onBackendMessage(bytes.rowDescription([{ name: 'pan' }, { name: 'cvv2' }]));
    expect(rows(m.onBackendMessage(bytes.dataRow([PAN, '123'])))).toEqual(['411111******1111', '***']);
    const clear = new PgMasker({ config: config(), grants: ['clear'] });
    clear.onBackendMessage(bytes.rowDescription([{ name: 'pan' }, { name: 'cvv' }]));
    expect(rows(clear.onBackendMessage(bytes.dataRow([PAN, '123'])))).toEqual([PAN, '***']);
  });

  it('hmac tokens correlate the same PAN', () => {
    const m = new PgMasker({ config: config({ format: 'hmac' }), hmacKey: Buffer.from('k'.repeat(32)) });
    m.onBackendMessage(bytes.rowDescription([{ name: 'a' }, { name: 'b' }]));
    const [a, b] = rows(m.onBackendMessage(bytes.dataRow([PAN, `4111 1111 1111 1111`])));
    expect(a).toMatch(/^pan:hmac:[0-9a-f]{16}$/);
    expect(b).toBe(a);
  });

  it('fails closed with MaskError on malformed messages', () => {
    const m = new PgMasker({ config: config() });
    const bad = bytes.dataRow([PAN]);
    bad.writeInt32BE(9999, 7);
    expect(() => m.onBackendMessage(bad)).toThrow();
    try { m.onBackendMessage(bad); } catch (e) { expect(hasCode(e, 'ERR_MASK')).toBe(true); }
  });

  it('every split of a COPY text stream through the StreamMasker masks the PAN', async () => {
    const { StreamMasker } = await import('../../../src/mask/stream-masker.js');
    const data = Buffer.from(`1\t${PAN}\n2\t5555 5555 5555 4444\n`);
    for (let i = 0; i <= data.length; i++) {
      const out: Buffer[] = [];
      const s = new StreamMasker((c) => out.push(Buffer.from(c)), { idleMs: Infinity });
      s.write(data.subarray(0, i));
      s.write(data.subarray(i));
      s.flush();
      expect(Buffer.concat(out).toString()).toBe('1\t************1111\n2\t**** **** **** 4444\n');
    }
  });
});

describe('PgMasker with statements: rows are masked by their own statement\'s plan only', () => {
  const i64 = (n: bigint) => { const b = Buffer.alloc(8); b.writeBigInt64BE(n); return b; };
  it('rows of a statement with no RowDescription of its own: another statement\'s plan (or a Describe S answer\'s) is not used; content detection masks them', () => {
    const m = new PgMasker({ config: config() });
    const s1 = { n: 1 };
    const s2 = { n: 2 };
    // Describe of a prepared statement (stmt null): it describes no rows.
    m.onBackendMessage(bytes.rowDescription([{ name: 'id', typeOid: 20 }, { name: 'pan', typeOid: 25 }, { name: 'small', typeOid: 20 }]), null);
    const out = m.onBackendMessage(bytes.dataRow([i64(4111111111111111n), PAN, '12345678']), s1);
    expect(rows(out)).toEqual([null, '************1111', '12345678']);
    m.onBackendMessage(bytes.rowDescription([{ name: 'a', typeOid: 20 }, { name: 'b' }, { name: 'c', typeOid: 20 }]), s1);
    expect(rows(m.onBackendMessage(bytes.dataRow([i64(4111111111111111n), 'x', '1']), s2))[0]).toBeNull();
    // Same statement: the plan is used (text int8 of 8 ASCII bytes stays as is).
    expect(m.onBackendMessage(bytes.dataRow(['12345678', 'x', '1']), s1)).toBeNull();
  });

  it('with column rules, rows with no description of their own are refused (MaskError), not masked by the last plan', () => {
    const m = new PgMasker({ config: config({ rules: [{ name: 'account', columns: ['account_no'], format: 'last4' }] }) });
    const cards = { n: 1 };
    const notes = { n: 2 };
    // notes' description (same column count, no rule) answered a Describe S; then cards' rows arrive.
    m.onBackendMessage(bytes.rowDescription([{ name: 'id', typeOid: 23 }, { name: 'note', typeOid: 25 }]), null);
    let thrown: unknown;
    try { m.onBackendMessage(bytes.dataRow(['1', 'AC-0001-7788']), cards); } catch (e) { thrown = e; }
    expect(hasCode(thrown, 'ERR_MASK')).toBe(true);
    m.onBackendMessage(bytes.rowDescription([{ name: 'id', typeOid: 23 }, { name: 'note', typeOid: 25 }]), notes);
    expect(() => m.onBackendMessage(bytes.dataRow(['1', 'AC-0001-7788']), cards)).toThrow();
    // Its own description: its rules apply.
    m.onBackendMessage(bytes.rowDescription([{ name: 'id', typeOid: 23 }, { name: 'account_no', typeOid: 25 }]), cards);
    expect(rows(m.onBackendMessage(bytes.dataRow(['1', 'AC-0001-7788']), cards))).toEqual(['1', '**-****-****']);
  });

  it("another statement's plan of the same shape but other types: a binary int8 PAN is still found (the plan is not used)", () => {
    const m = new PgMasker({ config: config() });
    m.onBackendMessage(bytes.rowDescription([{ name: 'a', typeOid: 23, format: 1 }, { name: 'b', typeOid: 701, format: 1 }, { name: 'c', typeOid: 23, format: 1 }]), { n: 1 });
    const i32 = Buffer.alloc(4); i32.writeInt32BE(7);
    const out = m.onBackendMessage(bytes.dataRow([i64(4111111111111111n), i64(5555555555554444n), i32]), { n: 2 });
    expect(rows(out)).toEqual([null, null, i32.toString('latin1')]);
  });

  it('a row with no plan of its shape (the last RowDescription had another column count): int8, float8 and numeric PANs become NULL', () => {
    const m = new PgMasker({ config: config() });
    const f8 = (x: number) => { const b = Buffer.alloc(8); b.writeDoubleBE(x); return b; };
    // numeric_send of 5555555555554444: ndigits 4, weight 3, digits 5555 5555 5555 4444
    const num = Buffer.from('000400030000000015b315b315b3115c', 'hex');
    m.onBackendMessage(bytes.rowDescription([{ name: 'only', typeOid: 25 }]), { n: 1 });
    const out = m.onBackendMessage(bytes.dataRow([i64(4111111111111111n), f8(5555555555554444), num, i64(42n), f8(1.5)]), { n: 2 });
    expect(rows(out)).toEqual([null, null, null, i64(42n).toString('latin1'), f8(1.5).toString('latin1')]);
    expect(m.takeCounts()).toEqual({ pan: 3, binary_null: 3 });
  });

  it('a float8 column in text format: a PAN printed in exponent form becomes NULL, other numbers stay', () => {
    const m = new PgMasker({ config: config() });
    const s = { n: 1 };
    m.onBackendMessage(bytes.rowDescription([{ name: 'card', typeOid: 701 }, { name: 'amount', typeOid: 701 }, { name: 'f4', typeOid: 700 }]), s);
    expect(rows(m.onBackendMessage(bytes.dataRow(['4.111111111111111e+15', '250.75', '1.5e+15']), s))).toEqual([null, '250.75', '1.5e+15']);
    expect(rows(m.onBackendMessage(bytes.dataRow(['-5.555555555554444e+15', '1e+15', '3']), s))).toEqual([null, '1e+15', '3']);
    expect(m.takeCounts()).toEqual({ pan: 2, binary_null: 2 });
  });

  it('a binary float8 column holding a PAN (a card number kept as double precision) becomes NULL', () => {
    const m = new PgMasker({ config: config() });
    const f8 = (x: number) => { const b = Buffer.alloc(8); b.writeDoubleBE(x); return b; };
    const s = { n: 1 };
    m.onBackendMessage(bytes.rowDescription([{ name: 'card', typeOid: 701, format: 1 }, { name: 'amount', typeOid: 701, format: 1 }]), s);
    expect(rows(m.onBackendMessage(bytes.dataRow([f8(4111111111111111), f8(250.75)]), s))).toEqual([null, f8(250.75).toString('latin1')]);
    expect(m.onBackendMessage(bytes.dataRow([f8(12.5), f8(99.99)]), s)).toBeNull();
  });
});

describe('PgMasker and track data', () => {
  it('masks track 1 and track 2 data whole (SAD), not only the PAN', () => {
    const m = new PgMasker({ config: config() });
    m.onBackendMessage(bytes.rowDescription([{ name: 'raw' }, { name: 'other' }]));
    const t2 = `;${PAN}=25121011234567890?`;
    const t1 = `%B${PAN}^DOE/JOHN^2512101123456789?`;
    const [a, b] = rows(m.onBackendMessage(bytes.dataRow([`swipe ${t2} ok`, t1])));
    expect(a).toBe(`swipe ${'*'.repeat(t2.length)} ok`);
    expect(b).toMatch(/^\*+$/);
    expect(m.takeCounts()).toEqual({ sad: 2 });
    // Not track data: a Luhn-invalid number before '=' is left alone.
    expect(m.onBackendMessage(bytes.dataRow(['x=1234567812345678=2512', 'y']))).toBeNull();
  });

  it('masks track data whole also where the detector alone finds no card number (its format code glued to a word)', () => {
    // `9ZB4111…`: the PAN reads as the tail of an identifier, so findPans finds nothing; track 1 still matches from the B.
    const t1 = `B${PAN}^DOE/JOHN^2512101123456789?`;
    const m = new PgMasker({ config: config() });
    m.onBackendMessage(bytes.rowDescription([{ name: 'raw' }]));
    expect(rows(m.onBackendMessage(bytes.dataRow([`9Z${t1}`])))).toEqual([`9Z${'*'.repeat(t1.length)}`]);
    expect(m.takeCounts()).toEqual({ sad: 1 });
    m.onBackendMessage(bytes.copyOutResponse(0, [0]));
    const out = m.onBackendMessage(bytes.copyData(`9Z${t1}\n`));
    expect(out!.subarray(5).toString('latin1')).toBe(`9Z${'*'.repeat(t1.length)}\n`);
  });

  it('masks track data whole in text COPY rows too, and forwards clean rows untouched', () => {
    const m = new PgMasker({ config: config() });
    m.onBackendMessage(bytes.copyOutResponse(0, [0, 0]));
    const t1 = `%B${PAN}^DOE/JOHN^2512101123456789?`;
    const t2 = `;${PAN}=25121011234567890?`;
    for (const [row, rule] of [[`1\t${t1}\n`, 'sad'], [`2\t${t2}\n`, 'sad'], [`3\tcard ${PAN}\n`, 'pan']] as const) {
      const out = m.onBackendMessage(bytes.copyData(row));
      expect(out, row).not.toBeNull();
      expect(out!.subarray(5).toString('latin1')).not.toContain(PAN.slice(6, 12));
      expect(m.takeCounts()).toEqual({ [rule]: 1 });
    }
    expect(m.onBackendMessage(bytes.copyData('4\tx=1234567812345678=2512 plain\n'))).toBeNull();
    expect(m.takeCounts()).toEqual({});
  });
});

describe('PgMasker COPY with announced columns (expectCopy)', () => {
  const cols = [{ name: 'id' }, { name: 'pan' }, { name: 'code', qualified: 'public.cards.cvv' }, { name: 'note' }];
  it('text format: SAD columns hidden, NULL kept, content still masked', () => {
    const m = new PgMasker({ config: config() });
    const stmt = { n: 1 };
    m.expectCopy(stmt, cols);
    const out = m.onBackendMessage(bytes.copyData(`1\t${PAN}\t123\tx\n`), stmt)!.subarray(5).toString();
    expect(out).toBe('1\t************1111\t***\tx\n');
    expect(m.onBackendMessage(bytes.copyData('2\t\\N\t\\N\ty\n'), stmt)).toBeNull();
    // Another statement's COPY does not use this column list.
    expect(m.onBackendMessage(bytes.copyData('3\ta\t123\tz\n'), { n: 2 })).toBeNull();
  });

  it('text and CSV: a card number in a number column (int8, numeric, float8) is written as NULL, a text one masked; other numbers kept', () => {
    const m = new PgMasker({ config: config() });
    const stmt = { n: 1 };
    const typed = [{ name: 'b', typeOid: 20 }, { name: 'n', typeOid: 1700 }, { name: 'f', typeOid: 701 }, { name: 't', typeOid: 25 }];
    m.expectCopy(stmt, typed);
    expect(m.onBackendMessage(bytes.copyData(`${PAN}	${PAN}	4.111111111111111e+15	${PAN}
`), stmt)!.subarray(5).toString()).toBe('\\N\t\\N\t\\N\t************1111\n');
    expect(m.takeCounts()).toEqual({ pan: 4, binary_null: 3 });
    expect(m.onBackendMessage(bytes.copyData('42\t3.5\t1e+15\tx\n'), stmt)).toBeNull();
    m.expectCopy(stmt, typed, { csv: true, null: 'NIL' });
    expect(m.onBackendMessage(bytes.copyData(`${PAN},1,2,"${PAN}"\n`), stmt)!.subarray(5).toString()).toBe('NIL,1,2,"************1111"\n');
  });

  it('CSV with header and quoted fields, and a custom delimiter', () => {
    const m = new PgMasker({ config: config({ rules: [{ name: 'notes', columns: ['note'], format: 'null' }] }) });
    const stmt = { n: 1 };
    m.expectCopy(stmt, cols, { csv: true, header: true });
    expect(m.onBackendMessage(bytes.copyData('id,pan,code,note\n'), stmt)).toBeNull();
    expect(m.onBackendMessage(bytes.copyData(`1,"${PAN}","12""3",secret\n`), stmt)!.subarray(5).toString()).toBe('1,"************1111","*****",\n');
    m.expectCopy(stmt, cols, { csv: true, delimiter: '|' });
    expect(m.onBackendMessage(bytes.copyData('1|a|999|b\n'), stmt)!.subarray(5).toString()).toBe('1|a|***|\n');
    expect(() => m.onBackendMessage(bytes.copyData('1|a\n'), stmt)).toThrow();
  });

  it('binary format: fields under a rule become NULL', () => {
    const m = new PgMasker({ config: config() });
    const stmt = { n: 1 };
    m.expectCopy(stmt, cols.slice(0, 3));
    const header = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), bytes.i32(0), bytes.i32(0)]);
    const tuple = Buffer.concat([bytes.i16(3), bytes.i32(1), Buffer.from('1'), bytes.i32(1), Buffer.from('a'), bytes.i32(3), Buffer.from('123')]);
    const out = m.onBackendMessage(bytes.copyData(Buffer.concat([header, tuple])), stmt)!.subarray(5);
    expect(out.subarray(19).equals(Buffer.concat([bytes.i16(3), bytes.i32(1), Buffer.from('1'), bytes.i32(1), Buffer.from('a'), bytes.i32(-1)]))).toBe(true);
    expect(m.takeCounts()).toEqual({ sad: 1, binary_null: 1 });
  });
});

describe('PgMasker: SQL loread chunks', () => {
  const hex = (t: string) => `\\x${Buffer.from(t, 'latin1').toString('hex')}`;
  const unhex = (v: string | null) => (v === null ? null : Buffer.from(v.slice(2), 'hex').toString('latin1'));

  it('a row of another statement between two chunks does not end the reading: the next chunk is read after the one before', () => {
    const read1 = { sql: 'select loread($1, $2)' };
    const read2 = { sql: 'select loread($1, $2)' };
    const other = { sql: 'select 1' };
    const m = new PgMasker({ config: config(), loread: (s) => (s === read1 || s === read2 ? '0' : undefined) });
    m.onBackendMessage(bytes.rowDescription([{ name: 'loread', typeOid: 17 }]), read1);
    expect(unhex(rows(m.onBackendMessage(bytes.dataRow([hex('xx 41111111')]), read1))[0]!)).toBe('xx ********');
    m.onBackendMessage(bytes.rowDescription([{ name: '?column?', typeOid: 23 }]), other);
    expect(m.onBackendMessage(bytes.dataRow(['1']), other)).toBeNull();
    m.onBackendMessage(bytes.rowDescription([{ name: 'loread', typeOid: 17 }]), read2);
    expect(unhex(rows(m.onBackendMessage(bytes.dataRow([hex('11111111 yy')]), read2))[0]!)).toBe('****1111 yy');
  });

  it('with no Describe, a row is read in the format its Bind asked for: binary bytes that spell hex are not hex text, escape text is text', () => {
    // Rows an Execute sends with no RowDescription (the client asked none): the masker has no plan, only the
    // statement's result formats. Each must be masked exactly as with the description the server would have sent.
    const spelled = Buffer.from(hex(`ab ${PAN} cd`), 'latin1'); // binary content that happens to read `\x6162…`
    const escaped = `\\000ab ${PAN}`; // escape output: a backslash escape, then a card number
    for (const [value, format] of [[spelled, 1], [escaped, 0]] as const) {
      const bare = { sql: 'select loread($1, $2)', resultFormats: [format] };
      const described = { sql: 'select loread($1, $2)' };
      const loread = (s: object) => (s === bare || s === described ? '0' : undefined);
      const withPlan = new PgMasker({ config: config(), loread });
      withPlan.onBackendMessage(bytes.rowDescription([{ name: 'loread', typeOid: 17, format }]), described);
      const expected = withPlan.onBackendMessage(bytes.dataRow([value]), described);
      const got = new PgMasker({ config: config(), loread }).onBackendMessage(bytes.dataRow([value]), bare);
      expect(got === null ? null : got.toString('latin1')).toBe(expected === null ? null : expected.toString('latin1'));
    }
  });

  it('under hmac, a chunk holding a card number keeps its length (stars), not NULL, and the edges are masked as under any format', () => {
    const stmt = { sql: 'select loread($1, $2)' };
    const m = new PgMasker({ config: config({ format: 'hmac' }), hmacKey: Buffer.alloc(32, 7), loread: (s) => (s === stmt ? '0' : undefined) });
    m.onBackendMessage(bytes.rowDescription([{ name: 'loread', typeOid: 17 }]), stmt);
    const whole = `ab ${PAN} cd 5555`;
    expect(unhex(rows(m.onBackendMessage(bytes.dataRow([hex(whole)]), stmt))[0]!)).toBe('ab **************** cd ****');
    // A statement that is not a loread leaves the value to the session's format (an hmac token in text).
    const other = {};
    m.onBackendMessage(bytes.rowDescription([{ name: 'note' }]), other);
    expect(rows(m.onBackendMessage(bytes.dataRow([`ab ${PAN}`]), other))[0]).toMatch(/^ab \S+$/);
    expect(rows(m.onBackendMessage(bytes.dataRow([`ab ${PAN}`]), other))[0]).not.toContain('4111');
  });
});

/**
 * Text the server sends in a client_encoding other than UTF-8 (protocol "Character Set Support": the server
 * converts every text value, message and COPY row to the client's encoding). The detector reads ASCII digits,
 * spaces and dashes, which are the same bytes in every encoding a session may have (the ones where they are not,
 * SJIS, BIG5, GBK, …, are refused: startup-params.ts), and the full-width digits and Unicode spaces and dashes of
 * wide-text.ts as UTF-8 only: under LATIN1 or WIN1252 a card number grouped by no-break spaces arrives as
 * `4111 A0 1111 A0 …`, under WIN1252 one grouped by en dashes as `4111 96 1111 …`, under EUC_JP a full-width one as
 * `A3 B4 A3 B1 …`, and each went to the client unmasked (a driver decodes it, the user reads the card number).
 *
 * So a value holding a byte of 0x80 or more is read in the session's encoding as well, and a card number found
 * there is masked in the original bytes: each digit hidden becomes `*` in every byte it takes (an ASCII byte, the
 * same in every encoding; a full-width digit of two EUC bytes becomes `**`), separators and kept digits stay;
 * `hmac` puts its token (ASCII) in place of the card number. An encoding pcigate has no reader for (EUC_TW,
 * MULE_INTERNAL) cannot be read for card numbers: a value with such a byte is refused (fail closed).
 */
import { TextDecoder } from 'node:util';
import { digitsOf, forEachHiddenDigit, hmacInPlace, mergeSpans } from './mask-format.js';
import type { MaskStyle } from './mask-format.js';
import { findPans } from './pan-detector.js';
import type { DetectOptions } from './pan-detector.js';

/** How to read text in a session's client_encoding. */
export interface LegacyEncoding {
  /** The encoding's name as the server reports it (ParameterStatus client_encoding). */
  name: string;
  /** A reader of its text; undefined when pcigate has none. */
  decode: ((v: Uint8Array) => string) | undefined;
  /** The WHATWG label of a multibyte encoding, to find where each character's bytes are; undefined: one byte each. */
  multibyte: string | undefined;
  /** Another encoding the same text is read in as well (a SQL_ASCII database's bytes, in the one the client says it reads). */
  also?: LegacyEncoding;
}

/** PostgreSQL's single-byte encodings by their WHATWG labels (pg_enc2name_tbl in encnames.c). */
const SINGLE_BYTE: Record<string, string> = {
  LATIN2: 'iso-8859-2', LATIN3: 'iso-8859-3', LATIN4: 'iso-8859-4', LATIN5: 'windows-1254', LATIN6: 'iso-8859-10',
  LATIN7: 'iso-8859-13', LATIN8: 'iso-8859-14', LATIN9: 'iso-8859-15', ISO_8859_5: 'iso-8859-5', ISO_8859_6: 'iso-8859-6',
  ISO_8859_7: 'iso-8859-7', ISO_8859_8: 'iso-8859-8', WIN866: 'ibm866', WIN874: 'windows-874', KOI8R: 'koi8-r', KOI8U: 'koi8-u',
  WIN1250: 'windows-1250', WIN1251: 'windows-1251', WIN1253: 'windows-1253', WIN1254: 'windows-1254', WIN1255: 'windows-1255',
  WIN1256: 'windows-1256', WIN1257: 'windows-1257', WIN1258: 'windows-1258',
};
/** The multibyte ones a reader exists for (EUC_CN is a subset of GBK; EUC_JIS_2004 reads as EUC-JP where the two agree). */
const MULTIBYTE: Record<string, string> = { EUC_JP: 'euc-jp', EUC_JIS_2004: 'euc-jp', EUC_CN: 'gbk', EUC_KR: 'euc-kr' };

const latin1 = (v: Uint8Array): string => Buffer.from(v.buffer, v.byteOffset, v.length).toString('latin1');
// Node's windows-1252 reader reads 0x80–0x9F as ISO-8859-1 control characters; 0x96 is WIN1252's en dash (U+2013),
// the only character of that range the detector reads (wide-text.ts).
const win1252 = (v: Uint8Array): string => latin1(v).replace(/\u0096/g, '\u2013');
const SQL_ASCII = /^sql_?ascii$/i;

/**
 * How to read text in `client` (with `server` the server_encoding: a SQL_ASCII client gets text in it, and a
 * SQL_ASCII server sends the stored bytes as they are); undefined when it is UTF-8.
 */
export function legacyEncoding(client: string, server: string): LegacyEncoding | undefined {
  // A SQL_ASCII server converts nothing: whatever the client_encoding, it gets the bytes as they were stored, in
  // whichever encoding their writer used (LATIN1 or WIN1252, as often as not, in such a database). They are read
  // as WIN1252 too: in valid UTF-8 its A0 and 96 never follow a digit, so nothing UTF-8 reads otherwise.
  // A client that declares another encoding (PGCLIENTENCODING=EUC_JP) reads the stored bytes in it: so are they.
  if (SQL_ASCII.test(server)) {
    const declared = SQL_ASCII.test(client) ? undefined : legacyEncoding(client, 'UTF8');
    return { name: 'SQL_ASCII', decode: win1252, multibyte: undefined, ...(declared && declared.name !== 'WIN1252' ? { also: declared } : {}) };
  }
  const name = (SQL_ASCII.test(client) ? server : client).toUpperCase();
  if (name === 'UTF8' || name === 'UNICODE') return undefined;
  if (name === 'LATIN1') return { name, decode: latin1, multibyte: undefined };
  if (name === 'WIN1252') return { name, decode: win1252, multibyte: undefined };
  // ISO-8859-16 has no reader in Node; its only character the detector reads is the no-break space at 0xA0, as in LATIN1.
  if (name === 'LATIN10') return { name, decode: latin1, multibyte: undefined };
  const label = SINGLE_BYTE[name] ?? MULTIBYTE[name];
  const reader = label === undefined ? undefined : textDecoder(label);
  return { name, decode: reader ? (v) => reader.decode(v) : undefined, multibyte: MULTIBYTE[name] };
}

function textDecoder(label: string): TextDecoder | undefined {
  try {
    return new TextDecoder(label);
  } catch {
    return undefined; // a Node built without that encoding: no reader, fail closed
  }
}

/** Whether buf[from, to) holds a byte of 0x80 or more. */
export function hasHighByte(buf: Uint8Array, from = 0, to = buf.length): boolean {
  for (let i = from; i < to; i++) if (buf[i]! >= 0x80) return true;
  return false;
}

const STAR = 0x2a;

/**
 * Masks the card numbers of `value` read in `enc` that its bytes read as ASCII or UTF-8 do not show (wide-text.ts
 * characters in another encoding); returns `value` itself when there is none. `counted(n)`: n card numbers masked.
 * Throws when `enc` has no reader and the value holds a byte it would have to read.
 */
export function maskLegacyText(value: Uint8Array, enc: LegacyEncoding, style: MaskStyle, detect: DetectOptions, counted: (n: number) => void): Uint8Array {
  if (!hasHighByte(value)) return value;
  if (!enc.decode) throw new Error(`client_encoding ${enc.name}: pcigate cannot read its characters for card numbers; use UTF8`);
  const text = enc.decode(value);
  const utf8 = Buffer.from(text, 'utf8');
  const spans = findPans(utf8, detect);
  if (spans.length === 0) return value;
  // The character each UTF-8 byte of `utf8` belongs to; `chars`: how many characters the text has.
  const charOf = new Int32Array(utf8.length);
  let chars = 0;
  for (let i = 0; i < utf8.length; i++) {
    if ((utf8[i]! & 0xc0) !== 0x80) chars++;
    charOf[i] = chars - 1;
  }
  let bytes: Int32Array | undefined;
  try {
    bytes = enc.multibyte === undefined ? undefined : charBytes(value, enc.multibyte, chars);
  } catch {
    // Where its characters are cannot be told (Node's EUC-JP reader, fed a byte at a time, refuses an `8F xx` before
    // ASCII that it reads whole): a card number is there, so every digit and every byte beyond ASCII is starred.
    counted(mergeSpans(spans).length);
    return value.map((b) => (b >= 0x80 || (b >= 0x30 && b <= 0x39) ? STAR : b));
  }
  // Character k is value[at(k), end(k)): one byte each in a single-byte encoding.
  const at = (k: number) => (bytes ? bytes[2 * k]! : k);
  const end = (k: number) => (bytes ? bytes[2 * k + 1]! : k + 1);
  const merged = mergeSpans(spans);
  counted(merged.length);
  if (style.format === 'hmac') {
    return hmacInPlace(value, style.hmacKey, merged.map((s) => ({ from: at(charOf[s.start]!), to: end(charOf[s.end - 1]!), digits: digitsOf(utf8, s.start, s.end) })));
  }
  const out = new Uint8Array(value);
  // A digit hidden becomes `*` in every byte of its character (an ASCII byte, the same in every encoding).
  const star = (i: number): void => { out.fill(STAR, at(charOf[i]!), end(charOf[i]!)); };
  for (const s of spans) forEachHiddenDigit(utf8, s, style.format, star, undefined);
  return out;
}

/**
 * Where each character of a multibyte text is in its bytes: [start, end) pairs, read as the decoder emits them one
 * byte at a time (characters emitted together, a bad sequence and what followed it, share all their bytes, so
 * hiding one hides all). Throws when that reading does not give the `n` characters the whole reading gave.
 */
function charBytes(value: Uint8Array, label: string, n: number): Int32Array {
  const d = new TextDecoder(label);
  const out = new Int32Array(2 * n);
  let k = 0;
  let from = 0;
  const emit = (s: string, to: number) => {
    if (s.length === 0) return;
    for (let c = Array.from(s).length; c > 0; c--) {
      if (k >= n) throw new Error(`client text in ${label} read two ways`);
      out[2 * k] = from;
      out[2 * k + 1] = to;
      k++;
    }
    from = to;
  };
  for (let i = 0; i < value.length; i++) emit(d.decode(value.subarray(i, i + 1), { stream: true }), i + 1);
  emit(d.decode(), value.length);
  if (k !== n) throw new Error(`client text in ${label} read two ways`);
  return out;
}

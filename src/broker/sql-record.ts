/**
 * What of a statement goes into the audit log: its SQL with secrets redacted and PAN masked, its bind
 * parameters rendered safely (text capped, binary as text when its type is known, else capped hex), and a
 * coarse kind. ARCHITECTURE.md §4: the log never holds a secret (passwords in ALTER ROLE/CREATE USER … PASSWORD, connection strings) and
 * never an unmasked PAN.
 */
import { CUT_MARGIN, defaultPanMasker, maskCut } from '../mask/pan-masker.js';
import type { PanMasker } from '../mask/pan-masker.js';
import { MAX_PAN_DIGITS, MIN_PAN_DIGITS } from '../mask/pan-detector.js';
import { digitsArePan, structuredOrPan } from '../mask/pg-values.js';
import { renderBinaryValue } from '../pg/protocol/binary-values.js';
import { classify, type StatementInfo } from '../policy/classify.js';
import { literalKey, withoutStringTexts } from '../policy/literal-key.js';
import { redactStatementSecrets, valueSecretsRedacted } from '../policy/redact-statement-secrets.js';
import { insertTargetsWithoutColumns, paramsMayBeSecret } from '../policy/redact-by-tokens.js';
import { NAMES_SECRET, paramNamesSecret } from '../policy/redact-content.js';
import type { TableColumns } from '../policy/redact-by-tokens.js';
import type { BindParam } from '../pg/proxy/hooks.js';

const MAX_SQL = 64 * 1024;
const MAX_TEXT_PARAM = 1024;
const MAX_BINARY_PARAM = 256;

/** Redacts passwords and masks PAN in SQL text for the log and the transcript. */
export function redactSql(sql: string, masker: PanMasker = defaultPanMasker(), tables?: TableColumns): string {
  // Cut after masking (maskCut): a card number across the cut is masked whole, not left as its first digits. Secrets
  // are redacted in the whole text first: a literal across the cut would be left unclosed, and read otherwise.
  return maskCut(redactStatementSecrets(sql, undefined, tables), MAX_SQL, (n) => `[truncated ${n - MAX_SQL} chars]`, (t) => masker.maskText(t));
}

export type RenderedParam = string | { binary: string; bytes: number } | null;

/**
 * paramsMayBeSecret (redact-by-tokens.ts) for a statement run through the proxy: an INSERT's tables come from its
 * shape, found once per shape; any other text has none, and costs no lookup. Its bind parameters are withheld from the
 * record, and its sampled result rows from the transcript.
 */
export function statementMayHoldSecret(sql: string): boolean {
  const known = withNames().mayHold;
  let may = known.get(sql);
  if (may === undefined) {
    // (Asked at every Execute of a prepared statement and for its rows; a text naming a secret is read with the
    // scanner, ~20–45 µs: answered once per text.)
    may = paramsMayBeSecret(sql, /insert/i.test(sql) ? statementShape(sql).insertTargets : []);
    remember(known, sql, may);
  }
  return may;
}

/**
 * Renders bind parameters for the log: text capped and PAN-masked; binary in the text form of its declared
 * type (`types`: the OIDs the client's Parse gave, 0 = left to the server) when that type is a common scalar
 * (binary-values.ts), then capped and PAN-masked like text; any other binary as capped hex, unless it could hold
 * a PAN (ASCII digits, or 8 bytes or a numeric layout whose digits are one): hex is not masking, anyone can
 * read an int8 PAN back out of it, so those are '[masked]'. NULL as null.
 */
export function renderParams(params: BindParam[], sql: string, types: readonly number[] = [], masker: PanMasker = defaultPanMasker()): RenderedParam[] {
  const withhold = params.length > 0 && (statementMayHoldSecret(sql) || paramNamesSecret(params));
  return params.map((p, i) => {
    if (p === null) return null;
    if (withhold) return '[redacted]';
    if (p.format === 'text') return textParam(p.value, masker);
    const text = types[i] ? renderBinaryValue(types[i]!, Buffer.from(p.value.buffer, p.value.byteOffset, p.value.byteLength)) : undefined;
    if (text !== undefined) return textParam(text, masker);
    // (a token sent as bytes, text bound in binary with no type declared, is as readable in hex: read past the bytes
    // shown, so that one they cut is found whole)
    const window = Buffer.from(p.value.subarray(0, MAX_BINARY_PARAM + CUT_MARGIN)).toString('latin1');
    if (valueSecretsRedacted(window) !== window) return { binary: '[redacted]', bytes: p.value.length };
    const latin = window.slice(0, MAX_BINARY_PARAM); // (latin1: a character per byte)
    const hex = Buffer.from(p.value.subarray(0, MAX_BINARY_PARAM)).toString('hex');
    return { binary: masker.maskText(latin) !== latin || utf8HoldsPan(p.value, masker) || binaryHoldsPan(p.value, masker) || bcdMayHoldPan(hex, masker) ? '[masked]' : hex, bytes: p.value.length };
  });
}

/**
 * Whether the hex of a binary value could spell a card number in packed BCD (two digits a byte: EMV tag 5A,
 * ISO 8583 fields, HSM formats): a run of decimal hex digits holding 13–19 in a row that pass the detector's
 * checks (Luhn, issuer range), wherever they start in the run — BCD is padded with `F` and framed by tags and
 * lengths that are digits too, so the detector's rule for text (not part of a longer run) does not apply.
 * The hex of `41 11 11 11 11 11 11 11` is the card number itself.
 */
function bcdMayHoldPan(hex: string, masker: PanMasker): boolean {
  for (const m of hex.matchAll(/[0-9]{13,}/g)) {
    const run = m[0];
    for (let i = 0; i + MIN_PAN_DIGITS <= run.length; i++) {
      for (let n = MIN_PAN_DIGITS; n <= MAX_PAN_DIGITS && i + n <= run.length; n++) if (digitsArePan(run.slice(i, i + n), masker.detect)) return true;
    }
  }
  return false;
}

/**
 * Whether a binary value of a type not rendered could hold a PAN in a numeric layout, as the result masker reads
 * one (pg-values.ts structuredOrPan): an int8, money (a count of cents), float8 or numeric, or an array, record or
 * range with such an element. A float8 or money card number, or an int8[] of them, went to the log as hex.
 */
function binaryHoldsPan(v: Uint8Array, masker: PanMasker): boolean {
  const found = structuredOrPan(v, { content: { format: 'full' }, detect: masker.detect, hmacKey: undefined, counts: {} });
  return found !== undefined && found !== v;
}

/**
 * Whether the bytes kept (and a margin past them: a card number across the cut) read as UTF-8 text hold a card
 * number: a text sent in binary without a type (`$1::text`, type 0) in full-width digits or grouped by no-break
 * spaces (`EF BC 94 …`, `34 31 31 31 C2 A0 …`) does not read as one in latin1, and its hex went to the log.
 */
function utf8HoldsPan(v: Uint8Array, masker: PanMasker): boolean {
  const text = Buffer.from(v.buffer, v.byteOffset, Math.min(v.length, MAX_BINARY_PARAM + CUT_MARGIN)).toString('utf8');
  return masker.maskText(text) !== text;
}

/**
 * A text parameter as recorded: read as a literal's text is (valueSecretsRedacted: a URL's password, a token or an
 * HTTP credential known by its form, a private key …), then PAN masked and capped.
 */
function textParam(value: string, masker: PanMasker): string {
  return maskCut(valueSecretsRedacted(value), MAX_TEXT_PARAM, (n) => `[${n} chars]`, (t) => masker.maskText(t));
}

const KINDS: Record<string, string> = {
  select: 'read', show: 'read', explain: 'read', values: 'read', table: 'read', fetch: 'read', move: 'read',
  insert: 'write', update: 'write', delete: 'write', merge: 'write', copy: 'copy', truncate: 'write',
  create: 'ddl', alter: 'ddl', drop: 'ddl', comment: 'ddl', reindex: 'ddl', cluster: 'ddl', vacuum: 'maintenance', analyze: 'maintenance',
  grant: 'dcl', revoke: 'dcl',
  begin: 'tcl', start: 'tcl', commit: 'tcl', end: 'tcl', rollback: 'tcl', savepoint: 'tcl', release: 'tcl', abort: 'tcl', prepare: 'tcl',
  set: 'session', reset: 'session', discard: 'session', listen: 'notify', unlisten: 'notify', notify: 'notify',
  declare: 'cursor', close: 'cursor', deallocate: 'session', do: 'procedural', call: 'procedural', lock: 'lock',
};

/**
 * The leading command word and a coarse kind, for the record only (policy classifies with the real
 * parser). Leading comments and parentheses are skipped; WITH … is classified by its main verb.
 */
export function statementKind(sql: string): { command: string; kind: string } {
  const s = sql.replace(/^(?:\s+|--[^\n]*\n?|\/\*[\s\S]*?\*\/|\()+/, '');
  const word = (/^[A-Za-z]+/.exec(s)?.[0] ?? '').toLowerCase();
  if (word === 'with') {
    const verb = /\b(insert|update|delete|merge)\b/i.exec(s)?.[1]?.toLowerCase();
    return { command: 'with', kind: verb ? 'write' : 'read' };
  }
  if (!word) return { command: '', kind: 'empty' };
  return { command: word, kind: KINDS[word] ?? 'other' };
}

/** Functions a read may call and still be a read (no side effects). Anything else counts as a write. */
const PURE_FUNCTIONS = new Set([
  'count', 'sum', 'min', 'max', 'avg', 'coalesce', 'nullif', 'greatest', 'least', 'lower', 'upper', 'length',
  'substr', 'substring', 'trim', 'abs', 'round', 'floor', 'ceil', 'now', 'current_date', 'current_timestamp',
  'date_trunc', 'extract', 'to_char', 'cast', 'exists', 'in', 'any', 'all', 'array_agg', 'string_agg', 'md5',
  'concat', 'format', 'generate_series', 'row_number', 'rank', 'over', 'filter', 'values', 'select', 'where', 'and', 'or', 'not',
]);

/**
 * True for a statement that cannot change anything: SELECT/SHOW/TABLE/VALUES without INTO, locking
 * clauses, or calls to any function outside a small side-effect-free list (a SELECT can call a function
 * that writes). Such a read may be forwarded while its record is written, its response held until the
 * record is durable; every other statement waits for its record before it is forwarded. `command`:
 * statementKind(sql).command, when the caller has it already; `text`: the statement's own text when `sql` is
 * its literal key (policy/literal-key.ts). Read twice: by words here, and then by the real parser (parsedPureRead),
 * which sees calls the words do not (`"f"(…)`, `f/**\/(…)`, after an `E'\''`, in a dollar quote). FETCH is no
 * pure read: it runs its cursor's query, which may call anything.
 */
export function isPureRead(sql: string, command = statementKind(sql).command, text = sql): boolean {
  if (!['select', 'show', 'table', 'values'].includes(command)) return false;
  const s = withoutStringTexts(sql);
  if (/\b(into|for\s+(update|share|no\s+key\s+update|key\s+share)|nextval|setval|pg_\w+|dblink\w*|lo_\w+)\b/i.test(s)) return false;
  if (s.includes(';') && s.trim().replace(/;\s*$/, '').includes(';')) return false;
  if (s.includes('(')) {
    for (const name of calledNames(s)) {
      if (!PURE_FUNCTIONS.has(name.toLowerCase())) return false;
    }
  }
  return parsedPureRead(text);
}

/**
 * The parse tree's word on a read (classify.ts): one SELECT (TABLE and VALUES are SELECTs) or SHOW that is a read
 * only, calls no function outside the side-effect-free built-ins (safe-functions.ts), no field written as a
 * call (`(t).f`), and reads no constant for its meaning. Not read: what a view, an operator or a type's
 * input function runs (docs/pg-proxy.md). A text the parser refuses (or before it is loaded) is no pure read.
 */
function parsedPureRead(text: string): boolean {
  let statements: StatementInfo[];
  try {
    statements = classify(text).statements;
  } catch {
    return false;
  }
  if (statements.length !== 1) return false;
  const st = statements[0]!;
  if (st.node === 'VariableShowStmt') return true;
  return st.node === 'SelectStmt' && st.classes.every((c) => c === 'read') && st.userFunctions.length === 0 && !st.fieldCalls?.length && !st.readsConstants;
}

const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_.]/;
const SPACE = /\s/;

/**
 * Each name followed by `(` in `s`, as /([A-Za-z_][A-Za-z0-9_.]*)\s*\(/g finds them, in one pass: that RegExp
 * read each run of name characters to its end again from every letter in it when no `(` followed, and a
 * client's 256 KiB `SELECT aaaa…, (1)` took 42 s of the event loop before policy saw it. A run that no `(`
 * follows is skipped whole (from a letter inside it the name would end at the same place, and fail the same).
 */
function* calledNames(s: string): Generator<string> {
  let i = 0;
  while (i < s.length) {
    if (!NAME_START.test(s[i]!)) { i++; continue; }
    let end = i + 1;
    while (end < s.length && NAME_CHAR.test(s[end]!)) end++;
    let k = end;
    while (k < s.length && SPACE.test(s[k]!)) k++;
    if (s[k] === '(') {
      yield s.slice(i, end);
      i = k + 1;
    } else i = end;
  }
}

/** What a statement's records say about its SQL text. */
export interface StatementFacts { sql: string; command: string; kind: string; pureRead: boolean }
interface Shape {
  command: string; kind: string; pureRead: boolean;
  /** The tables its INSERTs without a column list write (redact-by-tokens.ts): the same for every text of one shape. */
  insertTargets: readonly string[];
}

const SHAPES = new Map<string, Shape>();
/**
 * What is cached per text and read with NAMES_SECRET (redacted texts per masker, statementMayHoldSecret's answers), for
 * the NAMES_SECRET it was read with: a configuration's SAD names make a new one (nameSadColumns), and these start over.
 */
let byNames: { names: RegExp; facts: WeakMap<PanMasker, Map<string, StatementFacts>>; mayHold: Map<string, boolean> } | undefined;
function withNames(): NonNullable<typeof byNames> {
  if (byNames?.names !== NAMES_SECRET) byNames = { names: NAMES_SECRET, facts: new WeakMap(), mayHold: new Map() };
  return byNames;
}
const FACTS_MAX = 1024;
const FACTS_MAX_TEXT = 4096;

/** Bounded: clients that never repeat a text (simple protocol with constants) cannot grow it. */
function remember<V>(m: Map<string, V>, k: string, v: V): void {
  if (k.length > FACTS_MAX_TEXT) return;
  if (m.size >= FACTS_MAX) m.clear();
  m.set(k, v);
}

/**
 * The redacted SQL, command word, kind and whether it is a pure read, cached per text. Command, kind and
 * pure-read come from the text with its constants replaced (policy/literal-key.ts) whenever there is such
 * a key, so they are the same for every text of one shape — computed once per shape — and no word inside
 * a constant counts (`WITH x AS (SELECT 'delete') SELECT …` is a read); the redaction runs on every text.
 */
export function statementFacts(sql: string, masker: PanMasker = defaultPanMasker(), columnsOf?: TableColumns['columnsOf']): StatementFacts {
  // Redacted texts are cached per masker (a deployment's masking.networks decides what is masked), but for one
  // whose redaction asked the catalog (an INSERT without a column list, `columnsOf`): its table may change.
  const cached = withNames().facts;
  let facts = cached.get(masker);
  if (facts === undefined) cached.set(masker, facts = new Map());
  let f = facts.get(sql);
  if (f !== undefined) return f;
  const shape = statementShape(sql);
  const tables: TableColumns | undefined = columnsOf ? { columnsOf, needed: false } : undefined;
  f = { sql: redactSql(sql, masker, tables), command: shape.command, kind: shape.kind, pureRead: shape.pureRead };
  if (!tables?.needed) remember(facts, sql, f);
  return f;
}

/**
 * statementFacts without the redacted text: command word, kind, pure-read and INSERT targets, computed once per shape.
 * For callers that only judge a statement (it redacts nothing, so it costs no masking scan).
 */
export function statementShape(sql: string): Readonly<Shape> {
  // Keyed by the text itself when it has no key: no text holds a NUL, so it never meets a key.
  const basis = literalKey(sql) ?? sql;
  let shape = SHAPES.get(basis);
  if (shape === undefined) {
    const { command, kind } = statementKind(basis);
    // (Read from the text itself: the key's placeholders are not SQL the scanner reads.)
    shape = { command, kind, pureRead: isPureRead(basis, command, sql), insertTargets: insertTargetsWithoutColumns(sql) };
    remember(SHAPES, basis, shape);
  }
  return shape;
}

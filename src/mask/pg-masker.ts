/**
 * PgMasker: masks every backend message that can carry data before it reaches the client (issue 4,
 * deliverables 3, 4 and 9). Message layouts from https://www.postgresql.org/docs/current/protocol-message-formats.html:
 * RowDescription ('T') sets the column plan (and its column names are masked); DataRow ('D'), CopyData ('d', COPY TO in text, csv or
 * binary), ErrorResponse ('E') and NoticeResponse ('N', every field), NotificationResponse ('A', channel
 * and payload), FunctionCallResponse ('V') and ParameterStatus ('S', name and value) are masked. A message is re-encoded only when something was
 * masked; otherwise `null` tells the caller to forward the original bytes.
 *
 * Fail closed: any failure throws MaskError, and the caller must not send that message (the proxy's
 * onBackendMessage contract already drops the message and ends the session on a throw).
 *
 * Wiring into the broker (src/pg/proxy/hooks.ts SessionHooks), a few lines:
 * ```ts
 * const catalog = new ColumnCatalog(lookup, { now: ctx.clock.now });   // once per connection
 * // per session:
 * const masker = new PgMasker({ config: cfg.masking, grants: policy.unmaskGrants(identity, conn), hmacKey, catalog });
 * hooks.onBackendMessage = (frame, stmt) => masker.onBackendMessage(frame, stmt);
 * // per statement, for the log record: detail.masked = masker.takeCounts()
 * ```
 * `lookup` runs against pg_catalog on a side connection (a table's columns: `schema.table.column` by attnum).
 * The hook is synchronous: a column whose source is not in the cache is masked by every qualified rule
 * (fail closed). So the proxy first offers each RowDescription to `prepareRows`, and while the promise it may
 * return is pending holds the frames from there on: the rows are masked by their own tables' rules, and a
 * first query of a table does not come back with every qualified rule on every column (pg_dump's catalog
 * queries, each the first of its table, came back with their OIDs masked). Without a catalog, qualified rules
 * apply to every column of every table.
 */
import { decodeCopyResponse, decodeRowDescription } from '../pg/protocol/backend.js';
import type { FieldDescription } from '../pg/protocol/backend.js';
import type { MaskingConfig } from '../config/sections/masking.js';
import { MaskError } from '../errors.js';
import { ColumnCatalog } from './column-catalog.js';
import type { ColumnLookup } from './column-catalog.js';
import { ColumnRules, leastRevealing } from './column-rules.js';
import type { ColumnRule, StatementReach, StoredReach, UnmaskGrant } from './column-rules.js';
import { maskCopyBinary } from './copy-binary.js';
import { maskCopyTextRow } from './copy-text.js';
import type { CopyTextFormat } from './copy-text.js';
import { mayPrintExponent } from './float-text.js';
import { maskJsonArrayText } from './json-array-text.js';
import { byteaBytes, byteaText, descriptorKey, LOREAD_OID, LoReadStream } from './lo-read.js';
import { legacyEncoding } from './legacy-text.js';
import { findPans } from './pan-detector.js';
import type { PanSpan } from './pan-detector.js';
import type { MaskCounts } from './pan-masker.js';
import { binaryValue, BYTEA_OID, contentText, FLOAT4_OID, FLOAT8_OID, isNumberContainer, isNumberType, leftAsIs, MONEY_OID, NUMERIC_OID, numberTextIsPan, JSON_OID, JSONB_OID, ruleText, withheldPan } from './pg-values.js';
import type { ValueContext, ValueResult } from './pg-values.js';

export type { ColumnLookup } from './column-catalog.js';

/** The longest the proxy holds a result (or a COPY) for its columns' catalog lookup; after it they are masked unresolved. */
export const PREPARE_WAIT_MS = 2000;

export interface PgMaskerOptions {
  config: Pick<MaskingConfig, 'format' | 'networks' | 'rules' | 'sad_columns'>;
  /** The identity's unmask grants on this connection (policy `unmaskGrants`). */
  grants?: readonly UnmaskGrant[];
  /** The resolved `masking.hmac_key`, when a format is hmac. */
  hmacKey?: Uint8Array;
  lookup?: ColumnLookup;
  /** A catalog cache shared by the sessions of one connection (preferred over `lookup`). */
  catalog?: ColumnCatalog;
  /**
   * What a statement names (ColumnReach: its column references, tables, whole-row uses), asked once per
   * statement whose rows have computed columns; without it such columns get content detection only.
   */
  reach?: (stmt: object) => StatementReach;
  /**
   * The descriptor (lo-read.ts descriptorKey) of the large object a statement reads a chunk of by SQL
   * (`SELECT loread($1, $2)`), undefined for any other; without it only libpq's fast-path lo_read is followed.
   */
  loread?: (stmt: object) => string | undefined;
}

interface PlannedColumn {
  rule: ColumnRule | undefined;
  binary: boolean;
  typeOid: number;
  /**
   * Decided once per plan, not per value (#dataRow's hot path): a text value without a rule whose type is read as
   * plain text (not JSON, a json array, a float, money, an array or range of numbers), so it is scanned in place; a numeric only when short
   * (`inPlaceBelow`: a numeric from a float8 may round a PAN's check digit away, numberTextIsPan reads it).
   */
  inPlaceBelow: number;
  /** Its text may hold a float print (mayPrintExponent). */
  exponents: boolean;
}

/** A plan's column and what the hot path needs to know of it (PlannedColumn). */
function planned(rule: ColumnRule | undefined, binary: boolean, typeOid: number): PlannedColumn {
  const special = rule !== undefined || binary || typeOid === JSON_OID || typeOid === JSONB_OID || typeOid === JSON_ARRAY_OID ||
    typeOid === JSONB_ARRAY_OID || isFloat(typeOid) || typeOid === MONEY_OID || isNumberContainer(typeOid);
  return { rule, binary, typeOid, inPlaceBelow: special ? 0 : typeOid === NUMERIC_OID ? 16 : 0x7fffffff, exponents: mayPrintExponent(typeOid) };
}

/** json[] and jsonb[] (pg_type.typarray of json and jsonb). */
const JSON_ARRAY_OID = 199;
const JSONB_ARRAY_OID = 3807;

const C = { T: 0x54, D: 0x44, d: 0x64, E: 0x45, N: 0x4e, A: 0x41, V: 0x56, H: 0x48, S: 0x53 } as const;

/** The columns of a COPY the broker announced (PgMasker.expectCopy). */
interface CopyPlan {
  stmt: object | null | undefined; rules: Array<ColumnRule | undefined>; types: number[] | undefined;
  /** Columns that are no table's (a query's computed ones): they take the statement's derived rule at the first row. */
  computed: boolean[] | undefined;
  /** Text formats: each number column's type (isNumberType), 0 for the others; undefined when there is none. */
  numbers: number[] | undefined; format: CopyTextFormat; header: boolean; rows: number;
  /** Set with the computed columns' rules (at the first row): no rule and no number to withhold (#plainCopyRow). */
  plain?: boolean;
}

/** Masks backend messages of one session; keep one instance per proxied session. */
export class PgMasker {
  readonly #rules: ColumnRules;
  readonly #ctx: ValueContext;
  readonly #catalog: ColumnCatalog | undefined;
  #plan: PlannedColumn[] | undefined;
  /** The last RowDescription planned, with its plan and derived rule: a session tends to repeat its queries. */
  #lastDescription: {
    body: Buffer; plan: PlannedColumn[];
    /** The computed columns (table OID 0) with their rule by name; their derived rules are the statement's. */
    computed: Array<[number, ColumnRule | undefined]>; stmt: object | null | undefined;
  } | undefined;
  readonly #reach: ((stmt: object) => StatementReach) | undefined;
  /** Per statement, the rules of its computed columns (ColumnRules.forDerived), asked once. */
  readonly #derived = new WeakMap<object, DerivedRules>();
  /**
   * The statement the plan was given with: rows are masked by it only when they belong to that statement
   * (see #dataRow). A RowDescription answering a Describe of a prepared statement (stmt null) describes no rows.
   */
  #planStmt: object | null | undefined;
  #stmt: object | null | undefined;
  /** Large objects being read in chunks, by descriptor (descriptorKey), in a row of loreads (lo-read.ts). */
  #lo = new Map<string, LoReadStream>();
  readonly #loread: ((stmt: object) => string | undefined) | undefined;
  /** The statement #loKey was asked for (once per statement, not per row), and its answer. */
  #loAt: object | null | undefined = null;
  #loKey: string | undefined;
  /** COPY out: undefined = not in COPY or format not yet known. */
  #copy: { binary: boolean; headerDone: boolean } | undefined;
  /** Columns of the COPY the broker announced (expectCopy), applied to the rows of that statement. */
  #copyPlan: CopyPlan | undefined;
  /** client_encoding and server_encoding as the server reported them (ParameterStatus): text arrives in the first. */
  #encodings = { client: 'UTF8', server: 'UTF8' };
  /** Counts since the last takeCounts(), for the statement's log record. */
  #counts: MaskCounts = {};
  /** Counts for the whole session. */
  readonly session: MaskCounts = {};

  constructor(opts: PgMaskerOptions) {
    this.#rules = new ColumnRules(opts.config, opts.grants ?? []);
    const f = this.#rules.contentFormat;
    if ((f === 'hmac' || opts.config.rules.some((r) => r.format === 'hmac')) && !opts.hmacKey?.length) {
      throw new MaskError('masking uses the hmac format but no hmac key was given');
    }
    this.#ctx = {
      content: f === undefined ? undefined : { format: f, ...(opts.hmacKey ? { hmacKey: opts.hmacKey } : {}) },
      detect: { anyLuhn: opts.config.networks === 'any_luhn' },
      hmacKey: opts.hmacKey,
      counts: this.#counts,
    };
    this.#catalog = opts.catalog ?? (opts.lookup ? new ColumnCatalog(opts.lookup) : undefined);
    this.#reach = opts.reach;
    this.#loread = opts.loread;
  }

  /** See ColumnRules.storedRule: the rule a statement storing these values would take them past. */
  storedRule(values: readonly StoredReach[] | 'unknown'): ColumnRule | undefined {
    return this.#rules.storedRule(values);
  }

  /**
   * The rule of `stmt`'s computed column `i` of `n` (see ColumnRules.forDerived): the column's own when the
   * statement's text tells its result columns apart and there are `n` of them, else the statement's as a whole.
   * Undefined: none, or no statement known.
   */
  #derivedRule(stmt: object | null | undefined, i: number, n: number): ColumnRule | undefined {
    const d = this.#derivedRules(stmt);
    return d?.outputs && d.outputs.length === n ? d.outputs[i] : d?.all;
  }

  /** `stmt`'s computed columns' rules (asked once per statement); undefined: no statement known. */
  #derivedRules(stmt: object | null | undefined): DerivedRules | undefined {
    if (!stmt || !this.#reach) return undefined;
    let d = this.#derived.get(stmt);
    if (!d) {
      const reach = this.#reach(stmt);
      d = { all: this.#rules.forDerived(reach.all), outputs: reach.outputs?.map((o) => this.#rules.forDerived(o)), unknown: reach.all === 'unknown' };
      this.#derived.set(stmt, d);
    }
    return d;
  }

  /** Counts since the last call (`masked: {rule: count}` of a statement record), and resets them. */
  takeCounts(): MaskCounts {
    const c = this.#counts;
    for (const [k, v] of Object.entries(c)) this.session[k] = (this.session[k] ?? 0) + v;
    this.#counts = {};
    this.#ctx.counts = this.#counts;
    return c;
  }

  /**
   * The onBackendMessage hook: `frame` is one whole message (type byte, int32 length, body); `stmt` is the
   * statement it belongs to as the proxy knows it (null for a Describe response). Returns null to forward
   * the original bytes, or the re-encoded message. Throws MaskError (fail closed).
   */
  onBackendMessage(frame: Buffer, stmt?: object | null): Buffer | null {
    this.#stmt = stmt;
    this.#bs = -2;
    try {
      if (frame.length < 5) throw new Error('short frame');
      switch (frame[0]) {
        case C.T: { const body = frame.subarray(5); this.#onRowDescription(body); return this.#fieldNames(body); }
        case C.H: this.#onCopyOut(frame.subarray(5)); return null;
        // Read in the frame itself: a large result is a DataRow per row, and a view of each body cost as much as its hot path.
        case C.D: return this.#dataRow(frame, 0, frame.length, frame.length);
        case C.d: return this.#copyData(frame.subarray(5));
        case C.E: case C.N: return this.#notice(frame[0], frame.subarray(5));
        case C.A: return this.#notification(frame.subarray(5));
        case C.V: return this.#functionResult(frame.subarray(5));
        case C.S: return this.#parameterStatus(frame.subarray(5));
        case 0x63: case 0x43: case 0x5a: this.#copy = undefined; return null; // CopyDone, CommandComplete, ReadyForQuery
        default: return null;
      }
    } catch (e) {
      throw e instanceof MaskError ? e : new MaskError('masking a backend message failed; it was not forwarded', { cause: e });
    }
  }

  /**
   * SessionHooks.onRows: the whole DataRows, or CopyData of a COPY TO, at buf[from, to) (checked by the proxy), of
   * `stmt`, masked as onBackendMessage masks each. Null when none changed, else the run's bytes with the changed
   * rows replaced.
   */
  onRows(buf: Buffer, from: number, to: number, stmt?: object | null): Buffer[] | null {
    this.#stmt = stmt;
    this.#bs = -2;
    const copy = buf[from] === C.d;
    try {
      let out: Buffer[] | undefined;
      // Where the rows not yet handed on start.
      let kept = from;
      for (let s = from; s < to;) {
        const e = s + 1 + ((buf[s + 1]! << 24) | (buf[s + 2]! << 16) | (buf[s + 3]! << 8) | buf[s + 4]!);
        const masked = !copy ? this.#dataRow(buf, s, e, to) : this.#plainCopyRow(buf, s, e, to) ? null : this.#copyData(buf.subarray(s + 5, e));
        if (masked) {
          out ??= [];
          if (kept < s) out.push(buf.subarray(kept, s));
          out.push(masked);
          kept = e;
        }
        s = e;
      }
      if (out && kept < to) out.push(buf.subarray(kept, to));
      return out ?? null;
    } catch (e) {
      throw e instanceof MaskError ? e : new MaskError('masking a backend message failed; it was not forwarded', { cause: e });
    }
  }

  /**
   * The first backslash in `buf` at or after `at` and before `limit` (-1: none), remembered (#bs, from #bsFrom) for
   * the rest of the call: the rows of a run (onRows) share one search, not one each to the run's end.
   */
  #backslash(buf: Buffer, at: number, limit: number): number {
    const known = this.#bs;
    if (known !== -2 && this.#bsFrom <= at && (known === -1 || known >= at)) return known;
    // Bounded: past the run the framer's buffer holds the next read's bytes, or none yet (a large frame's room).
    let i = buf.subarray(at, limit).indexOf(0x5c);
    if (i >= 0) i += at;
    this.#bs = i;
    this.#bsFrom = at;
    return i;
  }

  #bs = -2;
  #bsFrom = 0;

  /**
   * Announces the columns of a COPY … TO STDOUT before it runs (COPY sends no RowDescription): the broker
   * calls this from onStatement with the columns it asked the server for (src/broker/pg-copy-plan.ts) so
   * column rules and SAD columns apply to COPY rows too, and binary fields are read as their types (given
   * every column's `typeOid`). `qualified` null: not resolved, every qualified rule applies. Options as in
   * the statement: CSV, DELIMITER, QUOTE, ESCAPE, NULL, HEADER. Without it, COPY rows get content detection only.
   */
  expectCopy(stmt: object | null | undefined, columns: ReadonlyArray<{ name: string; qualified?: string | null | undefined; typeOid?: number }>, opts: { csv?: boolean; delimiter?: string; quote?: string; escape?: string; null?: string; header?: boolean } = {}): void {
    const csv = opts.csv === true;
    const delimiter = (opts.delimiter ?? (csv ? ',' : '\t')).charCodeAt(0);
    this.#copyPlan = {
      stmt,
      rules: columns.map((c) => this.#rules.forColumn(c.name, c.qualified)),
      computed: columns.map((c) => c.qualified === undefined),
      types: columns.every((c) => c.typeOid !== undefined) ? columns.map((c) => c.typeOid!) : undefined,
      numbers: columns.some((c) => c.typeOid !== undefined && copyTyped(c.typeOid))
        ? columns.map((c) => (c.typeOid !== undefined && copyTyped(c.typeOid) ? c.typeOid : 0)) : undefined,
      format: { csv, delimiter, ...(opts.quote !== undefined ? { quote: opts.quote.charCodeAt(0) } : {}), ...(opts.escape !== undefined ? { escape: opts.escape.charCodeAt(0) } : {}),
        // The server writes the NULL string as given, unescaped (CopyOneRowTo), in both formats.
        ...(opts.null !== undefined ? { null: Buffer.from(opts.null, 'utf8') } : {}) },
      // Text format has a HEADER line too since PostgreSQL 15 (binary has none).
      header: opts.header === true,
      rows: 0,
    };
  }

  /**
   * For a RowDescription whose columns' sources the catalog does not hold yet: a promise that settles once it
   * does (or after PREPARE_WAIT_MS, or when a lookup fails: those columns then stay unresolved, fail closed).
   * Null when nothing needs looking up (the usual case: the same description as last time, or cached tables).
   */
  prepareRows(frame: Buffer): Promise<void> | null {
    const catalog = this.#catalog;
    if (frame[0] !== C.T || !catalog) return null;
    const last = this.#lastDescription;
    if (last && last.body.equals(frame.subarray(5))) return null;
    return catalog.resolveAll(decodeRowDescription(frame.subarray(5)).fields.map((f) => [f.tableOid, f.column] as const), PREPARE_WAIT_MS);
  }

  /** The source name if known, undefined if not a table column, null if unresolved (fail closed). */
  #qualified(f: FieldDescription): string | undefined | null {
    // Looked up with or without qualified rules: a SAD column under an alias (`select cvv as x`) is known by
    // its source name only.
    if (f.tableOid === 0) return undefined;
    if (!this.#catalog) return this.#rules.hasQualified ? null : undefined;
    return this.#catalog.get(f.tableOid, f.column);
  }

  #onRowDescription(body: Buffer): void {
    const last = this.#lastDescription;
    // Computed columns (no source table column) take their statement's derived rule: `cvv || ''` is the cvv.
    // The same description is planned once: only its computed columns' rules are asked again of another statement.
    if (last && last.body.equals(body)) {
      if (last.computed.length > 0 && last.stmt !== this.#stmt) {
        const n = last.plan.length;
        const plan = [...last.plan];
        let changed = false;
        for (const [i, base] of last.computed) {
          const rule = leastRevealing(base, this.#derivedRule(this.#stmt, i, n));
          if (rule?.name !== plan[i]!.rule?.name || rule?.format !== plan[i]!.rule?.format) { plan[i] = planned(rule, plan[i]!.binary, plan[i]!.typeOid); changed = true; }
        }
        if (changed) last.plan = plan;
        last.stmt = this.#stmt;
      }
      this.#plan = last.plan;
    } else {
      const { fields } = decodeRowDescription(body);
      let unresolved = false;
      const computed: Array<[number, ColumnRule | undefined]> = [];
      this.#plan = fields.map((f, i) => {
        const qualified = this.#qualified(f);
        if (qualified === null) unresolved = true;
        const rule = this.#rules.forColumn(f.name, qualified);
        if (f.tableOid !== 0) return planned(rule, f.format === 1, f.typeOid);
        computed.push([i, rule]);
        return planned(leastRevealing(rule, this.#derivedRule(this.#stmt, i, fields.length)), f.format === 1, f.typeOid);
      });
      // A plan with a column not yet resolved (masked by every qualified rule, fail closed) is planned again
      // next time, when the catalog may know it.
      this.#lastDescription = unresolved ? undefined : { body: Buffer.from(body), plan: this.#plan, computed, stmt: this.#stmt };
    }
    this.#planStmt = this.#stmt;
    this.#copy = undefined;
  }

  /**
   * RowDescription: per field a C-string name, then 18 bytes (table OID, column number, type OID, size, modifier,
   * format). A column name is data too (`select 1 as "4111…"`, or one a function built from a value): masked.
   */
  #fieldNames(body: Buffer): Buffer | null {
    const n = body.readInt16BE(0);
    let parts: Uint8Array[] | undefined;
    let at = 2;
    for (let i = 0; i < n; i++) {
      const end = body.indexOf(0, at);
      if (end < 0 || end + 19 > body.length) throw new Error('malformed RowDescription');
      const name = body.subarray(at, end);
      const m = name.length < 13 ? name : contentText(name, this.#ctx, false);
      if (m !== name) {
        parts ??= [body.subarray(0, at)];
        parts.push(m);
      } else parts?.push(name);
      parts?.push(body.subarray(end, end + 19));
      at = end + 19;
    }
    return parts ? frame(C.T, parts) : null;
  }

  #onCopyOut(body: Buffer): void {
    this.#copy = { binary: decodeCopyResponse(body).format === 1, headerDone: false };
  }

  /**
   * DataRow. Masked by the plan only when the plan is its own statement's: the RowDescription the proxy gave
   * with the same statement (the server's, or the one an Execute's rows have when it sends none:
   * Running.describe), with exactly their types and formats. Rows with no description of their own are never
   * masked by another statement's plan (of the same column count, its column rules were applied to the wrong
   * columns and a rule-masked account_no came back whole): with column rules configured they are refused
   * (MaskError, fail closed); without, content detection alone masks them. `stmt` undefined (no proxy, as in
   * unit tests): the last plan. The message is frame[s, e), read in place: its value count at s + 5, its values from
   * s + 7; `limit`: where the run it is part of ends (onRows), else e.
   */
  #dataRow(frame: Buffer, s: number, e: number, limit: number): Buffer | null {
    const n = frame.readInt16BE(s + 5);
    const own = this.#stmt === undefined || (this.#stmt !== null && this.#planStmt === this.#stmt);
    if (!own && this.#rules.hasColumnRules) throw new MaskError('rows with no description of their own while column rules are configured: not forwarded');
    const plan = own && this.#plan && this.#plan.length === n ? this.#plan : undefined;
    const lo = this.#ctx.content ? this.#loStream(false) : undefined;
    if (lo && n === 1) {
      const row = this.#loreadRow(frame.subarray(s + 5, e), lo, plan?.[0]);
      if (row !== undefined) return row;
    }
    let at = s + 7;
    // The values masking changed: where each was in the row (its length word's offset, the end of its bytes) and what replaces it.
    let out: Array<{ from: number; to: number; value: ValueResult }> | undefined;
    const content = this.#ctx.content !== undefined;
    // The row's first backslash at or after the value (-1: none; -2: not looked for yet): a value with one may spell a
    // card number in JSON's `\u` escapes or bytea's `\ooo` (json-escapes.ts), and leaves the hot path when one of
    // them spells a character a card number is written with (readableEscape); `\"` and `\n` do not. Looked for
    // again only once the value is past it.
    let backslash = -2;
    for (let i = 0; i < n; i++) {
      // Read by hand (readInt32BE's argument checks cost more than the rest of a short value's hot path).
      if (at + 4 > e) throw new Error('malformed DataRow');
      const len = (frame[at]! << 24) | (frame[at + 1]! << 16) | (frame[at + 2]! << 8) | frame[at + 3]!;
      at += 4;
      if (len < -1 || at + Math.max(len, 0) > e) throw new Error('malformed DataRow');
      if (len === -1) continue;
      const col = plan?.[i];
      if (backslash !== -1 && backslash < at) backslash = this.#backslash(frame, at, limit);
      // Hot path: a plain text value without a rule is scanned in place; no view is made unless needed.
      // money prints its digits in groups (`$4,111,111,111,111,111.00`), and a numeric from a float8 rounds a PAN's
      // check digit away (4111111111111110): numberTextIsPan reads those. json[] and jsonb[] are read element by element
      // (json-array-text.ts), where the detector may find what it does not find in the array's text as a whole (it did
      // for `{"\"4111 1111 １２147379\""}`, a card number of mixed full-width and ASCII digits found at some offsets
      // only until faa3f44).
      // The card numbers found in it on the way are handed on (relative to the value), not searched for again.
      let found: PanSpan[] | undefined;
      if (col && len < col.inPlaceBelow && content) {
        found = findPans(frame, this.#ctx.detect, at, at + len, false, col.exponents);
        if (found.length === 0 && leftAsIs(frame, at, at + len, this.#ctx, backslash)) {
          at += len;
          continue;
        }
        // Only a search that looked for float prints too stands for contentText's (a bytea's escape output may hold one).
        if (!col.exponents) found = undefined;
        else if (found.length > 0) found = found.map((x) => ({ start: x.start - at, end: x.end - at, digits: x.digits }));
      }
      const v = frame.subarray(at, at + len);
      at += len;
      const masked = this.#value(v, col, found);
      if (masked !== v) (out ??= []).push({ from: at - len - 4, to: at, value: masked });
    }
    if (at !== e) throw new Error('DataRow length mismatch');
    return out ? spliceDataRow(frame, out, s + 5, e) : null;
  }

  /** One value; without a plan (a row whose shape does not match the last RowDescription) content only. */
  #value(v: Buffer, col: PlannedColumn | undefined, found?: PanSpan[]): ValueResult {
    if (!col) return binaryValue(0, v, undefined, this.#ctx);
    if (col.binary) return binaryValue(col.typeOid, v, col.rule, this.#ctx);
    if (col.rule) {
      this.#ctx.counts[col.rule.name] = (this.#ctx.counts[col.rule.name] ?? 0) + 1;
      const isJson = col.typeOid === JSON_OID || col.typeOid === JSONB_OID;
      // A masked JSON document is not JSON any more: NULL keeps the client's parser working.
      return isJson && col.rule.format !== 'null' ? null : ruleText(v, col.rule.format, this.#ctx.hmacKey);
    }
    return this.#text(v, col, found);
  }

  /** A text-format value without a rule: content detection; a number (a float in exponent form too) withheld whole. */
  #text(v: Buffer, col: PlannedColumn, found?: PanSpan[]): ValueResult {
    if (this.#ctx.content && isNumberType(col.typeOid) && numberTextIsPan(col.typeOid, v, this.#ctx.detect)) return withheldPan(this.#ctx);
    // json[] and jsonb[]: each element a JSON document, which must still parse (json-array-text.ts).
    if (col.typeOid === JSON_ARRAY_OID || col.typeOid === JSONB_ARRAY_OID) return maskJsonArrayText(v, this.#ctx);
    return contentText(v, this.#ctx, col.typeOid === JSON_OID || col.typeOid === JSONB_OID, 'pan', found);
  }

  /**
   * Whether the text COPY row in the CopyData at buf[s, e) (part of a run that ends at `limit`) is one #copyData
   * would leave as it is, read in place: no column rule or number column applies (the plan's `plain`, known from
   * its first row on) and content detection finds nothing, asked as contentText asks (findPans, then leftAsIs),
   * over the row's bytes where they lie. Most rows of a large COPY are: they cost no copy, no new Buffer and no
   * second pass. Anything else (a binary COPY, the first row, a row to mask) is #copyData's.
   */
  #plainCopyRow(buf: Buffer, s: number, e: number, limit: number): boolean {
    const copy = this.#copy;
    // A text row that starts as binary COPY's signature would does: #copyData decides.
    if (!copy || copy.binary || buf[s + 5] === PGCOPY_SIGNATURE[0]) return false;
    const plan = this.#ownCopyPlan();
    if (plan && plan.plain !== true) return false;
    if (this.#ctx.content && (findPans(buf, this.#ctx.detect, s + 5, e).length > 0 || !leftAsIs(buf, s + 5, e, this.#ctx, this.#backslash(buf, s + 5, limit)))) return false;
    if (plan) plan.rows++;
    return true;
  }

  /** The announced COPY columns (expectCopy) when they are the current statement's. */
  #ownCopyPlan(): CopyPlan | undefined {
    const plan = this.#copyPlan;
    return plan && (this.#stmt === undefined || plan.stmt === this.#stmt) ? plan : undefined;
  }

  /** CopyData of COPY TO: the backend sends one row per message, so each is masked on its own. */
  #copyData(body: Buffer): Buffer | null {
    if (!this.#copy || (!this.#copy.binary && startsBinaryCopy(body))) {
      // CopyOutResponse was not seen (not hooked): a binary COPY always starts with its signature.
      this.#copy = { binary: startsBinaryCopy(body), headerDone: false };
    }
    let out: Uint8Array;
    const plan = this.#ownCopyPlan();
    if (plan?.computed) {
      // Asked at the first row, once the statement is decided (a cursor or prepared statement it names is known).
      const n = plan.rules.length;
      plan.rules = plan.rules.map((r, i) => (plan.computed![i] ? leastRevealing(r, this.#derivedRule(plan.stmt, i, n)) : r));
      plan.computed = undefined;
      plan.plain = (plan.numbers === undefined || this.#ctx.content === undefined) && !plan.rules.some((r) => r !== undefined);
    }
    if (this.#copy.binary) {
      const r = maskCopyBinary(body, this.#copy.headerDone, this.#ctx, plan?.rules, plan?.types);
      // After the trailer the next CopyData belongs to another COPY (CopyDone is not hooked).
      this.#copy = r.ended ? undefined : { binary: true, headerDone: true };
      out = r.out;
    } else {
      const isHeader = plan !== undefined && plan.header && plan.rows === 0;
      if (plan) plan.rows++;
      const ruled = plan && !isHeader ? maskCopyTextRow(body, plan.rules, plan.format, this.#ctx, plan.numbers) : body;
      const masked = contentText(ruled, this.#ctx, false);
      out = masked === ruled ? ruled : masked;
    }
    return out === body ? null : frame(0x64, [out]);
  }

  /**
   * ErrorResponse / NoticeResponse: a list of (field type byte, C string), ended by a zero byte. An error raised
   * while the statement runs may quote a value it read, in any form and any SQLSTATE class: `invalid input
   * syntax for type date: "739"`, `relation "739" does not exist` (cvv::regclass), `date field value out of
   * range: 739-13-01` (make_date), `requested character too large for encoding: 739000000` (chr), `Key
   * (cvv)=(739) already exists`. So when the statement names a ruled or SAD column (its derived rule,
   * ColumnRules.forDerived; not for a text pcigate could not read) and the message has no position in the
   * statement's text (one with a position was raised reading the text, before any row was read: `column "idd"
   * does not exist`), its message is withheld (the SQLSTATE stays) and its detail, hint, context and internal
   * query are dropped; card numbers anywhere are masked by content as always.
   */
  #notice(code: number, body: Buffer): Buffer | null {
    const parts: Uint8Array[] = [];
    let changed = false;
    let at = 0;
    const withheld = this.#withheld(body);
    if (withheld) this.#ctx.counts[withheld.rule.name] = (this.#ctx.counts[withheld.rule.name] ?? 0) + 1;
    for (;;) {
      if (at >= body.length) throw new Error('unterminated ErrorResponse/NoticeResponse');
      const t = body[at]!;
      if (t === 0) break;
      const end = body.indexOf(0, at + 1);
      if (end < 0) throw new Error('unterminated field');
      const type = body.subarray(at, at + 1);
      const s = body.subarray(at + 1, end);
      at = end + 1;
      if (withheld && WITHHELD_FIELDS.has(t)) {
        changed = true;
        if (t === 0x4d) parts.push(type, Buffer.from(`pcigate: the server's message is withheld (SQLSTATE ${withheld.code}): the statement reads masked columns, whose values such a message may quote`), ZERO);
        continue;
      }
      const m = contentText(s, this.#ctx, false);
      if (m !== s) changed = true;
      parts.push(type, m, ZERO);
    }
    if (!changed) return null;
    parts.push(ZERO);
    return frame(code, parts);
  }

  /**
   * The rule of the running statement's ruled or SAD columns and the SQLSTATE, when this message has no
   * position (P) in the statement's text: it was raised while the statement ran and may quote what it read.
   */
  #withheld(body: Buffer): { rule: ColumnRule; code: string } | undefined {
    if (!this.#stmt || !this.#reach) return undefined;
    // A field's type byte follows the previous field's terminating zero (or starts the body).
    if (body[0] === 0x50 || body.indexOf('\0P', 0, 'latin1') >= 0) return undefined;
    // A text pcigate could not read (a fastpath FunctionCall: its arguments are the client's own) names no column.
    const d = this.#derivedRules(this.#stmt);
    const rule = d && !d.unknown ? d.all : undefined;
    if (!rule) return undefined;
    const c = body[0] === 0x43 ? 0 : body.indexOf('\0C', 0, 'latin1') + 1;
    const code = c > 0 || body[0] === 0x43 ? body.toString('latin1', c + 1, body.indexOf(0, c + 1)) : 'unknown';
    return { rule, code };
  }

  /** NotificationResponse: int32 pid, channel C string, payload C string. */
  #notification(body: Buffer): Buffer | null {
    const c0 = 4;
    const c1 = body.indexOf(0, c0);
    const p1 = body.indexOf(0, c1 + 1);
    if (c1 < 0 || p1 < 0) throw new Error('malformed NotificationResponse');
    const ch = body.subarray(c0, c1);
    const pl = body.subarray(c1 + 1, p1);
    const mch = contentText(ch, this.#ctx, false);
    const mpl = contentText(pl, this.#ctx, false);
    if (mch === ch && mpl === pl) return null;
    return frame(0x41, [body.subarray(0, 4), mch, ZERO, mpl, ZERO]);
  }

  /** ParameterStatus: name and value C strings (a client may set application_name to anything). */
  #parameterStatus(body: Buffer): Buffer | null {
    const n1 = body.indexOf(0);
    const v1 = body.indexOf(0, n1 + 1);
    if (n1 < 0 || v1 < 0) throw new Error('malformed ParameterStatus');
    const name = body.subarray(0, n1);
    const value = body.subarray(n1 + 1, v1);
    // Every text from here on arrives in the client_encoding (or, with SQL_ASCII, as stored): read in it too.
    const setting = name.toString('latin1');
    if (setting === 'client_encoding' || setting === 'server_encoding') {
      this.#encodings[setting === 'client_encoding' ? 'client' : 'server'] = value.toString('latin1');
      this.#ctx.legacy = legacyEncoding(this.#encodings.client, this.#encodings.server);
    }
    const mname = contentText(name, this.#ctx, false);
    const mvalue = contentText(value, this.#ctx, false);
    if (mname === name && mvalue === value) return null;
    return frame(C.S, [mname, ZERO, mvalue, ZERO]);
  }

  /** FunctionCallResponse: int32 length (-1 = NULL) and the value (format chosen by the call). */
  #functionResult(body: Buffer): Buffer | null {
    const len = body.readInt32BE(0);
    // A large object read in chunks (lo_read): a card number across two is masked at their edges (lo-read.ts).
    const lo = this.#loStream(true);
    if (len < 0) return null;
    const v = body.subarray(4, 4 + len);
    let m = binaryValue(0, v, undefined, this.#ctx);
    if (lo && this.#ctx.content) m = lo.next(v, m, this.#ctx.content, this.#ctx.detect, this.#countPans);
    if (m === v) return null;
    return m === null ? frame(0x56, [int32(-1)]) : frame(0x56, [int32(m.length), m]);
  }

  /**
   * The context a chunk is masked alone in: the session's, but with stars for hmac (whose token would change the
   * chunk's length, so a bytea with a card number would come back NULL and a chunked reader fail), as the other
   * same-length readings do (pg-values.ts otherReadings).
   */
  #loCtx(): ValueContext {
    return this.#ctx.content?.format === 'hmac' ? { ...this.#ctx, content: { format: 'full' } } : this.#ctx;
  }

  readonly #countPans = (n: number): void => { this.#ctx.counts.pan = (this.#ctx.counts.pan ?? 0) + n; };

  /**
   * The reading of the large object whose chunk the statement's result is (libpq's fast-path lo_read, or SQL's
   * `SELECT loread(…)` as the broker tells), undefined for any other statement. Another fast-path call's result (a
   * seek's, an lo_open's: `call`) ends every reading; a row of another statement does not (a `SELECT 1` between two
   * chunks would let the next chunk's start be read alone: what a reading kept too long costs is a few digits
   * starred that did not need to be). Loreads of several descriptors by turns each go on.
   */
  #loStream(call: boolean): LoReadStream | undefined {
    const stmt = this.#stmt;
    if (stmt !== this.#loAt) {
      this.#loAt = stmt;
      const s = stmt as { sql?: unknown; firstArg?: Buffer | null } | null | undefined;
      this.#loKey = !s ? undefined : s.sql === `function ${LOREAD_OID}` ? descriptorKey(s.firstArg) : this.#loread?.(s);
    }
    const key = this.#loKey;
    if (key === undefined) {
      if (call && this.#lo.size > 0) this.#lo.clear();
      return undefined;
    }
    let lo = this.#lo.get(key);
    if (!lo) {
      if (this.#lo.size >= LO_STREAMS_MAX) this.#lo.delete(this.#lo.keys().next().value!);
      this.#lo.set(key, lo = new LoReadStream());
    }
    return lo;
  }

  /**
   * A row of SQL's `SELECT loread(…)`: its one value, a bytea in any output form, masked as the next chunk of its
   * object (lo-read.ts) and given back in the same form. Without a plan (an Execute whose client asked no
   * Describe), its format is the one its Bind asked for (Statement.resultFormats); when even that is not known, a
   * value that spells hex bytea text is read as that, any other as binary. Undefined when the row is not that (a
   * column rule, a column of another type): it is masked as any other row.
   */
  #loreadRow(body: Buffer, lo: LoReadStream, col: PlannedColumn | undefined): Buffer | null | undefined {
    if ((col && (col.typeOid !== BYTEA_OID || col.rule)) || body.length < 6) return undefined;
    const len = body.readInt32BE(2);
    if (len === -1) return null;
    if (len < 0 || 6 + len !== body.length) throw new Error('malformed DataRow');
    const v = body.subarray(6);
    const formats = (this.#stmt as { resultFormats?: readonly number[] } | null | undefined)?.resultFormats;
    const binary = col ? col.binary : formats ? formats[0] === 1 : undefined;
    const spelled = (binary === undefined ? v[0] === 0x5c && v[1] === 0x78 : !binary) ? byteaBytes(v) : undefined;
    const text = binary === undefined ? spelled !== undefined : !binary;
    const bytes = text ? spelled : v;
    if (!bytes) return undefined;
    const out = lo.next(bytes, binaryValue(BYTEA_OID, bytes, undefined, this.#loCtx()), this.#ctx.content!, this.#ctx.detect, this.#countPans);
    if (out === bytes) return null;
    return spliceDataRow(body, [{ from: 2, to: body.length, value: out === null || !text ? out : byteaText(out, v[1] === 0x78) }]);
  }
}

/**
 * Most large objects whose chunked reading PgMasker follows at once (the oldest is dropped: its next chunk's
 * start is then read on its own, its end still starred).
 */
const LO_STREAMS_MAX = 64;

/** Types a text COPY masks by their type (copy-text.ts): numbers (withheld), json, jsonb and their arrays (kept JSON). */
const copyTyped = (oid: number): boolean => isNumberType(oid) || oid === JSON_OID || oid === JSONB_OID || oid === JSON_ARRAY_OID || oid === JSONB_ARRAY_OID;

/** True when every byte is printable ASCII (the text form of a number, date, …). */
const isFloat = (oid: number) => oid === FLOAT8_OID || oid === FLOAT4_OID;

export const PGCOPY_SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/** True when `body` starts with the binary COPY signature; asked of every text row, so the first byte decides most. */
function startsBinaryCopy(body: Buffer): boolean {
  return body.length >= PGCOPY_SIGNATURE.length && body[0] === 0x50 && body.compare(PGCOPY_SIGNATURE, 0, PGCOPY_SIGNATURE.length, 0, PGCOPY_SIGNATURE.length) === 0;
}
const ZERO = Buffer.of(0);

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

/** A message: type byte, int32 length (itself included), body parts. */
function frame(code: number, parts: Uint8Array[]): Buffer {
  let len = 4;
  for (const p of parts) len += p.length;
  const out = Buffer.allocUnsafe(1 + len);
  out[0] = code;
  out.writeInt32BE(len, 1);
  let at = 5;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** DataRow: int16 count, then per value int32 length (-1 = NULL) and bytes; written in one allocation. */
/**
 * The DataRow `body` with the values in `changed` (in row order) replaced: the bytes between them, length words
 * included, are copied as they came, so a row with one masked value costs two copies, not one view per value.
 * `base`: where the body starts in `body` (5 in a whole message); `changed` counts from the same origin.
 */
function spliceDataRow(body: Buffer, changed: ReadonlyArray<{ from: number; to: number; value: ValueResult }>, base = 0, end = body.length): Buffer {
  let size = end - base;
  for (const c of changed) size += (c.value === null ? 0 : c.value.length) - (c.to - c.from - 4);
  const out = Buffer.allocUnsafe(5 + size);
  out[0] = 0x44;
  out.writeInt32BE(4 + size, 1);
  let at = 5;
  let from = base;
  for (const c of changed) {
    at += body.copy(out, at, from, c.from);
    out.writeInt32BE(c.value === null ? -1 : c.value.length, at);
    at += 4;
    if (c.value !== null) {
      out.set(c.value, at);
      at += c.value.length;
    }
    from = c.to;
  }
  body.copy(out, at, from, end);
  return out;
}

/** A statement's computed columns' rules: per result column when known, and for the statement as a whole. */
interface DerivedRules {
  all: ColumnRule | undefined;
  outputs: Array<ColumnRule | undefined> | undefined;
  /** The statement's text could not be read (ColumnReach `unknown`): its computed columns are masked in full. */
  unknown: boolean;
}

/** ErrorResponse / NoticeResponse fields that may quote a value (message, detail, hint, context, internal query). */
const WITHHELD_FIELDS: ReadonlySet<number> = new Set([0x4d, 0x44, 0x48, 0x57, 0x71]); // M D H W q

/**
 * Column rules (issue 4, deliverable 3): which result columns are masked whatever their content.
 * - Rules by column-name glob (`*card_number*`) match the column's name in RowDescription.
 * - Rules by `schema.table.column` (or `table.column` for any schema) match the column's source, resolved
 *   from RowDescription's table OID and attribute number, so `SELECT pan AS x` cannot dodge them.
 * - Columns that by name hold sensitive authentication data (PCI DSS 3.3.1: CVV/CVC, PIN, track data) are
 *   always masked in full, also under an unmask grant.
 * Unmask grants (policy `roles.<r>.unmask`) relax PAN formats for roles with a business need (PCI DSS 3.4.1).
 */
import type { MaskingConfig } from '../config/sections/masking.js';
import type { MaskFormat } from './mask-format.js';
import { SAD_RULE } from './pan-masker.js';

/**
 * Names that say password (or secret, token, a SAD name) but hold none: settings (how passwords are stored), dates,
 * counts, ids, and a check's outcome or a flag (`cvc_check`, `cvv_result`, `pin_verified`, `password_set`,
 * `token_status`: a card verification's result is no card verification code). The recorder keeps their values
 * (redact-by-tokens.ts namesSecret) and the result masker does not take them for SAD (ColumnRules.isSad).
 */
export const NOT_A_SECRET = /^"?(?:password_encryption|password_required)"?$|(?:_at|_on|_date|_time|_changed|_expires?|_expiry|_length|_count|_attempts?|_id|_name|_type|_kind|_version|_checks?|_checked|_results?|_verified|_verification|_status|_match(?:ed)?|_present|_provided|_required|_enabled|_set|_flag|_method|_indicator)"?$/i;
/** Column names treated as SAD (sensitive authentication data), compared case-insensitively. */
export const SAD_COLUMN_NAMES = ['cvv', 'cvc', 'cvv2', 'cvc2', 'cid', 'cav2', 'cvn', 'security_code', 'pin', 'pin_block', 'pinblock', 'track1', 'track2', 'track_1', 'track_2', 'track_data', 'magstripe', 'mag_stripe'] as const;

/**
 * Columns of PostgreSQL's planner statistics that hold values ANALYZE sampled from any table column (most common
 * values, histogram bounds): `select histogram_bounds from pg_stats where tablename = 'cards'` listed CVVs and
 * account numbers that every rule masks in the table itself. Masked in full as rule `statistics`, under any unmask
 * grant too (a CVV column's values are there as well as a PAN column's).
 */
const STATISTICS_SOURCE = /^pg_catalog\.(?:(?:pg_stats|pg_stats_ext|pg_stats_ext_exprs)\.(?:most_common_vals|histogram_bounds|most_common_elems)|pg_statistic\.stavalues[1-5]|pg_statistic_ext_data\.(?:stxdmcv|stxdexpr))$/;
const STATISTICS_COLUMN = /^(?:most_common_vals|histogram_bounds|most_common_elems|stavalues[1-5]|stxdmcv|stxdexpr)$/i;
const STATISTICS_TABLE = /^(?:pg_catalog\.)?(?:pg_stats|pg_stats_ext|pg_stats_ext_exprs|pg_statistic|pg_statistic_ext_data)$/i;
const STATISTICS_RULE = 'statistics';

/** The rule that applies to one column. */
export interface ColumnRule {
  /** Counted as `masked[name]`. */
  name: string;
  format: MaskFormat;
}

/** An unmask grant: `none`, a mask format (e.g. `first6last4`), or `clear` (no PAN masking). */
export type UnmaskGrant = string;

interface CompiledRule {
  name: string;
  format: MaskFormat;
  byName: RegExp[];
  byQualified: RegExp[];
  /** The qualified patterns' table and column parts (`[schema.]table.column`), for derived columns; the schema part when given. */
  byColumn: Array<{ schema?: RegExp; table: RegExp; column: RegExp }>;
}

/** Glob (`*`, `?`) to an anchored, case-insensitive RegExp. */
export function globToRegExp(glob: string): RegExp {
  const re = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 'i');
}

/** Rank of how much of a PAN a format reveals (higher reveals more). */
const REVEAL: Record<string, number> = { null: 0, full: 1, hmac: 2, last4: 3, first6last4: 4, clear: 5 };

/** Of two rules, the one that reveals least; either may be absent. */
export function leastRevealing(a: ColumnRule | undefined, b: ColumnRule | undefined): ColumnRule | undefined {
  if (!a || !b) return a ?? b;
  return REVEAL[b.format]! < REVEAL[a.format]! ? b : a;
}

/** The compiled rules of a masking config plus the role's unmask grants. */
export class ColumnRules {
  readonly #rules: CompiledRule[];
  readonly #sad: Set<string>;
  /** The format for PANs found by content, after grants; undefined = not masked (grant `clear`). */
  readonly contentFormat: MaskFormat | undefined;
  readonly #grant: string | undefined;
  readonly hasQualified: boolean;
  /** Rules or SAD column names were configured: values are masked by their column, not only by content. */
  readonly hasColumnRules: boolean;

  constructor(config: Pick<MaskingConfig, 'format' | 'rules' | 'sad_columns'>, grants: readonly UnmaskGrant[] = []) {
    this.#sad = new Set([...SAD_COLUMN_NAMES, ...config.sad_columns.map((s) => s.toLowerCase())]);
    this.#rules = config.rules.map((r) => ({
      name: r.name ?? r.columns[0]!,
      format: r.format,
      byName: r.columns.filter((c) => !c.includes('.')).map(globToRegExp),
      byQualified: r.columns.filter((c) => c.includes('.')).map((c) => globToRegExp(c.split('.').length === 2 ? `*.${c}` : c)),
      byColumn: r.columns.filter((c) => c.includes('.')).map((c) => {
        const parts = c.split('.');
        const schema = parts.length > 2 && parts[0] !== '*' ? { schema: globToRegExp(parts.slice(0, -2).join('.')) } : {};
        return { ...schema, table: globToRegExp(parts[parts.length - 2]!), column: globToRegExp(parts[parts.length - 1]!) };
      }),
    }));
    this.hasQualified = this.#rules.some((r) => r.byQualified.length > 0);
    this.hasColumnRules = this.#rules.length > 0 || config.sad_columns.length > 0;
    // The most revealing grant wins: grants are additive permissions across the identity's roles.
    const g = grants.filter((x) => x !== 'none' && REVEAL[x] !== undefined).sort((a, b) => REVEAL[b]! - REVEAL[a]!)[0];
    this.#grant = g;
    this.contentFormat = this.#relax(config.format);
  }

  /** The `statistics` rule (STATISTICS_SOURCE): full whatever the role's grants, as SAD (a CVV column's values are there too). */
  #statistics(): ColumnRule {
    return { name: STATISTICS_RULE, format: 'full' };
  }

  /** A format after the grant: the grant may reveal more, never less. */
  #relax(format: MaskFormat): MaskFormat | undefined {
    if (!this.#grant || format === 'null') return format;
    if (this.#grant === 'clear') return undefined;
    return REVEAL[this.#grant]! > REVEAL[format]! ? (this.#grant as MaskFormat) : format;
  }

  /** True when the column name marks sensitive authentication data. */
  isSad(name: string): boolean {
    const n = name.toLowerCase();
    if (this.#sad.has(n)) return true;
    // cvv_code, card_cvv, pin_block_enc …: any `_`-separated part naming SAD; not cvv_result, pin_verified (NOT_A_SECRET).
    if (NOT_A_SECRET.test(n)) return false;
    return n.split(/[_\s-]+/).some((part) => this.#sad.has(part));
  }

  /**
   * The rule for a column by its name in the result and, when known, its source `schema.table.column`.
   * `qualified === null` means the source is not resolved yet: every qualified rule whose column part
   * could match applies (fail closed).
   */
  forColumn(name: string, qualified: string | undefined | null): ColumnRule | undefined {
    const source = qualified ? qualified.slice(qualified.lastIndexOf('.') + 1) : undefined;
    if (this.isSad(name) || (source !== undefined && this.isSad(source))) return { name: SAD_RULE, format: 'full' };
    let best = qualified && STATISTICS_SOURCE.test(qualified) ? this.#statistics() : undefined;
    for (const r of this.#rules) {
      // A name rule matches the column's source name too: `SELECT card_number AS x` keeps its rule.
      const hit = r.byName.some((re) => re.test(name) || (source !== undefined && re.test(source))) ||
        (qualified ? r.byQualified.some((re) => re.test(qualified)) : qualified === null && r.byQualified.length > 0);
      if (!hit) continue;
      const format = this.#relax(r.format);
      if (format === undefined) continue;
      // Several rules: the one that reveals least.
      best = leastRevealing(best, { name: r.name, format });
    }
    return best;
  }

  /**
   * The rule for the result columns a statement computes (no source table column: RowDescription's table OID 0,
   * `cvv || ''`, `max(pan)`, `row_to_json(c)`): the server says nothing of what they were made from, so they
   * are masked when the statement could make them from a masked column. `reach` is what the statement names:
   * column references as written (`col`, `alias.col`, `alias.*`), its tables, and whether it uses a whole row
   * as one value (every column of it, named or not). The rule is the one that reveals least of those a named
   * column matches (a name rule, a SAD name, or a qualified rule whose column part matches and whose table part
   * matches one of the statement's tables), in full (a format that keeps digits keeps those the computation
   * chose); a whole row, or a statement pcigate could not read (`unknown`), may hold any column: SAD names always
   * apply, so such columns are masked in full.
   */
  forDerived(reach: ColumnReach): ColumnRule | undefined {
    if (reach === 'unknown' || reach.rowValues) return { name: SAD_RULE, format: 'full' };
    const tables = reach.tables.map((t) => t.slice(t.lastIndexOf('.') + 1));
    const statistics = reach.tables.some((t) => STATISTICS_TABLE.test(t));
    let best: ColumnRule | undefined;
    for (const ref of reach.refs) {
      const col = ref.slice(ref.lastIndexOf('.') + 1);
      if (col === '*') continue; // an output list's own `*`: its columns are described as the table's
      if (this.isSad(col)) return { name: SAD_RULE, format: 'full' };
      if (statistics && STATISTICS_COLUMN.test(col)) best = leastRevealing(best, this.#statistics());
      for (const r of this.#rules) {
        const hit = r.byName.some((re) => re.test(col)) || r.byColumn.some(({ table, column }) => column.test(col) && tables.some((t) => table.test(t)));
        if (!hit) continue;
        const format = this.#relax(r.format);
        if (format !== undefined) best = leastRevealing(best, { name: r.name, format });
      }
    }
    // A computed value is masked in full (or NULL): the digits a format keeps (last4, first6last4) are the
    // value's last ones, and a computation chooses them: '000000' || substr(code, 1, 4) under last4 showed the
    // first four digits, and the next substr the next four. An hmac of a chosen part is as good as the part:
    // a computed column of the same statement gives the hmac of each candidate to compare it with.
    return best && best.format !== 'full' && best.format !== 'null' ? { name: best.name, format: 'full' } : best;
  }

  /**
   * The rule a statement would take values past by storing them (`INSERT INTO notes SELECT cvv …`, `CREATE TABLE
   * t AS …`, a view): the first stored value made from a column a rule masks (read as forDerived reads a computed
   * column) that goes anywhere but a column the text names which is itself masked in full (`UPDATE cards SET cvv
   * = NULL`, `SET pan = trim(pan)` under a full rule). Read back from elsewhere, such a value would carry no rule.
   * `unknown` (a text pcigate could not read) counts as SAD. Undefined when the statement stores none.
   */
  storedRule(values: readonly StoredReach[] | 'unknown'): ColumnRule | undefined {
    if (values === 'unknown') return { name: SAD_RULE, format: 'full' };
    for (const v of values) {
      // Renamed or moved rows keep their columns' names: SAD names and name rules still match them there.
      const rule = v.relocated ? this.#namingRelation(v.reach) : this.forDerived(v.reach);
      if (rule && !(v.target && this.#hidesTarget(v.target.table, v.target.column))) return rule;
    }
    return undefined;
  }

  /**
   * The rule that names the relation of a column `reach` holds (`[schema.]table.column`), in full: the one such a
   * column stops matching under another relation's name. Columns not known (a whole row the catalog did not show,
   * a schema's tables): any qualified rule.
   */
  #namingRelation(reach: ColumnReach): ColumnRule | undefined {
    const qualified = this.#rules.filter((r) => r.byColumn.length > 0 && this.#relax(r.format) !== undefined);
    if (reach === 'unknown' || reach.rowValues) return qualified[0] ? { name: qualified[0].name, format: 'full' } : undefined;
    for (const ref of reach.refs) {
      const dot = ref.lastIndexOf('.');
      const col = ref.slice(dot + 1);
      const table = dot < 0 ? undefined : ref.slice(0, dot);
      const tables = table !== undefined ? [table] : reach.tables;
      const hit = qualified.find((r) => r.byColumn.some((c) => c.column.test(col) && tables.some((t) => c.table.test(t.slice(t.lastIndexOf('.') + 1)))));
      if (hit) return { name: hit.name, format: 'full' };
    }
    return undefined;
  }

  /** Whether a table's column (as a statement names them) is masked in full whatever is stored in it. */
  #hidesTarget(table: string, column: string): boolean {
    if (this.isSad(column)) return true;
    const dot = table.lastIndexOf('.');
    const t = table.slice(dot + 1);
    // A rule's schema must be the one written: an unqualified name may resolve elsewhere (a temp table first).
    const schema = dot < 0 ? undefined : table.slice(0, dot);
    const names = (c: CompiledRule['byColumn'][number]) => c.column.test(column) && c.table.test(t) && (!c.schema || (schema !== undefined && c.schema.test(schema)));
    let best: ColumnRule | undefined;
    for (const r of this.#rules) {
      if (!r.byName.some((re) => re.test(column)) && !r.byColumn.some(names)) continue;
      const format = this.#relax(r.format);
      if (format !== undefined) best = leastRevealing(best, { name: r.name, format });
    }
    return best !== undefined && (best.format === 'full' || best.format === 'null');
  }
}

/** The rule name a refusal by {@link ColumnRules.storedRule} is recorded and explained under (the broker's 42501). */
export const STORED_VALUES_RULE = 'masking.stored_values';

/**
 * Why a statement is refused whose stored values would be taken past masking rule `rule` (ColumnRules.storedRule):
 * the broker's refusal (pg-hooks.ts storedPastMasking) and `policy explain` say the same.
 */
export function storedValuesReason(rule: string): string {
  return `the statement would store values made from a column masked for you (masking rule ${rule}) where masking cannot follow them: read back from there they would not be masked. Store them only in a column masked in full that the statement names (INSERT INTO t (col) …), or ask for an unmask grant`;
}

/** A value a statement stores (PolicySession.storedReach): where, when the text names the column, and what it is made from. */
export interface StoredReach {
  target?: { table: string; column: string };
  /** Rows kept under another relation's name, their columns' names unchanged (stored-values.ts StoredValue.relocated). */
  relocated?: true;
  reach: ColumnReach;
}

/** What a statement (or one result column) is made from, for {@link ColumnRules.forDerived}; `unknown`: not readable. */
export type ColumnReach = { refs: readonly string[]; tables: readonly string[]; rowValues: boolean } | 'unknown';

/** A statement's reach as a whole, and per result column when its text tells them apart (policy's columnReach). */
export interface StatementReach {
  all: ColumnReach;
  outputs?: readonly ColumnReach[];
}

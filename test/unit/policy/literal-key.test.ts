import { beforeAll, describe, expect, it } from 'vitest';
import { policySection } from '../../../src/config/sections/policy.js';
import { classify } from '../../../src/policy/classify.js';
import type { Classification } from '../../../src/policy/classify.js';
import type { PolicyIdentity } from '../../../src/policy/evaluate.js';
import { literalKey, withoutStringTexts } from '../../../src/policy/literal-key.js';
import { loadParser, parseStatements } from '../../../src/policy/pg-parser.js';
import { PolicyEngine } from '../../../src/policy/policy-engine.js';

beforeAll(async () => { await loadParser(); });

describe('literalKey', () => {
  it('replaces numbers and plain strings by their token type, keeping everything else as written', () => {
    expect(literalKey('SELECT abalance FROM pgbench_accounts WHERE aid = 4711;'))
      .toBe('SELECT abalance FROM pgbench_accounts WHERE aid = \0i;');
    expect(literalKey(`INSERT INTO t (a, "it's", c$1) VALUES (-5, 'x''y', 1.5, 1e-3, 3., 'é€')`))
      .toBe(`INSERT INTO t (a, "it's", c$1) VALUES (-\0i, \0s, \0f, \0f, \0f, \0s)`);
    expect(literalKey('SELECT $1::int + t1.a2 FROM t1')).toBe('SELECT $1::int + t1.a2 FROM t1');
  });

  it('tells integer, numeric and string constants apart as the server\'s lexer does', () => {
    // FETCH takes an integer only: `FETCH 5.5` and `FETCH '5'` do not parse, so they must not share a key.
    const keys = ['FETCH 5 FROM c', 'FETCH 5.5 FROM c', "FETCH '5' FROM c"].map(literalKey);
    expect(new Set(keys).size).toBe(3);
    expect(literalKey('SELECT 2147483647')).toBe('SELECT \0i');
    expect(literalKey('SELECT 2147483648')).toBe('SELECT \0f'); // too big for int32: FCONST
    expect(literalKey('SELECT 0002147483647')).toBe('SELECT \0i');
    expect(literalKey('SELECT 99999999999')).toBe('SELECT \0f');
  });

  it('gives up where a token boundary could be misread', () => {
    for (const sql of [
      "SELECT 1 -- it's", "SELECT /* ' */ 1", 'SELECT $$a$$', 'SELECT $tag$x$tag$', "SELECT E'a\\'b'", "SELECT 'a\\b'",
      "SELECT U&'d\\0061t'", "SELECT B'101'", "SELECT X'1F'", "SELECT N'x'", 'SELECT 0x1F', 'SELECT 1_000', 'SELECT 1..2',
      'SELECT .5', 'SELECT 1abc', "SELECT 'open", 'SELECT "open', `SELECT ${'1'.repeat(9000)}`,
      // The string after UESCAPE is the escape character of the identifier before it: it decides the name.
      `SELECT * FROM U&"s!0065crets" UESCAPE '!'`, `SELECT U&"p!0061n" uEsCaPe\n'!' FROM cards`,
    ]) expect(literalKey(sql), sql).toBeUndefined();
  });

  // Fill a template's holes with constants of one token type in two different ways.
  const INTS = ['0', '7', '42', '2147483647', '00012'];
  const NUMS = ['1.5', '2147483648', '1e10', '3.', '0.000001', '6E+2'];
  const STRS = ["''", "'abc'", "'it''s'", "'é€ 4111 1111 1111 1111'", "'1'", "'public.secrets'"];
  function fill(template: string, seed: number): string {
    let k = seed;
    return template.replace(/\{([ifs])\}/g, (_m, t: string) => {
      const list = t === 'i' ? INTS : t === 'f' ? NUMS : STRS;
      return list[(k++ * 7 + 3) % list.length]!;
    });
  }
  const TEMPLATES = [
    'SELECT abalance FROM pgbench_accounts WHERE aid = {i};',
    'UPDATE pgbench_accounts SET abalance = abalance + -{i} WHERE aid = {i}',
    'INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ({i}, {i}, {i}, {f}, {s})',
    "SELECT * FROM public.t o JOIN cards c ON c.id = o.cid WHERE o.a IN ({i}, {f}) AND c.b LIKE {s} LIMIT {i} OFFSET {i}",
    'BEGIN; UPDATE t SET x = {s} WHERE id = {i}; SELECT lower({s}), {s}::date, interval {s}; COMMIT',
    'WITH d AS (DELETE FROM t WHERE id > {i} RETURNING *) SELECT count(*) FROM d',
    'SELECT "it\'s ""q""" FROM t WHERE a = {i} AND b = {s}\n{s}',
    'SELECT CAST({i} AS numeric({i}, {i})), CAST({s} AS varchar({i}))',
    'DELETE FROM cards WHERE true OR {i} = {i}',
  ];
  /** A parse tree without what constants decide: A_Const values and source positions. */
  function shape(v: unknown): unknown {
    if (Array.isArray(v)) return v.map(shape);
    if (typeof v !== 'object' || v === null) return v;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (/location|_start$|_end$|^stmt_len$/.test(k)) continue;
      out[k] = k === 'A_Const' ? Object.keys(x as object).filter((f) => f !== 'location') : shape(x);
    }
    return out;
  }
  const facts = (c: Classification) => ({ error: c.error, statements: c.statements.map(({ text: _t, ...rest }) => rest) });

  it('texts with one key parse alike and classify alike (real parser)', () => {
    for (const t of TEMPLATES) {
      const [a, b] = [fill(t, 0), fill(t, 1)];
      expect(a).not.toBe(b);
      expect(literalKey(a), a).toBeDefined();
      expect(literalKey(a), `${a} / ${b}`).toBe(literalKey(b));
      const [pa, pb] = [parseStatements(a), parseStatements(b)];
      expect('stmts' in pa, `${a} parses`).toBe(true);
      expect(shape(pa), `${a} / ${b}`).toEqual(shape(pb));
      expect(facts(classify(a))).toEqual(facts(classify(b)));
    }
    // Where the grammar takes a constant's value into the tree itself, the classification still agrees.
    for (const t of ['FETCH {i} FROM c', 'MOVE {i} IN c', 'SELECT CAST({s} AS FLOAT({i}))']) {
      const [a, b] = [fill(t, 1), fill(t, 2)];
      expect(literalKey(a)).toBe(literalKey(b));
      expect(shape(parseStatements(a))).not.toEqual(shape(parseStatements(b)));
      expect(facts(classify(a))).toEqual(facts(classify(b)));
    }
  });
});

describe('PolicyEngine: one decision per literal key', () => {
  const policy = policySection.parse({
    roles: { analyst: { groups: ['analyst'] } },
    connections: {
      db: { roles: { analyst: { classes: ['read', 'utility'], tables: { allow: ['public.*'], deny: ['public.secrets'] } } } },
    },
  });
  const analyst: PolicyIdentity = { sub: 'u-1', groups: ['analyst'], via: 'oidc', mfa: true };
  const view = { searchPath: ['public'], prepared: new Map() };

  it('statements differing only in constants share the cached decision', () => {
    const engine = new PolicyEngine(policy);
    const a = engine.lookup(analyst, 'db', 'SELECT abalance FROM pgbench_accounts WHERE aid = 1', view);
    const b = engine.lookup(analyst, 'db', 'SELECT abalance FROM pgbench_accounts WHERE aid = 2', view);
    expect(a.d.action).toBe('allow');
    expect(b).toBe(a);
    // A constant naming a table is not a table: the shared decision is the right one for both.
    expect(engine.decide(analyst, 'db', "SELECT * FROM t WHERE x = 'public.secrets'").action).toBe('allow');
    expect(engine.decide(analyst, 'db', "SELECT * FROM secrets WHERE x = 'public.t'").action).toBe('deny');
  });

  it('a U&"…" identifier\'s UESCAPE character is no constant: texts differing in it are decided apart', () => {
    const engine = new PolicyEngine(policy);
    // With '#' the name is s!0065crets, a table in public (allowed); with '!' it is secrets (denied).
    expect(engine.decide(analyst, 'db', `SELECT * FROM U&"s!0065crets" UESCAPE '#'`).action).toBe('allow');
    expect(engine.decide(analyst, 'db', `SELECT * FROM U&"s!0065crets" UESCAPE '!'`)).toMatchObject({ action: 'deny', reason: expect.stringContaining('table secrets matches deny pattern public.secrets') });
  });

  it('a text that does not parse keeps its decision to itself', () => {
    const engine = new PolicyEngine(policy);
    // Same key: FLOAT(0) is rejected by the grammar, FLOAT(5) is a read.
    expect(literalKey('SELECT CAST(1 AS FLOAT(0))')).toBe(literalKey('SELECT CAST(1 AS FLOAT(5))'));
    expect(engine.decide(analyst, 'db', 'SELECT CAST(1 AS FLOAT(0))').action).toBe('deny');
    expect(engine.decide(analyst, 'db', 'SELECT CAST(1 AS FLOAT(5))').action).toBe('allow');
  });

  it('settings are decided and applied per text', () => {
    const engine = new PolicyEngine(policy);
    const s = engine.openSession(analyst, 'db', 0);
    expect(s.decide("SET search_path = 'audit'", 1).action).toBe('allow');
    expect(s.searchPath).toEqual(['audit']);
    expect(s.decide("SET search_path = 'public'", 2).action).toBe('allow');
    expect(s.searchPath).toEqual(['public']);
    const first = engine.lookup(analyst, 'db', "SET search_path = 'x'", s);
    expect(first.exact).toBe("SET search_path = 'x'");
    expect(engine.lookup(analyst, 'db', "SET search_path = 'y'", s)).not.toBe(first);
  });
});

describe('withoutStringTexts', () => {
  it("gives what /'(?:[^']|'')*'/g replaced by '' gives, for every text of quotes, letters and blanks up to 9 long", () => {
    const alphabet = ["'", 'a', ' '];
    const regex = (t: string) => t.replace(/'(?:[^']|'')*'/g, "''");
    let texts = [''];
    for (let len = 1; len <= 9; len++) {
      texts = texts.flatMap((t) => alphabet.map((c) => t + c));
      for (const t of texts) expect(withoutStringTexts(t), JSON.stringify(t)).toBe(regex(t));
    }
  });

  it('takes a 10 MB string, where the regular expression overflows the stack', () => {
    const big = `select '${'x'.repeat(10_000_000)}', 'it''s'`;
    expect(() => big.replace(/'(?:[^']|'')*'/g, "''")).toThrow(RangeError);
    expect(withoutStringTexts(big)).toBe("select '', ''");
  });
});

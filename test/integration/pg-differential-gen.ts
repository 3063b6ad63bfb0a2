/**
 * Seeded generator of frontend-message sequences for the differential protocol test
 * (pg-differential.test.ts): the same sequence runs once straight against PostgreSQL and once through
 * pcigate, and the two answers are compared message by message.
 *
 * A sequence is a list of steps. A step is a run of frontend messages sent together (in one write, frame by
 * frame, or cut at random byte offsets) and `rfq`, how many ReadyForQuery messages the server answers them
 * with, so the runner knows where the step's answer ends: one per simple Query and FunctionCall, one per
 * Sync (§55.2). Two step kinds break that rule and are built so the count is still known: a Query inside an
 * unsynced extended batch (skipped, no ReadyForQuery, when the batch failed before it), and an extended-protocol
 * COPY FROM STDIN (the Sync right behind its Execute is ignored in copy mode). Both start from a known
 * transaction state: a ROLLBACK step goes first.
 *
 * Every statement is one the test policy allows and the parser accepts (pcigate refuses a text it cannot
 * parse, fail closed, by design), and no value looks like a card number, so neither policy nor masking may
 * change a byte. Left out because pcigate answers them otherwise on purpose, or in code outside the proxy
 * (each noted where it is left out): an Execute of a statement or portal pcigate never
 * saw bound (no SQL to judge); EXECUTE of a statement not prepared in an earlier Query; FETCH of a cursor not
 * declared before it; COPY … TO STDOUT
 * behind other statements, in a pipeline, in a failed transaction or of a missing table. Schema (reset before each run by the test): dt (id int primary key, name text, amount
 * numeric(10,2), flag bool, data bytea, tags text[]) with ids 1..20, and dlog (id serial, note text).
 * Layouts: https://www.postgresql.org/docs/current/protocol-message-formats.html
 */
import { bytes } from '../harness/pg-bytes.js';

/** Deterministic PRNG (mulberry32): the same seed gives the same sequence on every machine. */
export class Rng {
  private s: number;
  constructor(seed: number) { this.s = seed >>> 0 ^ 0x9e3779b9; }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number { return lo + Math.floor(this.next() * (hi - lo + 1)); }
  chance(p: number): boolean { return this.next() < p; }
  pick<T>(xs: readonly T[]): T { return xs[Math.floor(this.next() * xs.length)]!; }
}

export interface Frame { bytes: Buffer; label: string }

export interface Step {
  frames: Frame[];
  /** ReadyForQuery messages that end the step's answer. */
  rfq: number;
  /** How the frames are written: all at once, one write per frame, or the bytes cut at random offsets. */
  chunking: 'whole' | 'frames' | 'split';
  /** For 'split': cut offsets into the concatenated bytes (ascending). */
  cuts: number[];
}

export interface Sequence { seed: number; steps: Step[] }

/** OIDs the test looks up once (FunctionCall names a function by OID). */
export interface Oids { int4pl: number; int4div: number; upper: number; repeat: number }

const show = (s: string, max = 70) => JSON.stringify(s.length > max ? `${s.slice(0, max)}…` : s);

const f = {
  query: (sql: string): Frame => ({ bytes: bytes.query(sql), label: `Query ${show(sql)}` }),
  parse: (name: string, sql: string, types: number[]): Frame => ({ bytes: bytes.parse(name, sql, types), label: `Parse ${show(name)} ${show(sql)} types=[${types}]` }),
  bind: (portal: string, stmt: string, params: Array<Buffer | string | null>, pf: number[], rf: number[]): Frame => ({
    bytes: bytes.bind(portal, stmt, params, pf, rf),
    label: `Bind portal=${show(portal)} stmt=${show(stmt)} params=[${params.map((p) => (p === null ? 'null' : Buffer.isBuffer(p) ? `0x${p.toString('hex')}` : show(p))).join(', ')}] pf=[${pf}] rf=[${rf}]`,
  }),
  describe: (k: 'S' | 'P', name: string): Frame => ({ bytes: bytes.describe(k, name), label: `Describe ${k} ${show(name)}` }),
  execute: (portal: string, max: number): Frame => ({ bytes: bytes.execute(portal, max), label: `Execute ${show(portal)} max=${max}` }),
  close: (k: 'S' | 'P', name: string): Frame => ({ bytes: bytes.close(k, name), label: `Close ${k} ${show(name)}` }),
  sync: (): Frame => ({ bytes: bytes.sync(), label: 'Sync' }),
  flush: (): Frame => ({ bytes: bytes.flush(), label: 'Flush' }),
  copyData: (d: Buffer | string): Frame => ({ bytes: bytes.copyData(d), label: `CopyData ${show(Buffer.from(d).toString('latin1'))}` }),
  copyDone: (): Frame => ({ bytes: bytes.copyDone(), label: 'CopyDone' }),
  copyFail: (m: string): Frame => ({ bytes: bytes.copyFail(m), label: `CopyFail ${show(m)}` }),
  fn: (oid: number, args: Array<Buffer | string | null>, af: number[], rf: number): Frame => ({
    bytes: bytes.functionCall(oid, args, af, rf),
    label: `FunctionCall ${oid} args=[${args.map((a) => (a === null ? 'null' : Buffer.isBuffer(a) ? `0x${a.toString('hex')}` : show(a))).join(', ')}] af=[${af}] rf=${rf}`,
  }),
};

// ---- SQL the simple protocol sends ------------------------------------------------------------------

/**
 * One complete statement; some fail on purpose (division by zero, a missing table, a duplicate key).
 * Never a COPY … TO STDOUT: that has a step kind of its own (see generate()).
 */
function simpleStatement(r: Rng): string {
  const n = r.int(0, 25);
  const ch = `ch${r.int(1, 2)}`;
  const sp = `s${r.int(1, 2)}`;
  return r.pick<() => string>([
    () => `select id, name, amount, flag, data, tags from dt where id <= ${n} order by id`,
    () => 'select count(*), sum(amount) from dt',
    () => `insert into dt (id, name, amount) values (${r.int(15, 40)}, 'n${r.int(0, 99)}', ${r.int(0, 999)}.5)`,
    () => `update dt set amount = amount + 1 where id % ${r.int(2, 5)} = 0`,
    () => `delete from dt where id = ${r.int(1, 30)} returning id, name`,
    () => `insert into dlog (note) values ('note ${n}') returning id`,
    () => `select 1/${r.int(0, 1)} as q`,
    () => `select * from no_such_table_${r.int(1, 2)}`,
    () => `select 'x'::int as bad`,
    () => r.pick(['begin', 'commit', 'rollback', 'start transaction isolation level repeatable read', 'end', 'abort']),
    () => r.pick([`savepoint ${sp}`, `rollback to savepoint ${sp}`, `release savepoint ${sp}`]),
    () => `set application_name = 'app${r.int(1, 9)}'`,
    () => `set datestyle = '${r.pick(['ISO, MDY', 'German', 'SQL, DMY', 'Postgres, YMD'])}'`,
    () => `set timezone = '${r.pick(['UTC', 'Europe/Berlin', 'America/New_York'])}'`,
    () => `set intervalstyle = '${r.pick(['postgres', 'iso_8601', 'sql_standard'])}'`,
    () => `set extra_float_digits = ${r.int(0, 3)}`,
    () => `set local statement_timeout = '${r.int(1, 9)}s'`,
    () => 'reset all',
    () => `show ${r.pick(['datestyle', 'timezone', 'application_name', 'search_path', 'intervalstyle', 'all'])}`,
    () => `select '2024-01-02 03:04:05+00'::timestamptz as t, '1 day 2 hours'::interval as i, 1.5::float8 / 3 as f`,
    () => `listen ${ch}`,
    () => `unlisten ${r.pick([ch, '*'])}`,
    () => `notify ${ch}, 'p${r.int(0, 9)}'`,
    () => `select pg_notify('${ch}', 'q${r.int(0, 9)}')`,
    () => `do $$ begin raise notice 'note %', ${n}; end $$`,
    () => `do $$ begin raise warning 'careful' using detail = 'd${n}', hint = 'h'; end $$`,
    () => `do $$ begin raise exception 'boom ${n}' using errcode = '22000'; end $$`,
    () => 'drop table if exists no_such_table_9',
    () => `select repeat('x', ${r.int(0, 3) * 9000 + r.int(0, 100)}) as big`,
    () => `select g, g * 2 as h from generate_series(1, ${r.int(0, 300)}) g`,
    () => `declare c${r.int(1, 2)} ${r.pick(['', 'scroll '])}cursor for select id, name from dt order by id`,
    // FETCH only behind its own DECLARE: policy refuses a FETCH of a cursor it has not seen declared
    // (unclassifiable, on purpose: src/policy) where the server answers 34000.
    () => { const c = r.int(1, 2); return `declare c${c} cursor for select id, name from dt order by id; fetch ${r.int(1, 3)} from c${c}`; },
    () => `close c${r.int(1, 2)}`,
    // No EXECUTE: policy refuses one of a statement it has not seen prepared in an earlier Query
    // (unclassifiable, on purpose: src/policy/evaluate.ts judgeStatement) where the server answers 26000 or
    // runs it; the prepare-then-execute step kind below sends one only behind its own PREPARE.
    () => `prepare pp${r.int(1, 2)} as select $1::int + ${n} as v`,
    () => `lock table dt in access share mode`,
    () => `truncate dlog`,
    () => `select pg_sleep(0)`,
    // Rows, then an error mid-result. Over generate_series, not dt: whether rows come before the error depends
    // on the plan (a sort computes every row first), and dt's plan on statistics autovacuum may change.
    () => `select id, 100 / (id - ${r.int(1, 25)}) as q from generate_series(1, 20) id`,
    () => `set client_encoding = '${r.pick(['UTF8', 'LATIN1', 'SQL_ASCII'])}'`,
    // No SET ROLE / SESSION AUTHORIZATION: the step kinds that count on a statement not failing (a COPY FROM
    // entering copy mode) would fail for permissions, and the ReadyForQuery count with them.
    // Not of dt: its plan follows table statistics, which autovacuum may refresh between the two runs.
    () => `explain (costs off) select ${n} + g from generate_series(1, 3) g`,
  ])();
}

/** A simple Query's text: one to three statements, sometimes empty, only blanks or a semicolon. */
function simpleText(r: Rng): string {
  const u = r.next();
  if (u < 0.04) return r.pick(['', ' ', ';', ' ; ']);
  const k = u < 0.7 ? 1 : r.int(2, 3);
  const parts = Array.from({ length: k }, () => simpleStatement(r));
  return parts.join(r.pick(['; ', ';', ';\n'])) + (r.chance(0.2) ? ';' : '');
}

// ---- extended protocol -------------------------------------------------------------------------------

type Param = { type: 'int4'; v: number } | { type: 'text'; v: string } | { type: 'null' };

interface XStmt { sql: string; params: Param[]; cols: number; types?: number[] }

const T_INT4 = 23;
const T_TEXT = 25;

function extendedStatement(r: Rng): XStmt {
  const n = r.int(0, 25);
  return r.pick<() => XStmt>([
    () => ({ sql: 'select id, name, amount, flag, data, tags from dt where id <= $1 order by id', params: [{ type: 'int4', v: n }], cols: 6 }),
    () => ({ sql: 'select $1::text as a, $2::int4 as b', params: [{ type: 'text', v: `t${n}` }, r.chance(0.2) ? { type: 'null' } : { type: 'int4', v: n }], cols: 2 }),
    () => ({ sql: 'insert into dt (id, name) values ($1, $2)', params: [{ type: 'int4', v: r.int(15, 40) }, { type: 'text', v: `x${n}` }], cols: 0 }),
    () => ({ sql: 'update dt set flag = not flag where id = $1', params: [{ type: 'int4', v: n }], cols: 0 }),
    () => ({ sql: 'delete from dt where id = $1 returning id, name', params: [{ type: 'int4', v: r.int(1, 30) }], cols: 2 }),
    () => ({ sql: 'select 1/$1::int4 as q', params: [{ type: 'int4', v: r.int(0, 1) }], cols: 1 }),
    () => ({ sql: 'select g from generate_series(1, $1::int4) g', params: [{ type: 'int4', v: r.int(0, 8) }], cols: 1 }),
    () => ({ sql: 'select $1 + 1 as typed', params: [{ type: 'int4', v: n }], cols: 1, types: [T_INT4] }),
    () => ({ sql: 'select upper($1) as u', params: [{ type: 'text', v: `abc${n}` }], cols: 1, types: [T_TEXT] }),
    () => ({ sql: `select * from no_such_table_${r.int(1, 2)}`, params: [], cols: 0 }),
    () => ({ sql: 'select count(*) from dt', params: [], cols: 1 }),
    () => ({ sql: 'select id, 100 / (id - $1) as q from generate_series(1, 20) id', params: [{ type: 'int4', v: r.int(1, 25) }], cols: 2 }),
    () => ({ sql: r.pick(['begin', 'commit', 'rollback', 'savepoint s1', 'rollback to savepoint s1', 'release savepoint s1']), params: [], cols: 0 }),
    () => ({ sql: `set datestyle = '${r.pick(['ISO, MDY', 'German'])}'`, params: [], cols: 0 }),
    () => ({ sql: `set application_name = 'x${n}'`, params: [], cols: 0 }),
    () => ({ sql: 'show datestyle', params: [], cols: 1 }),
    () => ({ sql: `notify ch1, 'e${n}'`, params: [], cols: 0 }),
    () => ({ sql: 'listen ch1', params: [], cols: 0 }),
    () => ({ sql: `do $$ begin raise notice 'x ${n}'; end $$`, params: [], cols: 0 }),
    () => ({ sql: `select repeat('y', ${r.int(1, 3) * 7000}) as big`, params: [], cols: 1 }),
    // No backslash (decode, not '\\x0a0b'): behind another statement of its batch such a text is refused (rule
    // unseen_settings, policy-unseen-settings-2.test.ts), which is pcigate's answer, not the server's.
    () => ({ sql: "select '2024-01-02'::date as d, 2.5::numeric(5,2) as n, array['a','b'] as arr, decode('0a0b', 'hex') as b", params: [], cols: 4 }),
  ])();
}

function paramValue(p: Param, binary: boolean): Buffer | string | null {
  if (p.type === 'null') return null;
  if (!binary) return String(p.v);
  if (p.type === 'int4') return bytes.i32(p.v);
  return Buffer.from(p.v, 'utf8');
}

/** Names the generator draws from, so later messages hit (or miss) earlier ones. */
const STMT_NAMES = ['', '', 'st1', 'st2'];
const PORTAL_NAMES = ['', '', 'po1', 'po2'];

/**
 * The statements and portals a later message may name. pcigate records an Execute with the SQL it saw
 * parsed and bound under that name; one it never saw (a name the client never used, a portal it closed) has
 * no SQL, which policy refuses (42501) where the server answers 26000 or 34000 (reported, src/policy). What
 * the proxy knows of a Parse or Bind sent after an error in the same batch depends on when the error
 * arrived (the server ignored it), so names are reused only where that cannot matter: within the batch that
 * parsed or bound them, or a statement parsed by the first message of a step (nothing before it unanswered).
 */
interface Names { kept: Map<string, XStmt>; batch: Map<string, XStmt>; portals: Set<string> }

export function newNames(): Names {
  return { kept: new Map(), batch: new Map(), portals: new Set() };
}

/** Frames of one Parse…Execute unit (some parts left out, some doubled), possibly reusing earlier names. */
function extendedUnit(r: Rng, names: Names, firstOfStep: boolean): Frame[] {
  const out: Frame[] = [];
  const name = r.pick(STMT_NAMES);
  let st = names.batch.get(name) ?? names.kept.get(name);
  if (r.chance(0.75) || !st) {
    st = extendedStatement(r);
    out.push(f.parse(name, st.sql, st.types ?? (r.chance(0.2) ? st.params.map((p) => (p.type === 'text' ? T_TEXT : p.type === 'int4' ? T_INT4 : 0)) : [])));
    names.batch.set(name, st);
    if (firstOfStep) names.kept.set(name, st); else names.kept.delete(name);
    if (r.chance(0.3)) out.push(f.describe('S', name));
  }
  if (r.chance(0.1)) out.push(f.flush());
  const portal = r.pick(PORTAL_NAMES);
  const pfMode = r.int(0, 3);
  const pf = pfMode === 0 ? [] : pfMode === 1 ? [0] : pfMode === 2 ? [1] : st.params.map(() => r.int(0, 1));
  const params = st.params.map((p, i) => paramValue(p, (pf.length === 1 ? pf[0] : pf[i] ?? 0) === 1));
  const rfMode = r.int(0, 4);
  const rf = rfMode <= 1 ? [] : rfMode === 2 ? [0] : rfMode === 3 ? [1] : Array.from({ length: r.chance(0.85) ? st.cols : st.cols + 1 }, () => r.int(0, 1));
  out.push(f.bind(portal, name, r.chance(0.03) ? [] : params, pf, rf));
  names.portals.add(portal);
  if (r.chance(0.35)) out.push(f.describe('P', portal));
  const max = r.chance(0.3) ? r.int(1, 3) : 0;
  out.push(f.execute(portal, max));
  if (max > 0 && r.chance(0.7)) out.push(f.execute(portal, r.chance(0.5) ? 0 : r.int(1, 3)));
  if (r.chance(0.15)) { out.push(f.close('P', portal)); names.portals.delete(portal); }
  if (r.chance(0.1)) { out.push(f.close('S', name)); names.batch.delete(name); names.kept.delete(name); }
  return out;
}

function extendedStep(r: Rng, names: Names): Frame[] {
  const frames: Frame[] = [];
  const batches = r.int(1, 3);
  for (let b = 0; b < batches; b++) {
    const units = r.int(1, 3);
    for (let u = 0; u < units; u++) {
      const x = r.next();
      if (x < 0.06 && names.portals.size > 0) frames.push(f.execute(r.pick([...names.portals]), r.int(0, 2))); // again, or after its Sync
      else if (x < 0.09) frames.push(f.describe(r.pick(['S', 'P'] as const), r.pick([...STMT_NAMES, 'nope'])));
      else if (x < 0.11) {
        const k = r.pick(['S', 'P'] as const);
        const n = r.pick([...(k === 'S' ? STMT_NAMES : PORTAL_NAMES), 'nope']);
        frames.push(f.close(k, n));
        if (k === 'S') { names.batch.delete(n); names.kept.delete(n); } else names.portals.delete(n);
      } else frames.push(...extendedUnit(r, names, frames.length === 0));
    }
    // Pipelines: several batches before one Sync, or a Sync after each.
    if (b === batches - 1 || r.chance(0.5)) {
      frames.push(f.sync());
      names.batch.clear();
      names.portals.clear();
    } else if (r.chance(0.3)) frames.push(f.flush());
  }
  return frames;
}

// ---- COPY FROM STDIN -----------------------------------------------------------------------------------

const BINARY_COPY_HEADER = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), bytes.i32(0), bytes.i32(0)]);

/** Data for `copy dlog (note) from stdin` in `format`, cut into CopyData messages; sometimes malformed. */
function copyInData(r: Rng, format: 'text' | 'csv' | 'binary'): Frame[] {
  const rows = Array.from({ length: r.int(0, 6) }, (_, i) => `row ${i} ${r.int(0, 999)}`);
  let data: Buffer;
  if (format === 'binary') {
    const tuples = rows.map((t) => Buffer.concat([bytes.i16(1), bytes.i32(Buffer.byteLength(t)), Buffer.from(t)]));
    data = Buffer.concat([BINARY_COPY_HEADER, ...tuples, bytes.i16(-1)]);
    if (r.chance(0.15)) data = data.subarray(0, Math.max(0, data.length - r.int(1, 6))); // truncated
  } else {
    const lines = rows.map((t) => (format === 'csv' ? `"${t}"` : t));
    if (r.chance(0.1)) lines.push(format === 'csv' ? '"unterminated' : 'too\tmany\tcolumns');
    data = Buffer.from(lines.map((l) => `${l}\n`).join('') + (r.chance(0.2) ? '\\.\n' : ''));
  }
  const out: Frame[] = [];
  for (let at = 0; at < data.length;) {
    const n = r.int(1, Math.max(1, data.length - at));
    out.push(f.copyData(data.subarray(at, at + n)));
    at += n;
  }
  if (r.chance(0.12)) out.push(f.copyFail(`client gave up ${r.int(0, 9)}`));
  else out.push(f.copyDone());
  return out;
}

function copyFormat(r: Rng): { format: 'text' | 'csv' | 'binary'; clause: string } {
  const format = r.pick(['text', 'csv', 'binary'] as const);
  return { format, clause: format === 'text' ? r.pick(['', ' with (format text)']) : ` with (format ${format})` };
}

// ---- sequences -----------------------------------------------------------------------------------------

function cutsFor(r: Rng, frames: Frame[]): number[] {
  const total = frames.reduce((s, x) => s + x.bytes.length, 0);
  const k = r.int(1, 4);
  return [...new Set(Array.from({ length: k }, () => r.int(1, Math.max(1, total - 1))))].sort((a, b) => a - b);
}

function step(r: Rng, frames: Frame[], rfq: number): Step {
  const chunking = r.pick(['whole', 'whole', 'frames', 'split'] as const);
  return { frames, rfq, chunking, cuts: chunking === 'split' ? cutsFor(r, frames) : [] };
}

/** The sequence for `seed`: 4 to 14 steps of every kind, always ending with a Sync step. */
export function generate(seed: number, oids: Oids): Sequence {
  const r = new Rng(seed);
  const steps: Step[] = [];
  const names = newNames();
  const count = r.int(4, 14);
  for (let i = 0; i < count; i++) {
    const kind = r.next();
    if (kind < 0.32) {
      steps.push(step(r, [f.query(simpleText(r))], 1));
    } else if (kind < 0.62) {
      const frames = extendedStep(r, names);
      steps.push(step(r, frames, frames.filter((x) => x.label === 'Sync').length));
    } else if (kind < 0.72) {
      // COPY FROM STDIN by simple Query: its data is sent behind it (as psql does after CopyInResponse, or at
      // once); when the Query fails before its COPY starts, the server ignores the copy messages.
      const { format, clause } = copyFormat(r);
      const target = r.chance(0.85) ? 'dlog (note)' : 'dt (id, name)';
      const pre = r.chance(0.25) ? `${simpleStatement(r)}; ` : '';
      const post = r.chance(0.2) ? `; ${simpleStatement(r)}` : '';
      steps.push(step(r, [f.query(`${pre}copy ${target} from stdin${clause}${post}`), ...copyInData(r, format)], 1));
    } else if (kind < 0.78) {
      // Extended-protocol COPY FROM STDIN, libpq style (Sync right behind Execute, ignored in copy mode).
      steps.push(step(r, [f.query('rollback')], 1));
      names.kept.delete(''); // the unnamed statement is parsed anew below
      const { format, clause } = copyFormat(r);
      const early = r.chance(0.6);
      const frames = [f.parse('', `copy dlog (note) from stdin${clause}`, []), f.bind('', '', [], [], []), f.execute('', 0),
        ...(early ? [f.sync()] : r.chance(0.5) ? [f.flush()] : []), ...copyInData(r, format), f.sync()];
      steps.push(step(r, frames, 1));
    } else if (kind < 0.84) {
      // A simple Query inside an unsynced extended batch: answered when the batch has not failed, skipped
      // (no ReadyForQuery) when it has (postgres.c: ignore_till_sync).
      steps.push(step(r, [f.query('rollback')], 1));
      names.kept.delete(''); // the unnamed statement is parsed anew below
      const fails = r.chance(0.4);
      // Not a COPY … TO STDOUT: pcigate refuses one while the transaction status is unknown (on purpose,
      // src/broker/pg-hooks.ts withCopyColumns).
      const q = r.pick(['select 2 as two', "do $$ begin raise notice 'inside'; end $$", `notify ch1, 'in'`]);
      const frames = [f.parse('', 'select 1/$1::int4 as q', []), f.bind('', '', [fails ? '0' : '1'], [], []), f.execute('', 0),
        ...(r.chance(0.3) ? [f.flush()] : []), f.query(q), f.sync()];
      steps.push(step(r, frames, fails ? 1 : 2));
    } else if (kind < 0.9) {
      // FunctionCall (§55.2.8): text or binary arguments and result; int4div(1, 0) fails.
      const a = r.int(-50, 50);
      const b = r.int(0, 3);
      const call = r.pick<() => Frame>([
        () => { const bin = r.chance(0.5); return f.fn(oids.int4pl, bin ? [bytes.i32(a), bytes.i32(b)] : [String(a), String(b)], bin ? [1] : [0], r.int(0, 1)); },
        () => f.fn(oids.int4div, [String(a), String(b)], [], r.int(0, 1)),
        () => f.fn(oids.upper, [`abc${a}`], r.chance(0.5) ? [] : [1], r.int(0, 1)),
        () => f.fn(oids.repeat, ['z', r.chance(0.2) ? null : String(r.int(0, 20))], [], 0),
      ])();
      steps.push(step(r, [call], 1));
    } else if (kind < 0.95) {
      // A transaction block with a failure inside: everything after it gets 25P02 until it ends.
      steps.push(step(r, [f.query(r.pick(['begin', 'begin; savepoint s1']))], 1));
      steps.push(step(r, [f.query(r.pick(['select 1/0', 'select * from no_such_table_1', `insert into dt (id) values (1)`]))], 1));
      const after = r.chance(0.5) ? [f.query(simpleText(r))] : extendedStep(r, names);
      steps.push(step(r, after, after.filter((x) => x.label === 'Sync' || x.label.startsWith('Query')).length));
      steps.push(step(r, [f.query(r.pick(['rollback', 'commit', 'rollback to savepoint s1', 'select 1']))], 1));
    } else if (kind < 0.97) {
      // An extended-protocol COPY … TO STDOUT. pcigate plans its columns on a side connection, and refuses it
      // (0A000, on purpose: src/broker/pg-hooks.ts withCopyColumns) where that connection could miss changes
      // the session made: behind unanswered statements or after changes in a transaction block. So it comes
      // first, after a ROLLBACK; a batch may follow it.
      steps.push(step(r, [f.query('rollback')], 1));
      names.kept.delete(''); // the unnamed statement is parsed anew below
      const sql = `copy (select id, name, data from dt where id < ${r.int(0, 25)} order by id) to stdout${r.pick(['', ' with (format csv)', ' with (format binary)'])}`;
      const frames = [f.parse('', sql, []), f.bind('', '', [], [], []), ...(r.chance(0.5) ? [f.describe('P', '')] : []), f.execute('', 0), f.sync()];
      if (r.chance(0.3)) frames.push(...extendedStep(r, names));
      steps.push(step(r, frames, frames.filter((x) => x.label === 'Sync').length));
    } else if (kind < 0.975) {
      // COPY … TO STDOUT by simple Query, alone in its text, outside a transaction block or in one that has not
      // failed. pcigate asks the server about the COPY first (src/broker/pg-copy-plan.ts) and refuses it
      // (0A000, on purpose) behind other statements of its string or in a pipeline; when the question fails
      // (a missing table, a failed transaction) it answers with the error's SQLSTATE and message only, not the
      // server's ErrorResponse (reported; not the proxy's code).
      steps.push(step(r, [f.query('rollback')], 1));
      const block = r.chance(0.4);
      if (block) steps.push(step(r, [f.query('begin')], 1), step(r, [f.query(r.pick(['select count(*) from dt', "set datestyle = 'German'", 'savepoint s1']))], 1));
      const n = r.int(0, 25);
      const sql = r.pick<() => string>([
        () => `copy dt (id, name, amount) to stdout${r.pick(['', ' with (format csv)', ' with (format binary)', ' with (format csv, header)'])}`,
        () => `copy (select id, name, flag, data, tags from dt where id < ${n} order by id) to stdout${r.pick(['', ' with (format csv)', ' with (format binary)'])}`,
        () => `copy (select id, 100 / (id - ${n}) from generate_series(1, 20) id) to stdout`, // CopyData, then an error
      ])();
      steps.push(step(r, [f.query(sql)], 1));
      if (block) steps.push(step(r, [f.query(r.pick(['commit', 'rollback']))], 1));
    } else if (kind < 0.985) {
      const k = r.int(3, 4);
      steps.push(step(r, [f.query(`prepare pp${k} as select $1::int * 2 as v`)], 1));
      steps.push(step(r, [f.query(`execute pp${k}(${r.int(0, 9)})`)], 1));
    } else {
      steps.push(step(r, [f.sync()], 1));
    }
  }
  steps.push(step(r, [f.sync()], 1));
  return { seed, steps };
}

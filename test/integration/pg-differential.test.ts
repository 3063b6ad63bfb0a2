/**
 * Differential protocol test: seeded sequences of frontend messages (pg-differential-gen.ts) run once
 * straight against PostgreSQL and once through pcigate, on raw sockets, and every backend message of the
 * two runs is compared. The policy allows every class a parseable statement can have and no masking rule
 * applies (the data holds no card numbers), so the proxy must be byte-transparent: forward each message
 * unchanged, keep the stream in step, answer what the server would.
 *
 * The database is reset before each run (same table OIDs, same rows, sequences restarted), and the two runs
 * of a seed happen one after the other on fresh connections.
 *
 * Normalised, and only these (each legitimately differs between two connections):
 * - the SCRAM exchange before AuthenticationOk: the gate's listener secret is not the server's password, so
 *   the salt, nonces and server signature differ by construction;
 * - BackendKeyData's secret key: pcigate issues its own (src/pg/proxy/cancel-map.ts) so a client never
 *   learns the upstream key, and two backends never share one anyway. Its process ID is kept apart from
 *   that: it must be the backend's own (a client compares it with NotificationResponse's and
 *   pg_backend_pid()), so it is replaced by a marker in BackendKeyData and in every NotificationResponse
 *   that names the session itself; a notification from anyone else would keep its number;
 * - nothing else: ParameterStatus values, notices, errors (their position, file and line fields too) must
 *   match byte for byte, as the two runs use the same server, user, database and data.
 *
 * Replay: PG_DIFF_SEED=17,42 runs those seeds (PG_DIFF_VERBOSE=1 prints every step of a failing one);
 * PG_DIFF_SEEDS=5000 runs seeds 1..5000 for exploration. The fixed set runs seeds 1..FIXED_SEEDS.
 */
import net from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameReader } from '../../src/pg/proxy/frame-reader.js';
import { ScramClient } from '../../src/pg/proxy/scram.js';
import { bytes } from '../harness/pg-bytes.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { generate, type Oids, type Sequence, type Step } from './pg-differential-gen.js';
import { type Gate, gateConfig, startConfiguredGate } from './pg-proxy-setup.js';

/** Seeds of the fixed run (CI). */
const FIXED_SEEDS = 300;
/** How long one step may take to be answered before the run counts it as hung. */
const STEP_TIMEOUT_MS = 3_000;

let server: PostgresServer;
let gate: Gate;
let admin: pg.Client;
let oids: Oids;

const RESET = `truncate dt, dlog restart identity;
  insert into dt select g, 'name ' || g, g * 1.25, g % 2 = 0, decode(lpad(to_hex(g), 4, '0'), 'hex'), array['t' || g, 'u']
  from generate_series(1, 20) g`;

beforeAll(async () => {
  server = await startPostgres();
  server.psql(`create table dt (id int primary key, name text, amount numeric(10,2), flag bool, data bytea, tags text[]);
    create table dlog (id serial primary key, note text);
    alter table dt set (autovacuum_enabled = off); alter table dlog set (autovacuum_enabled = off);`);
  // No autovacuum on them: an ANALYZE between the two runs of a seed could change a plan (and with it which
  // rows come before an error, or an EXPLAIN), a difference of timing, not of the proxy.
  const oid = (sig: string) => Number(server.psql(`select '${sig}'::regprocedure::oid`).trim());
  oids = { int4pl: oid('int4pl(int4,int4)'), int4div: oid('int4div(int4,int4)'), upper: oid('upper(text)'), repeat: oid('repeat(text,int4)') };
  // Every class a statement that parses can have; only 'unknown' (unclassifiable) stays refused.
  // The generator sends SHOW ALL, which reads superuser-only settings: granted by naming pg_settings (docs/policy-server-secrets.md).
  gate = await startConfiguredGate(server, gateConfig(server, {
    classes: ['read', 'write', 'ddl', 'dcl', 'copy_out', 'copy_in', 'function', 'transaction', 'utility'],
    role: { tables: { allow: ['*', 'pg_catalog.pg_settings'] } },
  }));
  admin = new pg.Client({ host: server.host, port: server.port, user: server.superuser, password: server.password, database: server.database });
  await admin.connect();
}, 120_000);

afterAll(async () => {
  await admin?.end().catch(() => undefined);
  await gate?.close().catch(() => undefined);
  await server?.stop();
});

// ---- a raw connection that reads frames with a deadline ----------------------------------------------

class Conn {
  private readonly reader = new FrameReader(1 << 28);
  private waiters: Array<() => void> = [];
  closed = false;

  private constructor(readonly sock: net.Socket) {
    sock.setNoDelay(true);
    sock.on('data', (b: Buffer) => { this.reader.push(b); this.wake(); });
    sock.on('close', () => { this.closed = true; this.wake(); });
    sock.on('error', () => {});
  }

  private wake(): void { this.waiters.splice(0).forEach((w) => w()); }

  static async open(to: { host: string; port: number }): Promise<Conn> {
    const sock = net.connect(to.port, to.host);
    await new Promise<void>((res, rej) => { sock.once('connect', res); sock.once('error', rej); });
    return new Conn(sock);
  }

  /** The next frame, or null when the connection closed or `deadline` passed. */
  async next(deadline: number): Promise<Buffer | null> {
    for (;;) {
      const f = this.reader.next();
      if (f) return Buffer.from(f);
      if (this.closed) return null;
      const left = deadline - Date.now();
      if (left <= 0) return null;
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((r) => { this.waiters.push(r); timer = setTimeout(r, left); });
      clearTimeout(timer);
    }
  }

  /** Frames up to and including the `rfq`-th ReadyForQuery; `complete` false on a timeout or close. */
  async answer(rfq: number, ms: number): Promise<{ frames: Buffer[]; complete: boolean }> {
    const deadline = Date.now() + ms;
    const frames: Buffer[] = [];
    for (let seen = 0; seen < rfq;) {
      const f = await this.next(deadline);
      if (!f) return { frames, complete: false };
      frames.push(f);
      if (f[0] === 0x5a) seen++;
    }
    return { frames, complete: true };
  }

  /** SCRAM-SHA-256 login; the frames from AuthenticationOk to ReadyForQuery. */
  async login(user: string, database: string, secret: string): Promise<Buffer[]> {
    this.sock.write(bytes.startup({ user, database }));
    const deadline = Date.now() + 10_000;
    const sasl = await this.next(deadline);
    if (!sasl || sasl[0] !== 0x52 || sasl.readInt32BE(5) !== 10) throw new Error('expected AuthenticationSASL');
    const client = new ScramClient(secret);
    this.sock.write(bytes.saslInitial('SCRAM-SHA-256', client.first()));
    const cont = await this.next(deadline);
    if (!cont) throw new Error('no SASLContinue');
    this.sock.write(bytes.saslResponse(client.final(cont.subarray(9).toString())));
    const rest = await this.answer(1, 10_000);
    if (!rest.complete) throw new Error('login did not finish');
    // AuthenticationSASLFinal carries the server signature, which differs by construction (see the header).
    return rest.frames.filter((x) => !(x[0] === 0x52 && x.readInt32BE(5) === 12));
  }

  /** Writes `step` as its chunking says. */
  async send(step: Step): Promise<void> {
    const all = Buffer.concat(step.frames.map((x) => x.bytes));
    if (step.chunking === 'whole') { this.sock.write(all); return; }
    const parts: Buffer[] = [];
    if (step.chunking === 'frames') parts.push(...step.frames.map((x) => x.bytes));
    else {
      let at = 0;
      for (const c of [...step.cuts, all.length]) { parts.push(all.subarray(at, c)); at = c; }
    }
    for (const p of parts) {
      this.sock.write(p);
      await new Promise((r) => setImmediate(r));
    }
  }
}

// ---- the two runs --------------------------------------------------------------------------------------

interface RunResult {
  startup: Buffer[];
  steps: Array<{ frames: Buffer[]; complete: boolean }>;
  /** What arrived after Terminate, until the server closed the connection. */
  tail: Buffer[];
  /** Whether the connection was closed after Terminate (the server closes it: §55.2.10). */
  closedAfterTerminate: boolean;
  ownPid: number;
}

async function runOn(target: 'direct' | 'gate', seq: Sequence, rfqs?: number[]): Promise<RunResult> {
  await admin.query(RESET);
  const to = target === 'direct' ? { host: server.host, port: server.port } : { host: gate.broker.host, port: gate.broker.port };
  const c = await Conn.open(to);
  try {
    const startup = target === 'direct'
      ? await c.login(server.superuser, server.database, server.password)
      : await c.login(gate.broker.user, gate.broker.database, gate.broker.secret);
    const k = startup.find((x) => x[0] === 0x4b);
    const ownPid = k ? k.readInt32BE(5) : -1;
    const steps: RunResult['steps'] = [];
    for (const [i, s] of seq.steps.entries()) {
      await c.send(s);
      const a = await c.answer(rfqs?.[i] ?? s.rfq, STEP_TIMEOUT_MS);
      steps.push(a);
      if (!a.complete) break; // out of step: nothing later can be compared
    }
    c.sock.write(bytes.terminate());
    const tail: Buffer[] = [];
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    for (let fr = await c.next(deadline); fr; fr = await c.next(deadline)) tail.push(fr);
    return { startup, steps, tail, ownPid, closedAfterTerminate: c.closed };
  } finally {
    c.sock.destroy();
  }
}

// ---- normalisation and comparison ----------------------------------------------------------------------

/** The frame with what legitimately differs between two connections replaced (see the file header). */
function normalise(fr: Buffer, ownPid: number): Buffer {
  if (fr[0] === 0x4b) return bytes.msg('K', 'own pid, key');
  if (fr[0] === 0x41 && fr.readInt32BE(5) === ownPid) {
    const out = Buffer.from(fr);
    out.writeInt32BE(0, 5);
    return out;
  }
  return fr;
}

const esc = (b: Buffer) => b.toString('latin1').replace(/[^\x20-\x7e]/g, (ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`);

/** A readable rendering of a backend frame, for failure reports. */
export function describeFrame(fr: Buffer | undefined): string {
  if (!fr) return '(nothing)';
  const letter = String.fromCharCode(fr[0]!);
  const body = fr.subarray(5);
  if (letter === 'E' || letter === 'N') {
    const fields: string[] = [];
    for (let off = 0; off < body.length && body[off] !== 0;) {
      const end = body.indexOf(0, off + 1);
      fields.push(`${String.fromCharCode(body[off]!)}=${esc(body.subarray(off + 1, end))}`);
      off = end + 1;
    }
    return `${letter} ${fields.join(' ')}`;
  }
  const s = esc(body);
  return `${letter} len=${fr.length - 1} ${s.length > 300 ? `${s.slice(0, 300)}…` : s}`;
}

interface Divergence {
  seed: number; where: string; index: number; direct: Buffer | undefined; gated: Buffer | undefined; context: string;
  /** The whole answers of both runs where they differ, for PG_DIFF_VERBOSE. */
  answers?: { direct: Buffer[]; gated: Buffer[] };
}

function compareFrames(seed: number, where: string, d: Buffer[], g: Buffer[], dPid: number, gPid: number, context: string): Divergence | null {
  for (let i = 0; i < Math.max(d.length, g.length); i++) {
    const a = d[i] && normalise(d[i]!, dPid);
    const b = g[i] && normalise(g[i]!, gPid);
    if (!a || !b || !a.equals(b)) return { seed, where, index: i, direct: d[i], gated: g[i], context, answers: { direct: d, gated: g } };
  }
  return null;
}

/** The first divergence of a seed, or null; a step the direct run could not finish is the generator's fault. */
async function check(seed: number): Promise<Divergence | null> {
  const seq = generate(seed, oids);
  const direct = await runOn('direct', seq);
  const bad = direct.steps.findIndex((s) => !s.complete);
  if (bad >= 0) {
    return { seed, where: `step ${bad} (direct run did not finish: the generator's ReadyForQuery count ${seq.steps[bad]!.rfq} is wrong)`, index: -1, direct: undefined, gated: undefined, context: stepText(seq, bad) };
  }
  const gated = await runOn('gate', seq, direct.steps.map((s) => s.frames.filter((x) => x[0] === 0x5a).length));
  const startup = compareFrames(seed, 'startup', direct.startup, gated.startup, direct.ownPid, gated.ownPid, '');
  if (startup) return startup;
  for (const [i, s] of direct.steps.entries()) {
    const gs = gated.steps[i] ?? { frames: [], complete: false };
    const dv = compareFrames(seed, `step ${i}${gs.complete ? '' : ' (gated run hung or closed)'}`, s.frames, gs.frames, direct.ownPid, gated.ownPid, stepText(seq, i));
    if (dv) return dv;
  }
  const tail = compareFrames(seed, 'after Terminate', direct.tail, gated.tail, direct.ownPid, gated.ownPid, '');
  if (tail) return tail;
  if (direct.closedAfterTerminate !== gated.closedAfterTerminate) {
    return { seed, where: `after Terminate: direct ${direct.closedAfterTerminate ? 'closed' : 'kept'} the connection, gated ${gated.closedAfterTerminate ? 'closed' : 'kept'} it (${STEP_TIMEOUT_MS} ms)`, index: -1, direct: undefined, gated: undefined, context: '' };
  }
  return null;
}

function stepText(seq: Sequence, i: number): string {
  const s = seq.steps[i]!;
  return `  sent (${s.chunking}${s.cuts.length ? ` cut at ${s.cuts}` : ''}):\n${s.frames.map((x) => `    ${x.label}`).join('\n')}`;
}

function report(d: Divergence): string {
  const seq = generate(d.seed, oids);
  const answers = process.env.PG_DIFF_VERBOSE && d.answers
    ? `\n  direct answer:\n${d.answers.direct.map((x) => `    ${describeFrame(x)}`).join('\n')}\n  gated answer:\n${d.answers.gated.map((x) => `    ${describeFrame(x)}`).join('\n')}`
    : '';
  const all = process.env.PG_DIFF_VERBOSE ? `${answers}\n  whole sequence:\n${seq.steps.map((_, i) => `  [${i}]\n${stepText(seq, i)}`).join('\n')}` : '';
  return `seed ${d.seed}, ${d.where}, message ${d.index}:\n${d.context}\n  direct: ${describeFrame(d.direct)}\n  gated:  ${describeFrame(d.gated)}${all}\n  replay: PG_DIFF_SEED=${d.seed} PG_DIFF_VERBOSE=1 npx vitest run test/integration/pg-differential.test.ts`;
}

function seeds(): number[] {
  const one = process.env.PG_DIFF_SEED;
  if (one) return one.split(',').map(Number);
  const n = Number(process.env.PG_DIFF_SEEDS ?? FIXED_SEEDS);
  return Array.from({ length: n }, (_, i) => i + 1);
}

describe('pcigate is byte-transparent for a generated protocol session (direct vs gated)', () => {
  const list = seeds();
  it(`answers ${list.length} seeded sequences exactly as PostgreSQL does`, async () => {
    const failures: string[] = [];
    const started = Date.now();
    for (const seed of list) {
      const d = await check(seed);
      if (d) failures.push(report(d));
      if (failures.length >= 10) break;
    }
    if (process.env.PG_DIFF_SEEDS) process.stderr.write(`pg-differential: ${list.length} seeds in ${Date.now() - started} ms, ${failures.length} failing\n`);
    expect(failures, failures.join('\n\n')).toEqual([]);
  }, Math.max(120_000, list.length * 2_000));
});

/**
 * `pcigate sessions` and `pcigate replay` on a Postgres session recorded through the real proxy (real
 * PostgreSQL, real psql): the transcript replays what psql showed (statements, the masked card number,
 * the denial), proven against the log; a transcript changed afterwards is flagged, and --strict exits 3;
 * each listing and replay is an audit.access record; the HTML transcript page escapes what it shows.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgMasker } from '../../src/mask/pg-masker.js';
import { runCli, tempDir } from '../harness/cli.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { readLog, run, startGate, type Gate } from './pg-proxy-setup.js';

const PAN = '4111111111111111';
let server: PostgresServer;
let gate: Gate;
let shown: string;

beforeAll(async () => {
  server = await startPostgres();
  server.psql(`create table cards (id int primary key, holder text, pan text); insert into cards values (1, 'Ann <b>&amp;</b>', '${PAN}');`);
  gate = await startGate(server, {
    hooksFor: () => {
      const masker = new PgMasker({ config: { format: 'last4', networks: 'major', sad_columns: [], rules: [] } });
      return {
        onStatement: (stmt) => (/^\s*drop/i.test(stmt.sql)
          ? { action: 'deny', rule: 'no-drop', message: 'pcigate: denied by policy (no-drop)' }
          : { action: 'allow' }),
        onBackendMessage: (frame, stmt) => masker.onBackendMessage(frame, stmt),
      };
    },
  });
  const r = await run('psql', ['-X', '-v', 'ON_ERROR_STOP=0', '-f', '-'], gate.env, {
    // The last two: a new row description, then one seen before (the transcript reuses decoded names).
    input: "select id, holder, pan from cards;\ndrop table cards;\nselect 40 + 2 as answer;\nselect 7 as seven;\nselect 40 + 2 as answer;\n",
  });
  shown = r.stdout;
  await gate.close();
}, 120_000);

afterAll(async () => {
  await gate?.close().catch(() => undefined);
  await server?.stop();
});

const cli = (args: string[]) => runCli(args, { env: { PCIGATE_HOME: gate.home } });

describe('sessions and replay of a Postgres session', () => {
  it('psql saw the masked card number, never the PAN', () => {
    expect(shown).toContain('1111');
    expect(shown).not.toContain(PAN);
    expect(shown).toContain('42');
  });

  it('lists the session with its counts and records the listing', async () => {
    const r = await cli(['sessions', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { recorded: boolean; sessions: Array<Record<string, unknown>> };
    expect(out.recorded).toBe(true);
    expect(out.sessions).toHaveLength(1);
    expect(out.sessions[0]).toMatchObject({ kind: 'postgres', who: 'tester', conn: 'test-db', statements: 4, denials: 1, outcome: 'success' });
    const table = await cli(['sessions', '--kind', 'postgres', '--user', 'tester']);
    expect(table.stdout).toMatch(/^ID\s+WHO\s+KIND/);
    expect(table.stdout).toContain((out.sessions[0]!.id as string).slice(0, 8));
    expect((await cli(['sessions', '--kind', 'ssh', '--json'])).stdout).toContain('"sessions": []');
    const access = readLog(gate.home).filter((x) => x.type === 'audit.access');
    expect(access.map((x) => (x.detail as { command: string }).command)).toEqual(['sessions', 'sessions', 'sessions']);
    expect((access[2]!.detail as { filters: unknown }).filters).toEqual({ kind: 'ssh' });
  });

  it('replays the transcript: statements, decision, masked rows, verified against the log', async () => {
    const end = readLog(gate.home).find((x) => x.type === 'session.end')!;
    const r = await cli(['replay', end.session!.slice(0, 8)]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`verified against log record ${end.seq}`);
    expect(r.stderr).toContain(end.blobs![0]!.sha256);
    expect(r.stdout).toMatch(/#1\s+allowed\s+select id, holder, pan from cards;/);
    expect(r.stdout).toMatch(/#2\s+denied \(no-drop\)\s+drop table cards;/);
    expect(r.stdout).toMatch(/→ success, 1 row/);
    // The sample row is what psql showed: the masked value, byte for byte.
    const maskedShown = /\|\s*(\S*1111)\s*$/m.exec(shown)![1]!;
    expect(r.stdout).toContain(maskedShown);
    expect(r.stdout).not.toContain(PAN);
    expect(r.stdout).toMatch(/answer\s*\n\s*42\n[\s\S]*seven\s*\n\s*7\n[\s\S]*answer\s*\n\s*42\n/);
    const access = readLog(gate.home).filter((x) => x.type === 'audit.access' && x.session === end.session);
    expect(access.at(-1)!.detail).toMatchObject({ command: 'replay', shown: true, recordings: [{ seq: end.seq, status: 'verified' }] });
  });

  it('writes a transcript page with everything escaped', async () => {
    const end = readLog(gate.home).find((x) => x.type === 'session.end')!;
    const file = path.join(tempDir(), 'pg.html');
    const r = await cli(['replay', end.session!, '--html', file]);
    expect(r.code).toBe(0);
    const html = readFileSync(file, 'utf8');
    expect(html).toContain('Ann &lt;b&gt;&amp;amp;&lt;/b&gt;');
    expect(html).not.toContain('<b>');
    expect(html).toContain(`verified against log record ${end.seq}`);
    expect(html).not.toContain(PAN);
    // The export is announced with its absolute path and SHA-256, for the evidence bundle's 3.5.1 scan.
    const access = readLog(gate.home).filter((x) => x.type === 'audit.access' && x.session === end.session).at(-1)!;
    expect(access.detail).toMatchObject({ command: 'replay', html: true, path: file, sha256: createHash('sha256').update(readFileSync(file)).digest('hex') });
    // The page attached to a finding is not replaced by running the command again; --force replaces it.
    writeFileSync(file, 'attached to finding 12');
    const again = await cli(['replay', end.session!, '--html', file]);
    expect([again.code, again.stderr]).toEqual([1, expect.stringContaining(`${file} exists: pcigate does not replace it`)]);
    expect(readFileSync(file, 'utf8')).toBe('attached to finding 12');
    expect((await cli(['replay', end.session!, '--html', file, '--force'])).code).toBe(0);
    expect(readFileSync(file, 'utf8')).toContain(`verified against log record ${end.seq}`);
  });

  it('does not write the page when its export cannot be recorded (fail closed), and says why', async () => {
    const end = readLog(gate.home).find((x) => x.type === 'session.end')!;
    const file = path.join(tempDir(), 'unrecorded.html');
    // A live process (this one) holds the log's lock, so the access record goes to the audit outbox; a
    // file where the outbox directory belongs makes that write fail too.
    const lock = path.join(gate.home, 'log', '.lock');
    writeFileSync(lock, `${process.pid}\n`, { flag: 'wx' });
    const outbox = path.join(gate.home, 'approvals', 'outbox');
    const aside = `${outbox}.aside`;
    const had = existsSync(outbox);
    if (had) renameSync(outbox, aside);
    mkdirSync(path.dirname(outbox), { recursive: true });
    writeFileSync(outbox, 'not a directory');
    try {
      const r = await cli(['replay', end.session!, '--html', file]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`${file} was not written: its export could not be recorded in the audit log`);
      expect(existsSync(file)).toBe(false);
      // Watching on the terminal is still allowed, with a warning.
      const watch = await cli(['replay', end.session!]);
      expect(watch.code).toBe(0);
      expect(watch.stderr).toMatch(/this replay could not be recorded in the audit log/);
    } finally {
      rmSync(outbox, { force: true });
      if (had) renameSync(aside, outbox);
      rmSync(lock);
    }
  });

  it('flags a transcript changed after the fact, and --strict refuses to show it', async () => {
    const end = readLog(gate.home).find((x) => x.type === 'session.end')!;
    const file = path.join(gate.home, end.blobs![0]!.path!);
    const original = readFileSync(file, 'utf8');
    writeFileSync(file, original.replace('drop table cards', 'select  1 as fine'));
    try {
      const loose = await cli(['replay', end.session!]);
      expect(loose.code).toBe(0);
      expect(loose.stderr).toContain(`DOES NOT MATCH log record ${end.seq}`);
      expect(loose.stderr).not.toContain('verified against');
      const strict = await cli(['replay', end.session!, '--strict']);
      expect(strict.code).toBe(3);
      expect(strict.stdout).toBe('');
      expect(strict.stderr).toContain('DOES NOT MATCH');
      const access = readLog(gate.home).filter((x) => x.type === 'audit.access' && x.session === end.session).at(-1)!;
      expect(access.detail).toMatchObject({ command: 'replay', shown: false, recordings: [{ status: 'mismatch' }] });

      // A doctored index (the cache) vouching for the doctored transcript changes nothing: the log decides.
      const idxFile = path.join(gate.home, 'index', 'sessions.json');
      const idx = JSON.parse(readFileSync(idxFile, 'utf8')) as { sessions: Array<{ blobs: Array<{ sha256: string; bytes: number }> }> };
      const changed = readFileSync(file);
      idx.sessions[0]!.blobs[0]!.sha256 = createHash('sha256').update(changed).digest('hex');
      idx.sessions[0]!.blobs[0]!.bytes = changed.length;
      writeFileSync(idxFile, JSON.stringify(idx));
      const forged = await cli(['replay', end.session!, '--strict']);
      expect(forged.code).toBe(3);
      expect(forged.stderr).toContain(`DOES NOT MATCH log record ${end.seq}`);
    } finally {
      writeFileSync(file, original);
    }
  });

  it('says which session it cannot find', async () => {
    const r = await cli(['replay', 'ffffffff-nope']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no session "ffffffff-nope"');
  });
});

/**
 * Sessions a killed broker left open end when a broker next opens the log (src/sessions/interrupted.ts): their
 * recordings committed (a Postgres transcript, exec's and SSH channels' asciicasts, cut back to their last whole line), a session.end / exec.end with the start's actor
 * and target, `interrupted: true`; a session that ended is left alone, and a second open ends nothing again.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openAuditLog } from '../../../recorder/index.js';
import type { AuditEvent } from '../../../recorder/types.js';
import { prepareReplay, replayFields } from '../../../src/replay/prepare-replay.js';
import { openAuditLogWaiting } from '../../../src/sessions/audit-access.js';
import { loadSessionIndex } from '../../../src/sessions/session-index.js';
import { readLog } from '../../harness/audit-records.js';
import { tempDir } from '../../harness/cli.js';
import { testCtx } from '../../harness/test-ctx.js';

const ACTOR = { sub: 'dana', via: 'local' as const };
const SRC = { ip: '127.0.0.1', port: 50123, client: 'psql' };
const PG = { kind: 'postgres' as const, conn: 'prod-db', db: 'payments', user: 'app' };
const ACCOUNT = { kind: 'postgres' as const, name: 'app' };

describe('sessions a killed owner left open', () => {
  it('end when a broker next opens the log, with their recordings committed', async () => {
    const home = tempDir('pcigate-interrupted-');
    const ctx = testCtx();
    const pg = 'a0c1b3d4-0000-4000-8000-000000000001';
    const done = 'a0c1b3d4-0000-4000-8000-000000000002';
    const job = 'a0c1b3d4-0000-4000-8000-000000000003';
    const ssh = 'a0c1b3d4-0000-4000-8000-000000000004';
    const base = { actor: ACTOR, src: SRC, target: PG, account: ACCOUNT };
    const killed = await openAuditLog(ctx, { home, createIfMissing: true });
    const append = (e: AuditEvent) => killed.append(e);
    await append({ type: 'session.start', session: pg, ...base, outcome: 'success', detail: {} });
    await append({ type: 'session.start', session: done, ...base, outcome: 'success', detail: {} });
    await append({ type: 'pg.intent', session: pg, ...base, outcome: 'pending', detail: { n: 1, sql: 'select 1' } });
    ctx.clock.advance(1_500);
    await append({ type: 'pg.query', session: pg, ...base, outcome: 'success', detail: { n: 1, sql: 'select 1', result: 'success' } });
    await append({ type: 'session.end', session: done, ...base, outcome: 'success', detail: { statements: 0 } });
    await append({ type: 'session.start', session: ssh, actor: ACTOR, src: SRC, target: { kind: 'ssh', conn: 'bastion' }, outcome: 'success', detail: {} });
    await append({ type: 'exec.start', session: job, actor: ACTOR, target: { kind: 'postgres', conn: 'prod-db' }, src: { client: 'pcigate exec' }, outcome: 'success', detail: { argv: 'make migrate' } });
    // What the killed broker had written of the transcript: two batches of lines, the last cut short.
    mkdirSync(path.join(home, 'recordings'), { recursive: true });
    const whole = '{"t":"query","n":1,"sql":"select 1"}\n{"t":"result","n":1,"result":"success"}\n';
    writeFileSync(path.join(home, 'recordings', `${pg}.pg.jsonl`), `${whole}{"t":"row","n":1,"val`);
    // exec's terminal and an SSH session's two channels, as asciicast, the last event of one cut short
    const cast = '{"version":2,"width":80,"height":24}\n[0.1,"o","hello\\r\\n"]\n';
    writeFileSync(path.join(home, 'recordings', `${job}.cast`), `${cast}[0.2,"o","wor`);
    writeFileSync(path.join(home, 'recordings', `${ssh}-1.cast`), cast);
    writeFileSync(path.join(home, 'recordings', `${ssh}-2.cast`), `${cast}[0.3,`);
    await killed.close(); // a kill leaves the same sessions open; close only releases the lock for the next owner
    const lastOwn = readLog(home).filter((r) => r.session === pg).at(-1)!;
    // a day later someone replays it (a reader's record names the session; it is not the session's own)
    ctx.clock.advance(86_400_000);
    const reader = await openAuditLog(ctx, { home });
    await reader.append({ type: 'audit.access', session: pg, actor: ACTOR, target: { kind: 'log' }, outcome: 'success', detail: { command: 'replay' } });
    await reader.close();

    ctx.clock.advance(60_000);
    await (await openAuditLogWaiting(ctx, { home })).close();
    const records = readLog(home);
    const ends = (id: string) => records.filter((r) => r.session === id && (r.type === 'session.end' || r.type === 'exec.end'));
    expect(ends(done)).toHaveLength(1);
    const [end] = ends(pg);
    expect(ends(pg)).toHaveLength(1);
    expect(end).toMatchObject({ type: 'session.end', outcome: 'failure', actor: ACTOR, src: SRC, target: PG, account: ACCOUNT });
    expect(end!.detail).toMatchObject({ interrupted: true, statements: 1, duration_ms: 1500, last_seq: lastOwn.seq });
    expect(String(end!.detail!.reason)).toContain('interrupted');
    // the transcript cut back to its whole lines, and committed as it is now
    const transcript = readFileSync(path.join(home, 'recordings', `${pg}.pg.jsonl`), 'utf8');
    expect(transcript).toBe(whole);
    expect(end!.blobs).toEqual([expect.objectContaining({ kind: 'pg-transcript', sha256: createHash('sha256').update(whole).digest('hex') })]);
    const sha = (t: string) => createHash('sha256').update(t).digest('hex');
    expect(ends(job)).toEqual([expect.objectContaining({ type: 'exec.end', outcome: 'failure', actor: ACTOR })]);
    expect(ends(job)[0]!.blobs).toEqual([{ kind: 'asciicast', path: `recordings/${job}.cast`, sha256: sha(cast), bytes: cast.length }]);
    expect(ends(ssh)[0]!.blobs).toEqual([1, 2].map((n) => ({ kind: 'asciicast', path: `recordings/${ssh}-${n}.cast`, sha256: sha(cast), bytes: cast.length })));
    expect((await prepareReplay(ctx.fs, home, job)).verified).toBe(true);
    // the end comes after the new owner's log.start: it was written by the next process, not the killed one
    const starts = records.filter((r) => r.type === 'log.start').map((r) => r.seq);
    expect(end!.seq).toBeGreaterThan(starts.at(-1)!);

    const { sessions } = await loadSessionIndex(ctx.fs, home);
    expect(sessions.filter((s) => s.outcome === 'open')).toEqual([]);
    const replay = await prepareReplay(ctx.fs, home, pg);
    expect(replay.verified).toBe(true);
    expect(replayFields(replay).find(([k]) => k === 'interrupted')?.[1]).toContain('stopped before ending it');

    // nothing is open any more: a second broker start ends nothing
    await (await openAuditLogWaiting(ctx, { home })).close();
    expect(readLog(home).filter((r) => r.type === 'session.end' || r.type === 'exec.end')).toHaveLength(4);
  });

  it('a log the index cannot read is a warning, and the broker still gets its log', async () => {
    const home = tempDir('pcigate-interrupted-');
    const ctx = testCtx();
    const log = await openAuditLog(ctx, { home, createIfMissing: true, segmentMaxBytes: 2048 });
    for (let i = 0; i < 12; i++) await log.append({ type: 'session.start', session: `s-${i}`, actor: ACTOR, target: PG, outcome: 'success', detail: { pad: 'x'.repeat(200) } });
    await log.close();
    // a line of the oldest segment damaged (verify reports it; the writer, which reads only the newest's tail, opens)
    expect(readdirSync(path.join(home, 'log')).length).toBeGreaterThan(1);
    const first = path.join(home, 'log', '000000000000.jsonl');
    const lines = readFileSync(first, 'utf8').split('\n');
    lines[2] = `${lines[2]!.slice(0, 40)}#`;
    writeFileSync(first, lines.join('\n'));
    const warnings: string[] = [];
    const wctx = testCtx({ log: { debug: () => {}, warn: (m: string) => { warnings.push(m); } } });
    const again = await openAuditLogWaiting(wctx, { home, segmentMaxBytes: 2048 });
    await again.append({ type: 'session.start', session: 'after', actor: ACTOR, target: PG, outcome: 'success', detail: {} });
    await again.close();
    expect(warnings.join('\n')).toMatch(/could not end the sessions a stopped broker left open: .*pcigate verify/);
  });

  it('a transcript name that is a link is not followed: the session ends without it', async () => {
    const home = tempDir('pcigate-interrupted-');
    const ctx = testCtx();
    const id = 'a0c1b3d4-0000-4000-8000-000000000009';
    const killed = await openAuditLog(ctx, { home, createIfMissing: true });
    await killed.append({ type: 'session.start', session: id, actor: ACTOR, target: PG, outcome: 'success', detail: {} });
    await killed.close();
    const outside = path.join(tempDir('pcigate-outside-'), 'file');
    writeFileSync(outside, 'not a transcript, no newline');
    symlinkSync(outside, path.join(home, 'recordings', `${id}.pg.jsonl`));
    const warnings: string[] = [];
    await (await openAuditLogWaiting(testCtx({ log: { debug: () => {}, warn: (m: string) => { warnings.push(m); } } }), { home })).close();
    const end = readLog(home).find((r) => r.session === id && r.type === 'session.end');
    expect(end?.detail).toMatchObject({ interrupted: true });
    expect(end?.blobs).toBeUndefined();
    expect(readFileSync(outside, 'utf8')).toBe('not a transcript, no newline');
    expect(warnings.join('\n')).toContain(`${id}.pg.jsonl of interrupted session ${id}`);
  });
});

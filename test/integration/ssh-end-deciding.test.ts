/**
 * An SSH session's end waits for every decision still being made — also one that begins while the end is already
 * waiting — so that each decision's final record (ssh.exec) comes before the one session.end (ssh-session.ts:
 * `while (this.#deciding.size > 0) await Promise.allSettled(...)` in #end).
 *
 * A real sshd upstream, a real audit log and a real approvals store; the session is driven through its public
 * interface (hooks().decide as the bridge calls it, end() as the broker does). A client cannot be timed into the
 * window between the end's first wait and its session.end (every end path has already disconnected the client),
 * so the window is held open deterministically by the audit sink: the final ssh.exec records of chosen commands
 * reach the log only when the test releases them (the records themselves go to the real log, in order).
 */
import * as fsp from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAuditLog } from '../../recorder/index.js';
import type { AuditLog } from '../../recorder/index.js';
import type { AuditEvent, AuditRecord, AuditSink } from '../../recorder/types.js';
import { startSshBroker } from '../../src/broker/ssh-broker.js';
import { SshSession } from '../../src/broker/ssh-session.js';
import { AuditWriteError } from '../../src/errors.js';
import { systemClock } from '../../src/cli/ctx.js';
import { sshConnection } from '../../src/config/sections/connections.js';
import { ApprovalStore } from '../../src/policy/approvals.js';
import { readLog } from '../harness/audit-records.js';
import { tempDir } from '../harness/cli.js';
import { sshdConnectionFields } from '../harness/ssh-gate.js';
import { execOn, sshClient, startSshd, sshdAvailable } from '../harness/sshd.js';
import type { Sshd } from '../harness/sshd.js';
import { testCtx } from '../harness/test-ctx.js';

const skip = sshdAvailable();
if (skip) process.stderr.write(`skipping the SSH end-while-deciding tests: ${skip}\n`);

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => {};
  const promise = new Promise<void>((r) => { resolve = r; });
  return { promise, resolve };
}

const commandOf = (e: Pick<AuditEvent, 'detail'>) => (e.detail as { request?: { command?: string } } | undefined)?.request?.command ?? '';

/**
 * The real log behind a sink that holds the records `hold` names until release(): each is appended to the log only
 * then. `reached` resolves when the session hands one over; `sessionEnd` when a session.end is handed over (passed
 * on at once unless held). `holdExec(marker)`: the final (not `pending`) ssh.exec of a command containing `marker`.
 */
function gatedSink(inner: AuditSink) {
  const holds: Array<{ match: (e: AuditEvent) => boolean; reached: ReturnType<typeof deferred>; released: ReturnType<typeof deferred> }> = [];
  const sessionEnd = deferred();
  const sink: AuditSink = {
    append: async (e) => {
      if (e.type === 'session.end') sessionEnd.resolve();
      const h = holds.find((x) => x.match(e));
      if (h) {
        h.reached.resolve();
        await h.released.promise;
      }
      return inner.append(e);
    },
    commitBlob: (p, k) => inner.commitBlob(p, k),
  };
  const hold = (match: (e: AuditEvent) => boolean) => {
    const h = { match, reached: deferred(), released: deferred() };
    holds.push(h);
    return { reached: h.reached.promise, release: h.released.resolve };
  };
  return {
    sink,
    sessionEnd: sessionEnd.promise,
    hold,
    holdExec: (marker: string) => hold((e) => e.type === 'ssh.exec' && e.outcome !== 'pending' && commandOf(e).includes(marker)),
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe.skipIf(Boolean(skip))('an SSH session ending while decisions are being made (real sshd, real log)', () => {
  let sshd: Sshd;
  let home: string;
  let log: AuditLog;
  let store: ApprovalStore;
  const ctx = testCtx({ clock: systemClock() as never, log: { debug: () => {}, warn: (m: string) => { process.stderr.write(`warn: ${m}\n`); } } });

  beforeAll(async () => {
    sshd = await startSshd();
    home = tempDir('pcigate-ssh-end-deciding-');
    log = await openAuditLog(ctx, { home, createIfMissing: true, idleMs: 50 });
    store = new ApprovalStore({ fs: fsp, clock: ctx.clock, home, sink: log });
  }, 60_000);

  afterAll(async () => {
    await log?.close();
    await sshd?.stop();
  });

  /** A session on the real sshd: `uname *` and the shell allowed, `echo *` held when an approvals store is given. */
  const sessionWith = (sink: AuditSink, o: { approvals?: ApprovalStore; commitEveryMs?: number; limits?: { idleTimeoutMs: number; maxDurationMs: number } } = {}) => SshSession.open({
    name: 'prod-ssh',
    conn: sshConnection.parse(sshdConnectionFields(sshd, { shell: true, exec: { allow: ['uname *'], hold: ['echo *'] } })),
    credentials: { privateKey: sshd.clientKey },
    sink,
    actor: { sub: 'alice', via: 'oidc', groups: ['engineers'] },
    src: { ip: '127.0.0.1', port: 40000, client: 'ssh' },
    clock: ctx.clock, fs: ctx.fs, log: ctx.log, home, via: 'listener',
    ...(o.approvals ? { approvals: { store: o.approvals, settings: { groups: ['security'], subjects: [], minApprovals: 1, expiresMs: 60_000, windowMs: 0, waitMs: 60_000 } } } : {}),
    ...(o.commitEveryMs !== undefined ? { commitEveryMs: o.commitEveryMs } : {}),
    ...(o.limits ? { limits: o.limits } : {}),
  });
  const openSession = (gate: ReturnType<typeof gatedSink>) => sessionWith(gate.sink, { approvals: store });

  it('waits for decisions that begin while it already waits: each ssh.exec precedes the one session.end', async () => {
    const gate = gatedSink(log);
    const session = await openSession(gate);
    const hooks = session.hooks();
    const heldA = gate.holdExec('held-a');
    const heldB = gate.holdExec('late-b');
    const heldC = gate.holdExec('later-c');
    // Nothing suggests that session.end is coming early: it is written within a tick of the wait it follows.
    const endOrQuiet = (after: Promise<unknown>) => Promise.race([gate.sessionEnd, after.then(() => sleep(250))]);

    // A: held for approval; it waits on the channel (its `pending` record is durable first).
    let waiting: string | undefined;
    const a = hooks.decide({ kind: 'exec', command: 'echo held-a' }, (line) => { waiting ??= /waiting for approval (A-[a-z2-7]{10})/.exec(line)?.[1]; });
    await expect.poll(() => waiting, { timeout: 10_000 }).toBeDefined();

    // The session ends: its wait for approval ends (refused, aborted), and the end waits for A's final record,
    // which the log takes only when released.
    const ending = session.end();
    await heldA.reached;

    // B: a command arriving (on another channel) while the end already waits for A: refused, the session is closing.
    const b = hooks.decide({ kind: 'exec', command: 'echo late-b' });
    await heldB.reached;
    // A second end() (the broker closing, say) is the same end.
    expect(session.end()).toBe(ending);
    heldA.release();
    await endOrQuiet(a);

    // C: one more, while the end waits for B.
    const c = hooks.decide({ kind: 'exec', command: 'echo later-c' });
    await heldC.reached;
    heldB.release();
    await endOrQuiet(b);
    heldC.release();

    const decisions = await Promise.all([a, b, c]);
    await ending;
    expect(decisions).toEqual([
      { action: 'deny', reason: expect.stringContaining('ended with the session or its channel; the command was not run') },
      { action: 'deny', reason: expect.stringContaining('it needs an approval, and the session is closing') },
      { action: 'deny', reason: expect.stringContaining('it needs an approval, and the session is closing') },
    ]);

    const mine = readLog(home).filter((r) => r.session === session.id);
    const line = (r: AuditRecord) => `${r.type} ${r.outcome}${r.type === 'ssh.exec' ? ` ${commandOf(r)}` : ''}`;
    // In the order the log holds them: every decision's final record before the one session.end, and none after it.
    expect(mine.map(line)).toEqual([
      'session.start success',
      'ssh.exec pending echo held-a',
      'approval.request pending',
      'ssh.exec denied echo held-a',
      'ssh.exec denied echo late-b',
      'ssh.exec denied echo later-c',
      'session.end success',
    ]);
    const end = mine.at(-1)!;
    expect(mine.filter((r) => r.type === 'session.end')).toHaveLength(1);
    // The session's counts include every decision.
    expect(end.detail).toMatchObject({ kind: 'ssh', denied: 3, channels: 0 });
    expect(mine.find((r) => r.type === 'ssh.exec' && r.outcome === 'denied' && commandOf(r) === 'echo held-a')?.detail)
      .toMatchObject({ decision: 'deny', approval: waiting, approval_state: 'aborted' });
  }, 60_000);

  it('refuses what policy allows once the session ends: a command decided then is recorded denied (session_end), not run', async () => {
    const gate = gatedSink(log);
    const session = await openSession(gate);
    const hooks = session.hooks();
    const heldA = gate.holdExec('held-end');
    let waiting: string | undefined;
    const a = hooks.decide({ kind: 'exec', command: 'echo held-end' }, (line) => { waiting ??= /waiting for approval (A-[a-z2-7]{10})/.exec(line)?.[1]; });
    await expect.poll(() => waiting, { timeout: 10_000 }).toBeDefined();
    const ending = session.end();
    await heldA.reached;
    // Allowed by policy (`uname *`, the shell), but the session's upstream is ending: it would never run.
    const late = await hooks.decide({ kind: 'exec', command: 'uname -a' });
    const shell = await hooks.decide({ kind: 'shell' });
    heldA.release();
    await Promise.all([a, ending]);
    expect([late, shell]).toEqual([{ action: 'deny', reason: 'the session is closing' }, { action: 'deny', reason: 'the session is closing' }]);
    const mine = readLog(home).filter((r) => r.session === session.id);
    const rec = mine.find((r) => r.type === 'ssh.exec' && commandOf(r) === 'uname -a')!;
    expect([rec.outcome, (rec.detail as { rule?: string }).rule]).toEqual(['denied', 'session_end']);
    expect(mine.findIndex((r) => r === rec)).toBeLessThan(mine.findIndex((r) => r.type === 'session.end'));
  }, 60_000);

  it('a command approved as the session ends is not run, and its record says so', async () => {
    // The approval's use is recorded (by the store) while the end begins: the hold then returns "approved".
    let used!: () => void;
    const useReached = new Promise<void>((r) => { used = r; });
    let releaseUse!: () => void;
    const useReleased = new Promise<void>((r) => { releaseUse = r; });
    const gatedStore = new ApprovalStore({
      fs: fsp, clock: ctx.clock, home,
      sink: { append: async (e) => { if (e.type === 'approval.use') { used(); await useReleased; } return log.append(e); }, commitBlob: (p, k) => log.commitBlob(p, k) },
    });
    const gate = gatedSink(log);
    const session = await sessionWith(gate.sink, { approvals: gatedStore });
    let waiting: string | undefined;
    const a = session.hooks().decide({ kind: 'exec', command: 'echo approved-late' }, (line) => { waiting ??= /waiting for approval (A-[a-z2-7]{10})/.exec(line)?.[1]; });
    await expect.poll(() => waiting, { timeout: 10_000 }).toBeDefined();
    await gatedStore.approve(waiting!, { sub: 'u-approver', email: 'ann@example.com', groups: ['security'], via: 'oidc', mfa: true });
    await useReached;
    const ending = session.end();
    releaseUse();
    const [d] = await Promise.all([a, ending]);
    expect(d).toEqual({ action: 'deny', reason: `approved (${waiting}), but the session closed before it could run` });
    const rec = readLog(home).filter((r) => r.session === session.id).find((r) => r.type === 'ssh.exec' && r.outcome !== 'pending')!;
    expect([rec.outcome, rec.detail]).toMatchObject(['denied', { approval: waiting, approval_state: 'aborted', rule: 'session_end' }]);
  }, 60_000);

  /** The session's records in log order, by type. */
  const typesOf = (id: string) => readLog(home).filter((r) => r.session === id).map((r) => r.type);

  it('a time limit\'s record being written as the session ends comes before session.end', async () => {
    const gate = gatedSink(log);
    const g = gate.hold((e) => e.type === 'session.idle_timeout');
    const session = await sessionWith(gate.sink, { limits: { idleTimeoutMs: 100, maxDurationMs: 60_000 } });
    await g.reached;
    // The client goes as the limit is being recorded: the broker ends the session.
    const ending = session.end();
    await Promise.race([gate.sessionEnd, sleep(250)]);
    g.release();
    await ending;
    expect(typesOf(session.id)).toEqual(['session.start', 'session.idle_timeout', 'session.end']);
  }, 60_000);

  it('a periodic commitment of a running recording under way as the session ends comes before session.end', async () => {
    const gate = gatedSink(log);
    const g = gate.hold((e) => e.type === 'recording.commit');
    const session = await sessionWith(gate.sink, { commitEveryMs: 50 });
    await session.hooks().decide({ kind: 'exec', command: 'uname -a' });
    await session.openChannel({ kind: 'exec', command: 'uname -a', env: {} }, { stdout: () => {}, stderr: () => {} });
    await g.reached;
    const ending = session.end();
    await Promise.race([gate.sessionEnd, sleep(250)]);
    g.release();
    await ending;
    const types = typesOf(session.id);
    expect(types.filter((t) => t === 'recording.commit')).toHaveLength(1);
    expect(types.at(-1)).toBe('session.end');
  }, 60_000);

  it('a request arriving once session.end is being written is refused and not recorded after it', async () => {
    const gate = gatedSink(log);
    const g = gate.hold((e) => e.type === 'session.end');
    const session = await sessionWith(gate.sink, {});
    const ending = session.end();
    await gate.sessionEnd; // session.end handed to the log (held there)
    const late = await session.hooks().decide({ kind: 'exec', command: 'uname -a' });
    expect(session.env('LANG', 'C')).toBe(false);
    g.release();
    await ending;
    expect(late).toEqual({ action: 'deny', reason: 'the session has ended' });
    await sleep(100);
    expect(typesOf(session.id)).toEqual(['session.start', 'session.end']);
  }, 60_000);

  it('the listener\'s close ends even when a session that finished opening during it cannot record its end (a full disk)', async () => {
    // Every session.end is refused, as on a full disk (the first only after 2 s, so that close() is still waiting when
    // the second session opens): a listener session retries its end until abandoned.
    let ends = 0;
    const sink: AuditSink = {
      append: async (e) => {
        if (e.type !== 'session.end') return log.append(e);
        if (ends++ === 0) await sleep(2_000);
        throw new AuditWriteError('no space left on device');
      },
      commitBlob: (p, k) => log.commitBlob(p, k),
    };
    const actorGiven = deferred();
    let calls = 0;
    const alice = { sub: 'alice', via: 'local' as const, idp: 'local' };
    const broker = await startSshBroker({
      name: 'prod-ssh', conn: sshConnection.parse(sshdConnectionFields(sshd, { exec: { allow: ['uname *'] } })),
      credentials: { privateKey: sshd.clientKey }, sink,
      // The first client's identity at once, the second's only once the test says.
      actor: Object.assign(async () => { if (calls++ > 0) await actorGiven.promise; return alice; }, { known: () => alice }),
      clock: ctx.clock, fs: ctx.fs, log: ctx.log, home,
    });
    const a = await sshClient(broker);
    await execOn(a, 'uname -a');
    const b = await sshClient(broker);
    for (const c of [a, b]) c.on('error', () => {});
    const closing = broker.close();
    await sleep(200);
    actorGiven.resolve();
    const outcome = await Promise.race([closing.then(() => 'closed', (e: unknown) => e), sleep(15_000).then(() => 'still waiting')]);
    for (const c of [a, b]) c.end();
    expect(outcome).toBeInstanceOf(AuditWriteError);
    expect((outcome as Error).message).toMatch(/the end of 2 SSH sessions could not be recorded/);
  }, 60_000);

  it('a command allowed while the session began to end (its record being written) is not opened, and a second record says so', async () => {
    const gate = gatedSink(log);
    const session = await openSession(gate);
    const held = gate.holdExec('uname');
    const d = session.hooks().decide({ kind: 'exec', command: 'uname -a' });
    await held.reached;
    const ending = session.end();
    held.release();
    expect(await d).toEqual({ action: 'deny', reason: 'the session closed before it could run' });
    await expect(session.openChannel({ kind: 'exec', command: 'uname -a', env: {} }, { stdout: () => {}, stderr: () => {} })).rejects.toThrow(/the session is closing/);
    await ending;
    const mine = readLog(home).filter((r) => r.session === session.id);
    expect(mine.map((r) => `${r.type} ${r.outcome}${r.type === 'ssh.exec' ? ` ${(r.detail as { rule?: string }).rule}` : ''}`)).toEqual([
      'session.start success', 'ssh.exec success ssh.exec.allow[0]', 'ssh.exec denied session_end', 'session.end success',
    ]);
  }, 60_000);

  it('a held command whose pending record is written as the session begins to end asks for no approval', async () => {
    const gate = gatedSink(log);
    const g = gate.hold((e) => e.type === 'ssh.exec');
    const session = await sessionWith(gate.sink, { approvals: store });
    const d = session.hooks().decide({ kind: 'exec', command: 'echo never-asked' });
    await g.reached;
    const ending = session.end();
    g.release();
    expect(await d).toEqual({ action: 'deny', reason: 'the session closed before an approval was asked for; the command was not run' });
    await ending;
    expect(typesOf(session.id)).toEqual(['session.start', 'ssh.exec', 'ssh.exec', 'session.end']);
    expect((await store.list()).filter((r) => r.sql.includes('never-asked'))).toEqual([]);
  }, 60_000);
});

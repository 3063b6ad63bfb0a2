import { readFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { openAuditLog } from '../../../recorder/index.js';
import type { AuditEvent, AuditSink } from '../../../recorder/types.js';
import { startOutboxDrain } from '../../../src/broker/outbox-drain.js';
import { drainOutbox, outboxDir, outboxSink } from '../../../src/policy/audit-outbox.js';
import { readLog } from '../../harness/audit-records.js';
import { tempDir } from '../../harness/cli.js';
import { scanBytes } from '../../../src/mask/scan-files.js';
import { testCtx } from '../../harness/test-ctx.js';

const clock = { now: () => Date.now(), micros: () => BigInt(Date.now()) * 1000n };

/** A sink that fails its first `failures` appends (a log that is briefly unavailable). */
function flakySink(failures: number): AuditSink & { events: AuditEvent[] } {
  const events: AuditEvent[] = [];
  let left = failures;
  return {
    events,
    async append(e) {
      if (left-- > 0) throw new Error('disk full');
      events.push(e);
      return { seq: events.length - 1, leaf: '' };
    },
    async commitBlob() { throw new Error('no blobs'); },
  };
}

describe('startOutboxDrain', () => {
  it('moves outboxed records into the sink on its timer, in order', async () => {
    const home = tempDir('pcigate-drain-');
    const outbox = outboxSink({ fs: fsp, clock, home });
    await outbox.append({ type: 'verify.run', outcome: 'success', detail: { n: 1 } });
    await outbox.append({ type: 'audit.access', outcome: 'success', detail: { n: 2 } });
    const sink = flakySink(0);
    const warnings: string[] = [];
    const d = startOutboxDrain({ fs: fsp, home, sink, log: { debug: () => {}, warn: (m) => warnings.push(m) }, everyMs: 20 });
    await expect.poll(() => sink.events.length).toBe(2);
    await d.stop();
    expect(sink.events.map((e) => e.type)).toEqual(['verify.run', 'audit.access']);
    expect(sink.events[0]!.detail).toMatchObject({ via_outbox: true, n: 1 });
    expect(await fsp.readdir(`${home}/approvals/outbox`)).toEqual([]);
    expect(warnings).toEqual([]);
  });

  it('a failed drain is a warning, keeps the record and is retried at the next tick', async () => {
    const home = tempDir('pcigate-drain-');
    await outboxSink({ fs: fsp, clock, home }).append({ type: 'verify.run', outcome: 'success', detail: {} });
    const sink = flakySink(2);
    const warnings: string[] = [];
    const d = startOutboxDrain({ fs: fsp, home, sink, log: { debug: () => {}, warn: (m) => warnings.push(m) }, everyMs: 20 });
    await expect.poll(() => sink.events.length).toBe(1);
    await d.stop();
    expect(warnings.length).toBeGreaterThanOrEqual(2);
    expect(warnings[0]).toContain('disk full');
    expect(sink.events).toHaveLength(1);
  });

  it('stop() stops the timer: later records wait for the next owner of the log', async () => {
    const home = tempDir('pcigate-drain-');
    const sink = flakySink(0);
    const d = startOutboxDrain({ fs: fsp, home, sink, log: { debug: () => {}, warn: () => {} }, everyMs: 20 });
    await d.stop();
    await outboxSink({ fs: fsp, clock, home }).append({ type: 'verify.run', outcome: 'success', detail: {} });
    await new Promise((r) => setTimeout(r, 100));
    expect(sink.events).toEqual([]);
    expect(await d.drainNow()).toBe(1);
  });
});

/**
 * A drainer renames a file to claim it, appends its record, then deletes it. One killed in between (kill -9 of a
 * broker) leaves the claim: the next owner of the log takes it up, and appends its record only if it is not there.
 */
describe('drainOutbox after a drainer was killed holding a claim', () => {
  const parked = async (home: string, n: number): Promise<{ name: string; event: AuditEvent }> => {
    await outboxSink({ fs: fsp, clock, home }).append({ type: 'audit.access', target: { kind: 'log' }, outcome: 'success', detail: { n } });
    const name = (await fsp.readdir(outboxDir(home))).find((f) => f.endsWith('.json') && JSON.parse(readFileSync(`${outboxDir(home)}/${f}`, 'utf8')).detail.n === n)!;
    return { name, event: JSON.parse(readFileSync(`${outboxDir(home)}/${name}`, 'utf8')) as AuditEvent };
  };
  const withN = (home: string, n: number) => readLog(home).filter((r) => r.type === 'audit.access' && r.detail?.n === n);
  /** The next owner of the log: opens it, drains the outbox, closes it; how many records it moved. */
  const drainAsNextOwner = async (opts: { home: string; segmentMaxBytes?: number }): Promise<number> => {
    const log = await openAuditLog(testCtx(), opts);
    try {
      return await drainOutbox(fsp, opts.home, log);
    } finally {
      await log.close();
    }
  };

  it('a claim whose record never reached the log is appended, in name order with the files still waiting', async () => {
    const home = tempDir('pcigate-drain-');
    const ctx = testCtx();
    await (await openAuditLog(ctx, { home, createIfMissing: true })).close();
    const first = await parked(home, 1);
    await parked(home, 2);
    // killed after the rename, before the append (an older pcigate's claim name)
    await fsp.rename(`${outboxDir(home)}/${first.name}`, `${outboxDir(home)}/${first.name}.draining-5b577c85`);
    expect(await drainAsNextOwner({ home })).toBe(2);
    expect(withN(home, 1)).toHaveLength(1);
    expect(withN(home, 1)[0]!.detail).toMatchObject({ via_outbox: true, outbox: first.name });
    expect(withN(home, 1)[0]!.seq).toBeLessThan(withN(home, 2)[0]!.seq);
    expect(await fsp.readdir(outboxDir(home))).toEqual([]);
  });

  it('a claim whose record is in the log already is deleted, not appended twice', async () => {
    const home = tempDir('pcigate-drain-');
    const ctx = testCtx();
    const { name, event } = await parked(home, 7);
    // The killed owner: claimed, appended (as drainOutbox appends it), killed before deleting the file.
    const dead = await openAuditLog(ctx, { home, createIfMissing: true });
    await fsp.rename(`${outboxDir(home)}/${name}`, `${outboxDir(home)}/${name}.draining-0badc0de-12345678`);
    await dead.append({ ...event, detail: { ...event.detail, outbox: name } });
    await dead.append({ type: 'session.start', target: { kind: 'postgres' }, outcome: 'success', detail: {} });
    await dead.close();
    expect(await drainAsNextOwner({ home })).toBe(0);
    expect(withN(home, 7)).toHaveLength(1);
    expect(await fsp.readdir(outboxDir(home))).toEqual([]);
  });

  it('a claim is matched from the log size it names, however many segments since; an older pcigate claim by content', async () => {
    const home = tempDir('pcigate-drain-');
    const ctx = testCtx();
    const opts = { home, segmentMaxBytes: 1024 };
    const a = await parked(home, 11);
    const b = await parked(home, 12);
    const dead = await openAuditLog(ctx, { ...opts, createIfMissing: true });
    // this version's claim: the log's size when claimed, and a record naming the file
    await fsp.rename(`${outboxDir(home)}/${a.name}`, `${outboxDir(home)}/${a.name}.draining-0badc0de-s${dead.size}-12345678`);
    await dead.append({ ...a.event, detail: { ...a.event.detail, outbox: a.name } });
    // an older pcigate's claim: no size, and its record does not name the file
    await fsp.rename(`${outboxDir(home)}/${b.name}`, `${outboxDir(home)}/${b.name}.draining-5b577c85`);
    await dead.append(b.event);
    // an owner that does not drain (pcigate exec) writes on, segment after segment
    for (let i = 0; i < 40; i++) await dead.append({ type: 'pg.query', target: { kind: 'postgres' }, outcome: 'success', detail: { n: i, pad: 'x'.repeat(100) } });
    await dead.close();
    expect((await fsp.readdir(`${home}/log`)).length).toBeGreaterThan(3);
    expect(await drainAsNextOwner(opts)).toBe(0);
    expect(withN(home, 11)).toHaveLength(1);
    expect(withN(home, 12)).toHaveLength(1);
    expect(await fsp.readdir(outboxDir(home))).toEqual([]);
  });

  it('names hold no run of digits a card number scan reads (the name goes into the record), and sort after the older names', async () => {
    const home = tempDir('pcigate-drain-');
    // 1796662956012 ms is Luhn-valid: written in decimal, the name read as a 13-digit card number under any_luhn.
    const at = (ms: number) => ({ now: () => ms, micros: () => BigInt(ms) * 1000n });
    for (const ms of [1796662956012, 1796662956013, 9999999999999]) await outboxSink({ fs: fsp, clock: at(ms), home }).append({ type: 'approval.approve', outcome: 'success', detail: { ms } });
    const older = '001796662956012-000000-12345678.json';
    await fsp.writeFile(`${outboxDir(home)}/${older}`, JSON.stringify({ type: 'approval.approve', outcome: 'success', detail: { ms: 0 } }));
    const names = await fsp.readdir(outboxDir(home));
    for (const n of names.filter((x) => x !== older)) expect(scanBytes(Buffer.from(n), 'name', { anyLuhn: true }), n).toEqual([]);
    expect(scanBytes(Buffer.from(older), 'name', { anyLuhn: true })).toHaveLength(1);
    const sink = flakySink(0);
    expect(await drainOutbox(fsp, home, sink)).toBe(4);
    expect(sink.events.map((e) => e.detail!.ms)).toEqual([0, 1796662956012, 1796662956013, 9999999999999]);
  });

  it('events parked in one millisecond by several sinks of a process drain in the order they were parked', async () => {
    const home = tempDir('pcigate-drain-');
    const still = { now: () => 1796662956012, micros: () => 1796662956012000n };
    for (let n = 0; n < 20; n++) await outboxSink({ fs: fsp, clock: still, home }).append({ type: 'audit.access', outcome: 'success', detail: { n } });
    const sink = flakySink(0);
    expect(await drainOutbox(fsp, home, sink)).toBe(20);
    expect(sink.events.map((e) => e.detail!.n)).toEqual([...Array(20).keys()]);
  });

  it('a file that is not an event is set aside as .unreadable and the rest are moved', async () => {
    const home = tempDir('pcigate-drain-');
    await parked(home, 1);
    await parked(home, 2);
    await fsp.writeFile(`${outboxDir(home)}/000000000000000-000000-deadbeef.json`, '{"type":'); // sorts first
    const sink = flakySink(0);
    expect(await drainOutbox(fsp, home, sink)).toBe(2);
    expect(await drainOutbox(fsp, home, sink)).toBe(0);
    expect(sink.events.map((e) => e.detail!.n)).toEqual([1, 2]);
    expect(await fsp.readdir(outboxDir(home))).toEqual(['000000000000000-000000-deadbeef.json.unreadable']);
  });

  it('two drains at once in the owner move each record once (a claim of its own is not taken for a killed one)', async () => {
    const home = tempDir('pcigate-drain-');
    for (let n = 0; n < 6; n++) await parked(home, n);
    const events: AuditEvent[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => { release = r; });
    const slow: AuditSink = {
      async append(e) {
        if (events.length === 0) await held; // the first drain's first append waits, its claim on disk
        events.push(e);
        return { seq: events.length - 1, leaf: '' };
      },
      async commitBlob() { throw new Error('no blobs'); },
    };
    const first = drainOutbox(fsp, home, slow);
    await expect.poll(async () => (await fsp.readdir(outboxDir(home))).filter((f) => f.includes('.draining-')).length).toBe(1);
    const second = drainOutbox(fsp, home, slow); // sees the first's claim beside five files waiting
    await new Promise((r) => setTimeout(r, 20));
    release();
    const moved = await Promise.all([first, second]);
    expect(moved[0]! + moved[1]!).toBe(6);
    expect(events.map((e) => e.detail!.n).sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(await fsp.readdir(outboxDir(home))).toEqual([]);
  });

  it('a drain called while another runs waits for it: what it appends next follows every outboxed record', async () => {
    const home = tempDir('pcigate-drain-');
    await parked(home, 1);
    const events: AuditEvent[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => { release = r; });
    const sink: AuditSink = {
      async append(e) {
        if (events.length === 0 && e.detail?.n === 1) await held;
        events.push(e);
        return { seq: events.length - 1, leaf: '' };
      },
      async commitBlob() { throw new Error('no blobs'); },
    };
    const periodic = drainOutbox(fsp, home, sink); // the broker's timer: its append of n=1 is slow
    await expect.poll(async () => (await fsp.readdir(outboxDir(home))).some((f) => f.includes('.draining-'))).toBe(true);
    // an approval's transition: drain first, then its own record
    const transition = drainOutbox(fsp, home, sink).then(() => sink.append({ type: 'approval.use', outcome: 'success', detail: { n: 2 } }));
    await new Promise((r) => setTimeout(r, 20));
    release();
    await Promise.all([periodic, transition]);
    expect(events.map((e) => e.detail!.n)).toEqual([1, 2]);
  });

  it('an owner that takes a left claim over keeps the log size it names (killed too, the next looks there)', async () => {
    const home = tempDir('pcigate-drain-');
    const { name } = await parked(home, 21);
    await fsp.rename(`${outboxDir(home)}/${name}`, `${outboxDir(home)}/${name}.draining-0badc0de-s7-12345678`);
    // The log is read (to see whether the record is there) once the claim is taken over: held there, as if killed there.
    let fail!: (e: Error) => void;
    const held = new Promise<never>((_, reject) => { fail = reject; });
    let reading = false;
    const fs = new Proxy(fsp, { get: (t, k) => (k === 'readdir' ? (d: string, ...rest: unknown[]) => (String(d).endsWith('/log') ? (reading = true, held) : (fsp.readdir as (...a: unknown[]) => unknown)(d, ...rest)) : Reflect.get(t, k)) });
    const log = { ...flakySink(0), size: 900 };
    const draining = drainOutbox(fs as typeof fsp, home, log);
    await expect.poll(async () => (await fsp.readdir(outboxDir(home))).find((f) => !f.includes('0badc0de'))).toMatch(/\.draining-[0-9a-f]+-s7-[0-9a-f]+$/);
    // Killed while it reads the log, not before it got there (held failed with no reader yet was an unhandled rejection).
    await expect.poll(() => reading).toBe(true);
    fail(new Error('gone'));
    await draining;
  });
});

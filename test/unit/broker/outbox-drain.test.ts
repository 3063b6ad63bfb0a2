import * as fsp from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import type { AuditEvent, AuditSink } from '../../../recorder/types.js';
import { startOutboxDrain } from '../../../src/broker/outbox-drain.js';
import { outboxSink } from '../../../src/policy/audit-outbox.js';
import { tempDir } from '../../harness/cli.js';

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

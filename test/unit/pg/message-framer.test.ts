/** MessageFramer: identical frames however TCP splits the bytes; limits; startup phase; direct TLS. */
import { describe, expect, it, vi } from 'vitest';
import { hasCode } from '../../../src/errors.js';
import { MessageFramer, coalesceFrames } from '../../../src/pg/protocol/message-framer.js';
import type { Frame } from '../../../src/pg/protocol/message-framer.js';
import { bytes, splitsAtEveryOffset } from '../../harness/pg-bytes.js';

const frontendMessages: Buffer[] = [
  bytes.query('select 1'),
  bytes.query("select '💳 4111 1111 1111 1111'"),
  bytes.parse('s1', 'select $1::int', [23]),
  bytes.bind('', 's1', ['42', null, Buffer.from([0, 0, 0, 7])], [0, 0, 1], [1]),
  bytes.describe('P', ''),
  bytes.execute('', 10),
  bytes.close('S', 's1'),
  bytes.sync(),
  bytes.flush(),
  bytes.copyData('1\tfoo\n'),
  bytes.copyDone(),
  bytes.copyFail('nope'),
  bytes.functionCall(1234, ['x', null], [0], 1),
  bytes.terminate(),
];

const backendMessages: Buffer[] = [
  bytes.authSASL(['SCRAM-SHA-256']),
  bytes.authOk(),
  bytes.parameterStatus('client_encoding', 'UTF8'),
  bytes.backendKeyData(77, 0x12345678),
  bytes.readyForQuery('I'),
  bytes.rowDescription([{ name: 'pan', tableOid: 16384, column: 2, typeOid: 25 }]),
  bytes.dataRow([null, '4111111111111111', Buffer.alloc(0)]),
  bytes.dataRow([Buffer.alloc(3000, 0x61)]),
  bytes.commandComplete('SELECT 2'),
  bytes.errorResponse({ S: 'ERROR', V: 'ERROR', C: '42501', M: 'permission denied' }),
  bytes.noticeResponse({ S: 'NOTICE', C: '00000', M: 'hi' }),
  bytes.notification(9, 'chan', 'payload'),
  bytes.copyOutResponse(0, [0, 0]),
  bytes.portalSuspended(),
];

/** Feed `chunks` one after another and collect the frames as copies (code, bytes, payload). */
function frameAll(chunks: Buffer[], framer = new MessageFramer()): { code: number; bytes: Buffer; payload: Buffer }[] {
  const out: { code: number; bytes: Buffer; payload: Buffer }[] = [];
  for (const c of chunks) {
    framer.push(c);
    let f: Frame | undefined;
    while ((f = framer.next())) out.push({ code: f.code, bytes: Buffer.from(f.bytes), payload: Buffer.from(f.payload) });
  }
  return out;
}

describe('MessageFramer', () => {
  it('frames every single message split at every offset identically', () => {
    for (const m of [...frontendMessages, ...backendMessages]) {
      for (const [a, b] of splitsAtEveryOffset(m)) {
        const frames = frameAll([a, b]);
        expect(frames).toHaveLength(1);
        expect(frames[0]!.bytes.equals(m)).toBe(true);
        expect(frames[0]!.code).toBe(m[0]);
        expect(frames[0]!.payload.equals(m.subarray(5))).toBe(true);
      }
    }
  });

  it('frames a stream of many messages identically at every split point, and byte by byte', () => {
    for (const list of [frontendMessages, backendMessages]) {
      const stream = Buffer.concat(list);
      for (const [a, b] of splitsAtEveryOffset(stream)) {
        const frames = frameAll([a, b]);
        expect(frames.map((f) => f.bytes.toString('hex'))).toEqual(list.map((m) => m.toString('hex')));
      }
      const oneByOne = frameAll([...stream].map((x) => Buffer.from([x])));
      expect(oneByOne.map((f) => f.bytes.toString('hex'))).toEqual(list.map((m) => m.toString('hex')));
    }
  });

  it('hands the DataRows next as runs (runOf) that, with the frames between them, are the stream at every split point', () => {
    const rows = [bytes.dataRow(['a']), bytes.dataRow([null, '4111111111111111']), bytes.dataRow([Buffer.alloc(300, 0x62)])];
    const list = [bytes.rowDescription([{ name: 'v' }]), ...rows, bytes.commandComplete('SELECT 3'), ...rows, bytes.readyForQuery('I')];
    const stream = Buffer.concat(list);
    // Runs stop before a row `accept` refuses: the second of each three.
    const notTheNull = (b: Buffer, at: number, to: number) => !b.subarray(at, to).equals(rows[1]!);
    for (const [a, b] of splitsAtEveryOffset(stream)) {
      const f = new MessageFramer({ maxLength: 1 << 20 });
      const got: string[] = [];
      let runs = 0;
      for (const chunk of [a, b]) {
        f.push(chunk);
        for (;;) {
          const run = f.runOf(0x44, notTheNull);
          if (run) {
            runs++;
            let at = run.from;
            for (let i = 0; i < run.count; i++) {
              const len = run.buf.readInt32BE(at + 1) + 1;
              got.push(run.buf.subarray(at, at + len).toString('hex'));
              at += len;
            }
            expect(at).toBe(run.to);
            continue;
          }
          const next = f.nextBytes();
          if (!next) break;
          got.push(next.toString('hex'));
        }
      }
      expect(got).toEqual(list.map((m) => m.toString('hex')));
      expect(runs).toBeGreaterThan(0);
    }
  });

  it('leaves a frame over the limit to next(), which refuses it', () => {
    const f = new MessageFramer({ maxLength: 64 });
    f.push(Buffer.concat([bytes.dataRow(['a']), bytes.dataRow([Buffer.alloc(100, 0x61)])]));
    expect(f.runOf(0x44, () => true)?.count).toBe(1);
    expect(f.runOf(0x44, () => true)).toBeUndefined();
    expect(() => f.nextBytes()).toThrow(/invalid length/);
  });

  it('frames a stream cut into random chunk sizes identically', () => {
    const list = Array.from({ length: 300 }, (_, i) => backendMessages[i % backendMessages.length]!);
    const stream = Buffer.concat(list);
    for (let seed = 1; seed <= 20; seed++) {
      let x = seed;
      const chunks: Buffer[] = [];
      for (let p = 0; p < stream.length;) {
        x = (x * 1103515245 + 12345) & 0x7fffffff;
        const n = 1 + (x % 5000);
        chunks.push(stream.subarray(p, p + n));
        p += n;
      }
      const frames = frameAll(chunks);
      expect(Buffer.concat(frames.map((f) => f.bytes)).equals(stream)).toBe(true);
      expect(frames).toHaveLength(list.length);
    }
  });

  it('keeps frames it returned intact after later pushes (safe to forward without copying)', () => {
    const framer = new MessageFramer();
    const a = bytes.dataRow(['4111111111111111']);
    const b = bytes.dataRow(['5500000000000004']);
    const held: Frame[] = [];
    const stream = Buffer.concat([a, b, a, b]);
    for (let i = 0; i < stream.length; i += 7) {
      framer.push(Buffer.from(stream.subarray(i, i + 7)));
      let f: Frame | undefined;
      while ((f = framer.next())) held.push(f);
    }
    expect(held.map((f) => f.bytes.toString('hex'))).toEqual([a, b, a, b].map((m) => m.toString('hex')));
  });

  it('returns nothing until a frame is complete and reports what is buffered', () => {
    const framer = new MessageFramer();
    const m = bytes.query('select 1');
    framer.push(m.subarray(0, 3));
    expect(framer.next()).toBeUndefined();
    expect(framer.buffered).toBe(3);
    framer.push(m.subarray(3));
    expect(framer.next()?.bytes.equals(m)).toBe(true);
    expect(framer.buffered).toBe(0);
  });

  it('rejects frames longer than the limit, before the body arrives', () => {
    const framer = new MessageFramer({ maxLength: 1024 });
    framer.push(Buffer.from([0x51, 0, 0, 0x10, 0])); // 'Q' with length 4096
    expect(() => framer.next()).toThrow(/invalid length 4096 for message 'Q'/);
    const perCode = new MessageFramer({ maxLength: 1 << 20, maxLengthByCode: { [0x44]: 100 } });
    perCode.push(bytes.dataRow([Buffer.alloc(200)]));
    let err: unknown;
    try { perCode.next(); } catch (e) { err = e; }
    expect(hasCode(err, 'ERR_PROTOCOL')).toBe(true);
  });

  it('applies a new maximum from the next frame on (small until a login, larger after)', () => {
    const framer = new MessageFramer({ maxLength: 100 });
    const big = bytes.query('x'.repeat(200));
    framer.push(Buffer.concat([bytes.query('select 1'), big]));
    expect(framer.next()!.code).toBe(0x51);
    framer.setMaxLength(1000);
    expect(framer.next()!.length).toBe(big.length);
    framer.setMaxLength(100);
    framer.push(big);
    expect(() => framer.next()).toThrow(/invalid length 205 for message 'Q'/);
  });

  it('rejects a length below 4', () => {
    const framer = new MessageFramer();
    framer.push(Buffer.from([0x51, 0, 0, 0, 3]));
    expect(() => framer.next()).toThrow(/invalid length 3/);
  });

  it('frames the untyped startup phase only when told to, then typed messages', () => {
    const framer = new MessageFramer({ startup: true });
    const stream = Buffer.concat([bytes.sslRequest(), bytes.startup({ user: 'alice', database: 'db' }), bytes.password('x'), bytes.query('select 1')]);
    for (const [a, b] of splitsAtEveryOffset(stream)) {
      const f = new MessageFramer({ startup: true });
      f.push(a);
      f.push(b);
      const ssl = f.next()!;
      expect(ssl.code).toBe(0);
      expect(ssl.bytes.equals(bytes.sslRequest())).toBe(true);
      expect(f.inStartup).toBe(false);
      f.expectStartup(); // the session answered 'N': a StartupMessage follows
      const st = f.next()!;
      expect(st.code).toBe(0);
      expect(st.payload.readInt32BE(0)).toBe(196608);
      expect(f.next()!.code).toBe('p'.charCodeAt(0));
      expect(f.next()!.code).toBe('Q'.charCodeAt(0));
    }
    framer.push(stream);
    expect(framer.next()!.bytes.length).toBe(8);
  });

  it('rejects garbage where a startup packet belongs with a clear ProtocolError', () => {
    const garbage = new MessageFramer({ startup: true, peer: 'client' });
    garbage.push(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    expect(() => garbage.next()).toThrow(/invalid startup packet length \d+ from client/);
    const tiny = new MessageFramer({ startup: true });
    tiny.push(Buffer.from([0, 0, 0, 4, 1, 2, 3, 4]));
    expect(() => tiny.next()).toThrow(/invalid startup packet length 4/);
    const huge = new MessageFramer({ startup: true });
    huge.push(bytes.startup({ user: 'u', options: 'x'.repeat(20_000) }));
    expect(() => huge.next()).toThrow(/allowed 8\.\.10240/);
  });

  it('recognises a direct TLS ClientHello and refuses it with its own code', () => {
    const framer = new MessageFramer({ startup: true, peer: 'client' });
    framer.push(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
    let err: unknown;
    try { framer.next(); } catch (e) { err = e; }
    expect(hasCode(err, 'ERR_PG_DIRECT_TLS')).toBe(true);
    expect(hasCode(err, 'ERR_PROTOCOL')).toBe(false);
    expect((err as Error).message).toMatch(/TLS directly/);
  });

  it('hands back unframed bytes with drain()', () => {
    const framer = new MessageFramer({ startup: true });
    framer.push(Buffer.concat([bytes.sslRequest(), Buffer.from([0x16, 3, 1])]));
    expect(framer.next()!.code).toBe(0);
    expect([...framer.drain()]).toEqual([0x16, 3, 1]);
    expect(framer.buffered).toBe(0);
  });

  it('frames a large message arriving in many chunks without losing bytes', () => {
    const big = bytes.dataRow([Buffer.alloc(5 * 1024 * 1024, 0x37), 'tail']);
    const stream = Buffer.concat([bytes.rowDescription([{ name: 'a' }]), big, bytes.commandComplete('SELECT 1')]);
    const chunks: Buffer[] = [];
    for (let i = 0; i < stream.length; i += 65536) chunks.push(stream.subarray(i, i + 65536));
    const frames = frameAll(chunks, new MessageFramer({ maxLength: 1 << 30 }));
    expect(frames.map((f) => String.fromCharCode(f.code))).toEqual(['T', 'D', 'C']);
    expect(frames[1]!.bytes.equals(big)).toBe(true);
  });

  it('coalesces adjacent frames into one view and keeps separate buffers apart', () => {
    const framer = new MessageFramer();
    const list = [bytes.dataRow(['a']), bytes.dataRow(['b']), bytes.commandComplete('SELECT 2'), bytes.readyForQuery()];
    const stream = Buffer.concat(list);
    framer.push(stream.subarray(0, 20));
    framer.push(stream.subarray(20));
    const frames: Frame[] = [];
    let f: Frame | undefined;
    while ((f = framer.next())) frames.push(f);
    const views = coalesceFrames(frames);
    expect(Buffer.concat(views).equals(stream)).toBe(true);
    expect(views.length).toBeLessThan(frames.length);
    expect(coalesceFrames(frames.slice(2))).toHaveLength(1);
    expect(coalesceFrames([])).toEqual([]);
  });

  it('does not allocate what a peer merely announces', () => {
    const framer = new MessageFramer({ maxLength: 256 * 1024 * 1024 });
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 20; i++) {
      const f = new MessageFramer({ maxLength: 256 * 1024 * 1024 });
      f.push(Buffer.from([0x51, 0x0f, 0xff, 0xff, 0xff, 0x61])); // 'Q' announcing ~256 MiB
      f.push(Buffer.from('more'));
      expect(f.next()).toBeUndefined();
    }
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024 * 1024);
    expect(framer.buffered).toBe(0);
  });

  it('from the server it logged in to (allocateAnnounced), a large frame gets one buffer of its length, not a growing series', () => {
    const payload = Buffer.alloc(32 * 1024 * 1024 - 4, 0x61);
    const frame = Buffer.concat([Buffer.from([0x44, 0x02, 0x00, 0x00, 0x00]), payload, Buffer.from([0x5a, 0, 0, 0, 5, 0x49])]);
    for (const allocateAnnounced of [false, true]) {
      const f = new MessageFramer({ maxLength: 1024 * 1024 * 1024, allocateAnnounced });
      const spy = vi.spyOn(Buffer, 'allocUnsafe');
      try {
        for (let at = 0; at < frame.length; at += 65_536) f.push(frame.subarray(at, at + 65_536));
        const big = spy.mock.calls.filter(([n]) => n >= 1024 * 1024).map(([n]) => n);
        if (allocateAnnounced) expect(big).toEqual([32 * 1024 * 1024 + 1]);
        else expect(big.length).toBeGreaterThan(3); // 1, 2, 4, … MiB up to 32: each a copy of what came before
      } finally {
        spy.mockRestore();
      }
      const got = f.next()!;
      expect(got.bytes.equals(frame.subarray(0, 32 * 1024 * 1024 + 1))).toBe(true);
      expect(f.next()!.bytes[0]).toBe(0x5a);
    }
  });
});

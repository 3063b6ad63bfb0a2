/**
 * SftpOutput (src/ssh/sftp-output.ts): a file's read data masked as one stream per handle, answers held while
 * what follows them has been asked, starred when it has not, decided by an end of file a stat told; and
 * StreamMasker.releaseStarred, which it uses.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { StreamMasker } from '../../../src/mask/stream-masker.js';
import { SftpAudit } from '../../../src/ssh/sftp-audit.js';
import { MAX_PARKED_BYTES, PARK_MS, RELEASE_MS, SftpOutput } from '../../../src/ssh/sftp-output.js';
import { packet, str, u32 } from '../../harness/sftp-bytes.js';

const u64 = (v: number) => Buffer.concat([u32(Math.floor(v / 2 ** 32)), u32(v % 2 ** 32)]);
const open = (id: number, path: string) => packet(3, u32(id), str(path), u32(1), u32(0));
const read = (id: number, offset: number, len: number) => packet(5, u32(id), str('h1'), u64(offset), u32(len));
const stat = (id: number, path: string) => packet(17, u32(id), str(path));
const handle = (id: number) => packet(102, u32(id), str('h1'));
const data = (id: number, text: string) => packet(103, u32(id), str(text));
const attrs = (id: number, size: number) => packet(105, u32(id), u32(1), u64(size));
const eof = (id: number) => packet(101, u32(id), u32(1), str(''), str(''));

/** The data of every DATA packet sent, joined (other packets left out). */
function dataOf(sent: Buffer[]): string {
  return sent.filter((p) => p[4] === 103).map((p) => p.subarray(13).toString('latin1')).join('');
}

describe('SftpOutput', () => {
  let audit: SftpAudit;
  let sent: Buffer[];
  let errors: unknown[];
  let out: SftpOutput;
  beforeEach(() => {
    vi.useFakeTimers();
    audit = new SftpAudit();
    sent = [];
    errors = [];
    out = new SftpOutput(audit, { style: { format: 'last4' } }, (b) => sent.push(b), (e) => errors.push(e));
    audit.fromClient(open(1, '/srv/cards.txt'));
    out.write(handle(1));
  });
  afterEach(() => { vi.useRealTimers(); });

  it('masks a card number across two read answers when both reads were asked (read ahead)', () => {
    audit.fromClient(Buffer.concat([read(2, 0, 12), read(3, 12, 12), read(4, 24, 12)]));
    out.write(data(2, 'card 4111 11'));
    // Held: its end could be the start of a card number, and the next read's answer comes without the client.
    expect(sent.filter((p) => p[4] === 103)).toHaveLength(0);
    out.write(data(3, '11 1111 1111'));
    vi.advanceTimersByTime(RELEASE_MS * 4);
    expect(dataOf(sent)).toBe('');
    out.write(data(4, ' end'));
    expect(dataOf(sent)).toBe('card **** **** **** 1111 end');
    expect(sent.every((p) => p.length === p.readUInt32BE(0) + 4)).toBe(true);
    expect(errors).toEqual([]);
  });

  it('keeps packet order: what the server sent after a held answer waits behind it', () => {
    audit.fromClient(Buffer.concat([read(2, 0, 12), stat(4, '/srv/other'), read(3, 12, 12)]));
    out.write(Buffer.concat([data(2, 'card 4111 11'), attrs(4, 7)]));
    expect(sent.map((p) => p[4])).toEqual([102]);
    out.write(data(3, '11 1111 1111 end'));
    expect(sent.map((p) => p[4])).toEqual([102, 103, 105, 103]);
    expect(dataOf(sent)).toBe('card **** **** **** 1111 end');
  });

  it('answers short, without its undecided tail, a read whose continuation the client has not asked', () => {
    audit.fromClient(read(2, 0, 12));
    out.write(data(2, 'card 4111 11'));
    expect(dataOf(sent)).toBe('');
    vi.advanceTimersByTime(RELEASE_MS);
    const short = sent.find((p) => p[4] === 103)!;
    expect(short.readUInt32BE(0)).toBe(short.length - 4);
    expect(short.readUInt32BE(9)).toBe(5);
    expect(dataOf(sent)).toBe('card ');
    // The client asks for the rest: the server's answer brings the tail again, with what follows it.
    audit.fromClient(read(3, 5, 32));
    out.write(data(3, '4111 1111 1111 1111 end'));
    expect(dataOf(sent)).toBe('card **** **** **** 1111 end');
  });

  it('sends an answer that is all undecided tail whole, the digits after the sixth starred', () => {
    audit.fromClient(read(2, 0, 12));
    out.write(data(2, '4111 1111 11'));
    vi.advanceTimersByTime(RELEASE_MS);
    expect(dataOf(sent)).toBe('4111 11** **');
    audit.fromClient(read(3, 12, 12));
    out.write(data(3, '11 1111 end'));
    // The card number completed by the second answer: none of its digits after the first six is shown.
    expect(dataOf(sent)).toBe('4111 11** **** **** end');
  });

  it('waits for an answer the client has asked meanwhile, instead of starring', () => {
    audit.fromClient(read(2, 0, 12));
    out.write(data(2, 'total 123456789'.slice(0, 12)));
    audit.fromClient(read(3, 12, 12));
    vi.advanceTimersByTime(RELEASE_MS * 4);
    expect(dataOf(sent)).toBe('');
    audit.fromClient(read(4, 15, 12));
    out.write(data(3, '789'));
    expect(dataOf(sent)).toBe('');
    out.write(eof(4));
    expect(dataOf(sent)).toBe('total 123456789');
  });

  it('decides the end of a file at the size a stat of its path told: a number there arrives whole', () => {
    const a = new SftpAudit();
    const got: Buffer[] = [];
    const o = new SftpOutput(a, { style: { format: 'last4' } }, (b) => got.push(b), () => {});
    a.fromClient(stat(1, '/srv/total.txt'));
    o.write(attrs(1, 15));
    a.fromClient(open(2, '/srv/total.txt'));
    o.write(handle(2));
    a.fromClient(read(3, 0, 32768));
    o.write(data(3, 'total 123456789'));
    expect(dataOf(got)).toBe('total 123456789');
  });

  describe('answers to reads asked before the client saw a short answer (they come before the rest it asks anew)', () => {
    /** The data of each DATA packet sent, in the order sent. */
    const packets = () => sent.filter((p) => p[4] === 103).map((p) => p.subarray(13).toString('latin1'));
    /** 'ok, entry 45' held, gone short as 'ok, entry ' while the client asks on at 12 (it had not yet). */
    const goShort = (first: string) => {
      audit.fromClient(read(2, 0, 12));
      out.write(data(2, first));
      vi.advanceTimersByTime(RELEASE_MS);
      audit.fromClient(read(3, 12, 12));
    };

    it('parks them until the gap comes, then masks all in file order: a number that is no card number arrives whole', () => {
      goShort('ok, entry 45');
      expect(packets()).toEqual(['ok, entry ']);
      out.write(data(3, '94 ok, 1234 '));
      vi.advanceTimersByTime(RELEASE_MS * 4);
      // Parked, and what the server sent after it waits behind it.
      expect(packets()).toEqual(['ok, entry ']);
      audit.fromClient(Buffer.concat([read(4, 10, 2), read(5, 24, 12)]));
      out.write(data(4, '45'));
      out.write(eof(5));
      expect(packets()).toEqual(['ok, entry ', '94 ok, 1234 ', '45']);
      expect(errors).toEqual([]);
    });

    it('masks a card number across the short answer\'s end whole', () => {
      goShort('card 4111 11');
      out.write(data(3, '11 1111 1111'));
      audit.fromClient(Buffer.concat([read(4, 5, 7), read(5, 24, 12)]));
      out.write(data(4, '4111 11'));
      out.write(data(5, ' end'));
      expect(packets()).toEqual(['card ', '** **** 1111', '**** **', ' end']);
    });

    it('sends them as a stream of their own, leading digits starred, when the client never asks for the gap', () => {
      goShort('card 4111 11');
      out.write(data(3, '11 1111 1111'));
      vi.advanceTimersByTime(PARK_MS - 1);
      expect(packets()).toEqual(['card ']);
      vi.advanceTimersByTime(1);
      expect(packets()).toEqual(['card ', '** **** ****']);
      expect(errors).toEqual([]);
    });

    it('a gap the server answers short: all go at once (the client asks the rest only once it has that answer)', () => {
      goShort('ok, entry 45');
      out.write(data(3, '94 ok, 1234 '));
      audit.fromClient(read(4, 10, 2));
      out.write(data(4, '4'));
      // Not held for PARK_MS behind the parked answer; the parked digits that lost their start are starred.
      expect(packets()).toEqual(['ok, entry ', '** ok, 1234 ', '4']);
      expect(errors).toEqual([]);
    });

    it('a wall clock stepped back while answers are parked does not stretch the wait by the step', () => {
      goShort('card 4111 11');
      out.write(data(3, '11 1111 1111'));
      vi.setSystemTime(Date.now() - 3_600_000);
      vi.advanceTimersByTime(PARK_MS * 2);
      expect(packets()).toEqual(['card ', '** **** ****']);
    });

    it('parks at most MAX_PARKED_BYTES: past it, what is parked goes as a stream of its own', () => {
      goShort('ok, entry 45');
      out.write(data(3, '94 ok, 1234 '));
      // Answers of a million bytes each (an sftp packet is at most 1 MiB), read ahead one after another.
      const chunk = 'x'.repeat(1_000_000);
      const fit = Math.floor((MAX_PARKED_BYTES - 12) / chunk.length);
      for (let i = 0; i <= fit; i++) {
        expect(packets()).toEqual(['ok, entry ']);
        audit.fromClient(read(10 + i, 24 + i * chunk.length, chunk.length));
        out.write(data(10 + i, chunk));
      }
      expect(packets().map((p) => p.slice(0, 12))).toEqual(['ok, entry ', '** ok, 1234 ', ...Array.from({ length: fit + 1 }, () => 'x'.repeat(12))]);
      expect(errors).toEqual([]);
    });

    it('a gap answered with more than the gap: both go starred, whole, no card number in clear', () => {
      goShort('card 4111 11');
      out.write(data(3, '11 1111 1111'));
      audit.fromClient(read(4, 5, 19));
      out.write(data(4, '4111 1111 1111 1111'));
      vi.advanceTimersByTime(PARK_MS);
      // The overlap ends the stream where it stands (its undecided digits starred: the file may go on).
      expect(packets()).toEqual(['card ', '** **** ****', '**** **** **** ****']);
      expect(errors).toEqual([]);
    });
  });

  it('an end of file answer decides what was held', () => {
    audit.fromClient(Buffer.concat([read(2, 0, 32768), read(3, 9, 32768)]));
    out.write(data(2, 'id 123456789'.slice(0, 9)));
    out.write(eof(3));
    expect(dataOf(sent)).toBe('id 123456');
  });
});

describe('StreamMasker.releaseStarred', () => {
  it('sends every held byte, digits after a run\'s sixth starred, and hides the rest of a card number completed later', () => {
    const parts: string[] = [];
    const m = new StreamMasker((b) => parts.push(Buffer.from(b).toString('latin1')), { idleMs: Infinity });
    m.write(Buffer.from('pay 4111 1111 11'));
    expect(parts.join('')).toBe('pay ');
    m.releaseStarred();
    expect(parts.join('')).toBe('pay 4111 11** **');
    expect(m.held).toBe(0);
    m.write(Buffer.from('11 1111 done'));
    m.flush();
    expect(parts.join('')).toBe('pay 4111 11** **** **** done');
    expect(parts.join('')).not.toMatch(/1111 done/);
  });
});

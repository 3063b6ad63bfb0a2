/**
 * SftpAudit (src/ssh/sftp-audit.ts) against packets a hostile client chooses: how they are cut into chunks,
 * and the request ids it reuses.
 */
import { describe, expect, it } from 'vitest';
import { HANDLE_SHOWN, MAX_TRACKED, SftpAudit, SftpLimitError } from '../../../src/ssh/sftp-audit.js';
import type { SftpFailure } from '../../../src/ssh/sftp-audit.js';
import { packet, str, u32 } from '../../harness/sftp-bytes.js';

const open = (id: number, path: string) => packet(3, u32(id), str(path), u32(1), u32(0));
const remove = (id: number, path: string) => packet(13, u32(id), str(path));
const status = (id: number, code: number, message: string) => packet(101, u32(id), u32(code), str(message), str(''));
/** Server → client bytes through `a`: the audited operations the server refused. */
function fromServer(a: SftpAudit, chunk: Buffer): SftpFailure[] {
  const out: SftpFailure[] = [];
  a.serverPackets(chunk, (p) => { if (p.failure) out.push(p.failure); });
  return out;
}

describe('SftpAudit', () => {
  it('reads a large packet cut into tiny chunks', () => {
    // 1 MiB (the largest packet read) sent 16 bytes at a time: copying what is held for each chunk took minutes
    // (how the time grows is measured in bench/complexity).
    const big = packet(200, u32(7), str('x'.repeat((1 << 20) - 64)));
    const a = new SftpAudit();
    const ops = [];
    for (let i = 0; i < big.length; i += 16) ops.push(...a.fromClient(big.subarray(i, i + 16)));
    ops.push(...a.fromClient(remove(8, '/tmp/x')));
    expect(ops).toEqual([{ op: 'remove', path: '/tmp/x' }]);
  });

  it('frames packets split at every offset', () => {
    const bytes = Buffer.concat([open(1, '/etc/a'), remove(2, '/etc/b')]);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const a = new SftpAudit();
      expect([...a.fromClient(bytes.subarray(0, cut)), ...a.fromClient(bytes.subarray(cut))].map((o) => o.path)).toEqual(['/etc/a', '/etc/b']);
    }
  });

  it('records a setstat through a handle (fsetstat) as a setstat of its path', () => {
    // `chmod 4755` on an open handle (sftp put -p, or any client) went unrecorded: only SETSTAT by path was read.
    const a = new SftpAudit();
    a.fromClient(packet(3, u32(1), str('/srv/bin/tool'), u32(0x1a), u32(0)));
    fromServer(a, packet(102, u32(1), str('h1')));
    const fsetstat = packet(10, u32(2), str('h1'), u32(0x04), u32(0o4755));
    expect(a.fromClient(fsetstat)).toEqual([{ op: 'setstat', path: '/srv/bin/tool' }]);
  });

  it('records a close or fsetstat through a handle it never saw opened, with the handle in hex', () => {
    // Both went unrecorded: a client that guesses a handle (sftp-server's are small integers) before the open's
    // answer has passed, or after the audit lost track of it, closed or chmod-ed a file with no record.
    const a = new SftpAudit();
    expect(a.fromClient(packet(10, u32(3), str('zz'), u32(0)))).toEqual([{ op: 'setstat', handle: '7a7a', unknown_handle: true }]);
    expect(a.fromClient(packet(4, u32(4), str('\u0000\u0000\u0000\u0007')))).toEqual([{ op: 'close', handle: '00000007', unknown_handle: true }]);
    // A long handle is shown by its first HANDLE_SHOWN bytes; the server's refusal is recorded without a path.
    const [op] = a.fromClient(packet(4, u32(5), str('h'.repeat(1000))));
    expect(op).toEqual({ op: 'close', handle: `${'68'.repeat(HANDLE_SHOWN)}…`, unknown_handle: true });
    expect(fromServer(a, status(5, 4, 'Invalid handle'))).toEqual([{ op: 'close', status: 4, message: 'Invalid handle' }]);
  });

  it('records a read or write through a handle it never saw opened, with its length', () => {
    // Neither was counted anywhere: a client writing through a guessed handle before the open's answer passed
    // left a close with written: 0.
    const a = new SftpAudit();
    a.fromClient(packet(3, u32(1), str('/data/out'), u32(0x1a), u32(0)));
    expect(a.fromClient(packet(6, u32(2), str('\u0000\u0000\u0000\u0000'), u32(0), u32(0), str('x'.repeat(100))))).toEqual([
      { op: 'write', handle: '00000000', length: 100, unknown_handle: true },
    ]);
    expect(a.fromClient(packet(5, u32(3), str('zz'), u32(0), u32(0), u32(32768)))).toEqual([{ op: 'read', handle: '7a7a', length: 32768, unknown_handle: true }]);
    // The server's refusal is recorded; the open's answer still names its handle.
    expect(fromServer(a, Buffer.concat([packet(102, u32(1), str('\u0000\u0000\u0000\u0000')), status(2, 4, 'Failure'), status(3, 4, 'Invalid handle')]))).toEqual([
      { op: 'write', status: 4, message: 'Failure' }, { op: 'read', status: 4, message: 'Invalid handle' },
    ]);
  });

  it('refuses a client past MAX_TRACKED open handles or unanswered requests rather than forgetting one', () => {
    // The oldest handle was forgotten: its close (with the bytes written through it) was never recorded.
    const a = new SftpAudit();
    for (let i = 0; i < MAX_TRACKED; i++) {
      a.fromClient(open(i, `/f/${i}`));
      fromServer(a, packet(102, u32(i), str(`h${i}`)));
    }
    expect(() => a.fromClient(open(MAX_TRACKED, '/f/last'))).toThrow(SftpLimitError);
    const b = new SftpAudit();
    for (let i = 0; i < MAX_TRACKED; i++) b.fromClient(remove(i, `/f/${i}`));
    expect(() => b.fromClient(remove(MAX_TRACKED, '/f/last'))).toThrow(SftpLimitError);
    // Answered, they are no longer counted.
    const c = new SftpAudit();
    for (let i = 0; i < MAX_TRACKED * 2; i++) { c.fromClient(remove(i, `/f/${i}`)); fromServer(c, status(i, 0, '')); }
  });

  it('pairs answers with requests it does not record: a stat under an open\'s reused id leaves the open\'s handle known', () => {
    // The stat's ATTRS was taken for the open's answer; the open's handle then went unknown and every byte
    // written through it uncounted.
    const a = new SftpAudit();
    a.fromClient(Buffer.concat([packet(17, u32(5), str('/etc/passwd')), open(5, '/data/out')]));
    fromServer(a, Buffer.concat([packet(105, u32(5), u32(0)), packet(102, u32(5), str('h1'))]));
    a.fromClient(packet(6, u32(6), str('h1'), u32(0), u32(0), str('x'.repeat(100))));
    expect(a.fromClient(packet(4, u32(7), str('h1')))).toEqual([{ op: 'close', path: '/data/out', read: 0, written: 100 }]);
  });

  it('counts reads answered through a handle, and says how many were still asked when it was closed', () => {
    const a = new SftpAudit();
    a.fromClient(open(1, '/data/cards'));
    fromServer(a, packet(102, u32(1), str('h1')));
    const read = (id: number, len: number) => packet(5, u32(id), str('h1'), u32(0), u32(0), u32(len));
    a.fromClient(Buffer.concat([read(2, 32768), read(3, 32768), read(4, 32768)]));
    fromServer(a, packet(103, u32(2), str('d'.repeat(32768))));
    // Closed with two reads unanswered: their data still reaches the client, after the close's record.
    expect(a.fromClient(packet(4, u32(5), str('h1')))).toEqual([{ op: 'close', path: '/data/cards', read: 32768, written: 0, read_pending: 65536 }]);
  });

  it('records copy-data (OpenSSH sftp cp) with both paths and its length', () => {
    // The server-side copy of one open file into another went unrecorded.
    const a = new SftpAudit();
    a.fromClient(Buffer.concat([open(1, '/data/cards.csv'), open(2, '/tmp/out.csv')]));
    fromServer(a, Buffer.concat([packet(102, u32(1), str('h1')), packet(102, u32(2), str('h2'))]));
    const copy = (id: number, from: string, to: string) => packet(200, u32(id), str('copy-data'), str(from), u32(0), u32(0), u32(1), u32(5), str(to), u32(0), u32(0));
    expect(a.fromClient(copy(3, 'h1', 'h2'))).toEqual([{ op: 'copy', path: '/data/cards.csv', to: '/tmp/out.csv', length: 2 ** 32 + 5 }]);
    expect(fromServer(a, status(3, 4, 'Failure'))).toEqual([{ op: 'copy', path: '/data/cards.csv', status: 4, message: 'Failure' }]);
    expect(a.fromClient(copy(4, 'h1', 'zz'))).toEqual([{ op: 'copy', path: '/data/cards.csv', to_handle: '7a7a', length: 2 ** 32 + 5, unknown_handle: true }]);
  });

  it('attributes a refusal to the request it answers when a request id is reused', () => {
    // sftp-server answers in order: the open's refusal first, then the remove's success. The log said the
    // remove of /data/b was refused while it had succeeded.
    const a = new SftpAudit();
    a.fromClient(Buffer.concat([open(1, '/data/a'), remove(1, '/data/b')]));
    expect(fromServer(a, Buffer.concat([status(1, 2, 'No such file'), status(1, 0, 'Success')]))).toEqual([
      { op: 'open', path: '/data/a', status: 2, message: 'No such file' },
    ]);
  });
});

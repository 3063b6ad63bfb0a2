/**
 * SftpAudit (src/ssh/sftp-audit.ts) against packets a hostile client chooses: how they are cut into chunks,
 * and the request ids it reuses.
 */
import { describe, expect, it } from 'vitest';
import { SftpAudit } from '../../../src/ssh/sftp-audit.js';

const str = (s: string) => { const b = Buffer.from(s); const n = Buffer.alloc(4); n.writeUInt32BE(b.length); return Buffer.concat([n, b]); };
const u32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(v); return b; };
const packet = (type: number, ...body: Buffer[]) => { const p = Buffer.concat([Buffer.from([type]), ...body]); return Buffer.concat([u32(p.length), p]); };
const open = (id: number, path: string) => packet(3, u32(id), str(path), u32(1), u32(0));
const remove = (id: number, path: string) => packet(13, u32(id), str(path));
const status = (id: number, code: number, message: string) => packet(101, u32(id), u32(code), str(message), str(''));

describe('SftpAudit', () => {
  it('reads a large packet cut into tiny chunks in linear time', () => {
    // 1 MiB (the largest packet read) sent 16 bytes at a time: copying what is held for each chunk took minutes.
    const big = packet(200, u32(7), str('x'.repeat((1 << 20) - 64)));
    const a = new SftpAudit();
    const t = performance.now();
    const ops = [];
    for (let i = 0; i < big.length; i += 16) ops.push(...a.fromClient(big.subarray(i, i + 16)));
    ops.push(...a.fromClient(remove(8, '/tmp/x')));
    expect(performance.now() - t).toBeLessThan(3_000);
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
    a.fromServer(packet(102, u32(1), str('h1')));
    const fsetstat = packet(10, u32(2), str('h1'), u32(0x04), u32(0o4755));
    expect(a.fromClient(fsetstat)).toEqual([{ op: 'setstat', path: '/srv/bin/tool' }]);
    // An unknown handle is not a file operation the audit can name: nothing to record.
    expect(a.fromClient(packet(10, u32(3), str('zz'), u32(0)))).toEqual([]);
  });

  it('attributes a refusal to the request it answers when a request id is reused', () => {
    // sftp-server answers in order: the open's refusal first, then the remove's success. The log said the
    // remove of /data/b was refused while it had succeeded.
    const a = new SftpAudit();
    a.fromClient(Buffer.concat([open(1, '/data/a'), remove(1, '/data/b')]));
    expect(a.fromServer(Buffer.concat([status(1, 2, 'No such file'), status(1, 0, 'Success')]))).toEqual([
      { op: 'open', path: '/data/a', status: 2, message: 'No such file' },
    ]);
  });
});

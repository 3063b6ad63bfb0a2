/**
 * sftp packets built from intent for the sftp audit's tests (draft-ietf-secsh-filexfer-02 §3: uint32 length,
 * byte type, then the type's fields; strings are uint32 length + bytes).
 */

/** An sftp string: uint32 length, then the bytes. */
export const str = (v: string | Buffer): Buffer => { const b = Buffer.from(v); const n = Buffer.alloc(4); n.writeUInt32BE(b.length); return Buffer.concat([n, b]); };

export const u32 = (v: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32BE(v); return b; };

/** One packet: its length, `type`, then `body` as given (request id first for all but INIT and VERSION). */
export const packet = (type: number, ...body: Buffer[]): Buffer => { const p = Buffer.concat([Buffer.from([type]), ...body]); return Buffer.concat([u32(p.length), p]); };

/** Large objects read in chunks (lo-read.ts): a card number across a chunk edge is masked on both sides. */
import { describe, expect, it } from 'vitest';
import { byteaBytes, byteaText, descriptorKey, LoReadStream } from '../../../src/mask/lo-read.js';
import { findPans } from '../../../src/mask/pan-detector.js';
import { applyMask } from '../../../src/mask/mask-format.js';

const style = { format: 'last4' } as const;
/** Each chunk masked alone (as the result masker does), then at its edges by the stream. */
function read(chunks: string[]): string[] {
  const s = new LoReadStream();
  return chunks.map((c) => {
    const orig = Buffer.from(c, 'latin1');
    const alone = applyMask(orig, findPans(orig), style);
    return Buffer.from(s.next(orig, alone, style, {}, () => {})!).toString('latin1');
  });
}

describe('LoReadStream', () => {
  it('masks a card number across an edge: its end in the chunk read before, the rest when read after it', () => {
    expect(read(['abc 41111111', '11111111 def'])).toEqual(['abc ********', '****1111 def']);
    expect(read(['x 4111 1111 ', '1111 1111 y'])).toEqual(['x **** **** ', '**** 1111 y']);
    expect(read(['x 4111', '1111111', '11111 y'])).toEqual(['x ****', '*******', '*1111 y']);
  });

  it('leaves a chunk that ends in fewer than 4 digits, and numbers inside a chunk, as they are', () => {
    expect(read(['\x00\x01123', '45\x02'])).toEqual(['\x00\x01123', '45\x02']);
    expect(read(['id 12345 ok ', 'next'])).toEqual(['id 12345 ok ', 'next']);
    // A whole card number inside one chunk: masked alone, as before.
    expect(read(['a 5555555555554444 b', 'c'])).toEqual(['a ************4444 b', 'c']);
  });
});

describe('bytea text and descriptors', () => {
  it('reads hex and escape output back to the bytes, and writes them as the server does', () => {
    const b = Buffer.from([0x34, 0x31, 0x5c, 0x00, 0x7f, 0x20, 0x7e, 0xff]);
    for (const hex of [true, false]) expect(byteaBytes(byteaText(b, hex))).toEqual(b);
    expect(byteaText(b, true).toString('latin1')).toBe('\\x34315c007f207eff');
    expect(byteaText(b, false).toString('latin1')).toBe('41\\\\\\000\\177 ~\\377');
    expect(byteaBytes(Buffer.from('\\x3'))).toBeUndefined();
    expect(byteaBytes(Buffer.from('\\x3g'))).toBeUndefined();
    expect(byteaBytes(Buffer.from('a\\9'))).toBeUndefined();
  });

  it('gives one key to a descriptor sent as a binary or a decimal integer', () => {
    const i4 = Buffer.alloc(4);
    i4.writeInt32BE(7);
    expect(descriptorKey(i4)).toBe('7');
    expect(descriptorKey(' 7')).toBe('7');
    expect(descriptorKey('07')).toBe('7');
    expect(descriptorKey(null)).toBe('');
    expect(descriptorKey('x')).not.toBe(descriptorKey(Buffer.from('x')));
  });
});

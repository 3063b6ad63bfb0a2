import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { scanBytes, scanPaths } from '../../../src/mask/scan-files.js';
import { testCtx } from '../../harness/test-ctx.js';

// Published test PANs (Visa, Mastercard, Amex), never real cards.
const TEXT = [
  'first line 4111111111111111 end',
  'ünïcode before 5555-5555-5555-4444 and track %B4111111111111111^DOE/JOHN^2512101?',
  'amex 3782 822463 10005, cvv: 123, pin=9876',
  'masked ************1111 and an order id 12345678',
].join('\n');

describe('scanBytes (the pcigate scan detector over bytes in memory)', () => {
  it('finds exactly what scanPaths finds in a file with the same bytes, also across small read chunks', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pcigate-scan-bytes-'));
    const file = path.join(dir, 'data.txt');
    writeFileSync(file, TEXT);
    const ctx = testCtx({ cwd: dir });
    const mem = scanBytes(Buffer.from(TEXT), 'data.txt');
    expect(mem.map((f) => f.kind)).toEqual(['pan', 'pan', 'track_data', 'pan', 'pan', 'sad_value', 'sad_value']);
    for (const chunkBytes of [7, 64, 4 << 20]) {
      const fromFile = await scanPaths(ctx, ['data.txt'], { chunkBytes });
      expect(fromFile.findings, `chunk ${chunkBytes}`).toEqual(mem);
    }
    expect(JSON.stringify(mem)).not.toContain('4111111111111111');
  });

  it('decompresses a gzip member first, as scanPaths does', () => {
    const plain = scanBytes(Buffer.from(TEXT), 'x');
    expect(scanBytes(gzipSync(TEXT), 'x')).toEqual(plain);
  });

  it('names the network of a card number printed as a float from the number, not from the print', () => {
    const found = scanBytes(Buffer.from('amount,card\n12.5,4.111111111111111e+15\n9,5.55555555555444E+15\n1,4.111111111111111E15\n'), 'x.csv');
    expect(found.map((f) => [f.line, f.column, f.network])).toEqual([[2, 6, 'visa'], [3, 3, 'mastercard'], [4, 3, 'visa']]);
    expect(JSON.stringify(found)).not.toMatch(/1111111|5555555/);
  });

  it('finds nothing in masked text', () => {
    expect(scanBytes(Buffer.from('card ************1111, 411111******1111, pan:hmac:0123456789abcdef'), 'x')).toEqual([]);
  });
});

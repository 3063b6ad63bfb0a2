import { describe, expect, it } from 'vitest';
import { ColumnCatalog } from '../../../src/mask/column-catalog.js';
import { PanMasker } from '../../../src/mask/pan-masker.js';

describe('ColumnCatalog', () => {
  const table = (oid: number, ...cols: string[]) => new Map(cols.map((c, i) => [i + 1, `public.t${oid}.${c}`]));

  it('answers null while looking up, then from the cache; one lookup per table; expires after the TTL', async () => {
    let now = 0;
    const calls: number[] = [];
    const cat = new ColumnCatalog(async (oid) => { calls.push(oid); return table(oid, 'a', 'b'); }, { now: () => now, ttlMs: 1000 });
    expect(cat.get(1, 2)).toBeNull();
    expect(cat.get(1, 1)).toBeNull();
    expect(cat.known(1, 1)).toBe(false);
    await cat.resolve(1, 2);
    expect(cat.get(1, 2)).toBe('public.t1.b');
    expect(cat.get(1, 1)).toBe('public.t1.a');
    expect(cat.known(1, 1)).toBe(true);
    expect(calls).toEqual([1]);
    now = 2000;
    expect(cat.get(1, 2)).toBeNull();
    await cat.resolve(1, 2);
    expect(calls).toEqual([1, 1]);
  });

  // A table (or a column) the catalog's connection cannot see, created or altered in a session's open
  // transaction, is not "no table column": it stays unresolved, and is asked again soon, not after the TTL.
  it('keeps a table or column the lookup cannot find unresolved (null), and asks again after missTtlMs', async () => {
    let now = 0;
    let cols: string[] = [];
    const calls: number[] = [];
    const cat = new ColumnCatalog(async (oid) => { calls.push(oid); return table(oid, ...cols); }, { now: () => now, ttlMs: 300_000, missTtlMs: 1000 });
    await cat.resolve(9, 1);
    expect(cat.get(9, 1)).toBeNull();
    await cat.resolve(9, 1);
    expect(calls).toEqual([9]); // cached as a miss meanwhile
    cols = ['a'];
    now = 1001;
    expect(cat.get(9, 1)).toBeNull();
    await cat.resolve(9, 1);
    expect(cat.get(9, 1)).toBe('public.t9.a');
    // A column the cached table lacks (added since): asked again after missTtlMs, not the whole TTL.
    expect(cat.get(9, 2)).toBeNull();
    expect(calls).toEqual([9, 9]);
    cols = ['a', 'b'];
    now = 2100;
    await cat.resolve(9, 2);
    expect(cat.get(9, 2)).toBe('public.t9.b');
    expect(calls).toEqual([9, 9, 9]);
  });

  it('retries a failed lookup', async () => {
    let fail = true;
    const cat = new ColumnCatalog(async () => { if (fail) throw new Error('down'); return new Map([[1, 'a.b.c']]); });
    await cat.resolve(1, 1);
    expect(cat.get(1, 1)).toBeNull(); // starts another lookup, which fails too
    fail = false;
    await cat.resolve(1, 1);
    await cat.resolve(1, 1);
    expect(cat.get(1, 1)).toBe('a.b.c');
  });
});

describe('PanMasker.maskValue (log record details and bind parameters)', () => {
  it('masks strings and bytes deep inside, keeps unchanged objects identical, counts', () => {
    const m = new PanMasker();
    const counts: Record<string, number> = {};
    const clean = { sql: 'select 1', params: ['a', null, 3] };
    expect(m.maskValue(clean, counts)).toBe(clean);
    const out = m.maskValue({ sql: "insert into cards values ('4111111111111111')", params: ['5555555555554444', Buffer.from('4012888888881881')] }, counts);
    expect(JSON.stringify(out)).not.toMatch(/4111111111111111|5555555555554444/);
    expect(Buffer.from(out.params[1] as Buffer).toString()).toBe('************1881');
    expect(counts).toEqual({ pan: 3 });
  });
});

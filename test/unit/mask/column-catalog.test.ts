import { describe, expect, it } from 'vitest';
import { ColumnCatalog } from '../../../src/mask/column-catalog.js';
import { PanMasker } from '../../../src/mask/pan-masker.js';

describe('ColumnCatalog', () => {
  it('answers null while looking up, then from the cache; one lookup per pair; expires after the TTL', async () => {
    let now = 0;
    const calls: string[] = [];
    const cat = new ColumnCatalog(async (oid, att) => { calls.push(`${oid}:${att}`); return oid === 1 ? `public.t.c${att}` : undefined; }, { now: () => now, ttlMs: 1000 });
    expect(cat.get(1, 2)).toBeNull();
    expect(cat.get(1, 2)).toBeNull();
    await cat.resolve(1, 2);
    expect(cat.get(1, 2)).toBe('public.t.c2');
    expect(calls).toEqual(['1:2']);
    now = 2000;
    expect(cat.get(1, 2)).toBeNull();
    await cat.resolve(1, 2);
    expect(calls).toEqual(['1:2', '1:2']);
  });

  // A table the catalog's connection cannot see (created in a session's open transaction) is not "no table
  // column": it stays unresolved, and is asked again soon, not after the full TTL.
  it('keeps a pair the lookup cannot find unresolved (null), and asks again after missTtlMs', async () => {
    let now = 0;
    let visible = false;
    const calls: string[] = [];
    const cat = new ColumnCatalog(async (oid, att) => { calls.push(`${oid}:${att}`); return visible ? 'public.fresh.secret' : undefined; }, { now: () => now, ttlMs: 300_000, missTtlMs: 1000 });
    await cat.resolve(9, 1);
    expect(cat.get(9, 1)).toBeNull();
    await cat.resolve(9, 1);
    expect(calls).toEqual(['9:1']); // cached as a miss meanwhile
    visible = true;
    now = 1001;
    expect(cat.get(9, 1)).toBeNull();
    await cat.resolve(9, 1);
    expect(cat.get(9, 1)).toBe('public.fresh.secret');
    expect(calls).toEqual(['9:1', '9:1']);
  });

  it('retries a failed lookup', async () => {
    let fail = true;
    const cat = new ColumnCatalog(async () => { if (fail) throw new Error('down'); return 'a.b.c'; });
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

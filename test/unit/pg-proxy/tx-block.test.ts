/**
 * TxBlock (src/pg/proxy/tx-block.ts): which statements of an explicit transaction block a rollback is claimed to
 * undo, from command tags and ReadyForQuery statuses alone. The integration suite (pg-block-claims) checks the same
 * against a real server; these cover the tag sequences one Query or batch can hold.
 */
import { describe, expect, it } from 'vitest';
import { TxBlock } from '../../../src/pg/proxy/tx-block.js';

const T = 0x54;
const I = 0x49;
const E = 0x45;

describe('TxBlock', () => {
  it('names the DML and schema changes that ran inside a block a ROLLBACK ends, with no SQLSTATE; not SET, SHOW or LOCK', () => {
    const t = new TxBlock();
    expect(t.ended(1, ['BEGIN'], false)).toBeNull();
    expect(t.ready(T)).toBeNull();
    t.ended(2, ['INSERT 0 1'], false);
    t.ended(3, ['SET'], false);
    t.ended(4, ['UPDATE 2'], false);
    t.ended(5, ['SHOW'], false);
    t.ended(6, ['ALTER TABLE'], false);
    t.ended(7, ['LOCK TABLE'], false);
    expect(t.ended(8, ['ROLLBACK'], false)).toEqual({ ns: [2, 4, 6], more: 0, sqlstate: undefined });
    expect(t.ready(I)).toBeNull();
  });

  it('leaves out a multi-statement Query that began the block, and one that ended it', () => {
    const t = new TxBlock();
    t.ended(1, ['INSERT 0 1', 'BEGIN', 'INSERT 0 1'], false);
    t.ready(T);
    t.ended(2, ['DELETE 1'], false);
    expect(t.ended(3, ['UPDATE 1', 'ROLLBACK', 'INSERT 0 1'], false)).toEqual({ ns: [2], more: 0, sqlstate: undefined });
    expect(t.ready(I)).toBeNull();
  });

  it('claims nothing for COMMIT, PREPARE TRANSACTION, or ROLLBACK PREPARED (not a block\'s end)', () => {
    for (const end of ['COMMIT', 'PREPARE TRANSACTION']) {
      const t = new TxBlock();
      t.ended(1, ['BEGIN'], false);
      t.ended(2, ['INSERT 0 1'], false);
      expect(t.ended(3, [end], false)).toBeNull();
      expect(t.ready(I)).toBeNull();
      expect(t.closed('08006')).toBeNull();
    }
    const t = new TxBlock();
    expect(t.ended(1, ['ROLLBACK PREPARED'], false)).toBeNull();
    expect(t.ready(I)).toBeNull();
  });

  it('an error at COMMIT: ReadyForQuery idle with the block open claims it with the error', () => {
    const t = new TxBlock();
    t.ended(1, ['BEGIN'], false);
    t.ended(2, ['INSERT 0 1'], false);
    t.ended(3, [], '23505');
    expect(t.ready(I)).toEqual({ ns: [2], more: 0, sqlstate: '23505' });
  });

  it('a failed block keeps its first error; pcigate\'s abort counts as one', () => {
    const t = new TxBlock();
    t.ended(1, ['BEGIN'], false);
    t.ended(2, ['INSERT 0 1'], false);
    t.aborted('42501');
    t.ended(3, [], '25P02');
    t.ready(E);
    expect(t.ended(4, ['ROLLBACK'], false)).toEqual({ ns: [2], more: 0, sqlstate: '42501' });
  });

  it('after a SAVEPOINT, ROLLBACK is read by the ReadyForQuery after it: nothing behind it is listed meanwhile', () => {
    const t = new TxBlock();
    t.ended(1, ['BEGIN'], false);
    t.ended(2, ['SAVEPOINT'], false);
    t.ended(3, ['INSERT 0 1'], false);
    expect(t.ended(4, ['ROLLBACK'], false)).toBeNull();
    t.ended(5, ['INSERT 0 1'], false);
    expect(t.ready(I)).toEqual({ ns: [3], more: 0, sqlstate: undefined });
    // ROLLBACK TO: the block goes on, and what follows the ReadyForQuery is listed again.
    const u = new TxBlock();
    u.ended(1, ['BEGIN'], false);
    u.ended(2, ['SAVEPOINT'], false);
    u.ended(3, ['ROLLBACK'], false);
    expect(u.ready(T)).toBeNull();
    u.ended(4, ['INSERT 0 1'], false);
    expect(u.closed(undefined)).toEqual({ ns: [4], more: 0, sqlstate: undefined });
  });

  it('counts past the list\'s limit', () => {
    const t = new TxBlock();
    t.ended(0, ['BEGIN'], false);
    for (let n = 1; n <= 1003; n++) t.ended(n, ['INSERT 0 1'], false);
    const c = t.closed('08006')!;
    expect([c.ns.length, c.ns.at(-1), c.more, c.sqlstate]).toEqual([1000, 1000, 3, '08006']);
  });

  it('a Query that ends one block and a second, empty one keeps the first one\'s claim (rollback; begin; rollback)', () => {
    const t = new TxBlock();
    t.ended(1, ['BEGIN'], false);
    t.ended(2, ['INSERT 0 1'], false);
    expect(t.ended(3, ['ROLLBACK', 'BEGIN', 'ROLLBACK'], false)).toEqual({ ns: [2], more: 0, sqlstate: undefined });
  });

  it('an error rolled back to a savepoint no longer names the block\'s end (ReadyForQuery T clears it)', () => {
    const t = new TxBlock();
    t.ended(1, ['BEGIN'], false);
    t.ended(2, ['SAVEPOINT'], false);
    t.ended(3, ['INSERT 0 1'], false);
    t.ended(4, [], '22012');
    t.ready(E);
    t.ended(5, ['ROLLBACK'], false); // ROLLBACK TO s
    t.ready(T);
    t.ended(6, ['INSERT 0 1'], false);
    t.ended(7, [], '23505'); // the COMMIT fails
    expect(t.ready(I)).toEqual({ ns: [3, 6], more: 0, sqlstate: '23505' });
  });

  it('a failure after an ambiguous ROLLBACK (maybe outside the block) is not the block\'s', () => {
    const t = new TxBlock();
    t.ended(1, ['BEGIN'], false);
    t.ended(2, ['INSERT 0 1'], false);
    t.ended(3, ['SAVEPOINT'], false);
    t.ended(4, ['ROLLBACK'], false);
    t.ended(5, ['INSERT 0 1'], false);
    t.ended(6, [], '22012');
    expect(t.ready(I)).toEqual({ ns: [2], more: 0, sqlstate: undefined });
  });
});

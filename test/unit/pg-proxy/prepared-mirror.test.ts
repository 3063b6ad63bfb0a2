/**
 * PreparedMirror on its own: what an Execute is judged as after the Parse, Bind, Close and Describe messages a
 * client sent and what the server answered to them (the relay tells it both; here the test does).
 */
import { describe, expect, it } from 'vitest';
import type { BindParam, SessionHooks } from '../../../src/pg/proxy/hooks.js';
import { PreparedMirror, withFormats } from '../../../src/pg/proxy/prepared-mirror.js';
import { bytes } from '../../harness/pg-bytes.js';

const P1: BindParam[] = [{ format: 'text', value: '1' }];

/** A mirror whose onPortal calls are kept in `portals` as [name, sql]. */
function mirror(): { m: PreparedMirror; portals: Array<[string, string | null]> } {
  const portals: Array<[string, string | null]> = [];
  const hooks: SessionHooks = { onPortal(name, sql) { portals.push([name, sql]); } };
  return { m: new PreparedMirror(hooks), portals };
}

/** What an Execute of `portal` is judged as, as the relay asks it (not while the server skips). */
function exec(m: PreparedMirror, portal = '', skipping = false) {
  return m.executeStatement(m.portal(portal, skipping), portal, 0);
}

/**
 * A named Parse of `sql` under `name`, a Bind of portal `portal` from it, and the server's error `sqlstate`
 * answering the Parse; returns what an Execute of the portal is judged as once the relay resolved it.
 */
async function refusedParse(m: PreparedMirror, name: string, sql: string, portal: string, sqlstate: string) {
  const c = m.parse(name, sql, [], undefined);
  m.bind(portal, name, [], []);
  const bound = m.portal(portal, false)!;
  const unsure = m.unsure(bound)!;
  m.undo([c], c, sqlstate);
  await unsure.settled;
  m.resolve(bound, unsure);
  return m.executeStatement(bound, portal, 0);
}

/** What an Execute of the unnamed portal is judged as after a Bind of it from `statement`. */
function boundFrom(m: PreparedMirror, statement: string) {
  m.bind('', statement, [], []);
  return exec(m);
}

/** Lets promise callbacks run. */
const tick = () => new Promise<void>((r) => setImmediate(r));

describe('PreparedMirror', () => {
  it('an Execute runs the text, parameters and result formats bound into its portal', () => {
    const { m } = mirror();
    m.parse('', 'select $1::int', [23], undefined);
    m.bind('', '', P1, [1]);
    expect(m.executeStatement(m.portal('', false), '', 5)).toEqual({
      protocol: 'extended', sql: 'select $1::int', params: P1, paramTypes: [23], statementName: '', portal: '', maxRows: 5, resultFormats: [1],
    });
  });

  it('a portal or statement never made here has no known text', () => {
    const { m } = mirror();
    expect(exec(m, 'nope')).toMatchObject({ sql: '', textUnknown: true, statementName: '' });
    expect(boundFrom(m, 'never_parsed')).toMatchObject({ sql: '', textUnknown: true, statementName: 'never_parsed' });
  });

  it("a Parse's text read otherwise is carried to the Executes of it", () => {
    const { m } = mirror();
    m.parse('a', 'select 1', [], 'hooks');
    m.parse('b', 'select 2', [], 'unsettled');
    m.bind('pa', 'a', [], []);
    m.bind('pb', 'b', [], []);
    const a = m.portal('pa', false)!;
    const b = m.portal('pb', false)!;
    // Bound from named Parses not yet answered: resolved as the relay does once they are.
    m.resolve(a, m.unsure(a)!);
    m.resolve(b, m.unsure(b)!);
    expect(m.executeStatement(a, 'pa', 0)).toMatchObject({ sql: 'select 1', parsedOtherwise: true });
    expect(m.executeStatement(b, 'pb', 0)).toMatchObject({ sql: 'select 2', unsettled: true });
    expect(m.executeStatement(b, 'pb', 0)).not.toHaveProperty('parsedOtherwise');
  });

  it('a named Parse is unsure until the server answers it; its ParseComplete settles it', async () => {
    const { m, portals } = mirror();
    const c = m.parse('s', 'select 1', [], undefined);
    m.bind('p', 's', [], []);
    const portal = m.portal('p', false)!;
    const unsure = m.unsure(portal);
    expect(unsure).toBeDefined();
    expect(portals).toEqual([['p', null]]);
    let settled = false;
    void unsure!.settled.then(() => { settled = true; });
    await tick();
    expect(settled).toBe(false);
    m.answered(c);
    await tick();
    expect(settled).toBe(true);
    m.resolve(portal, unsure!);
    expect(m.unsure(portal)).toBeUndefined();
    expect(m.executeStatement(portal, 'p', 0)).toMatchObject({ sql: 'select 1', statementName: 's' });
    expect(portals).toEqual([['p', null], ['p', 'select 1']]);
    // The unnamed statement is never unsure (Parse of it replaces whatever the server held).
    m.parse('', 'select 2', [], undefined);
    m.bind('', '', [], []);
    expect(m.unsure(m.portal('', false)!)).toBeUndefined();
  });

  it('a named Parse the server refuses (42P05) leaves the text it held: the mirror, the Binds behind it and onPortal say so', async () => {
    const { m, portals } = mirror();
    m.answered(m.parse('s', 'select 1', [], undefined));
    expect(await refusedParse(m, 's', 'select secret from vault', 'p', '42P05')).toMatchObject({ sql: 'select 1' });
    await tick();
    expect(portals).toEqual([['p', null], ['p', 'select 1']]);
    expect(boundFrom(m, 's')).toMatchObject({ sql: 'select 1' });
  });

  it('a refused named Parse of a name the mirror did not have: 42P05 is a statement of unknown text, an analysis error keeps the text marked refused', async () => {
    const { m, portals } = mirror();
    expect(await refusedParse(m, 'sqlprep', 'select 1', 'p1', '42P05')).toMatchObject({ sql: '', textUnknown: true });
    expect(boundFrom(m, 'sqlprep')).toMatchObject({ sql: '', textUnknown: true });

    const p2 = await refusedParse(m, 'bad', 'select * from missing', 'p2', '42P01');
    expect(p2).toMatchObject({ sql: 'select * from missing', textRefused: true });
    expect(p2).not.toHaveProperty('textUnknown');
    expect(boundFrom(m, 'bad')).toMatchObject({ sql: 'select * from missing', textRefused: true });
    await tick();
    // Neither binds a text the server runs.
    expect(portals).toEqual([['p1', null], ['p1', null], ['p2', null], ['p2', null]]);
  });

  it('a failed Parse of the unnamed statement drops it; one the error skipped leaves what was there', () => {
    const { m } = mirror();
    m.answered(m.parse('', 'select 1', [], undefined));
    const failed = m.parse('', 'select 1/0', [], undefined);
    m.undo([failed], failed, '22012');
    expect(boundFrom(m, '')).toMatchObject({ sql: '', textUnknown: true });

    m.answered(m.parse('', 'select 1', [], undefined));
    m.answered(m.parse('kept', 'select 2', [], undefined));
    const skipped = m.parse('kept', 'select 3', [], undefined);
    const skipped2 = m.parse('', 'select 4', [], undefined);
    m.undo([skipped, skipped2], undefined, '42601');
    expect(boundFrom(m, '')).toMatchObject({ sql: 'select 1' });
    expect(boundFrom(m, 'kept')).toMatchObject({ sql: 'select 2' });
  });

  it('changes are undone in the order sent, and one the client made again behind the Sync stays', () => {
    const { m } = mirror();
    m.answered(m.parse('', 'select 0', [], undefined));
    const a = m.parse('', 'select 1', [], undefined);
    const b = m.parse('', 'select 2', [], undefined);
    m.undo([a, b], undefined, '42601');
    expect(boundFrom(m, '')).toMatchObject({ sql: 'select 0' });

    // The error answers `failed`; the client already Parsed the name again in its next batch.
    const failed = m.parse('', 'select 1/0', [], undefined);
    m.parse('', 'select 5', [], undefined);
    m.undo([failed], failed, '22012');
    expect(boundFrom(m, '')).toMatchObject({ sql: 'select 5' });
  });

  it('a Close S the error skipped is undone; one the server answered is out of reach of an undo', () => {
    const { m } = mirror();
    m.answered(m.parse('s', 'select 1', [], undefined));
    const close = m.closeStatement('s');
    expect(boundFrom(m, 's')).toMatchObject({ sql: '', textUnknown: true });
    m.undo([close], undefined, '42601');
    expect(boundFrom(m, 's')).toMatchObject({ sql: 'select 1' });

    const done = m.closeStatement('s');
    m.answered(done);
    m.undo([done], undefined, '42601');
    expect(boundFrom(m, 's')).toMatchObject({ sql: '', textUnknown: true });
  });

  describe('a chain of changes to one name, undone out of order (each error undoes its own batch): what the server holds', () => {
    /** A Bind of `portal` from `statement`, and the unsure Parse it waits on (the relay's Execute). */
    function bound(m: PreparedMirror, portal: string, statement: string) {
      m.bind(portal, statement, [], []);
      const p = m.portal(portal, false)!;
      return { p, unsure: m.unsure(p)! };
    }
    /** What an Execute of `b` is judged as once its Parse settled, as the relay resolves it. */
    async function judged(m: PreparedMirror, b: ReturnType<typeof bound>, portal: string) {
      await b.unsure.settled;
      m.resolve(b.p, b.unsure);
      return m.executeStatement(b.p, portal, 0);
    }

    it('two Parses of a held name in two batches, both refused (42P05): the held text, not the first refused one', async () => {
      const { m } = mirror();
      m.answered(m.parse('kept', 'select id from secrets', [], undefined));
      const a = m.parse('kept', 'select 1', [], undefined);
      const b = m.parse('kept', 'select 2', [], undefined);
      const e = bound(m, '', 'kept');
      m.undo([a], a, '42P05');
      m.undo([b], b, '42P05');
      expect(await judged(m, e, '')).toMatchObject({ sql: 'select id from secrets' });
      expect(boundFrom(m, 'kept')).toMatchObject({ sql: 'select id from secrets' });
    });

    it('three refused, the last two in one batch (a refused, b skipped behind it) or each on its own', async () => {
      for (const split of [false, true]) {
        const { m } = mirror();
        m.answered(m.parse('kept', 'select id from secrets', [], undefined));
        const a = m.parse('kept', 'select 1', [], undefined);
        const b = m.parse('kept', 'select 2', [], undefined);
        const c = m.parse('kept', 'select 3', [], undefined);
        const e = bound(m, '', 'kept');
        m.undo([a], a, '42P05');
        if (split) { m.undo([b], b, '42P05'); m.undo([c], c, '42P05'); } else m.undo([b, c], b, '42P05');
        expect(await judged(m, e, '')).toMatchObject({ sql: 'select id from secrets' });
        expect(boundFrom(m, 'kept')).toMatchObject({ sql: 'select id from secrets' });
      }
    });

    it('a Parse refused after a Close S the server skipped: the statement the Close left in place', async () => {
      const { m } = mirror();
      m.answered(m.parse('kept', 'select id from secrets', [], undefined));
      const close = m.closeStatement('kept');
      // 42P01: the server analyses the text before it finds the name taken. The mirror must not take the
      // name for one it did not have (that would keep the refused text, and an Execute of it be let through).
      const again = m.parse('kept', 'select * from missing', [], undefined);
      const e = bound(m, '', 'kept');
      m.undo([close], undefined, '42601');
      m.undo([again], again, '42P01');
      const stmt = await judged(m, e, '');
      expect(stmt).toMatchObject({ sql: 'select id from secrets' });
      expect(stmt).not.toHaveProperty('textRefused');
      expect(boundFrom(m, 'kept')).toMatchObject({ sql: 'select id from secrets' });
    });

    it('a Close S the server skipped after a refused Parse, then a Parse refused: the held text', async () => {
      const { m } = mirror();
      m.answered(m.parse('kept', 'select id from secrets', [], undefined));
      const a = m.parse('kept', 'select 1', [], undefined);
      const close = m.closeStatement('kept');
      const b = m.parse('kept', 'select 2', [], undefined);
      const e = bound(m, '', 'kept');
      m.undo([a, close], a, '42P05');
      m.undo([b], b, '42P05');
      expect(await judged(m, e, '')).toMatchObject({ sql: 'select id from secrets' });
    });

    it('portals bound in between, from each refused Parse, bind the held text; onPortal is told so', async () => {
      const { m, portals } = mirror();
      m.answered(m.parse('kept', 'select id from secrets', [], undefined));
      const a = m.parse('kept', 'select 1', [], undefined);
      const pa = bound(m, 'pa', 'kept');
      const b = m.parse('kept', 'select 2', [], undefined);
      const pb = bound(m, 'pb', 'kept');
      m.undo([a], a, '42P05');
      m.undo([b], b, '42P05');
      expect(await judged(m, pa, 'pa')).toMatchObject({ sql: 'select id from secrets' });
      expect(await judged(m, pb, 'pb')).toMatchObject({ sql: 'select id from secrets' });
      await tick();
      expect(portals).toEqual([['pa', null], ['pb', null], ['pa', 'select id from secrets'], ['pb', 'select id from secrets']]);
    });
    it('an unnamed Parse the server skips, bound behind the Sync: the Execute waits, and binds what the server held', async () => {
      const { m } = mirror();
      m.answered(m.parse('', 'select id from secrets', [], undefined));
      m.endSkipping();
      const bad = m.parse('x', 'select from nowhere', [], undefined);
      const skipped = m.parse('', 'select 1', [], undefined);
      // Bound in its own batch: skipped with it if it is, so nothing to wait for.
      m.bind('', '', [], []);
      expect(m.unsure(m.portal('', false)!)).toBeUndefined();
      m.endSkipping();
      const e = bound(m, '', '');
      m.undo([bad, skipped], bad, '42P01');
      expect(await judged(m, e, '')).toMatchObject({ sql: 'select id from secrets' });
      expect(boundFrom(m, '')).toMatchObject({ sql: 'select id from secrets' });
      // Answered: its own text.
      const next = m.parse('', 'select 2', [], undefined);
      m.endSkipping();
      const ok = bound(m, '', '');
      m.answered(next);
      expect(await judged(m, ok, '')).toMatchObject({ sql: 'select 2' });
    });
  });

  it('while the server skips, an Execute sees what the ignored Parse and Bind would have made, until the Sync', () => {
    const { m } = mirror();
    m.answered(m.parse('', 'select 1', [], undefined));
    m.bind('', '', [], []);
    m.skippedParse('', 'select 2', [20]);
    m.skippedBind('', '', P1, []);
    expect(exec(m, '', true)).toMatchObject({ sql: 'select 2', params: P1, paramTypes: [20] });
    // The server's own portal is what it was.
    expect(exec(m, '', false)).toMatchObject({ sql: 'select 1', params: [] });
    // A skipped Bind of a name no skipped Parse made binds what the server holds under it, or nothing.
    m.answered(m.parse('held', 'select 3', [], undefined));
    m.skippedBind('q', 'held', [], []);
    expect(exec(m, 'q', true)).toMatchObject({ sql: 'select 3', statementName: 'held' });
    m.skippedBind('r', 'none', [], []);
    expect(exec(m, 'r', true)).toMatchObject({ sql: '', textUnknown: true });
    // Not while the server reads them.
    expect(exec(m, 'q', false)).toMatchObject({ sql: '', textUnknown: true });
    m.endSkipping();
    expect(exec(m, '', true)).toMatchObject({ sql: 'select 1' });
    m.skippedBind('', '', [], []);
    expect(exec(m, '', true)).toMatchObject({ sql: 'select 1' });
  });

  it('named portals are told to onPortal as they are bound and closed; the unnamed one is not', () => {
    const { m, portals } = mirror();
    m.answered(m.parse('s', 'select 1', [], undefined));
    m.bind('c1', 's', [], []);
    m.bind('', 's', [], []);
    m.closePortal('c1');
    m.closePortal('');
    expect(portals).toEqual([['c1', 'select 1'], ['c1', null]]);
    expect(exec(m, 'c1')).toMatchObject({ sql: '', textUnknown: true });
    expect(exec(m, '')).toMatchObject({ sql: '', textUnknown: true });
  });

  it('a portal bound again, or a session ended, before the Parse is answered gets no late onPortal', async () => {
    const { m, portals } = mirror();
    const c = m.parse('s', 'select 1', [], undefined);
    m.bind('p', 's', [], []);
    m.bind('p', 'other', [], []);
    m.answered(c);
    await tick();
    expect(portals).toEqual([['p', null], ['p', null]]);

    const d = m.parse('t', 'select 2', [], undefined);
    m.bind('q', 't', [], []);
    m.end();
    m.abandoned(d);
    await tick();
    expect(portals).toEqual([['p', null], ['p', null], ['q', null]]);
  });

  it('a Parse never answered (the session ended) releases the Executes waiting on it', async () => {
    const { m } = mirror();
    const c = m.parse('s', 'select 1', [], undefined);
    m.bind('p', 's', [], []);
    const unsure = m.unsure(m.portal('p', false)!)!;
    m.abandoned(c);
    await unsure.settled;
    expect(unsure.rejected).toBeUndefined();
  });

  it("a statement's description is kept for its later Executes, with each Bind's result formats", () => {
    const { m } = mirror();
    m.answered(m.parse('s', 'select a, b', [], undefined));
    m.bind('p', 's', [], [1]);
    const portal = m.portal('p', false)!;
    expect(m.executeDescription(portal)).toBeUndefined();
    const rd = bytes.rowDescription([{ name: 'a', typeOid: 23 }, { name: 'b', typeOid: 25 }]);
    // Described through the portal: the statement it was bound from.
    const prep = m.describes('P', 'p');
    expect(prep).toBe(m.describes('S', 's'));
    m.setDescription(prep!, rd);
    expect(m.executeDescription(portal)).toEqual(bytes.rowDescription([{ name: 'a', typeOid: 23, format: 1 }, { name: 'b', typeOid: 25, format: 1 }]));
    m.bind('p2', 's', [], [0, 1]);
    expect(m.executeDescription(m.portal('p2', false)!)).toEqual(bytes.rowDescription([{ name: 'a', typeOid: 23 }, { name: 'b', typeOid: 25, format: 1 }]));
    // NoData: nothing to describe the rows by.
    m.setDescription(prep!, undefined);
    expect(m.executeDescription(portal)).toBeUndefined();
    expect(m.describes('P', 'nope')).toBeUndefined();
  });

  it("an Execute's rows are described as the statement its portal binds, not as what the name holds by then", async () => {
    const { m } = mirror();
    const rdA = bytes.rowDescription([{ name: 'a', typeOid: 25 }]);
    const rdB = bytes.rowDescription([{ name: 'b', typeOid: 23 }]);
    m.answered(m.parse('s', 'select a', [], undefined));
    m.setDescription(m.describes('S', 's')!, rdA);
    m.bind('p', 's', [], []);
    m.answered(m.closeStatement('s'));
    m.answered(m.parse('s', 'select b', [], undefined));
    m.setDescription(m.describes('S', 's')!, rdB);
    expect(m.executeDescription(m.portal('p', false)!)).toEqual(rdA);
    // A Describe of the portal describes that statement too, not the name's new one.
    expect(m.describes('P', 'p')).not.toBe(m.describes('S', 's'));
    m.setDescription(m.describes('P', 'p')!, rdA);
    m.bind('p2', 's', [], []);
    expect(m.executeDescription(m.portal('p2', false)!)).toEqual(rdB);
    // Bound from a Parse the server refused: as the statement it held.
    const again = m.parse('s', 'select c', [], undefined);
    m.bind('q', 's', [], []);
    const q = m.portal('q', false)!;
    const unsure = m.unsure(q)!;
    m.undo([again], again, '42P05');
    await unsure.settled;
    m.resolve(q, unsure);
    expect(m.executeDescription(q)).toEqual(rdB);
  });

  it('a named Bind not answered yet: an Execute of it behind the Sync waits; refused or skipped, the portal has no known text', async () => {
    const { m, portals } = mirror();
    m.answered(m.parse('s', 'select 1', [], undefined));
    // In the Bind's own batch an error would skip the Execute too: nothing to wait for.
    const same = m.bind('c', 's', [], []);
    expect(m.unsure(same)).toBeUndefined();
    m.endSkipping();
    const waits = m.unsure(same)!;
    m.bindAnswered(same);
    await waits.settled;
    m.resolve(same, waits);
    expect(m.unsure(same)).toBeUndefined();
    expect(exec(m, 'c')).toMatchObject({ sql: 'select 1' });

    // The server refuses it (42P03: a cursor WITH HOLD holds the name).
    const refused = m.bind('c', 's', [], []);
    m.endSkipping();
    const unsure = m.unsure(refused)!;
    m.unbind('c', refused);
    await unsure.settled;
    m.resolve(refused, unsure);
    expect(m.unsure(refused)).toBeUndefined();
    expect(exec(m, 'c')).toMatchObject({ sql: '', textUnknown: true });
    expect(m.executeDescription(refused)).toBeUndefined();
    expect(portals).toEqual([['c', 'select 1'], ['c', 'select 1'], ['c', null]]);
  });

  it('withFormats: none = all text, one = every column, else one per column', () => {
    const rd = bytes.rowDescription([{ name: 'x' }, { name: 'yy' }, { name: 'zzz' }]);
    const fmt = (fs: number[]) => withFormats(rd, fs);
    expect(fmt([])).toEqual(rd);
    expect(fmt([1])).toEqual(bytes.rowDescription([{ name: 'x', format: 1 }, { name: 'yy', format: 1 }, { name: 'zzz', format: 1 }]));
    expect(fmt([0, 1])).toEqual(bytes.rowDescription([{ name: 'x' }, { name: 'yy', format: 1 }, { name: 'zzz' }]));
    // The original is not changed.
    expect(rd).toEqual(bytes.rowDescription([{ name: 'x' }, { name: 'yy' }, { name: 'zzz' }]));
  });
});

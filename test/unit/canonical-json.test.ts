import { describe, expect, it } from 'vitest';
import { canonicalize } from '../../recorder/canonical-json.js';

// Examples from RFC 8785 §3.2.2 and Appendix B.
describe('canonicalize (RFC 8785)', () => {
  it('serialises the §3.2.2 example exactly', () => {
    const input = {
      numbers: [333333333.33333329, 1e30, 4.50, 2e-3, 0.000000000000000000000000001],
      string: '\u20ac$\u000F\u000aA\'\u0042\u0022\u005c\\"/',
      literals: [null, true, false],
    };
    expect(canonicalize(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  it('sorts members by UTF-16 code units (§3.2.3 example)', () => {
    const input = { '\u20ac': 'Euro Sign', '\r': 'Carriage Return', '\ufb33': 'Hebrew Letter Dalet With Dagesh', '1': 'One', '\ud83d\ude00': 'Emoji: Grinning Face', '\u0080': 'Control', '\u00f6': 'Latin Small Letter O With Diaeresis' };
    // Read the member order off the text itself: JSON.parse would move the integer-like key "1" first.
    const out = canonicalize(input);
    const order = ['\r', '1', '\u0080', '\u00f6', '\u20ac', '\ud83d\ude00', '\ufb33'].map((k) => out.indexOf(`${JSON.stringify(k)}:`));
    expect(order.every((at) => at >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });

  it('matches Appendix B number serialisations', () => {
    const cases: Array<[number, string]> = [
      [0, '0'], [-0, '0'], [5e-324, '5e-324'], [1.7976931348623157e308, '1.7976931348623157e+308'],
      [9007199254740992, '9007199254740992'], [295147905179352830000, '295147905179352830000'],
      [1e21, '1e+21'], [1e-7, '1e-7'], [0.000001, '0.000001'], [333333333.3333333, '333333333.3333333'],
    ];
    for (const [n, s] of cases) expect(canonicalize(n)).toBe(s);
  });

  it('refuses values JSON cannot carry', () => {
    expect(() => canonicalize(NaN)).toThrow(/not a JSON number/);
    expect(() => canonicalize(Infinity)).toThrow(/not a JSON number/);
    expect(() => canonicalize('\ud800x')).toThrow(/lone surrogate/);
    expect(() => canonicalize(1n)).toThrow(/bigint/);
    // Inside objects and arrays too, at any depth (JSON.stringify would drop them or write null silently).
    expect(() => canonicalize({ a: { b: [1, () => 0] } })).toThrow(/cannot encode a function/);
    expect(() => canonicalize({ a: Symbol('s') })).toThrow(/cannot encode a symbol/);
    expect(() => canonicalize([{ n: 2n }])).toThrow(/cannot encode a bigint/);
    expect(() => canonicalize({ a: [NaN] })).toThrow(/not a JSON number/);
    expect(() => canonicalize({ a: { b: '\udc00' } })).toThrow(/lone surrogate/);
  });

  it('writes nested values as the generic rules do, at every depth', () => {
    const value = { z: [{ y: -0, x: [true, null, 'é\u0001'] }, [], {}], a: { c: 1.5e-7, b: false }, m: [[undefined]] };
    expect(canonicalize(value)).toBe('{"a":{"b":false,"c":1.5e-7},"m":[[null]],"z":[{"x":[true,null,"é\\u0001"],"y":0},[],{}]}');
    expect(canonicalize({ d: new Date(0), b: Buffer.from('hi') })).toBe('{"b":{"data":[104,105],"type":"Buffer"},"d":"1970-01-01T00:00:00.000Z"}');
  });

  it('drops undefined members and is stable under key order', () => {
    expect(canonicalize({ b: 1, a: undefined, c: [undefined] })).toBe('{"b":1,"c":[null]}');
    expect(canonicalize({ z: { y: 1, x: 2 }, a: 0 })).toBe(canonicalize({ a: 0, z: { x: 2, y: 1 } }));
  });

  it('sorts every shape right when it reuses the member orders it has seen', () => {
    // Many shapes of one member count, in changing insertion orders, more than the orders kept per count:
    // each must come out sorted as a fresh sort would, and never in an order remembered for another shape.
    const names = ['n', 'sql', 'kind', 'rows', 'a', 'Z', 'é', 'b1', 'b10', 'b2'];
    let seed = 7;
    const rand = (k: number) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % k; };
    for (let round = 0; round < 400; round++) {
      const count = 2 + rand(4);
      const picked = [...names].sort(() => rand(3) - 1).slice(0, count);
      const obj = Object.fromEntries(picked.map((k, i) => [k, i]));
      const expected = `{${[...picked].sort().map((k) => `${JSON.stringify(k)}:${obj[k]}`).join(',')}}`;
      expect(canonicalize(obj), picked.join(' ')).toBe(expected);
    }
    const wide = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${99 - i}`, i]));
    expect(Object.keys(JSON.parse(canonicalize(wide)) as object)).toEqual(Object.keys(wide).sort());
  });
});


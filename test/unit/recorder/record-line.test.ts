import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalize } from '../../../recorder/canonical-json.js';
import { recordLine } from '../../../recorder/record-line.js';
import type { AuditEvent } from '../../../recorder/types.js';

const json = fc.jsonValue({ maxDepth: 3 }).filter((v) => !(typeof v === 'number' && Object.is(v, -0)));
const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });

describe('recordLine (the hand-ordered top level) equals canonicalize(record)', () => {
  it('for arbitrary events', () => {
    fc.assert(fc.property(
      fc.record({
        type: fc.string({ minLength: 1 }),
        session: maybe(fc.string()),
        actor: maybe(fc.record({ sub: fc.string(), via: fc.constantFrom('oidc', 'local'), groups: maybe(fc.array(fc.string())) })),
        account: maybe(fc.record({ kind: fc.constantFrom('postgres', 'ssh'), name: fc.string() })),
        src: maybe(fc.record({ ip: maybe(fc.ipV4()), port: maybe(fc.nat(65535)) })),
        target: maybe(fc.record({ conn: maybe(fc.string()), db: maybe(fc.string()) })),
        outcome: maybe(fc.constantFrom('success', 'failure', 'denied', 'pending')),
        detail: maybe(fc.dictionary(fc.string(), json)),
        blobs: maybe(fc.array(fc.record({ sha256: fc.string(), kind: fc.string(), bytes: fc.nat() }))),
      }),
      fc.string({ minLength: 1 }), fc.nat(), fc.string(),
      (ev, origin, seq, ts) => {
        const prev = 'ab'.repeat(32);
        const want = canonicalize({ ...ev, v: 1, origin, seq, ts, prev });
        expect(recordLine(ev as AuditEvent, origin, seq, ts, prev)).toBe(want);
      },
    ), { numRuns: 500 });
  });

  it('for events with unknown members or members that try to set recorder fields', () => {
    const ev = { type: 't', zzz: 1, seq: 99, v: 7, origin: 'evil', prev: 'x', ts: 'y' } as unknown as AuditEvent;
    expect(recordLine(ev, 'o', 3, 'ts', 'p')).toBe(canonicalize({ type: 't', zzz: 1, v: 1, origin: 'o', seq: 3, ts: 'ts', prev: 'p' }));
    expect(recordLine({ type: 't', detail: undefined }, 'o', 0, 't', 'p')).toBe(canonicalize({ type: 't', v: 1, origin: 'o', seq: 0, ts: 't', prev: 'p' }));
  });
});

/**
 * The bytes of one audit record: RFC 8785 canonical JSON of `{...event, v, origin, seq, ts, prev}`.
 * This is the append hot path, so the top level (whose member names are fixed and known) is written in
 * RFC 8785 §3.2.3 order by hand, and only the nested values go through the generic canonicalize. An event
 * with any other top-level member takes the generic path, so the output is always exactly
 * canonicalize(record) (test/unit/recorder/record-line.test.ts checks this property).
 */
import { canonicalize } from './canonical-json.js';
import type { AuditEvent } from './types.js';

const RECORDER_FIELDS = ['v', 'origin', 'seq', 'ts', 'prev'] as const;
const EVENT_FIELDS = ['type', 'session', 'actor', 'account', 'src', 'target', 'outcome', 'detail', 'blobs'] as const;
const KNOWN: ReadonlySet<string> = new Set<string>([...RECORDER_FIELDS, ...EVENT_FIELDS]);

/**
 * Canonical JSON of the objects a caller hands in again and again (one session's actor, src, target,
 * account), by identity — but only for objects frozen all the way down, which cannot change under the
 * cache. Anything else is encoded every time. A WeakMap: entries go with their objects.
 */
const SHARED = new WeakMap<object, string>();

/** Freezes `v` and everything reachable from it (in place); returns it. */
export function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

function deepFrozen(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return true;
  if (!Object.isFrozen(v)) return false;
  for (const x of Object.values(v)) if (!deepFrozen(x)) return false;
  return true;
}

function shared(v: object): string {
  if (!Object.isFrozen(v)) return canonicalize(v);
  let s = SHARED.get(v);
  if (s === undefined) {
    s = canonicalize(v);
    if (deepFrozen(v)) SHARED.set(v, s);
  }
  return s;
}

/** Canonical line (without `\n`) for `event` at `seq`; `origin` is the raw origin string, `prev` lowercase hex. */
export function recordLine(event: AuditEvent, origin: string, seq: number, ts: string, prev: string): string {
  for (const k in event) {
    if (!KNOWN.has(k) || (RECORDER_FIELDS as readonly string[]).includes(k)) {
      return canonicalize({ ...event, v: 1, origin, seq, ts, prev });
    }
  }
  // Member order below is the UTF-16 sort of the names: account, actor, blobs, detail, origin, outcome,
  // prev, seq, session, src, target, ts, type, v.
  let s = '{';
  if (event.account !== undefined) s += `"account":${shared(event.account)},`;
  if (event.actor !== undefined) s += `"actor":${shared(event.actor)},`;
  if (event.blobs !== undefined) s += `"blobs":${canonicalize(event.blobs)},`;
  if (event.detail !== undefined) s += `"detail":${canonicalize(event.detail)},`;
  s += `"origin":${canonicalize(origin)},`;
  if (event.outcome !== undefined) s += `"outcome":${canonicalize(event.outcome)},`;
  s += `"prev":${canonicalize(prev)},"seq":${canonicalize(seq)},`;
  if (event.session !== undefined) s += `"session":${canonicalize(event.session)},`;
  if (event.src !== undefined) s += `"src":${shared(event.src)},`;
  if (event.target !== undefined) s += `"target":${shared(event.target)},`;
  s += `"ts":${canonicalize(ts)},"type":${canonicalize(event.type)},"v":1}`;
  return s;
}

/**
 * RFC 8785 JSON Canonicalization Scheme (JCS). Every audit-log line and every manifest is serialised with
 * this, so a record's bytes — and therefore its hash — are a pure function of its content.
 *
 * - object members sorted by their names' UTF-16 code units (RFC 8785 §3.2.3; JS string comparison is
 *   exactly that order);
 * - numbers as ECMAScript's Number.prototype.toString (§3.2.2.3), which JSON.stringify already uses;
 *   NaN and ±Infinity are not JSON and are refused;
 * - strings with JSON.stringify's escaping, which matches §3.2.2.2 for well-formed strings; a lone
 *   surrogate cannot be represented in UTF-8 and is refused;
 * - no whitespace. `undefined` members are dropped (as JSON.stringify does); bigint is refused so that a
 *   caller decides how to encode it (usually as a string).
 */
export function canonicalize(value: unknown): string {
  return typeof value === 'object' && value !== null ? composite(value) : primitive(value);
}

/**
 * A member's or element's value. Primitives are written here, without a call per value through canonicalize
 * (this runs for every member of every audit record on the append path); objects and arrays go to composite.
 */
function primitive(value: unknown): string {
  switch (typeof value) {
    case 'string':
      // The plain surrogate test is a fast pre-check; the pairing test runs only on strings that have one.
      if (ANY_SURROGATE.test(value) && LONE_SURROGATE.test(value)) throw new TypeError('canonical JSON: string holds a lone surrogate');
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonical JSON: ${value} is not a JSON number`);
      // ECMAScript's Number::toString, as JSON.stringify writes it (-0 too: "0").
      return `${value}`;
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      return value === null ? 'null' : composite(value);
    default:
      throw new TypeError(`canonical JSON: cannot encode a ${typeof value}`);
  }
}

/** An array or an object (not null). Loops rather than map/filter/join, strings appended piece by piece. */
function composite(value: object): string {
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      const v: unknown = value[i];
      out += v === undefined ? 'null' : primitive(v);
    }
    return `${out}]`;
  }
  const obj = value as Record<string, unknown>;
  if (typeof (obj as { toJSON?: unknown }).toJSON === 'function') return canonicalize((obj as { toJSON(): unknown }).toJSON());
  const keys = sortedKeys(Object.keys(obj));
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    const v = obj[k];
    if (v === undefined) continue;
    if (out.length > 1) out += ',';
    out += quotedKey(k);
    out += ':';
    out += primitive(v);
  }
  return `${out}}`;
}

/**
 * The sorted member names of an object. Records of one kind are objects of one shape, built member by
 * member in the same order, so the last few orders seen are kept per member count and reused when the
 * names match one by one (interned strings: a pointer compare each), which is cheaper than sorting again.
 */
const ORDERS = new Map<number, Array<{ keys: string[]; sorted: string[] }>>();
function sortedKeys(keys: string[]): string[] {
  const n = keys.length;
  if (n < 2 || n > 64) return n < 2 ? keys : [...keys].sort();
  let seen = ORDERS.get(n);
  if (seen) {
    next: for (const o of seen) {
      for (let i = 0; i < n; i++) if (o.keys[i] !== keys[i]) continue next;
      return o.sorted;
    }
  } else {
    seen = [];
    ORDERS.set(n, seen);
  }
  const sorted = [...keys].sort();
  if (seen.length >= 8) seen.pop();
  seen.unshift({ keys, sorted });
  return sorted;
}

/**
 * Member names repeat across records (`sub`, `via`, `conn`, …): their canonical form is cached. Bounded:
 * cleared when it grows past 4096 names, so caller-chosen keys cannot grow it without limit.
 */
const KEY_CACHE = new Map<string, string>();
function quotedKey(k: string): string {
  let q = KEY_CACHE.get(k);
  if (q === undefined) {
    q = primitive(k);
    if (KEY_CACHE.size >= 4096) KEY_CACHE.clear();
    KEY_CACHE.set(k, q);
  }
  return q;
}

const ANY_SURROGATE = /[\uD800-\uDFFF]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

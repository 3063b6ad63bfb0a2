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
  switch (typeof value) {
    case 'string':
      if (LONE_SURROGATE.test(value)) throw new TypeError('canonical JSON: string holds a lone surrogate');
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonical JSON: ${value} is not a JSON number`);
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalize(v))).join(',')}]`;
      const obj = value as Record<string, unknown>;
      if (typeof (obj as { toJSON?: unknown }).toJSON === 'function') return canonicalize((obj as { toJSON(): unknown }).toJSON());
      const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
      return `{${keys.map((k) => `${canonicalize(k)}:${canonicalize(obj[k])}`).join(',')}}`;
    }
    default:
      throw new TypeError(`canonical JSON: cannot encode a ${typeof value}`);
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

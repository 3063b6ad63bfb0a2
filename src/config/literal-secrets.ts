/**
 * Finds literal secrets anywhere in a pcigate.yaml document, not only where the schema expects a secret
 * (PCI DSS 8.6.2). A value is refused when its key looks secret (`password`, `client_secret`, `api_key`, …)
 * and it is not a secret reference, or when the value itself looks like key material: a PEM private key,
 * a URL carrying a password, or a well-known token format. Positions come from the YAML nodes so the error
 * names line and column; the value itself is never echoed.
 */
import { isAlias, isMap, isPair, isScalar, isSeq } from 'yaml';
import type { Document, Node } from 'yaml';
import { PCI_862, SECRET_REF_EXPECTED, parseSecretRef } from './secret-ref.js';

export interface LiteralSecretHit {
  path: Array<string | number>;
  /** Offset in the source of the offending value. */
  offset: number;
  message: string;
}

/**
 * Key names whose last word marks a secret. Matching the end of the key (`db_password`, `api_token`)
 * rather than any word keeps `token_store` or `id_token_env` from being mistaken for one.
 */
const SECRET_KEY_RE =
  /(?:^|[_-])(?:password|passwd|pwd|passphrase|secret|token|private[_-]?key|api[_-]?key|apikey|access[_-]?key|secret[_-]?key|hmac[_-]?key|signing[_-]?key|encryption[_-]?key|master[_-]?key|credentials?|bearer)$/i;

const VALUE_PATTERNS: Array<[RegExp, string]> = [
  [/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/, 'a PEM private key'],
  [/^[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:[^/\s@]+@/i, 'a URL with a password in it'],
  [/\bAKIA[0-9A-Z]{16}\b/, 'an AWS access key id'],
  [/\bgh[pousr]_[A-Za-z0-9]{36,}\b/, 'a GitHub token'],
  [/\bglpat-[A-Za-z0-9_-]{20,}\b/, 'a GitLab token'],
  [/\bxox[abprs]-[A-Za-z0-9-]{10,}\b/, 'a Slack token'],
];

/** True when a key name looks like it holds a secret. */
export function isSecretKey(key: string): boolean {
  return SECRET_KEY_RE.test(key);
}

/** Every literal secret in `doc`, in document order. */
export function findLiteralSecrets(doc: Document): LiteralSecretHit[] {
  const hits: LiteralSecretHit[] = [];
  walk(doc, doc.contents as Node | null, [], undefined, hits, 0);
  return hits;
}

function walk(doc: Document, node: Node | null | undefined, path: Array<string | number>, key: string | undefined, hits: LiteralSecretHit[], depth: number): void {
  if (!node || depth > 64) return;
  if (isAlias(node)) {
    // `password: *pw` with `&pw hunter2` anchored under an innocent key: judge the value under this key,
    // but report it where the alias is written.
    const target = node.resolve(doc);
    if (isScalar(target)) {
      const before = hits.length;
      walk(doc, target, path, key, hits, depth + 1);
      for (const h of hits.slice(before)) h.offset = node.range?.[0] ?? h.offset;
    }
    return;
  }
  if (isMap(node)) {
    for (const pair of node.items) {
      if (!isPair(pair)) continue;
      const k = isScalar(pair.key) ? String(pair.key.value) : undefined;
      if (k === undefined) continue;
      walk(doc, pair.value as Node | null, [...path, k], k, hits, depth + 1);
    }
    return;
  }
  if (isSeq(node)) {
    node.items.forEach((item, i) => walk(doc, item as Node | null, [...path, i], key, hits, depth + 1));
    return;
  }
  if (!isScalar(node)) return;
  // A numeric password (`password: 123456`) is still a password; booleans and nulls are flags, not secrets.
  if (typeof node.value === 'number' || typeof node.value === 'bigint') {
    if (key !== undefined && isSecretKey(key)) {
      hits.push({ path, offset: node.range?.[0] ?? 0, message: `'${key}' holds a literal value; ${SECRET_REF_EXPECTED} (${PCI_862})` });
    }
    return;
  }
  if (typeof node.value !== 'string') return;
  const value = node.value;
  const offset = node.range?.[0] ?? 0;
  for (const [re, what] of VALUE_PATTERNS) {
    if (re.test(value)) {
      hits.push({ path, offset, message: `this value looks like ${what}; ${SECRET_REF_EXPECTED} (${PCI_862})` });
      return;
    }
  }
  if (key === undefined || !isSecretKey(key) || value === '') return;
  const ref = parseSecretRef(value);
  if (typeof ref !== 'string') return;
  // A value that starts like a reference but is malformed gets the precise reason, not "literal value".
  const message = /^(?:env|file|keychain|cmd):/.test(value)
    ? `malformed secret reference: ${ref}`
    : `'${key}' holds a literal value; ${SECRET_REF_EXPECTED} (${PCI_862})`;
  hits.push({ path, offset, message });
}

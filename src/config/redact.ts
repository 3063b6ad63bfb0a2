/**
 * redact(config): a plain-data copy of a parsed configuration in which every secret reference is shown as
 * `<redacted: env:NAME>` — naming the kind of reference, never a resolved value — for `config check`,
 * logs and bug reports (PCI DSS 8.3.2: authentication factors unreadable in storage and display).
 */
import { isSecretRef } from './secret-ref.js';

/** A deep copy of `value` with SecretRef instances replaced by their redacted text. */
export function redact<T>(value: T): unknown {
  if (isSecretRef(value)) return value.redacted();
  if (Array.isArray(value)) return value.map((v) => redact(v));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = redact(v);
    return out;
  }
  return value;
}

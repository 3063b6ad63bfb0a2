/**
 * Secret references (PCI DSS 8.6.2: no hard-coded passwords in configuration files). A secret in
 * pcigate.yaml is always one of `env:NAME`, `file:PATH`, `keychain:NAME` or `cmd:COMMAND`; the value is
 * fetched only when needed, by resolveSecret() in secrets.ts. A parsed reference is a SecretRef whose
 * toString()/toJSON() give the redacted form, so serialising a config by accident never shows more than
 * the reference itself.
 */
import { z } from 'zod';

export const SECRET_KINDS = ['env', 'file', 'keychain', 'cmd'] as const;
export type SecretKind = (typeof SECRET_KINDS)[number];

const REF_RE = /^(env|file|keychain|cmd):(.+)$/s;
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const SECRET_REF_EXPECTED = 'expected a secret reference: env:NAME, file:PATH, keychain:NAME or cmd:COMMAND';
export const PCI_862 = 'PCI DSS 8.6.2 forbids passwords and keys written into configuration files';

/** A parsed secret reference. `base` is the directory relative `file:` paths resolve against. */
export class SecretRef {
  readonly kind: SecretKind;
  readonly target: string;
  base: string | undefined;

  constructor(kind: SecretKind, target: string, base?: string) {
    this.kind = kind;
    this.target = target;
    this.base = base;
  }

  /** The reference as written, e.g. `env:PGPASSWORD`. */
  get ref(): string {
    return `${this.kind}:${this.target}`;
  }

  /**
   * The redacted display form. For `cmd:` only the program is shown: a command line is the one place an
   * operator might paste a token (`curl -H "Authorization: …"`), so it is not echoed whole.
   */
  redacted(): string {
    if (this.kind === 'cmd') {
      const program = this.target.trim().split(/\s+/)[0] ?? '';
      return `<redacted: cmd:${program}${this.target.trim() === program ? '' : ' …'}>`;
    }
    return `<redacted: ${this.ref}>`;
  }

  toString(): string {
    return this.redacted();
  }

  toJSON(): string {
    return this.redacted();
  }
}

/** True when `v` is a parsed SecretRef. */
export function isSecretRef(v: unknown): v is SecretRef {
  return v instanceof SecretRef;
}

/** Parses `env:NAME` etc.; a string describing what is wrong when it is not a valid reference. */
export function parseSecretRef(text: string): SecretRef | string {
  const m = REF_RE.exec(text);
  if (!m) return `${SECRET_REF_EXPECTED}; a literal secret is not allowed (${PCI_862})`;
  const kind = m[1] as SecretKind;
  const target = m[2]!.trim();
  if (target === '') return `${kind}: needs a ${kind === 'cmd' ? 'command' : kind === 'file' ? 'path' : 'name'}`;
  if (kind === 'env' && !ENV_NAME_RE.test(target)) return 'env: needs an environment variable name (letters, digits, _)';
  return new SecretRef(kind, target);
}

/** True when `text` is a well-formed secret reference. */
export function looksLikeSecretRef(text: string): boolean {
  return typeof parseSecretRef(text) !== 'string';
}

/**
 * The zod schema for a secret-valued key (section owners use it: `password: secretRef().optional()`).
 * Parses to a SecretRef; a literal value fails with a message citing PCI DSS 8.6.2, and never echoes it.
 */
export function secretRef() {
  return z.string({ error: SECRET_REF_EXPECTED }).transform((s, ctx) => {
    const r = parseSecretRef(s);
    if (typeof r === 'string') {
      ctx.addIssue({ code: 'custom', message: r, params: { literalSecret: true } });
      return z.NEVER;
    }
    return r;
  });
}

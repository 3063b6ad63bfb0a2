/**
 * Every error pcigate raises is a PcigateError with a stable `code`; callers branch on `code`, never on
 * message text (STYLE.md, after panva/jose). `exit` picks the row of the exit-code table that main()
 * applies; areas subclass with their own codes.
 */
import type { ExitCode } from './cli/exit-codes.js';
import { EXIT } from './cli/exit-codes.js';

export class PcigateError extends Error {
  static code = 'ERR_PCIGATE';
  code: string = PcigateError.code;
  /** Row of the exit-code table main() uses when this error ends a command. */
  exit: ExitCode = EXIT.error;
  /** A short next step for the user, printed under the message. */
  hint?: string;

  constructor(message: string, options?: { cause?: unknown; hint?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    if (options?.hint) this.hint = options.hint;
  }
}

/** Bad command line: unknown command or flag, missing argument. Exit 2. */
export class UsageError extends PcigateError {
  static override code = 'ERR_USAGE';
  override code = UsageError.code;
  override exit: ExitCode = EXIT.usage;
}

/** The configuration file is missing, unparsable or fails the schema. Exit 2 (it is the user's input). */
export class ConfigError extends PcigateError {
  static override code = 'ERR_CONFIG';
  override code = ConfigError.code;
  override exit: ExitCode = EXIT.usage;
}

/** A secret reference (env:, file:, keychain:, cmd:) could not be resolved. */
export class SecretError extends PcigateError {
  static override code = 'ERR_SECRET';
  override code = SecretError.code;
}

/** The data home cannot be created, read or written. */
export class HomeError extends PcigateError {
  static override code = 'ERR_HOME';
  override code = HomeError.code;
}

/** The audit log could not durably record something; callers must fail closed. */
export class AuditWriteError extends PcigateError {
  static override code = 'ERR_AUDIT_WRITE';
  override code = AuditWriteError.code;
}

/** The audit log or a bundle failed verification. Exit 3. */
export class VerificationError extends PcigateError {
  static override code = 'ERR_VERIFICATION';
  override code = VerificationError.code;
  override exit: ExitCode = EXIT.verification;
}

/** Signing keys are missing, unreadable or inconsistent. */
export class KeyError extends PcigateError {
  static override code = 'ERR_KEYS';
  override code = KeyError.code;
}

/** No valid identity: the user must log in. Exit 4. */
export class LoginRequired extends PcigateError {
  static override code = 'ERR_LOGIN_REQUIRED';
  override code = LoginRequired.code;
  override exit: ExitCode = EXIT.login;
}

/** Policy denied the action. Exit 5. */
export class PolicyDenied extends PcigateError {
  static override code = 'ERR_POLICY_DENIED';
  override code = PolicyDenied.code;
  override exit: ExitCode = EXIT.denied;
}

/** An approval was not granted in time. Exit 6. */
export class ApprovalTimeout extends PcigateError {
  static override code = 'ERR_APPROVAL_TIMEOUT';
  override code = ApprovalTimeout.code;
  override exit: ExitCode = EXIT.approvalTimeout;
}

/** Masking failed; the data it was applied to must not be forwarded or written. */
export class MaskError extends PcigateError {
  static override code = 'ERR_MASK';
  override code = MaskError.code;
}

/** Malformed or oversized protocol bytes from a peer. */
export class ProtocolError extends PcigateError {
  static override code = 'ERR_PROTOCOL';
  override code = ProtocolError.code;
}

/** True when `e` is a PcigateError (or subclass) carrying `code`. */
export function hasCode(e: unknown, code: string): e is PcigateError {
  return e instanceof PcigateError && e.code === code;
}

/** One located problem in a configuration file (config area). `line`/`col` are 1-based; 0 when unknown. */
export interface ConfigProblem {
  file: string;
  line: number;
  col: number;
  /** Dotted key path, e.g. `connections.prod-db.port`; empty for the document itself. */
  path: string;
  kind: 'yaml' | 'schema' | 'unknown_key' | 'literal_secret';
  message: string;
}

/** No configuration file was found where the search order looked (or where --config/PCIGATE_CONFIG said). */
export class ConfigNotFound extends ConfigError {
  static override code = 'ERR_CONFIG_NOT_FOUND';
  override code = ConfigNotFound.code;
}

/** The configuration file is unparsable or fails the schema; `problems` lists each with file:line:col. */
export class ConfigInvalid extends ConfigError {
  static override code = 'ERR_CONFIG_INVALID';
  override code = ConfigInvalid.code;
  readonly problems: ConfigProblem[];

  constructor(message: string, problems: ConfigProblem[], options?: { cause?: unknown; hint?: string }) {
    super(message, options);
    this.problems = problems;
  }
}

/** Policy configuration or evaluation failed in a way that must fail closed (policy area). */
export class PolicyError extends PcigateError {
  static override code = 'ERR_POLICY';
  override code = PolicyError.code;
}

/** No approval request with that id in the approvals store. */
export class ApprovalNotFound extends PcigateError {
  static override code = 'ERR_APPROVAL_NOT_FOUND';
  override code = ApprovalNotFound.code;
}

/** The approval request is no longer pending (approved, denied, expired or used) or was changed concurrently. */
export class ApprovalConflict extends PcigateError {
  static override code = 'ERR_APPROVAL_CONFLICT';
  override code = ApprovalConflict.code;
}

/** Separation of duties refused the approver (self-approval, not in an approver group, not logged in). Exit 5. */
export class ApprovalForbidden extends PcigateError {
  static override code = 'ERR_APPROVAL_FORBIDDEN';
  override code = ApprovalForbidden.code;
  override exit: ExitCode = EXIT.denied;
}

/** A client opened with a TLS ClientHello (PG17 `sslnegotiation=direct`); pcigate only speaks SSLRequest first. */
export class DirectTlsRefused extends ProtocolError {
  static override code = 'ERR_PG_DIRECT_TLS';
  override code = DirectTlsRefused.code;
}

/** The upstream Postgres server could not be reached, refused TLS, or refused authentication. */
export class PgUpstreamError extends PcigateError {
  static override code = 'ERR_PG_UPSTREAM';
  override code = PgUpstreamError.code;
  /** The server's ErrorResponse fields when it sent one (SQLSTATE in `fields.code`). */
  fields?: Readonly<Record<string, string>>;

  constructor(message: string, options?: { cause?: unknown; hint?: string; fields?: Readonly<Record<string, string>> }) {
    super(message, options);
    if (options?.fields) this.fields = options.fields;
  }
}

/** The identity provider refused or broke a login (RFC 8628 §3.5 access_denied, expired_token, bad responses). */
export class LoginFailed extends PcigateError {
  static override code = 'ERR_LOGIN_FAILED';
  override code = LoginFailed.code;
  override exit: ExitCode = EXIT.login;
  /** The OAuth error code when the provider gave one (`access_denied`, `expired_token`, …). */
  oauthError?: string;
}

/** A token failed validation (signature, iss, aud, exp/nbf, alg, typ) or a workload claim rule. */
export class TokenRefused extends PcigateError {
  static override code = 'ERR_TOKEN_REFUSED';
  override code = TokenRefused.code;
  override exit: ExitCode = EXIT.login;
  /**
   * A short stable reason (`signature`, `audience`, `issuer`, `expired`, `algorithm`, `typ`, `lifetime`, `claims`, `untrusted_issuer`, `client`;
   * for workload tokens also `replayed`: used before in this data home, `no_jti`: neither jti nor uti to claim it by).
   */
  reason = 'invalid';
}

/** The connection requires multi-factor authentication and the identity's `amr` shows none (PCI DSS 8.4.2). */
export class MfaRequired extends PcigateError {
  static override code = 'ERR_MFA_REQUIRED';
  override code = MfaRequired.code;
  override exit: ExitCode = EXIT.denied;
}

/** The token store (OS keychain or the 0600 file) could not be read or written. */
export class TokenStoreError extends PcigateError {
  static override code = 'ERR_TOKEN_STORE';
  override code = TokenStoreError.code;
}

/** pcigate refuses a proxied Postgres session before it starts; `sqlstate` and the message are built for the client. */
export class PgSessionRefused extends PcigateError {
  static override code = 'ERR_PG_SESSION_REFUSED';
  override code = PgSessionRefused.code;
  constructor(message: string, readonly sqlstate: string, options?: { cause?: unknown; hint?: string }) {
    super(message, options);
  }
}

/** `pcigate demo` could not start its embedded PostgreSQL or a step of the guided tour failed. */
export class DemoError extends PcigateError {
  static override code = 'ERR_DEMO';
  override code = DemoError.code;
}

/** `pcigate replay ID`: no session (or more than one) in the log matches the ID given. */
export class SessionNotFound extends PcigateError {
  static override code = 'ERR_SESSION_NOT_FOUND';
  override code = SessionNotFound.code;
}

/** An evidence report cannot be rendered as given (a cited reference id with no artifact, a bundle id that is not a UUID). */
export class EvidenceReportInvalid extends PcigateError {
  static override code = 'ERR_EVIDENCE_REPORT_INVALID';
  override code = EvidenceReportInvalid.code;
}

/** A file a command was told to write exists, and --force was not given (src/cli/output-file.ts). */
export class OutputExists extends PcigateError {
  static override code = 'ERR_OUTPUT_EXISTS';
  override code = OutputExists.code;
}

/** An evidence bundle (zip) is malformed: truncated, a bad CRC-32, a duplicate, absolute or `..` entry name. Exit 3. */
export class EvidenceFormatError extends PcigateError {
  static override code = 'ERR_EVIDENCE_FORMAT';
  override code = EvidenceFormatError.code;
  override exit: ExitCode = EXIT.verification;
  /** The zip entry the problem is in, when it is in one. */
  readonly file?: string;

  constructor(message: string, options?: { cause?: unknown; hint?: string; file?: string }) {
    super(message, options);
    if (options?.file !== undefined) this.file = options.file;
  }
}

/** Why a session was refused at its start (src/broker/session-admission.ts). */
export type RefusalKind = 'allowed_hours' | 'approval' | 'approval_timeout';

/** A session refused at its start by session-level policy (allowed_hours, require_approval). Exit 5, or 6 for an approval timeout. */
export class SessionRefused extends PolicyDenied {
  static override code = 'ERR_SESSION_REFUSED';
  override code = SessionRefused.code;
  constructor(message: string, readonly kind: RefusalKind, readonly rule: string, options?: { cause?: unknown }) {
    super(message, options);
    if (kind === 'approval_timeout') this.exit = EXIT.approvalTimeout;
  }
}

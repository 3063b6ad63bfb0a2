/**
 * Message codes, startup request codes, authentication codes and the SQLSTATEs pcigate uses.
 * Protocol 3.0, https://www.postgresql.org/docs/current/protocol-message-formats.html
 * SQLSTATEs: https://www.postgresql.org/docs/current/errcodes-appendix.html
 *
 * A code is the message's type byte as a number (`'Q'.charCodeAt(0)`), so the framer compares numbers.
 */

const c = (letter: string): number => letter.charCodeAt(0);

/** Messages a client (frontend) sends after startup. */
export const FrontendCode = {
  Bind: c('B'), // 'B'
  Close: c('C'), // 'C'
  CopyData: c('d'), // 'd'
  CopyDone: c('c'), // 'c'
  CopyFail: c('f'), // 'f'
  Describe: c('D'), // 'D'
  Execute: c('E'), // 'E'
  Flush: c('H'), // 'H'
  FunctionCall: c('F'), // 'F'
  Parse: c('P'), // 'P'
  /** PasswordMessage, SASLInitialResponse, SASLResponse and GSSResponse share 'p': the session step says which. */
  Password: c('p'), // 'p'
  Query: c('Q'), // 'Q'
  Sync: c('S'), // 'S'
  Terminate: c('X'), // 'X'
} as const;

/** Messages a server (backend) sends. */
export const BackendCode = {
  Authentication: c('R'), // 'R' (the int32 after the length says which, see AuthCode)
  BackendKeyData: c('K'), // 'K'
  BindComplete: c('2'), // '2'
  CloseComplete: c('3'), // '3'
  CommandComplete: c('C'), // 'C'
  CopyBothResponse: c('W'), // 'W'
  CopyData: c('d'), // 'd'
  CopyDone: c('c'), // 'c'
  CopyInResponse: c('G'), // 'G'
  CopyOutResponse: c('H'), // 'H'
  DataRow: c('D'), // 'D'
  EmptyQueryResponse: c('I'), // 'I'
  ErrorResponse: c('E'), // 'E'
  FunctionCallResponse: c('V'), // 'V'
  NegotiateProtocolVersion: c('v'), // 'v'
  NoData: c('n'), // 'n'
  NoticeResponse: c('N'), // 'N'
  NotificationResponse: c('A'), // 'A'
  ParameterDescription: c('t'), // 't'
  ParameterStatus: c('S'), // 'S'
  ParseComplete: c('1'), // '1'
  PortalSuspended: c('s'), // 's'
  ReadyForQuery: c('Z'), // 'Z'
  RowDescription: c('T'), // 'T'
} as const;

/**
 * The int32 "code" of the untyped messages a client may send first (length, code, …).
 * https://www.postgresql.org/docs/current/protocol-message-formats.html (StartupMessage, SSLRequest, …)
 */
export const StartupCode = {
  /** Protocol 3.0: major 3 in the high 16 bits, minor 0. */
  Protocol30: 196608,
  SSLRequest: 80877103,
  GSSENCRequest: 80877104,
  CancelRequest: 80877102,
} as const;

/** First byte of a TLS ClientHello record: a PG17 `sslnegotiation=direct` client starting TLS at once. */
export const TLS_HANDSHAKE_BYTE = 0x16;

/** The int32 subtype of an Authentication ('R') message. */
export const AuthCode = {
  Ok: 0,
  KerberosV5: 2,
  CleartextPassword: 3,
  MD5Password: 5,
  GSS: 7,
  GSSContinue: 8,
  SSPI: 9,
  SASL: 10,
  SASLContinue: 11,
  SASLFinal: 12,
} as const;

/** ReadyForQuery transaction status bytes. */
export const TxStatus = {
  Idle: c('I'), // 'I'
  InTransaction: c('T'), // 'T'
  Failed: c('E'), // 'E'
} as const;

/**
 * ErrorResponse / NoticeResponse field type bytes.
 * https://www.postgresql.org/docs/current/protocol-error-fields.html
 */
export const ErrorField = {
  severity: c('S'), // 'S' localized severity
  severityV: c('V'), // 'V' non-localized severity (9.6+)
  code: c('C'), // 'C' SQLSTATE
  message: c('M'), // 'M'
  detail: c('D'), // 'D'
  hint: c('H'), // 'H'
  position: c('P'), // 'P'
  internalPosition: c('p'), // 'p'
  internalQuery: c('q'), // 'q'
  where: c('W'), // 'W'
  schema: c('s'), // 's'
  table: c('t'), // 't'
  column: c('c'), // 'c'
  dataType: c('d'), // 'd'
  constraint: c('n'), // 'n'
  file: c('F'), // 'F'
  line: c('L'), // 'L'
  routine: c('R'), // 'R'
} as const;

export type ErrorFieldName = keyof typeof ErrorField;

/** SQLSTATEs pcigate sends or inspects. https://www.postgresql.org/docs/current/errcodes-appendix.html */
export const SqlState = {
  successfulCompletion: '00000',
  connectionException: '08000',
  connectionFailure: '08006',
  protocolViolation: '08P01',
  sqlclientUnableToEstablishSqlconnection: '08001',
  featureNotSupported: '0A000',
  invalidAuthorizationSpecification: '28000',
  invalidPassword: '28P01',
  insufficientPrivilege: '42501',
  syntaxError: '42601',
  queryCanceled: '57014',
  adminShutdown: '57P01',
  cannotConnectNow: '57P03',
  tooManyConnections: '53300',
  configurationLimitExceeded: '53400',
  programLimitExceeded: '54000',
  internalError: 'XX000',
} as const;

export type SqlStateCode = (typeof SqlState)[keyof typeof SqlState];

/** Default maximum frame lengths (the int32 length field, which counts itself). */
export const Limits = {
  /** Untyped startup-phase packets; libpq's own limit for a StartupMessage is 10 000 bytes. */
  startup: 10 * 1024,
  /**
   * Client messages before the login succeeds (SASLInitialResponse, SASLResponse): PostgreSQL's own bound on an
   * authentication token (PG_MAX_AUTH_TOKEN_LENGTH). A peer that has not logged in cannot make the listener hold
   * the 256 MiB a session's Query may have.
   */
  auth: 65_535,
  /** Client messages after startup (Query text, Bind values, CopyData chunks). */
  frontend: 256 * 1024 * 1024,
  /** Server messages: a DataRow can legally approach 1 GiB (the varlena limit). */
  backend: 1024 * 1024 * 1024,
} as const;

/**
 * Passwords (and other secrets: NAMES_SECRET) in the text of a literal or comment (redact-statement-secrets.ts reads it as a statement first):
 * a key that says password and its value, as JSON (`{"db_password": "x"}`), YAML or prose (`password: x`), a
 * libpq connection string (`host=h password=x`, its value quoted with backslash escapes or bare to a blank) and a
 * URI's query (`postgresql://h/db?password=x&…`) write them. The connection-string form is read only in text that starts as one (`key=`): in a function body,
 * `password = crypt(p, password)` is SQL, read by the scanner, not a value to cut at its first blank.
 *
 * And the credentials known by their form wherever they stand: tokens (KNOWN_TOKEN), HTTP credentials
 * (HTTP_CREDENTIAL) and private keys (PEM_BEGIN), for the statement's reading, a value's, a command line's and a
 * recording's.
 */
import { SAD_COLUMN_NAMES } from '../mask/column-rules.js';

/**
 * A name that says it holds a secret: password, passwd, passphrase, pass, passcode, pwd, credentials, secret, a token,
 * an API, access, private, secret or encryption key (`db_password`, `client_secret`, `auth_token`, `api_key`,
 * `X-Api-Key`, `app.encryption_key`, `aes_key`: what `SET` or set_config gives a later pgp_sym_decrypt(pan,
 * current_setting('app.encryption_key')); not `secretary`, `bypass` nor a `tokens` table, nor a `sort_key`), and
 * sensitive authentication data (PCI DSS 3.3.1: `cvv2`, `pin_block`, `track2`, the result masker's SAD_COLUMN_NAMES
 * and a configuration's `masking.sad_columns`, nameSadColumns; as a name or a part of one).
 * One list for every reader of names (redact-by-tokens.ts, the gate in redact-statement-secrets.ts, the bind
 * parameters a record withholds in sql-record.ts).
 */
export let NAMES_SECRET = namesSecretRegExp(SAD_COLUMN_NAMES);
/** A key that names a secret: where each starts (NAMES_SECRET's, global). */
let PASSWORD_AT = new RegExp(NAMES_SECRET.source, 'gi');

function namesSecretRegExp(sad: readonly string[]): RegExp {
  const names = [...sad].sort((a, b) => b.length - a.length).map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(String.raw`passw(?:or)?d|passphrase|(?<![a-z])pwd(?![a-z])|(?<![a-z])pass(?:code)?(?![a-z])|(?<![a-z])credentials?(?![a-z])|secret(?![a-z])|(?:api|access|private|secret|encryption|encrypt|enc|crypt|crypto|cipher|master|aes|hmac|signing|pgp)[_-]?key(?![a-z])|(?<![a-z])token(?![a-z])`
    // (sensitive authentication data by the names the result masker masks in full: a name or a part of one, `card_cvv`)
    + String.raw`|(?<![a-z0-9])(?:${names.join('|')})(?![a-z0-9])`, 'i');
}

/** The SAD column names NAMES_SECRET holds: the built-in ones and those configured (nameSadColumns). */
const sadNames = new Set<string>(SAD_COLUMN_NAMES);

/**
 * A configuration's `masking.sad_columns` named secrets from now on, in this process, as the built-in SAD names are: a
 * statement that names one keeps none of its literals in the record, its parameters and sampled rows are withheld
 * (pgHooksFor and explainPolicy call it with their configuration's). Names are only added: a process that serves two
 * configurations reads the names of both (more is redacted, never less).
 */
export function nameSadColumns(names: readonly string[]): void {
  const known = sadNames.size;
  for (const n of names) sadNames.add(n.toLowerCase());
  if (sadNames.size === known) return;
  NAMES_SECRET = namesSecretRegExp([...sadNames]);
  PASSWORD_AT = new RegExp(NAMES_SECRET.source, 'gi');
}
/**
 * Whether a text bind parameter names a secret (a key/value table's `('db_password', $2)`): its statement's parameters
 * are all withheld then, in the record and from an approver, as such a pair in literals is, and so are its sampled rows.
 */
export function paramNamesSecret(params: ReadonlyArray<{ format: string; value: unknown } | null>): boolean {
  return params.some((p) => p?.format === 'text' && typeof p.value === 'string' && NAMES_SECRET.test(p.value));
}

/**
 * A credential known by its form wherever it stands, whatever names it (on a command line, argv-redact.ts: `export
 * STRIPE=sk_live_…`, `curl -H "X: ghp_…"`; in SQL, redact-statement-secrets.ts: `UPDATE settings SET v = 'sk_live_…'`;
 * in a bind parameter or a transcript's sampled value): GitHub (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`),
 * GitLab (`glpat-`, `gldt-`, `glrt-`, `glptt-`), Slack (`xoxb-1…`, `xapp-1-…`), Stripe (`sk_live_`, `rk_test_`,
 * `whsec_` …), OpenAI and Anthropic (`sk-` and 48 letters and digits, `sk-proj-…`, `sk-ant-…`, `sk-None-…`), npm
 * (`npm_`), Google API (`AIza…`), Vault (`hvs.`, `hvb.`), PyPI (`pypi-`) tokens, and a JSON Web Token
 * (`eyJ….eyJ….…`, signed or not: a bearer token). One with a free form after its prefix holds a digit and a capital
 * letter (`rk_test_ValidateUser`, `sk-admin-dashboard-refactor` and `hvs.production-backup.tar` are names). Each
 * starts at the start of the text, after a character no token holds, or after an escape (`\n`, `\t`, `%3D`: a
 * token in a JSON string or a URL's query; a terminal's control sequence, `ESC[01;31m`: grep --color, or character
 * set, `ESC(B`), so every run of token characters is read from such a start once (linear), and ends where no letter
 * or digit follows (`ghp_…-old`).
 */
// (looked for in the token's body and at most two short parts after a dot, GitLab's routable `glpat-….01.…`: read to
// the run's end, a run of `ghp_.` prefixes was read to its end from each, quadratic, 0.3 MB/s in a recording)
const AFTER_PREFIX = String.raw`[\w-]{0,255}(?:\.[\w-]{0,16}){0,2}`;
const MIXED = String.raw`(?=${AFTER_PREFIX}\d)(?=${AFTER_PREFIX}[A-Z])`;
export const KNOWN_TOKEN = new RegExp(String.raw`(?<=^|[^\w-]|\\[ntrfvb0]|%[0-9A-Fa-f]{2}|\x1b\[[0-?]{0,32}[ -/]{0,4}[@-~]|\x1b[()*+][ -~])(?:gh[pousr]_${MIXED}[A-Za-z0-9]{36,255}|github_pat_${MIXED}\w{22,255}|gl(?:pat|dt|rt|ptt)-${MIXED}[\w-]{20,255}|xox[abprse]-\d[\w-]{8,255}|xapp-\d-[\w-]{10,255}|(?:[rs]k_(?:live|test)|whsec)_${MIXED}[A-Za-z0-9]{16,255}|sk-[A-Za-z0-9]{48}|sk-(?:proj|ant|svcacct|admin|None)-${MIXED}[\w-]{32,255}|npm_${MIXED}[A-Za-z0-9]{36,255}|AIza[\w-]{35}|hv[sb]\.${MIXED}[\w-]{24,255}|pypi-${MIXED}[\w-]{50,255}|eyJ[\w-]{10,16384}\.eyJ[\w-]{10,16384}\.[\w-]{0,16384})(?![A-Za-z0-9])`, 'g');
/** Text that may hold a KNOWN_TOKEN (each form's start): the cheap test before it is looked for. */
export const TOKEN_HINT = /gh[pousr]_|github_pat_|gl(?:pat|dt|rt|ptt)-|xox[abprse]-|xapp-|k_(?:live|test)_|whsec_|sk-|npm_|AIza|hv[sb]\.|pypi-|eyJ/;

/** The HTTP authentication schemes a credential is known to follow (`Authorization: <scheme> <credential>`). */
export const AUTH_SCHEMES = 'Basic|Bearer|Digest|Negotiate|NTLM|Token|Key|ApiKey|SSWS|OAuth|Hawk|MAC|AWS4-HMAC-SHA256|GoogleLogin|Splunk';
/** An Authorization or Proxy-Authorization header's name, its `:` or `=`, and a known scheme (HTTP_CREDENTIAL's group 1). */
const HEADER_PREFIX = String.raw`(?<![\w-])(?:proxy-)?authorization["']?[ \t]*[:=][ \t]*["']?(?:(?:${AUTH_SCHEMES})[ \t]{1,8})?`;
/**
 * An HTTP credential in a value's text (a SQL literal, a bind parameter, a sampled result value; command lines have
 * their own reading of headers, argv-redact.ts, which knows the shell's quoting):
 * - an Authorization or Proxy-Authorization header's, as a header line, a JSON member or a form field writes it
 *   (`Authorization: Basic dXNl…`, `{"authorization": "Bearer …"}`, `authorization=…`): its credential, after a
 *   known scheme or standing alone (groups 1 and 2: what stays, what goes);
 * - a Bearer or Basic credential with no header name before it, as pgsql-http's `http_header('Authorization',
 *   'Bearer …')` or a bind parameter gives it (groups 3 and 4, 5 and 6). It must read as one: a Bearer token (RFC
 *   6750's token68) of 8 characters and more with a digit or a symbol in it, or of 16 letters and more; a Basic
 *   credential in base64 with a digit, `+`, `/` or `=`. `bearer bonds`, `Basic plan` and `Basic model-X1000 kit` stay.
 */
export const HTTP_CREDENTIAL = new RegExp(String.raw`(${HEADER_PREFIX})([^\s'"\\,;&})\]$]+)`
  + String.raw`|(?<![\w-])(bearer[ \t]{1,8})((?=[\w.~+/-]{0,16383}[\d.~+/=_-])[\w.~+/-]{8,16384}=*|[A-Za-z]{16,16384})(?![\w.~+/=-])`
  + String.raw`|(?<![\w-])(basic[ \t]{1,8})((?=[A-Za-z0-9+/]{0,16383}[\d+/=])[A-Za-z0-9+/]{8,16384}={0,2})(?![\w.~+/=-])`, 'gi');
/**
 * What an HTTP credential follows, at the end of a text: a header's name and scheme, or a Bearer or Basic (for a
 * reader of a stream, recorded-tokens.ts, which holds it with the credential that may come in the next piece).
 */
export const HTTP_CREDENTIAL_PREFIX = new RegExp(String.raw`(?:${HEADER_PREFIX}|(?<![\w-])(?:bearer|basic)[ \t]{1,8})$`, 'i');
/** Text that may hold an HTTP_CREDENTIAL: the cheap test before it is looked for. */
export const HTTP_HINT = /authorization|bearer|basic/i;

/**
 * Where each HTTP_CREDENTIAL's credential is in `text`: [start, end) pairs, flat, in order.
 */
export function httpCredentials(text: string): number[] {
  const at: number[] = [];
  if (!HTTP_HINT.test(text)) return at;
  HTTP_CREDENTIAL.lastIndex = 0;
  for (let m = HTTP_CREDENTIAL.exec(text); m; m = HTTP_CREDENTIAL.exec(text)) {
    const kept = (m[1] ?? m[3] ?? m[5]!).length;
    // (A mark another reader put there, `[redacted]`, is no credential: read as one, its `]` stayed after it.)
    if (text.charCodeAt(m.index + kept) === 0x5b /* [ */) continue;
    at.push(m.index + kept, m.index + m[0].length);
  }
  return at;
}

/** A PEM or PGP private key's first line (`-----BEGIN OPENSSH PRIVATE KEY-----`); group 1 is its label. */
export const PEM_BEGIN = /-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----/g;

/**
 * Where each PEM or PGP private key's body is in `text`, its BEGIN and END lines and the blanks around it left out:
 * [start, end) pairs, flat, in order. A key whose END line is not in the text runs to the text's end.
 */
export function privateKeyBodies(text: string): number[] {
  const at: number[] = [];
  if (!text.includes('PRIVATE KEY')) return at;
  const begins = new RegExp(PEM_BEGIN.source, 'g');
  for (let m = begins.exec(text); m; m = begins.exec(text)) {
    let from = m.index + m[0].length;
    const end = text.indexOf(`-----END ${m[1]}-----`, from);
    let to = end < 0 ? text.length : end;
    begins.lastIndex = to;
    while (from < to && /\s/.test(text[from]!)) from++;
    while (to > from && /\s/.test(text[to - 1]!)) to--;
    if (to > from) at.push(from, to);
  }
  return at;
}

/**
 * `text` with each [start, end) span of `at` (flat pairs, in any order; spans that overlap are one) replaced by what
 * `mark` gives for its text.
 */
export function replaceSpans(text: string, at: readonly number[], mark: (span: string) => string): string {
  if (at.length === 0) return text;
  const spans: Array<[number, number]> = [];
  for (let k = 0; k < at.length; k += 2) spans.push([at[k]!, at[k + 1]!]);
  if (spans.length > 1) spans.sort((a, b) => a[0] - b[0]);
  let out = '';
  let done = 0;
  for (let i = 0; i < spans.length;) {
    const start = spans[i]![0];
    let end = spans[i]![1];
    for (i++; i < spans.length && spans[i]![0] < end; i++) end = Math.max(end, spans[i]![1]);
    out += text.slice(done, start) + mark(text.slice(start, end));
    done = end;
  }
  return out + text.slice(done);
}

/** Where a function's secret arguments are: the same for any call, or by its argument count. */
type ArgPositions = readonly number[] | ((argc: number) => readonly number[]);

/**
 * Functions whose arguments at these positions (0-based; by the call's argument count where overloads differ) are a
 * password or key whatever they are named. A deployment that encrypts card data in the database passes its key there
 * (`SELECT pgp_sym_decrypt(pan, 'k') FROM cards`):
 * - pgcrypto's crypt(password, salt), hmac(data, key, type), encrypt/decrypt[_iv](data, key, …),
 *   pgp_sym_encrypt/decrypt[_bytea](data, password, …) and pgp_pub_decrypt[_bytea](message, secret key, password, …);
 * - pgsodium's keys, secret keys and passwords: crypto_secretbox[_open](message, nonce, key),
 *   crypto_auth[_verify], crypto_auth_hmacsha256/512[_verify], crypto_generichash and crypto_shorthash(message, key),
 *   crypto_box[_open](message, nonce, public, secret), crypto_box_seal_open(ciphertext, public, secret),
 *   crypto_sign[_detached](message, secret key), crypto_aead_ietf_*(message, additional, nonce, key),
 *   crypto_aead_det_*(message, additional, key, …), crypto_stream_xchacha20_xor(message, nonce, key),
 *   crypto_kdf_derive_from_key(size, id, context, primary key), crypto_pwhash(password, salt), crypto_pwhash_str(password),
 *   crypto_pwhash_str_verify(hash, password);
 * - the RDS and Aurora aws_s3 extension's AWS credentials: aws_commons.create_aws_credentials(access key id, secret key,
 *   session token), and aws_s3.table_import_from_s3's credentials argument (5 arguments) or its secret key and session
 *   token (9 arguments). The access key id stays: it names the credentials, as a user name does.
 */
export const SECRET_ARGUMENTS: ReadonlyMap<string, ArgPositions> = new Map<string, ArgPositions>([
  ['crypt', [0]], ['hmac', [1]], ['encrypt', [1]], ['decrypt', [1]], ['encrypt_iv', [1]], ['decrypt_iv', [1]],
  ['pgp_sym_encrypt', [1]], ['pgp_sym_encrypt_bytea', [1]], ['pgp_sym_decrypt', [1]], ['pgp_sym_decrypt_bytea', [1]],
  ['pgp_pub_decrypt', [1, 2]], ['pgp_pub_decrypt_bytea', [1, 2]],
  ['crypto_secretbox', [2]], ['crypto_secretbox_open', [2]], ['crypto_auth', [1]], ['crypto_auth_verify', [2]],
  ['crypto_auth_hmacsha256', [1]], ['crypto_auth_hmacsha256_verify', [2]],
  ['crypto_auth_hmacsha512', [1]], ['crypto_auth_hmacsha512_verify', [2]], ['crypto_generichash', [1]], ['crypto_shorthash', [1]],
  ['crypto_box', [3]], ['crypto_box_open', [3]], ['crypto_box_seal_open', [2]],
  ['crypto_sign', [1]], ['crypto_sign_detached', [1]], ['crypto_aead_ietf_encrypt', [3]], ['crypto_aead_ietf_decrypt', [3]],
  ['crypto_aead_det_encrypt', [2]], ['crypto_aead_det_decrypt', [2]], ['crypto_stream_xchacha20_xor', [2]],
  ['crypto_kdf_derive_from_key', [3]], ['crypto_pwhash', [0]], ['crypto_pwhash_str', [0]], ['crypto_pwhash_str_verify', [1]],
  ['create_aws_credentials', [1, 2]], ['table_import_from_s3', (argc) => (argc === 5 ? [4] : argc === 9 ? [7, 8] : [])],
]);
/** The end of a name of SECRET_ARGUMENTS, maybe quoted (a RegExp's source): pgcrypto's by their ends, the others whole. */
const KEYED_NAME = `(?:(?:crypt|hmac)(?:_iv|_bytea)?|(?<![\\w$])(?:${[...SECRET_ARGUMENTS.keys()].filter((n) => !/(?:crypt|hmac)(?:_iv|_bytea)?$/.test(n)).sort((a, b) => b.length - a.length).join('|')}))"?`;
/** Text that may call one of SECRET_ARGUMENTS (its name, then a `(` or a comment): a cheap gate. */
export const CALLS_SECRET = new RegExp(`${KEYED_NAME}\\s*(?:\\(|\\/\\*|--)`, 'i');
const KEYED_CALL = new RegExp(`${KEYED_NAME}\\s*\\(`, 'gi');

/**
 * Whether text (a literal's, building dynamic SQL) ends inside the arguments of such a call (`'… pgp_sym_decrypt(pan, '
 * || …`), and whether it puts a `%` placeholder in them (`format('… pgp_sym_decrypt(pan, %L)', …)`). One pass: each
 * call's next `)` and `%` are found once for all the calls before them.
 */
export function keyedCallText(text: string): { openAtEnd: boolean; placeholder: boolean } {
  let openAtEnd = false;
  let placeholder = false;
  let close = -1;
  let percent = -1;
  KEYED_CALL.lastIndex = 0;
  for (let m: RegExpExecArray | null; (m = KEYED_CALL.exec(text)) !== null;) {
    const at = KEYED_CALL.lastIndex;
    if (close < at) close = text.indexOf(')', at);
    if (close < 0) { openAtEnd = true; close = text.length; }
    if (percent < at) percent = text.indexOf('%', at);
    if (percent < 0) percent = text.length;
    if (percent < close) placeholder = true;
  }
  return { openAtEnd, placeholder };
}

/**
 * Whether a text may hold a secret the readers look for: a name that says so, a call that takes one, or a literal or
 * name spelled with escapes, which may spell either (E'…\…', U&'…', U&"…").
 */
export function mayHoldSecret(text: string): boolean {
  return NAMES_SECRET.test(text) || mayHideSecret(text);
}
/** mayHoldSecret but for the name: a call that takes a secret, or text spelled with escapes. */
export function mayHideSecret(text: string): boolean {
  return CALLS_SECRET.test(text) || UNICODE_ESCAPED.test(text) || (E_STRING.test(text) && text.includes('\\'));
}
const UNICODE_ESCAPED = /[Uu]&['"]/;
/**
 * Text that may give a password in another server's syntax, which PostgreSQL refuses but a user typed all the same:
 * `IDENTIFIED [WITH plugin] BY 'x'` (MySQL, Oracle; redact-by-tokens.ts identifiedValues, redact-statement-secrets.ts
 * redactUnreadPasswords). A cheap gate, as NAMES_SECRET is.
 */
export const IDENTIFIES = /identified/i;
/**
 * Text that may give the server a command line to run: COPY … PROGRAM, a `*_command` setting (redact-by-tokens.ts
 * runsCommand reads where), in a statement or in a body or dynamic SQL inside one. A cheap gate.
 */
export const RUNS_COMMAND = /program|_command/i;
/** Text with the word EXECUTE: an EXECUTE's arguments are another statement's parameters (redact-by-tokens.ts). */
export const EXECUTES = /\bexecute\b/i;
const E_STRING = /(?<![\w$])[Ee]'/;
/** The rest of the key's word (read once: `passwordpassword…` is one word, not one per `password`). */
const KEY_REST = /[\w.-]*/y;
/** After the key: a closing quote, blanks, `:` (not `::` nor `:=`), blanks. */
const COLON_AFTER_KEY = /["']?[ \t]*:(?![:=])[ \t]*/y;
/** After the key: blanks, `=`, blanks. */
const EQUALS_AFTER_KEY = /[ \t\n\r\f\v]*=[ \t\n\r\f\v]*/y;
/** What may follow a value: a blank, a separator of JSON, YAML, a URI's query, or a quote. */
const VALUE_END = /[\s,}\]&#'"]/;
/** Text that starts as a connection string: a keyword and `=`. */
const CONNINFO = /^[ \t\n\r\f\v]*[A-Za-z_]\w*[ \t\n\r\f\v]*=/;

/** `text` with each password value found replaced by `mark` (a quoted one keeps its quotes). Linear. */
export function redactContentSecrets(text: string, mark: string): string {
  const conninfo = CONNINFO.test(text);
  let out = '';
  let done = 0;
  PASSWORD_AT.lastIndex = 0;
  for (let m: RegExpExecArray | null; (m = PASSWORD_AT.exec(text)) !== null; ) {
    KEY_REST.lastIndex = m.index + m[0].length;
    const key = m.index + m[0].length + KEY_REST.exec(text)![0].length;
    PASSWORD_AT.lastIndex = key;
    let at = -1;
    let form: 'colon' | 'conninfo' = 'colon';
    COLON_AFTER_KEY.lastIndex = key;
    const colon = COLON_AFTER_KEY.exec(text);
    const inQuery = m.index > 0 && (text[m.index - 1] === '?' || text[m.index - 1] === '&');
    if (colon) at = key + colon[0].length;
    else if (conninfo || inQuery) {
      EQUALS_AFTER_KEY.lastIndex = key;
      const eq = EQUALS_AFTER_KEY.exec(text);
      if (eq) { at = key + eq[0].length; form = 'conninfo'; }
    }
    if (at < 0 || at >= text.length) continue;
    // (A value another reader already replaced, `pass:[redacted]`, stays as it is: read as a bare value it stopped at
    // the mark's `]`, and `[redacted]]` was left. Only the mark whole: `***x` under the mark `***` is a value.)
    if (text.startsWith(mark, at) && (at + mark.length === text.length || VALUE_END.test(text[at + mark.length]!))) {
      PASSWORD_AT.lastIndex = at + mark.length;
      continue;
    }
    const [from, to, quote] = valueSpan(text, at, inQuery ? 'query' : form);
    if (to <= from) continue;
    out += text.slice(done, from) + (quote ? `${quote}${mark}${quote}` : mark);
    done = to;
    PASSWORD_AT.lastIndex = to;
  }
  return done === 0 ? text : out + text.slice(done);
}

/**
 * The value at `at`: [start, end, its quote]. Quoted (`"` or `'`): to the closing quote, a backslash escaping
 * the next character (a quote doubled closes and reopens, read as one value); unclosed, to the end. Bare: to a
 * blank, and in JSON or YAML (`colon`) to a `,`, `}` or `]` too; a backslash escapes the next character.
 */
function valueSpan(text: string, at: number, form: 'colon' | 'conninfo' | 'query'): [number, number, string] {
  const q = text[at];
  if (q === '"' || q === "'") {
    for (let k = at + 1; k < text.length; k++) {
      const c = text[k];
      if (c === '\\') k++;
      else if (c === q) {
        if (text[k + 1] === q) { k++; continue; }
        return [at, k + 1, q];
      }
    }
    return [at, text.length, ''];
  }
  let k = at;
  for (; k < text.length; k++) {
    const c = text[k]!;
    if (c === '\\') { k++; continue; }
    if (/\s/.test(c) || (form === 'colon' && (c === ',' || c === '}' || c === ']')) || (form === 'query' && (c === '&' || c === '#'))) break;
  }
  return [at, Math.min(k, text.length), ''];
}

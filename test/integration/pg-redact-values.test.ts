/**
 * HTTP credentials through `pcigate connect`'s hooks, against a real server: an Authorization header's credential and
 * a Bearer token standing alone (pgsql-http's `http_header('Authorization', 'Bearer …')`), in a statement's literal,
 * in a bind parameter and in a sampled result row, and an `X-Api-Key:` header; and a bind parameter or sampled value
 * read as a literal's text is (a URL's password, a private key, a secret's name beside its value). The client gets what
 * it sent and what the server returned; nothing pcigate writes holds the credentials (redact-content.ts).
 *
 * Sensitive authentication data (PCI DSS 3.3.1: card verification codes, PINs and PIN blocks, track data) named by its
 * column, in literals, bind parameters and sampled rows: the statements run as sent (the client reads the values
 * masked in full, as before); the log and the transcript hold none of them (redact-content.ts NAMES_SECRET).
 * A check's outcome named after one (`cvv_result`) is none: its parameters are recorded, its rows sampled and shown.
 *
 * A command line a statement gives the server to run (COPY … PROGRAM, archive_command) is recorded with its credentials
 * redacted as the shell reads them (src/policy/argv/argv-redact.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { APPROVER, expectNowhere, gateConfig, heldGate, homeFiles, pendingRequest, pgClient, readLog, run, sessionEnds, sqlScript, startConfiguredGate, until, type Gate } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;

beforeAll(async () => {
  server = await startPostgres();
  server.psql('CREATE TABLE hooks (id int, url text, headers text); CREATE TABLE auths (id int, pan text, cvv2 text, pin_block text, track2 text, cvv_result text)');
  gate = await startConfiguredGate(server, gateConfig(server, { classes: ['read', 'write', 'transaction', 'utility'] }));
});
afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

const BEARER = 'tok-Ab3xY9qZ7w';
const BASIC = Buffer.from('svc:hunter2-pw').toString('base64');
const API_KEY = 'key-987zyxwv';
const sqlOf = (r: { detail?: unknown }) => String((r.detail as { sql?: string } | undefined)?.sql ?? '');

describe('HTTP credentials in statements, parameters and results', () => {
  it('records none of them; the statements run and the client reads them back as stored', async () => {
    const ends = () => sessionEnds(gate.home);
    let before = ends();
    const r = await run('psql', ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-f', sqlScript([
      `INSERT INTO hooks VALUES (1, 'https://api.example/x', 'Authorization: Bearer ${BEARER}');`,
      `INSERT INTO hooks VALUES (2, 'https://api.example/y', '{"Authorization": "Basic ${BASIC}"}');`,
      `SELECT 'X-Api-Key: ${API_KEY}';`,
      "SELECT 'Basic plan', 'bearer bonds';",
    ])], gate.env);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toEqual(['INSERT 0 1', 'INSERT 0 1', `X-Api-Key: ${API_KEY}`, 'Basic plan|bearer bonds']);
    await until(() => ends() > before);

    before = ends();
    const client = await pgClient(gate);
    try {
      await client.query('INSERT INTO hooks (id, url, headers) VALUES ($1, $2, $3)', [3, 'https://api.example/z', `Bearer ${BEARER}`]);
      const rows = (await client.query('SELECT headers FROM hooks ORDER BY id')).rows.map((x: { headers: string }) => x.headers);
      expect(rows).toEqual([`Authorization: Bearer ${BEARER}`, `{"Authorization": "Basic ${BASIC}"}`, `Bearer ${BEARER}`]);
    } finally {
      await client.end();
    }
    await until(() => ends() > before);

    const queries = readLog(gate.home).filter((x) => x.type === 'pg.query');
    const sqls = queries.map(sqlOf);
    expect(sqls).toContain("INSERT INTO hooks VALUES (1, 'https://api.example/x', 'Authorization: Bearer [redacted]');");
    expect(sqls).toContain("INSERT INTO hooks VALUES (2, 'https://api.example/y', '{\"Authorization\": \"Basic [redacted]\"}');");
    expect(sqls).toContain("SELECT 'X-Api-Key: [redacted]';");
    // (text that only looks like a scheme keeps its words)
    expect(sqls).toContain("SELECT 'Basic plan', 'bearer bonds';");
    const insert = queries.find((x) => sqlOf(x) === 'INSERT INTO hooks (id, url, headers) VALUES ($1, $2, $3)');
    expect((insert?.detail as { params?: unknown[] }).params).toEqual(['3', 'https://api.example/z', 'Bearer [redacted]']);
    // The transcript sampled the SELECT's rows, and the log and recordings hold no credential.
    const transcripts = homeFiles(gate.home).filter(({ file }) => file.endsWith('.pg.jsonl'));
    expect(transcripts.some(({ text }) => text.includes('Authorization: Bearer [redacted]'))).toBe(true);
    expectNowhere(gate.home, [BEARER, BASIC, API_KEY]);
  });
});

describe('bind parameters and sampled values', () => {
  it("are read as a literal's text is: a URL's password and a private key are not recorded; a name's pair is withheld", async () => {
    const URL_PW = 'pw-Url93x';
    const KEY_BODY = 'b3BlbnNzaC1rZXktdjEAAAAABG5vbmU';
    const key = `-----BEGIN OPENSSH PRIVATE KEY-----\n${KEY_BODY}\n-----END OPENSSH PRIVATE KEY-----`;
    const ends = () => sessionEnds(gate.home);
    const before = ends();
    const client = await pgClient(gate);
    try {
      await client.query('INSERT INTO hooks (id, url, headers) VALUES ($1, $2, $3)', [10, `postgres://app:${URL_PW}@db/x`, key]);
      await client.query('INSERT INTO hooks (id, url, headers) VALUES ($1, $2, $3)', [11, 'db_password', 'pw-Pair77']);
      const rows = (await client.query('SELECT url, headers FROM hooks WHERE id >= 10 ORDER BY id')).rows as Array<{ url: string; headers: string }>;
      expect(rows).toEqual([{ url: `postgres://app:${URL_PW}@db/x`, headers: key }, { url: 'db_password', headers: 'pw-Pair77' }]);
    } finally {
      await client.end();
    }
    await until(() => ends() > before);
    const params = readLog(gate.home).filter((x) => x.type === 'pg.query' && sqlOf(x).startsWith('INSERT INTO hooks (id')).map((x) => (x.detail as { params?: unknown[] }).params);
    expect(params).toContainEqual(['10', 'postgres://app:[redacted]@db/x', '-----BEGIN OPENSSH PRIVATE KEY-----\n[redacted]\n-----END OPENSSH PRIVATE KEY-----']);
    expect(params).toContainEqual(['[redacted]', '[redacted]', '[redacted]']);
    const transcripts = homeFiles(gate.home).filter(({ file }) => file.endsWith('.pg.jsonl'));
    expect(transcripts.some(({ text }) => text.includes('postgres://app:[redacted]@db/x'))).toBe(true);
    expectNowhere(gate.home, [URL_PW, KEY_BODY, 'pw-Pair77']);
  });
});

describe('a held statement with credentials bound as parameters', () => {
  it('shows the approver the parameters as the record keeps them; the approved statement runs with them', async () => {
    const { gate: held, store } = await heldGate(server, { role: { approval_tables: ['hooks'] } });
    const client = await pgClient(held);
    try {
      const update = client.query('UPDATE hooks SET url = $1, headers = $2 WHERE id = 1', ['postgres://app:pw-Held42@db/x', 'Bearer tok-Held9q2x']);
      const req = await pendingRequest(store);
      expect(req.params).toEqual(['postgres://app:[redacted]@db/x', 'Bearer [redacted]']);
      await store.approve(req.id, APPROVER);
      expect((await update).rowCount).toBe(1);
      expect(server.psql('SELECT url, headers FROM hooks WHERE id = 1').trim()).toBe('postgres://app:pw-Held42@db/x|Bearer tok-Held9q2x');
    } finally {
      await client.end();
      await held.close();
    }
    await until(() => sessionEnds(held.home) > 0);
    expectNowhere(held.home, ['pw-Held42', 'tok-Held9q2x']);
  });
});

describe('sensitive authentication data named by its column', () => {
  it('is not recorded from literals, parameters or result rows; the statements run as sent', async () => {
    const ends = () => sessionEnds(gate.home);
    let before = ends();
    const r = await run('psql', ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-f', sqlScript([
      "INSERT INTO auths (id, pan, cvv2, pin_block) VALUES (1, 'ref-1', 'CV-8271', 'PB-0412AC89');",
      "UPDATE auths SET track2 = 'TR-5521-disc' WHERE id = 1;",
    ])], gate.env);
    expect([r.stderr, r.stdout.trim()]).toEqual(['', 'INSERT 0 1\nUPDATE 1']);
    await until(() => ends() > before);

    before = ends();
    const client = await pgClient(gate);
    try {
      await client.query('INSERT INTO auths (id, pan, cvv2, pin_block) VALUES ($1, $2, $3, $4)', [2, 'ref-2', 'CV-9363', 'PB-77FE01AB']);
      // (the server has them as sent; the client reads them masked in full, as the result masker masks SAD columns)
      const stored = server.psql('SELECT cvv2, pin_block, track2 FROM auths ORDER BY id').trim().split('\n');
      expect(stored).toEqual(['CV-8271|PB-0412AC89|TR-5521-disc', 'CV-9363|PB-77FE01AB|']);
      const rows = (await client.query('SELECT cvv2, pin_block, track2 FROM auths ORDER BY id')).rows;
      expect(rows).toEqual([{ cvv2: '**-****', pin_block: '**-********', track2: '**-****-****' }, { cvv2: '**-****', pin_block: '**-********', track2: null }]);
    } finally {
      await client.end();
    }
    await until(() => ends() > before);

    const queries = readLog(gate.home).filter((x) => x.type === 'pg.query');
    const sqls = queries.map(sqlOf);
    // (a statement that names a secret's column keeps none of its literals, as for a password column)
    expect(sqls).toContain("INSERT INTO auths (id, pan, cvv2, pin_block) VALUES ('[redacted]', '[redacted]', '[redacted]', '[redacted]');");
    expect(sqls).toContain("UPDATE auths SET track2 = '[redacted]' WHERE id = '[redacted]';");
    const insert = queries.find((x) => sqlOf(x).includes('VALUES ($1, $2, $3, $4)'));
    expect((insert?.detail as { params?: unknown[] }).params).toEqual(['[redacted]', '[redacted]', '[redacted]', '[redacted]']);
    // The SELECT ran and its rows were sampled (their values withheld).
    const transcripts = homeFiles(gate.home).filter(({ file }) => file.endsWith('.pg.jsonl'));
    expect(transcripts.some(({ text }) => text.includes('"t":"row"'))).toBe(true);
    expectNowhere(gate.home, ['CV-8271', 'CV-9363', 'PB-0412AC89', 'PB-77FE01AB', 'TR-5521-disc']);
  });

  it("keeps the parameters and sampled values of a statement naming only a check's outcome (cvv_result)", async () => {
    const before = sessionEnds(gate.home);
    const client = await pgClient(gate);
    try {
      await client.query('INSERT INTO auths (id, pan) VALUES ($1, $2)', [7, 'ref-7']);
      await client.query('UPDATE auths SET cvv_result = $1 WHERE id = $2', ['M-match', 7]);
      expect((await client.query('SELECT id, cvv_result FROM auths WHERE cvv_result = $1', ['M-match'])).rows).toEqual([{ id: 7, cvv_result: 'M-match' }]);
    } finally {
      await client.end();
    }
    await until(() => sessionEnds(gate.home) > before);
    const queries = readLog(gate.home).filter((x) => x.type === 'pg.query');
    const paramsOf = (sql: string) => (queries.find((x) => sqlOf(x) === sql)?.detail as { params?: unknown[] } | undefined)?.params;
    expect(paramsOf('UPDATE auths SET cvv_result = $1 WHERE id = $2')).toEqual(['M-match', '7']);
    expect(paramsOf('SELECT id, cvv_result FROM auths WHERE cvv_result = $1')).toEqual(['M-match']);
    const rows = homeFiles(gate.home).filter(({ file }) => file.endsWith('.pg.jsonl')).flatMap(({ text }) => text.split('\n')).filter((l) => l.includes('"t":"row"'));
    expect(rows).toContainEqual(expect.stringContaining('"values":["7","M-match"]'));
  });
});

describe('a command line the server is given to run', () => {
  it('is recorded with its credentials redacted, read as the shell reads it (COPY … PROGRAM, archive_command)', async () => {
    const ends = () => sessionEnds(gate.home);
    const before = ends();
    const r = await run('psql', ['-X', '-At', '-f', sqlScript([
      // (both refused by this role's policy, as a program run as the server and as dcl; recorded all the same)
      "COPY hooks TO PROGRAM 'curl -s -u ops:Prog-Pw-4417 -T - https://backup.example/hooks';",
      "ALTER SYSTEM SET archive_command = 'gzip < %p | sshpass -p Arch-Pw-9902 scp - backup@h:%f';",
    ])], gate.env);
    expect(r.stdout).toBe('');
    expect(r.stderr.match(/ERROR: {2}pcigate: denied by policy/g)).toHaveLength(2);
    await until(() => ends() > before);

    const sqls = readLog(gate.home).filter((x) => x.type === 'pg.query').map(sqlOf);
    expect(sqls).toContain("COPY hooks TO PROGRAM 'curl -s -u ops:[redacted] -T - https://backup.example/hooks';");
    expect(sqls).toContain("ALTER SYSTEM SET archive_command = 'gzip < %p | sshpass -p [redacted] scp - backup@h:%f';");
    expectNowhere(gate.home, ['Prog-Pw-4417', 'Arch-Pw-9902']);
  });
});

describe("a configuration's sad_columns", () => {
  it('are not recorded from literals, parameters or result rows, as the built-in names are not', async () => {
    server.psql('CREATE TABLE checks (id int, card_check_value text)');
    const own = await startConfiguredGate(server, gateConfig(server, { classes: ['read', 'write'], masking: { sad_columns: ['card_check_value'] } }));
    try {
      const ends = () => sessionEnds(own.home);
      const before = ends();
      const r = await run('psql', ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-c', "INSERT INTO checks VALUES (1, 'CCV-5521-a')"], own.env);
      expect([r.stderr, r.stdout.trim()]).toEqual(['', 'INSERT 0 1']);
      const client = await pgClient(own);
      try {
        await client.query('INSERT INTO checks (id, card_check_value) VALUES ($1, $2)', [2, 'CCV-7730-b']);
        // (the client reads them masked in full: the result masker's rule for the configured name)
        expect((await client.query('SELECT card_check_value FROM checks ORDER BY id')).rows).toEqual([{ card_check_value: '***-****-*' }, { card_check_value: '***-****-*' }]);
      } finally {
        await client.end();
      }
      expect(server.psql('SELECT card_check_value FROM checks ORDER BY id').trim().split('\n')).toEqual(['CCV-5521-a', 'CCV-7730-b']);
      await until(() => ends() >= before + 2);

      const queries = readLog(own.home).filter((x) => x.type === 'pg.query');
      // (an INSERT without a column list: its value is the column's by the table's columns, asked of the server)
      expect(queries.map(sqlOf)).toContain("INSERT INTO checks VALUES (1, '[redacted]')");
      const insert = queries.find((x) => sqlOf(x).includes('VALUES ($1, $2)'));
      expect((insert?.detail as { params?: unknown[] }).params).toEqual(['[redacted]', '[redacted]']);
      const transcripts = homeFiles(own.home).filter(({ file }) => file.endsWith('.pg.jsonl'));
      expect(transcripts.some(({ text }) => text.includes('"t":"row"'))).toBe(true);
      expectNowhere(own.home, ['CCV-5521-a', 'CCV-7730-b']);
    } finally {
      await own.close();
    }
  });
});

import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/parse-config.js';
import { ConfigInvalid } from '../../../src/errors.js';
import type { ConfigProblem } from '../../../src/errors.js';

const FILE = '/etc/pcigate/pcigate.yaml';

function problems(text: string): ConfigProblem[] {
  try {
    parseConfigText(text, FILE);
  } catch (e) {
    if (e instanceof ConfigInvalid) return e.problems;
    throw e;
  }
  throw new Error('expected the config to be rejected');
}

const PG = (extra = '') => `connections:
  prod-db:
    kind: postgres
    host: db.example.com
    database: payments
    user: broker
    password: env:PGPASS
${extra}`;

describe('parseConfigText: YAML syntax', () => {
  it('names file:line:col of a syntax error and exits 2', () => {
    const text = 'audit:\n  dir: /x\n  checkpoint: [1, 2\n';
    let err: unknown;
    try { parseConfigText(text, FILE); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(ConfigInvalid);
    const e = err as ConfigInvalid;
    expect(e.exit).toBe(2);
    expect(e.code).toBe('ERR_CONFIG_INVALID');
    expect(e.hint).toMatch(/config check/);
    expect(e.problems[0]).toMatchObject({ file: FILE, kind: 'yaml' });
    expect(e.problems[0]!.line).toBeGreaterThanOrEqual(3);
    expect(e.message).toMatch(new RegExp(`${FILE}:\\d+:\\d+: YAML syntax: `));
  });

  it('locates a bad indentation exactly', () => {
    const p = problems('audit:\n  dir: /x\n epoch: 24h\n');
    expect(p[0]).toMatchObject({ kind: 'yaml', line: 3, col: 1 });
  });

  it('rejects duplicate keys at the second occurrence', () => {
    const p = problems('audit:\n  epoch: 24h\n  epoch: 1h\n');
    expect(p[0]).toMatchObject({ kind: 'yaml', line: 3, col: 3 });
  });

  it('does not echo the source line of a syntax error (it may hold a secret)', () => {
    const text = 'connections:\n  x:\n    password: "s3cr3t-value\n';
    const err = (() => { try { parseConfigText(text, FILE); } catch (e) { return e as Error; } return undefined; })();
    expect(err?.message).not.toContain('s3cr3t-value');
  });
});

describe('parseConfigText: schema errors with positions', () => {
  it('accepts a valid file and applies defaults', () => {
    const c = parseConfigText(PG(), FILE);
    const db = c.connections['prod-db']!;
    expect(db.kind).toBe('postgres');
    if (db.kind !== 'postgres') throw new Error('kind');
    expect(db.port).toBe(5432);
    expect(db.sslmode).toBe('verify-full');
    expect(db.password?.ref).toBe('env:PGPASS');
    expect(c.audit.checkpoint).toEqual({ interval: 30_000, records: 1000 });
  });

  it('points at a wrong type deep inside a connection', () => {
    const p = problems(PG('    listen:\n      host: 127.0.0.1\n      port: "high"\n'));
    expect(p).toHaveLength(1);
    expect(p[0]).toMatchObject({ kind: 'schema', path: 'connections.prod-db.listen.port', line: 10, col: 13 });
    expect(p[0]!.message).toMatch(/expected number/);
  });

  it('points at an invalid enum value and lists what is allowed', () => {
    const p = problems(PG('    sslmode: sometimes\n'));
    expect(p[0]).toMatchObject({ path: 'connections.prod-db.sslmode', line: 8, col: 14 });
    expect(p[0]!.message).toMatch(/verify-full/);
  });

  it('names a missing required key at its parent', () => {
    const p = problems('connections:\n  db:\n    kind: postgres\n    host: h\n    user: u\n');
    expect(p).toHaveLength(1);
    expect(p[0]).toMatchObject({ path: 'connections.db.database', line: 2, col: 3 });
    expect(p[0]!.message).toMatch(/missing required key 'database'/);
  });

  it('reports an unknown kind at the kind value', () => {
    const p = problems('connections:\n  db:\n    kind: mysql\n');
    expect(p[0]).toMatchObject({ path: 'connections.db.kind', line: 3, col: 11 });
    expect(p[0]!.message).toMatch(/postgres, ssh/);
  });

  it('reports an unknown key at the key with a "did you mean"', () => {
    const p = problems(PG('    requre_mfa: true\n'));
    expect(p).toHaveLength(1);
    expect(p[0]).toMatchObject({ kind: 'unknown_key', path: 'connections.prod-db.requre_mfa', line: 8, col: 5 });
    expect(p[0]!.message).toBe("unknown key 'requre_mfa'. Did you mean 'require_mfa'?");
  });

  it('suggests top-level sections and keys inside the ssh variant of the union', () => {
    const p = problems(`audti:\n  dir: /x\nconnections:\n  b:\n    kind: ssh\n    host: h\n    user: u\n    private_key: file:k\n    host_key: SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8\n    allow:\n      shel: true\n`);
    expect(p.map((x) => [x.line, x.col, x.message])).toEqual([
      [1, 1, "unknown key 'audti'. Did you mean 'audit'?"],
      [11, 7, "unknown key 'shel'. Did you mean 'shell'?"],
    ]);
  });

  it('lists the accepted keys when nothing is close', () => {
    const p = problems('audit:\n  zzzzzzzz: 1\n');
    expect(p[0]!.message).toMatch(/expected one of: dir, origin, checkpoint, epoch, max_unsealed_age, segment_bytes/);
  });

  it('reports several problems at once, sorted by position', () => {
    const p = problems('audit:\n  epoch: soon\n  segment_bytes: lots\nconnections:\n  db:\n    kind: postgres\n');
    expect(p.map((x) => x.line)).toEqual([...p.map((x) => x.line)].sort((a, b) => a - b));
    expect(p.length).toBeGreaterThanOrEqual(3);
  });

  it('requires exactly one of host and socket for postgres', () => {
    const p = problems('connections:\n  db:\n    kind: postgres\n    host: h\n    socket: /run/pg\n    database: d\n    user: u\n');
    expect(p[0]).toMatchObject({ path: 'connections.db', line: 2, col: 3 });
    expect(p[0]!.message).toMatch(/exactly one of host or socket/);
  });

  it('requires a pinned, well-formed SSH host key', () => {
    const base = 'connections:\n  b:\n    kind: ssh\n    host: h\n    user: u\n    private_key: env:KEY\n';
    expect(problems(base)[0]!.message).toMatch(/missing required key 'host_key'/);
    expect(problems(`${base}    host_key: trust-me\n`)[0]).toMatchObject({ line: 7, col: 15 });
    const ok = parseConfigText(`${base}    host_key: "bastion ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"\n`, FILE);
    expect(ok.connections.b!.kind).toBe('ssh');
  });

  it('refuses a top level that is not a mapping', () => {
    expect(problems('- a\n- b\n')[0]!.message).toMatch(/expected a mapping/);
  });

  it('treats an empty file as all defaults', () => {
    const c = parseConfigText('', FILE);
    expect(c.connections).toEqual({});
    expect(c.identity.allow_local).toBe(false);
  });
});

describe('parseConfigText: literal secrets (PCI DSS 8.6.2)', () => {
  it('refuses a literal password with line:col, once, citing 8.6.2, without echoing it', () => {
    const text = PG().replace('env:PGPASS', 'hunter2-Secret!');
    let err: ConfigInvalid | undefined;
    try { parseConfigText(text, FILE); } catch (e) { err = e as ConfigInvalid; }
    expect(err).toBeInstanceOf(ConfigInvalid);
    expect(err!.problems).toHaveLength(1);
    expect(err!.problems[0]).toMatchObject({ kind: 'literal_secret', path: 'connections.prod-db.password', line: 7, col: 15 });
    expect(err!.message).toContain(`${FILE}:7:15:`);
    expect(err!.message).toContain('PCI DSS 8.6.2');
    expect(err!.message).not.toContain('hunter2');
  });

  it('refuses secret-looking keys where the schema does not expect a secret', () => {
    const text = PG(`    workload:\n      - issuer: https://ci.example.com\n        claims:\n          api_token: abcdef123456\n`);
    const p = problems(text);
    expect(p).toHaveLength(1);
    expect(p[0]).toMatchObject({ kind: 'literal_secret', path: 'connections.prod-db.workload[0].claims.api_token', line: 11, col: 22 });
  });

  it('refuses secret-looking unknown keys both as unknown and as literal secrets', () => {
    const p = problems('identity:\n  client_secrett: s3cr3t\n  db_password: hunter2\n');
    expect(p.filter((x) => x.kind === 'literal_secret').map((x) => [x.line, x.col])).toEqual([[3, 16]]);
    expect(p.filter((x) => x.kind === 'unknown_key')).toHaveLength(2);
  });

  it('refuses a PEM private key anywhere', () => {
    const text = PG('    description: "-----BEGIN OPENSSH PRIVATE KEY-----\\nb3BlbnNzaC1rZXktdjEAAAAA\\n-----END OPENSSH PRIVATE KEY-----"\n');
    const p = problems(text);
    expect(p[0]).toMatchObject({ kind: 'literal_secret', line: 8, col: 18 });
    expect(p[0]!.message).toMatch(/PEM private key/);
  });

  it('refuses an ssh private key given inline, and a URL with a password', () => {
    const ssh = 'connections:\n  b:\n    kind: ssh\n    host: h\n    user: u\n    host_key: SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8\n    private_key: |\n      -----BEGIN OPENSSH PRIVATE KEY-----\n      b3BlbnNzaC1rZXktdjE=\n      -----END OPENSSH PRIVATE KEY-----\n';
    const p = problems(ssh);
    expect(p).toHaveLength(1);
    expect(p[0]).toMatchObject({ kind: 'literal_secret', path: 'connections.b.private_key', line: 7, col: 18 });
    const url = problems(PG('    description: postgres://admin:pa55word@db/payments\n'));
    expect(url[0]!.message).toMatch(/URL with a password/);
  });

  it('accepts secret references under secret-looking keys and non-secret keys that merely contain "token"', () => {
    const c = parseConfigText('identity:\n  token_store: file\n  workload:\n    token_env: MY_TOKEN\n    client_secret: cmd:vault read -field=s x\n', FILE);
    expect(c.identity.token_store).toBe('file');
  });

  it('rejects malformed references', () => {
    expect(problems(PG().replace('env:PGPASS', '"env:"'))[0]!.kind).toBe('literal_secret');
    expect(problems(PG().replace('env:PGPASS', 'env:not a name'))[0]!.message).toMatch(/environment variable name/);
  });
});

describe('parseConfigText: literal secrets through YAML aliases', () => {
  it('judges an aliased value under the key it lands in, at the alias position', () => {
    const text = 'connections:\n  db:\n    kind: postgres\n    description: &pw hunter2\n    host: h\n    database: d\n    user: u\n    workload:\n      - issuer: https://ci.example.com\n        claims:\n          api_token: *pw\n';
    const p = problems(text);
    expect(p).toHaveLength(1);
    expect(p[0]).toMatchObject({ kind: 'literal_secret', path: 'connections.db.workload[0].claims.api_token', line: 11, col: 22 });
  });
});

describe('parseConfigText: edge cases', () => {
  it('refuses a numeric literal under a secret-looking key, once', () => {
    const p = problems(PG().replace('env:PGPASS', '123456'));
    expect(p).toHaveLength(1);
    expect(p[0]).toMatchObject({ kind: 'literal_secret', line: 7, col: 15 });
  });

  it('treats a section left empty (all children commented out) as its defaults', () => {
    const c = parseConfigText('masking:\n  # rules: []\npolicy:\naudit:\n  epoch: 1h\n', FILE);
    expect(c.masking).toBeDefined();
    expect(c.policy).toBeDefined();
    expect(c.audit.epoch).toBe(3_600_000);
  });

  it('resolves audit.dir against the config directory, and ~ against HOME', () => {
    expect(parseConfigText('audit:\n  dir: data\n', '/etc/pcigate/p.yaml').audit.dir).toBe('/etc/pcigate/data');
    expect(parseConfigText('audit:\n  dir: ~/pg\n', '/etc/pcigate/p.yaml', { homeDir: '/home/op' }).audit.dir).toBe('/home/op/pg');
  });

  it('resolves connection file paths against the config directory', () => {
    const c = parseConfigText(PG('    ca_file: certs/ca.pem\n    tls: { cert_file: l.crt, key_file: /abs/l.key }\n'), '/etc/pcigate/p.yaml');
    const db = c.connections['prod-db']!;
    if (db.kind !== 'postgres') throw new Error('kind');
    expect(db.ca_file).toBe('/etc/pcigate/certs/ca.pem');
    expect(db.tls).toEqual({ cert_file: '/etc/pcigate/l.crt', key_file: '/abs/l.key' });
  });
});

describe('parseConfigText: cross-section checks', () => {
  it('refuses policy for a connection that does not exist, with a suggestion at the key', () => {
    const p = problems(`${PG()}policy:\n  connections:\n    prod-bd:\n      require_mfa: true\n    '*':\n      require_mfa: true\n`);
    expect(p).toHaveLength(1);
    expect(p[0]).toMatchObject({ path: 'policy.connections.prod-bd', line: 10, col: 5 });
    expect(p[0]!.message).toBe("policy for unknown connection 'prod-bd'. Did you mean 'prod-db'?");
  });
});

describe('parseConfigText: many problems', () => {
  it('lists at most 25 in the message but keeps every one in problems', () => {
    const text = `audit:\n${Array.from({ length: 40 }, (_, i) => `  bogus_${i}: 1\n`).join('')}`;
    let err: ConfigInvalid | undefined;
    try { parseConfigText(text, FILE); } catch (e) { err = e as ConfigInvalid; }
    expect(err!.problems).toHaveLength(40);
    expect(err!.message).toContain('(40 problems)');
    expect(err!.message).toContain('… and 15 more');
    expect(err!.message.split('\n').filter((l) => l.includes(FILE))).toHaveLength(25 + 1);
  });
});

describe('isSecretKey', () => {
  it('matches key names ending in a secret word and not mere mentions', async () => {
    const { isSecretKey } = await import('../../../src/config/literal-secrets.js');
    for (const k of ['password', 'db_password', 'client_secret', 'api_token', 'private_key', 'api-key', 'hmac_key', 'passphrase', 'credentials']) expect(isSecretKey(k)).toBe(true);
    for (const k of ['token_store', 'token_env', 'host_key', 'key_file', 'require_mfa', 'secretive_name', 'user']) expect(isSecretKey(k)).toBe(false);
  });
});

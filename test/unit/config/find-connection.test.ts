import { describe, expect, it } from 'vitest';
import { findConnection } from '../../../src/config/find-connection.js';
import { parseConfigText } from '../../../src/config/parse-config.js';
import { UsageError } from '../../../src/errors.js';

const config = parseConfigText(
  'connections:\n  prod-db:\n    kind: postgres\n    host: h\n    database: d\n    user: u\n  bastion:\n    kind: ssh\n    host: b\n    user: u\n    private_key: env:K\n    host_key: SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8\n',
  '/c.yaml',
);

describe('findConnection', () => {
  it('returns the connection narrowed to its kind', () => {
    const pg = findConnection(config, 'prod-db', 'postgres');
    expect(pg.database).toBe('d');
    expect(findConnection(config, 'bastion').kind).toBe('ssh');
  });

  it('refuses an unknown name with a suggestion (exit 2)', () => {
    let err: unknown;
    try { findConnection(config, 'prod_db'); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toBe("unknown connection 'prod_db'. Did you mean 'prod-db'?");
    expect((err as UsageError).exit).toBe(2);
    expect(() => findConnection(config, 'toString')).toThrow(/unknown connection/);
  });

  it('refuses a connection of the wrong kind', () => {
    expect(() => findConnection(config, 'bastion', 'postgres')).toThrow("connection 'bastion' is a ssh connection, not postgres");
  });
});

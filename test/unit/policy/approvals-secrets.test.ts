/**
 * A held statement that carries a secret: the approval request (its file in `approvals/`, its `approval.*`
 * records, what `pcigate approve` shows) holds it redacted, as the statement's own `pg.query` record does
 * (ARCHITECTURE.md §4: the log never holds a secret). The store redacted only `PASSWORD '…'` with a plain
 * literal after a space: a connection string's `password=…`, a URL's password, `PASSWORD E'…'` or `PASSWORD'…'`
 * went into the log in clear. The approval still binds the exact text: what was approved runs.
 */
import { mkdtempSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { redactSql } from '../../../src/broker/sql-record.js';
import { approvalDetail, approvalJson } from '../../../src/policy/approval-render.js';
import { ApprovalStore } from '../../../src/policy/approvals.js';
import { holdSshCommand } from '../../../src/broker/ssh-approval.js';
import type { PolicyIdentity } from '../../../src/policy/evaluate.js';
import { memoryAudit } from '../../harness/memory-audit.js';
import { fixedClock } from '../../harness/test-ctx.js';

const rita: PolicyIdentity = { sub: 'u-rita', groups: ['dba'], via: 'oidc' };
const ann: PolicyIdentity = { sub: 'u-ann', groups: ['security'], via: 'oidc' };
const SECRET = 'Tr0ub4dor-s3cret';

/** DDL and DCL a policy holds for approval, each with the secret in another spelling. */
const STATEMENTS = [
  `CREATE SUBSCRIPTION sub CONNECTION 'host=primary user=repl password=${SECRET} dbname=app' PUBLICATION pub`,
  `SELECT dblink_connect('postgresql://repl:${SECRET}@primary/app')`,
  `SELECT dblink_connect('postgresql://:${SECRET}@primary/app')`,
  `ALTER ROLE app PASSWORD E'${SECRET}\\'x'`,
  `ALTER ROLE app PASSWORD'${SECRET}'`,
  `ALTER ROLE app WITH ENCRYPTED PASSWORD U&'${SECRET}'`,
  `CREATE USER MAPPING FOR app SERVER remote OPTIONS (user 'app', sslpassword '${SECRET}')`,
  `ALTER ROLE app PASSWORD '${SECRET}'`,
];

describe('a held statement carrying a secret', () => {
  it.each(STATEMENTS)('%s: redacted in the request file, its records and what the approver sees; the exact text runs', async (sql) => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-approvals-secrets-'));
    const sink = memoryAudit();
    const store = new ApprovalStore({ fs: fsp, clock: fixedClock(), home, sink });
    const req = await store.request({
      connection: 'prod-db', requester: rita, sql, rule: 'ddl',
      settings: { groups: ['security'], subjects: [], minApprovals: 1, expiresMs: 60_000, windowMs: 0 },
    });
    expect(req.sql).toContain('***');
    const file = await fsp.readFile(path.join(home, 'approvals', `${req.id}.json`), 'utf8');
    expect(file).not.toContain(SECRET);
    expect(approvalDetail(req)).not.toContain(SECRET);
    expect(JSON.stringify(approvalJson(req))).not.toContain(SECRET);

    await store.approve(req.id, ann);
    expect((await store.consume(req.id, rita, 'prod-db', sql)).state).toBe('used');
    expect(sink.events.map((e) => e.type)).toEqual(['approval.request', 'approval.approve', 'approval.use']);
    expect(JSON.stringify(sink.events)).not.toContain(SECRET);
    // The statement's own pg.query record redacts it too.
    expect(redactSql(sql)).not.toContain(SECRET);
  });
});

describe('a held SSH command carrying a credential (holdSshCommand)', () => {
  it('is stored and shown with the credential redacted as a command line; the approval binds, and is used by, the exact command', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-approvals-secrets-'));
    const sink = memoryAudit();
    const store = new ApprovalStore({ fs: fsp, clock: fixedClock(), home, sink });
    const approvals = { store, settings: { groups: ['security'], subjects: [], minApprovals: 1, expiresMs: 60_000, windowMs: 0, waitMs: 5_000 } };
    const command = `TOKEN=${SECRET} deploy --password ${SECRET}x`;
    const held = holdSshCommand({ approvals, connection: 'prod-ssh', identity: rita, session: 's-1', command, rule: 'ssh.exec.hold[0]', why: 'held' });
    await expect.poll(async () => (await fsp.readdir(path.join(home, 'approvals'))).filter((f) => f.endsWith('.json')).length).toBe(1);
    const id = (await fsp.readdir(path.join(home, 'approvals'))).find((f) => f.endsWith('.json'))!.replace(/\.json$/, '');
    await store.approve(id, ann);
    expect(await held).toMatchObject({ action: 'allow', approval: id });
    const file = await fsp.readFile(path.join(home, 'approvals', `${id}.json`), 'utf8');
    expect(file).toContain('TOKEN=[redacted] deploy --password [redacted]');
    for (const text of [file, JSON.stringify(sink.events)]) expect(text).not.toContain(SECRET);
  });
});

/**
 * With `masking.networks: any_luhn` (a deployment whose cards include private-label numbers outside the
 * major networks' ranges), a held statement's text and bind parameters are masked that way in the approval
 * request file and in the approval records, as they are in its pg.query records. They were masked by the
 * major networks only, so `1234567812345670` reached approvals/A-….json and the audit log in clear.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApprovalStore } from '../../src/policy/approvals.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { APPROVER, type Gate, heldGate, pgClient, until } from './pg-proxy-setup.js';

const PRIVATE_LABEL = '1234567812345670'; // Luhn-valid, outside the major networks' ranges

let server: PostgresServer;
let gate: Gate;
let store: ApprovalStore;

beforeAll(async () => {
  server = await startPostgres();
  server.psql('create table items (id int primary key, name text)');
  ({ gate, store } = await heldGate(server, { masking: { networks: 'any_luhn' } }));
}, 120_000);

afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

/** Every file under approvals/ and every log segment, as text. */
function onDisk(): string {
  const dir = path.join(gate.home, 'approvals');
  const files = readdirSync(dir).filter((n) => n.endsWith('.json')).map((n) => readFileSync(path.join(dir, n), 'utf8'));
  const logDir = path.join(gate.home, 'log');
  const segs = readdirSync(logDir).filter((n) => n.endsWith('.jsonl')).map((n) => readFileSync(path.join(logDir, n), 'utf8'));
  return [...files, ...segs].join('\n');
}

describe('a held statement under masking.networks any_luhn', () => {
  it('its text and parameters reach neither the request file nor the log in clear', async () => {
    const c = await pgClient(gate);
    c.on('error', () => undefined);
    const simple = c.query(`update items set name = 'simple ${PRIVATE_LABEL}'`).catch((e: unknown) => e);
    let pending = 0;
    await until(async () => { pending = (await store.list()).filter((r) => r.state === 'pending').length; return pending === 1; }, 15_000);
    const [req] = await store.list();
    await store.deny(req!.id, APPROVER, 'test over');
    await simple;
    const extended = c.query({ text: 'update items set name = $1', values: [`bound ${PRIVATE_LABEL}`] }).catch((e: unknown) => e);
    await until(async () => (await store.list()).filter((r) => r.state === 'pending').length === 1, 15_000);
    const req2 = (await store.list()).find((r) => r.state === 'pending')!;
    await store.deny(req2.id, APPROVER, 'test over');
    await extended;
    await c.end().catch(() => undefined);
    const text = onDisk();
    expect(text).toContain('simple ************5670');
    expect(text).toContain('bound ************5670');
    expect(text).not.toContain(PRIVATE_LABEL);
  }, 60_000);
});

/**
 * Session-level policy in the real proxy against a real PostgreSQL: a session running when its
 * allowed_hours close is ended like max_duration (FATAL 57P01 naming allowed_hours, `session.expired`
 * {limit: allowed_hours} before `session.end` reason allowed_hours); a session started outside the window is
 * refused with FATAL 42501 before `session.start`; a session that needs an approval gets the
 * "waiting for approval" NoticeResponse during startup and starts once a second person approves.
 * The broker's clock is shifted so that the window closes two seconds after the session starts (timers are
 * real: the shift is constant).
 */
import * as fsp from 'node:fs/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgHooksFor, type PgHooksFor } from '../../src/broker/pg-hooks.js';
import type { Clock } from '../../src/cli/ctx.js';
import { configSchema } from '../../src/config/index.js';
import { ApprovalStore } from '../../src/policy/approvals.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { testCtx } from '../harness/test-ctx.js';
import { readLog, startGate, targetOf, until, type Gate } from './pg-proxy-setup.js';

let server: PostgresServer;
let gate: Gate;
const hooks: { current?: PgHooksFor } = {};

/** A clock `offsetMs` ahead of the real one. */
const shifted = (offsetMs: number): Clock => ({ now: () => Date.now() + offsetMs, micros: () => BigInt(Date.now() + offsetMs) * 1000n });

/** An offset that puts "now" `beforeMs` before the next 11:00 UTC (the window below closes at 11:00). */
function offsetBefore1100(beforeMs: number): number {
  const d = new Date();
  const target = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), 11, 0, 0) - beforeMs;
  return target - Date.now();
}

function configWith(session: Record<string, unknown>, approvals: Record<string, unknown> = {}) {
  return configSchema.parse({
    connections: { 'test-db': { kind: 'postgres', host: server.host, port: server.port, database: server.database, user: server.superuser, sslmode: 'disable' } },
    policy: {
      roles: { eng: { subjects: ['tester'] } },
      connections: { 'test-db': { session, approvals, roles: { eng: { classes: ['read', 'transaction', 'utility', 'function'] } } } },
    },
  });
}

async function use(session: Record<string, unknown>, clock: Clock, approvals: Record<string, unknown> = {}): Promise<void> {
  const ctx = testCtx({ clock: clock as never });
  hooks.current = await pgHooksFor(ctx, { config: configWith(session, approvals), name: 'test-db', target: targetOf(server), home: gate.home, sink: gate.log });
}

function client(): pg.Client {
  return new pg.Client({ host: gate.broker.host, port: gate.broker.port, user: gate.broker.user, password: gate.broker.secret, database: gate.broker.database });
}

const HOURS = { from: '10:00', to: '11:00', days: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'], tz: 'UTC' };

beforeAll(async () => {
  server = await startPostgres();
  gate = await startGate(server, { hooksFor: (info) => hooks.current!(info), admit: (info) => hooks.current!.admit(info) });
}, 120_000);

afterAll(async () => {
  await gate?.close();
  await server?.stop();
});

describe('allowed_hours in a running session', () => {
  it('ends the session when the window closes: FATAL 57P01, session.expired allowed_hours, then session.end', async () => {
    await use({ allowed_hours: HOURS }, shifted(offsetBefore1100(2500)));
    const c = client();
    const errors: Array<Error & { code?: string }> = [];
    c.on('error', (e) => errors.push(e));
    await c.connect();
    expect((await c.query("select 'in-window' as x")).rows).toEqual([{ x: 'in-window' }]);
    await until(() => errors.length > 0, 10_000);
    expect(errors[0]).toMatchObject({ code: '57P01', message: expect.stringContaining('the allowed hours of test-db are over') });
    await c.end().catch(() => undefined);
    await until(() => readLog(gate.home).some((r) => r.type === 'session.end'), 10_000);
    const log = readLog(gate.home);
    const session = log.find((r) => r.type === 'pg.query' && String((r.detail as { sql?: string }).sql).includes('in-window'))!.session;
    const mine = log.filter((r) => r.session === session);
    expect(mine.slice(-2).map((r) => r.type)).toEqual(['session.expired', 'session.end']);
    expect(mine.at(-2)).toMatchObject({ detail: { limit: 'allowed_hours' } });
    expect(mine.at(-1)).toMatchObject({ outcome: 'failure', detail: { reason: 'allowed_hours' } });
  });

  it('refuses a session that starts after the window closed: FATAL 42501 before session.start', async () => {
    await use({ allowed_hours: HOURS }, shifted(offsetBefore1100(-60_000)));
    const before = readLog(gate.home).filter((r) => r.type === 'session.start').length;
    const c = client();
    const err = await c.connect().then(() => undefined, (e: unknown) => e as Error & { code?: string });
    expect(err).toMatchObject({ code: '42501', message: expect.stringContaining('session.allowed_hours: test-db may be used daily 10:00–11:00 UTC only') });
    const log = readLog(gate.home);
    expect(log.filter((r) => r.type === 'session.start')).toHaveLength(before);
    expect(log.at(-1)).toMatchObject({ type: 'session.denied', outcome: 'denied', detail: { reason: 'allowed_hours' } });
  });
});

describe('session require_approval through the proxy', () => {
  it('tells the waiting client with a NoticeResponse during startup and starts once approved', async () => {
    await use({ require_approval: true }, { now: () => Date.now(), micros: () => BigInt(Date.now()) * 1000n }, { subjects: ['bob'], wait: '20s' });
    const c = client();
    const notices: string[] = [];
    c.on('notice', (n) => notices.push(n.message ?? ''));
    const connecting = c.connect();
    await until(() => notices.some((n) => /waiting for approval A-/.test(n)), 10_000);
    const id = /waiting for approval (A-[a-z2-7]{10})/.exec(notices.join('\n'))![1]!;
    const store = new ApprovalStore({ fs: fsp, clock: { now: () => Date.now(), micros: () => BigInt(Date.now()) * 1000n }, home: gate.home, sink: gate.log });
    await store.approve(id, { sub: 'bob', groups: [], mfa: false, via: 'oidc' });
    await connecting;
    expect((await c.query("select 'approved-session' as x")).rows).toEqual([{ x: 'approved-session' }]);
    await c.end();
    const types = readLog(gate.home).map((r) => r.type);
    expect(types.lastIndexOf('approval.use')).toBeLessThan(types.lastIndexOf('session.start'));
  });
});

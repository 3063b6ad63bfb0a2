import { mkdtempSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AuditEvent, AuditSink } from '../../../recorder/types.js';
import { createHash } from 'node:crypto';
import { ApprovalStore, statementHmac } from '../../../src/policy/approvals.js';
import { outboxSink } from '../../../src/policy/audit-outbox.js';
import type { NewRequest } from '../../../src/policy/approvals.js';
import type { PolicyIdentity } from '../../../src/policy/evaluate.js';
import { fixedClock } from '../../harness/test-ctx.js';

/** An in-memory AuditSink: the unit under test is the store, not the recorder. */
function memorySink(): AuditSink & { events: AuditEvent[] } {
  const events: AuditEvent[] = [];
  return {
    events,
    append: async (e) => { events.push(e); return { seq: events.length - 1, leaf: '' }; },
    commitBlob: async () => { throw new Error('unused'); },
  };
}

const requester: PolicyIdentity = { sub: 'u-req', email: 'rita@example.com', groups: ['support', 'security'], via: 'oidc' };
const approver1: PolicyIdentity = { sub: 'u-a1', email: 'ann@example.com', groups: ['security'], via: 'oidc' };
const approver2: PolicyIdentity = { sub: 'u-a2', groups: ['security', 'dba'], via: 'oidc' };
const outsider: PolicyIdentity = { sub: 'u-x', groups: ['support'], via: 'oidc' };

const SQL = "DELETE FROM orders WHERE note = '4111111111111111'";

function setup(settings: Partial<NewRequest['settings']> = {}) {
  const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-approvals-'));
  const clock = fixedClock();
  const sink = memorySink();
  const store = new ApprovalStore({ fs: fsp, clock, home, sink });
  const req = (over: Partial<NewRequest> = {}) => store.request({
    connection: 'prod-db', requester, sql: SQL, reason: 'INC-7', rule: 'r',
    settings: { groups: ['security'], subjects: [], minApprovals: 1, expiresMs: 60_000, windowMs: 0, ...settings },
    ...over,
  });
  return { home, clock, sink, store, req };
}

describe('ApprovalStore', () => {
  it('files a request with masked text and the keyed hash of the exact statement, 0600, and records it', async () => {
    const { store, req, sink, home } = setup();
    const r = await req();
    expect(r.state).toBe('pending');
    // Keyed by the home's 0600 key: an unkeyed SHA-256 of a text with a card number could be searched back.
    const keyFile = path.join(home, 'approvals', '.key');
    expect((await fsp.stat(keyFile)).mode & 0o777).toBe(0o600);
    expect(r.hmac).toBe(statementHmac(await fsp.readFile(keyFile), SQL));
    expect(r.hmac).not.toBe(createHash('sha256').update(SQL).digest('hex'));
    expect(JSON.stringify(sink.events)).not.toContain(createHash('sha256').update(SQL).digest('hex'));
    expect(r.sql).not.toContain('4111111111111111');
    const raw = await fsp.readFile(path.join(home, 'approvals', `${r.id}.json`), 'utf8');
    expect(raw).not.toContain('4111111111111111');
    expect((await fsp.stat(path.join(home, 'approvals', `${r.id}.json`))).mode & 0o777).toBe(0o600);
    expect(sink.events.map((e) => e.type)).toEqual(['approval.request']);
    expect(sink.events[0]!.outcome).toBe('pending');
    expect((await store.list()).map((x) => x.id)).toEqual([r.id]);
  });

  it('binds the search_path when given: another path, or none, is another statement; the plain and v1 forms are unchanged', () => {
    const key = Buffer.alloc(32, 7);
    const inPublic = statementHmac(key, SQL, { params: [], searchPath: ['public'] });
    expect(inPublic).not.toBe(statementHmac(key, SQL));
    expect(inPublic).not.toBe(statementHmac(key, SQL, { params: [], searchPath: ['scratch', 'public'] }));
    expect(inPublic).toBe(statementHmac(key, SQL, { params: [], searchPath: ['public'] }));
    // Without a path: the text's own HMAC, or the parameters' v1 form, as requests filed before had them.
    expect(statementHmac(key, SQL, { params: [] })).toBe(statementHmac(key, SQL));
    const p = { params: [{ format: 'text' as const, value: '7' }] };
    expect(statementHmac(key, SQL, p)).not.toBe(statementHmac(key, SQL, { ...p, searchPath: ['public'] }));
    expect(statementHmac(key, SQL, { ...p, searchPath: ['public'] })).not.toBe(statementHmac(key, SQL, { params: [{ format: 'text', value: '8' }], searchPath: ['public'] }));
  });

  it('redacts passwords in role statements', async () => {
    const { req } = setup();
    const r = await req({ sql: "ALTER ROLE app PASSWORD 's3cret!'" });
    expect(r.sql).toBe("ALTER ROLE app PASSWORD '***'");
  });

  it('a second identity approves; the approval covers exactly that statement, once', async () => {
    const { store, req, sink } = setup();
    const r = await req();
    const a = await store.approve(r.id, approver1, 'looks right');
    expect(a.state).toBe('approved');
    await expect(store.consume(r.id, requester, 'prod-db', `${SQL} `)).rejects.toMatchObject({ code: 'ERR_APPROVAL_CONFLICT' });
    await expect(store.consume(r.id, requester, 'other-db', SQL)).rejects.toMatchObject({ code: 'ERR_APPROVAL_CONFLICT' });
    await expect(store.consume(r.id, approver1, 'prod-db', SQL)).rejects.toMatchObject({ code: 'ERR_APPROVAL_CONFLICT' });
    expect((await store.findUsable(requester, 'prod-db', SQL))?.id).toBe(r.id);
    expect(await store.findUsable(requester, 'prod-db', 'DELETE FROM orders')).toBeUndefined();
    const used = await store.consume(r.id, requester, 'prod-db', SQL);
    expect(used.state).toBe('used');
    await expect(store.consume(r.id, requester, 'prod-db', SQL)).rejects.toMatchObject({ code: 'ERR_APPROVAL_CONFLICT' });
    expect(await store.findUsable(requester, 'prod-db', SQL)).toBeUndefined();
    expect(sink.events.map((e) => e.type)).toEqual(['approval.request', 'approval.approve', 'approval.use']);
    expect(sink.events[1]!.actor?.sub).toBe('u-a1');
  });

  it('approval.use is filed under the session the statement runs in, naming the one it was held in', async () => {
    const { store, req, sink } = setup({ windowMs: 10 * 60_000 });
    const r = await req({ session: 's-held' });
    await store.approve(r.id, approver1);
    await store.consume(r.id, requester, 'prod-db', SQL, undefined, 's-held');
    await store.consume(r.id, requester, 'prod-db', SQL, undefined, 's-rerun');
    const uses = sink.events.filter((e) => e.type === 'approval.use');
    expect(uses.map((e) => [e.session, e.detail?.requested_in])).toEqual([['s-held', undefined], ['s-rerun', 's-held']]);
  });

  it('a window lets the same statement run again until it closes', async () => {
    const { store, req, clock } = setup({ windowMs: 10 * 60_000 });
    const r = await req();
    await store.approve(r.id, approver1);
    await store.consume(r.id, requester, 'prod-db', SQL);
    expect((await store.consume(r.id, requester, 'prod-db', SQL)).uses).toBe(2);
    clock.advance(11 * 60_000);
    await expect(store.consume(r.id, requester, 'prod-db', SQL)).rejects.toThrow(/window/);
  });

  it('self-approval is refused, even through another group or by email', async () => {
    const { store, req, sink } = setup();
    const r = await req();
    await expect(store.approve(r.id, requester)).rejects.toMatchObject({ code: 'ERR_APPROVAL_FORBIDDEN' });
    await expect(store.approve(r.id, { sub: 'other-sub', email: 'RITA@example.com', groups: ['security'], via: 'oidc' })).rejects.toMatchObject({ code: 'ERR_APPROVAL_FORBIDDEN' });
    await expect(store.deny(r.id, requester, 'no')).rejects.toMatchObject({ code: 'ERR_APPROVAL_FORBIDDEN' });
    expect((await store.get(r.id)).state).toBe('pending');
    // Each refused attempt is recorded (approval.refuse); none changed the request.
    expect(sink.events.map((e) => e.type)).toEqual(['approval.request', 'approval.refuse', 'approval.refuse', 'approval.refuse']);
  });

  it('an approver outside the approver groups, or a workload identity, is refused', async () => {
    const { store, req } = setup();
    const r = await req();
    await expect(store.approve(r.id, outsider)).rejects.toThrow(/not an approver for prod-db/);
    await expect(store.approve(r.id, { ...approver1, via: 'workload' })).rejects.toMatchObject({ code: 'ERR_APPROVAL_FORBIDDEN' });
    const s = setup({ groups: [], subjects: ['ann@example.com'] });
    const r2 = await s.req();
    expect((await s.store.approve(r2.id, approver1)).state).toBe('approved');
  });

  it('min_approvals counts distinct people; one person counts once', async () => {
    const { store, req } = setup({ minApprovals: 2 });
    const r = await req();
    expect((await store.approve(r.id, approver1)).state).toBe('pending');
    await expect(store.approve(r.id, { ...approver1, groups: ['security', 'dba'] })).rejects.toThrow(/counts once/);
    const done = await store.approve(r.id, approver2);
    expect(done.state).toBe('approved');
    expect(done.approvals.map((a) => a.sub)).toEqual(['u-a1', 'u-a2']);
  });

  it('deny needs a reason and is final', async () => {
    const { store, req, sink } = setup();
    const r = await req();
    await expect(store.deny(r.id, approver1, ' ')).rejects.toMatchObject({ code: 'ERR_USAGE' });
    expect((await store.deny(r.id, approver1, 'not during freeze')).state).toBe('denied');
    await expect(store.approve(r.id, approver2)).rejects.toThrow(/already denied/);
    expect(sink.events.at(-1)).toMatchObject({ type: 'approval.deny', outcome: 'denied' });
  });

  it('requests expire, and the expiry is recorded once', async () => {
    const { store, req, clock, sink } = setup();
    const r = await req();
    clock.advance(61_000);
    await expect(store.approve(r.id, approver1)).rejects.toThrow(/expired/);
    expect((await store.get(r.id)).state).toBe('expired');
    expect((await store.get(r.id)).state).toBe('expired');
    expect(sink.events.filter((e) => e.type === 'approval.expire')).toHaveLength(1);
  });

  it('unknown and malformed ids are not found', async () => {
    const { store } = setup();
    await expect(store.get('A-aaaaaaaaaa')).rejects.toMatchObject({ code: 'ERR_APPROVAL_NOT_FOUND' });
    await expect(store.get('../../etc/passwd')).rejects.toMatchObject({ code: 'ERR_APPROVAL_NOT_FOUND' });
  });

  it('concurrent approvers: exactly one transition wins', async () => {
    const { store, req, sink } = setup();
    const r = await req();
    const approvers = Array.from({ length: 8 }, (_, i): PolicyIdentity => ({ sub: `u-c${i}`, groups: ['security'], via: 'oidc' }));
    const results = await Promise.allSettled(approvers.map((a) => store.approve(r.id, a)));
    expect(results.filter((x) => x.status === 'fulfilled')).toHaveLength(1);
    for (const x of results) if (x.status === 'rejected') expect((x.reason as { code: string }).code).toBe('ERR_APPROVAL_CONFLICT');
    expect((await store.get(r.id)).approvals).toHaveLength(1);
    expect(sink.events.filter((e) => e.type === 'approval.approve')).toHaveLength(1);
  });

  it('concurrent approve and deny: exactly one wins', async () => {
    const { store, req } = setup();
    const r = await req();
    const results = await Promise.allSettled([store.approve(r.id, approver1), store.deny(r.id, approver2, 'no')]);
    expect(results.filter((x) => x.status === 'fulfilled')).toHaveLength(1);
  });

  it('waitForDecision wakes on approval, and returns pending on timeout', async () => {
    const { store, req } = setup();
    const r = await req();
    const waiting = store.waitForDecision(r.id, 5000);
    setTimeout(() => { store.approve(r.id, approver1).catch(() => { /* the wait below then times out and fails the test */ }); }, 50);
    expect((await waiting).state).toBe('approved');
    const r2 = await req();
    expect((await store.waitForDecision(r2.id, 150)).state).toBe('pending');
    const ac = new AbortController();
    const w3 = store.waitForDecision(r2.id, 60_000, ac.signal);
    ac.abort();
    expect((await w3).state).toBe('pending');
    // A signal aborted before the wait (the session ended while the request was filed) ends it at once: without
    // that this would wait its 60 s and the test would time out.
    expect((await store.waitForDecision(r2.id, 60_000, AbortSignal.abort())).state).toBe('pending');
  });

  it('a failing audit sink stops the transition (fail closed)', async () => {
    const { store, req, sink } = setup();
    const r = await req();
    sink.append = async () => { throw new Error('disk full'); };
    await expect(store.approve(r.id, approver1)).rejects.toThrow(/disk full/);
    sink.append = async (e) => { sink.events.push(e); return { seq: 0, leaf: '' }; };
    expect((await store.get(r.id)).state).toBe('pending');
  });
});

describe('ApprovalStore: records another process parked in the outbox', () => {
  it("an approval read as approved has its approval.approve in the log before the approval.use, even when the broker's last drain ran just before it was parked", async () => {
    const { home, clock } = setup();
    const log = memorySink();
    // The broker's store: its sink is the log, and it drains the outbox. The approver's store: a second
    // process while the broker owns the log, so its records go to the outbox.
    const broker = new ApprovalStore({ fs: fsp, clock, home, sink: log, drainOutbox: true });
    const approver = new ApprovalStore({ fs: fsp, clock, home, sink: outboxSink({ fs: fsp, clock, home }) });
    const r = await broker.request({
      connection: 'prod-db', requester, sql: SQL, reason: 'INC-7', rule: 'r',
      settings: { groups: ['security'], subjects: [], minApprovals: 1, expiresMs: 60_000, windowMs: 0 },
    });
    expect((await broker.get(r.id)).state).toBe('pending'); // the broker's poll: it drains an empty outbox
    await approver.approve(r.id, approver1, 'CHG-1'); // parks approval.approve, then marks the file approved
    await broker.consume(r.id, requester, 'prod-db', SQL); // no get() in between
    expect(log.events.map((e) => e.type)).toEqual(['approval.request', 'approval.approve', 'approval.use']);
  });

  it("a denial read by the broker's poll is in the log when the poll returns, though it was parked right after the poll's drain", async () => {
    const { home, clock } = setup();
    const log = memorySink();
    const approver = new ApprovalStore({ fs: fsp, clock, home, sink: outboxSink({ fs: fsp, clock, home }) });
    let denyFirst: (() => Promise<unknown>) | undefined;
    // The broker's file system: the deny lands between its drain and its read of the request's file.
    const fs = {
      ...fsp,
      readFile: (async (...args: Parameters<typeof fsp.readFile>) => {
        const then = denyFirst;
        denyFirst = undefined;
        if (then && String(args[0]).endsWith('.json')) await then();
        return fsp.readFile(...args);
      }) as typeof fsp.readFile,
    };
    const broker = new ApprovalStore({ fs, clock, home, sink: log, drainOutbox: true });
    const r = await broker.request({
      connection: 'prod-db', requester, sql: SQL, reason: 'INC-7', rule: 'r',
      settings: { groups: ['security'], subjects: [], minApprovals: 1, expiresMs: 60_000, windowMs: 0 },
    });
    denyFirst = () => approver.deny(r.id, approver1, 'not during the freeze');
    expect((await broker.get(r.id)).state).toBe('denied');
    // (the broker then records the refused statement and closes the log, which drains nothing)
    expect(log.events.map((e) => e.type)).toEqual(['approval.request', 'approval.deny']);
  });
});

import { mkdtempSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Actor } from '../../../recorder/types.js';
import { admitSession } from '../../../src/broker/session-admission.js';
import { policySection } from '../../../src/config/sections/policy.js';
import { PanMasker } from '../../../src/mask/pan-masker.js';
import { ApprovalStore } from '../../../src/policy/approvals.js';
import { PolicyEngine } from '../../../src/policy/policy-engine.js';
import { memoryAudit } from '../../harness/memory-audit.js';

const HOURS = { from: '09:00', to: '17:00', days: ['mon', 'tue', 'wed', 'thu', 'fri'], tz: 'Europe/Berlin' };
const policy = policySection.parse({
  connections: {
    office: { session: { allowed_hours: HOURS } },
    gated: { session: { allowed_hours: HOURS, require_approval: true }, approvals: { subjects: ['ann'], wait: '5s' } },
    free: {},
  },
});
const rita: Actor = { sub: 'rita', groups: ['eng'], via: 'oidc' };
const target = { conn: 'office', kind: 'postgres' as const };
const noLog = { debug: () => {}, warn: () => {} };

/** A clock the test moves by hand. */
function handClock(iso: string) {
  let t = Date.parse(iso);
  return { now: () => t, micros: () => BigInt(t) * 1000n, set: (s: string) => { t = Date.parse(s); } };
}

function setup(iso: string) {
  const home = mkdtempSync(path.join(os.tmpdir(), 'pcigate-admit-'));
  const audit = memoryAudit();
  const clock = handClock(iso);
  const store = new ApprovalStore({ fs: fsp, clock, home, sink: audit });
  return { audit, clock, store, engine: new PolicyEngine(policy) };
}

describe('admitSession', () => {
  it('admits inside the window and says when it closes (Wed 10:00 CET → 17:00 CET)', async () => {
    const { audit, clock, engine } = setup('2026-01-14T09:00:00Z');
    const r = await admitSession({ engine, connection: 'office', sink: audit, clock, log: noLog }, { actor: rita, target });
    expect(r.windowEndsAt).toBe(Date.parse('2026-01-14T16:00:00Z'));
    expect(audit.events).toEqual([]);
  });

  it('refuses outside the window with session.denied (outcome denied) and exit 5', async () => {
    const { audit, clock, engine } = setup('2026-01-17T10:00:00Z'); // Saturday
    const err = await admitSession({ engine, connection: 'office', sink: audit, clock, log: noLog }, { actor: rita, target }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_SESSION_REFUSED', exit: 5, kind: 'allowed_hours', rule: 'policy.connections.office.session.allowed_hours' });
    expect(audit.events).toEqual([expect.objectContaining({ type: 'session.denied', outcome: 'denied', detail: expect.objectContaining({ reason: 'allowed_hours' }) })]);
  });

  it("a refusal's session reason is masked by the deployment's networks (any_luhn: a card number outside the major ranges)", async () => {
    const { audit, clock, engine } = setup('2026-01-17T10:00:00Z'); // Saturday
    const masker = new PanMasker({ anyLuhn: true });
    await admitSession({ engine, connection: 'office', sink: audit, clock, log: noLog, reason: 'ticket 9000001234567898', masker }, { actor: rita, target }).catch(() => undefined);
    expect(audit.events[0]!.detail).toMatchObject({ session_reason: 'ticket ************7898' });
  });

  it('checks the window again once the approval arrives (the wait outlasted it)', async () => {
    const { audit, clock, store, engine } = setup('2026-01-14T15:59:00Z'); // 16:59 CET
    const lines: string[] = [];
    const waiting = admitSession({ engine, store, connection: 'gated', sink: audit, clock, log: noLog }, { actor: rita, target, notice: (l) => lines.push(l) }).catch((e: unknown) => e);
    let id = '';
    while (!id) { id = (await store.list())[0]?.id ?? ''; await new Promise((r) => setTimeout(r, 10)); }
    clock.set('2026-01-14T16:01:00Z'); // 17:01 CET: closed
    await store.approve(id, { sub: 'ann', groups: [], mfa: false, via: 'oidc' });
    expect(await waiting).toMatchObject({ kind: 'allowed_hours' });
    expect(lines[0]).toContain(`waiting for approval ${id}`);
    expect(audit.events.map((e) => e.type)).toEqual(['approval.request', 'approval.approve', 'approval.use', 'session.denied']);
  });

  it('refuses a session that needs an approval when there is no store (fail closed)', async () => {
    const { audit, clock, engine } = setup('2026-01-14T09:00:00Z');
    const err = await admitSession({ engine, connection: 'gated', sink: audit, clock, log: noLog }, { actor: rita, target }).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'approval', exit: 5 });
  });

  it('leaves connections without session rules alone', async () => {
    const { audit, clock, engine } = setup('2026-01-17T03:00:00Z');
    expect(await admitSession({ engine, connection: 'free', sink: audit, clock, log: noLog }, { actor: rita, target })).toEqual({});
    expect(audit.events).toEqual([]);
  });
});

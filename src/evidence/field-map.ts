/**
 * The PCI DSS 10.2.2 field map: each element an audit record must carry → the record field(s) that carry it
 * (recorder/types.ts, docs/log-format.md "Records"), and, per event type, the elements that are legitimately
 * absent with the reason. field-map.csv is rendered from this table and the 10.2.2 check counts records that
 * lack an element their type must carry, so the two cannot disagree.
 */
import type { AuditRecord } from '../../recorder/types.js';
import { csvFile } from './csv.js';

/** The six 10.2.2 elements, in the standard's order. */
export const ELEMENTS = ['user', 'type', 'time', 'outcome', 'origin', 'affected'] as const;
export type Element = (typeof ELEMENTS)[number];

/** Each element's name in 10.2.2 and the record fields that carry it. */
export const ELEMENT_FIELDS: Record<Element, { name: string; fields: string }> = {
  user: { name: 'User identification', fields: 'actor.sub (with actor.via and actor.idp: how the identity was established; account.kind/name: the shared account used)' },
  type: { name: 'Type of event', fields: 'type (pg.query statements: detail.command and detail.kind)' },
  time: { name: 'Date and time', fields: 'ts (RFC 3339 UTC, microseconds)' },
  outcome: { name: 'Success or failure indication', fields: 'outcome (success | failure | denied | pending); pg.query: detail.sqlstate' },
  origin: { name: 'Origination of event', fields: 'src.ip, src.port, src.client, src.host' },
  affected: { name: 'Identity or name of affected data, system component, resource, or service', fields: 'target.conn, target.kind (protocol), target.host, target.db, target.user, target.objects' },
};

const RECORDER = 'written by the recorder itself about the log (the acting component is pcigate; log.start names version, pid and host)';
const LOG_STATE = 'a state change of the log, not an attempt that can succeed or fail';
const INSIDE = 'originates inside pcigate, not from a network peer';
const LOCAL_CMD = 'a pcigate command run on the broker host: no network peer (account names the OS user)';

/** Per event type, the elements that may be absent and why. Types not listed must carry all six. */
export const ABSENT: Readonly<Record<string, Partial<Record<Element, string>>>> = {
  'segment.open': { user: RECORDER, outcome: LOG_STATE, origin: INSIDE },
  'log.start': { user: RECORDER, outcome: LOG_STATE, origin: INSIDE },
  'log.stop': { user: RECORDER, outcome: LOG_STATE, origin: INSIDE },
  checkpoint: { user: RECORDER, outcome: LOG_STATE, origin: INSIDE },
  'log.recovered': { user: RECORDER, outcome: LOG_STATE, origin: INSIDE },
  'log.gap': { user: RECORDER, origin: INSIDE },
  'key.rotate': { origin: 'the epoch timer or `pcigate keys rotate` on the broker host: no network peer' },
  'auth.login': { origin: LOCAL_CMD, affected: 'the identity provider (detail.idp) is the resource; no target system is involved' },
  'auth.logout': { origin: LOCAL_CMD, affected: 'the identity provider (actor.idp) is the resource; no target system is involved' },
  'auth.refresh': { origin: LOCAL_CMD, affected: 'the identity provider (detail.idp) is the resource; no target system is involved' },
  'auth.fail': {
    user: 'an invalid attempt has no established identity: the attempted account (account, detail) and src identify it',
    origin: 'identity-side failures (login, refused token) happen in a local command; listener failures carry src',
    affected: 'login-side failures concern the identity provider (detail.idp), not a target',
  },
  'verify.run': { origin: LOCAL_CMD },
  'audit.access': { origin: LOCAL_CMD },
  'evidence.export': { origin: LOCAL_CMD },
  'approval.request': { origin: LOCAL_CMD },
  'approval.approve': { origin: LOCAL_CMD },
  'approval.deny': { origin: LOCAL_CMD },
  'approval.expire': { user: 'expiry is decided by the clock, not a person', origin: INSIDE },
  'approval.use': { origin: LOCAL_CMD },
  'approval.tamper': {
    origin: 'found by pcigate itself reading approvals/ (a file put back or renamed there): no network peer',
    affected: 'a renamed file\'s connection is not taken from a file that failed its checks: detail.id and detail.file name the request file',
  },
  'pg.cancel': { user: 'a cancel request with an unknown key belongs to no session: src identifies its sender' },
  'pg.error': { user: 'an internal error outside any session has no user', origin: INSIDE },
};

/** True when the record carries the element (non-empty where it is a string). */
export function hasElement(r: AuditRecord, e: Element): boolean {
  switch (e) {
    case 'user': return typeof r.actor?.sub === 'string' && r.actor.sub !== '';
    case 'type': return typeof r.type === 'string' && r.type !== '';
    case 'time': return typeof r.ts === 'string' && r.ts !== '';
    case 'outcome': return typeof r.outcome === 'string';
    case 'origin': return Boolean(r.src && (r.src.ip || r.src.client || r.src.host));
    case 'affected': {
      const t = r.target;
      return Boolean(t && (t.conn || t.kind || t.host || t.db || t.user || (t.objects && t.objects.length > 0)));
    }
  }
}

/** The elements a record lacks that its type must carry (10.2.2), in ELEMENTS order. */
export function missingElements(r: AuditRecord): Element[] {
  const exempt = ABSENT[r.type] ?? {};
  return ELEMENTS.filter((e) => exempt[e] === undefined && !hasElement(r, e));
}

/**
 * field-map.csv: one row per element (all event types), then one row per event type seen in the period (and
 * every type with an exemption) and element, saying "present" or why it may be absent.
 */
export function fieldMapCsv(typesInPeriod: string[]): Buffer {
  const rows: string[][] = ELEMENTS.map((e) => ['10.2.2', ELEMENT_FIELDS[e].name, '*', ELEMENT_FIELDS[e].fields, 'required', '']);
  const types = [...new Set([...typesInPeriod, ...Object.keys(ABSENT)])].sort();
  for (const t of types) {
    for (const e of ELEMENTS) {
      const why = ABSENT[t]?.[e];
      rows.push(['10.2.2', ELEMENT_FIELDS[e].name, t, ELEMENT_FIELDS[e].fields, why === undefined ? 'required' : 'may be absent', why ?? '']);
    }
  }
  return csvFile(['requirement', 'element', 'event_type', 'record_fields', 'presence', 'reason_absent'], rows);
}

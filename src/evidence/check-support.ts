/**
 * Small readers the requirement checks 3, 7 and 8 share: the configuration the broker ran with, an actor's
 * name as an assessor reads it, a record's `detail` as a plain object, and the RFC 8176 `amr` values that
 * count as a second factor. Pure: everything comes from the EvidenceInput.
 */
import type { Actor, AuditRecord } from '../../recorder/types.js';
import { defaultConfig } from '../config/schema.js';
import type { PcigateConfig } from '../config/schema.js';
import type { ConfigEvidence, LoadedRecord } from './types.js';

/**
 * The configuration pcigate applied: the loaded file, or the built-in defaults when no file exists (pcigate
 * then runs with those); undefined when a file exists but did not load — nothing can be said about it.
 */
export function configOf(evidence: ConfigEvidence): PcigateConfig | undefined {
  if (evidence.config) return evidence.config;
  return evidence.error === undefined ? defaultConfig() : undefined;
}

/** Why a check has no configuration to read (for a `manual` result). */
export function noConfigReason(evidence: ConfigEvidence): string {
  return `the configuration (${evidence.source}) did not load${evidence.error ? `: ${evidence.error}` : ''}`;
}

/** A record's detail object ({} when absent or not an object). */
export function detailOf(r: AuditRecord): Record<string, unknown> {
  const d = r.detail;
  return d !== null && typeof d === 'object' && !Array.isArray(d) ? d : {};
}

/** A plain object field of a detail ({} when absent). */
export function objectField(d: Record<string, unknown>, key: string): Record<string, unknown> {
  const v = d[key];
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/** A string field or undefined. */
export function stringField(d: Record<string, unknown>, key: string): string | undefined {
  const v = d[key];
  return typeof v === 'string' ? v : undefined;
}

/**
 * RFC 8176 authentication method references that are a second factor or say MFA happened, used when no
 * configuration says otherwise (identity.mfa_amr has the same default). `pwd`, `kba`, `pin` alone are not.
 */
export const DEFAULT_MFA_AMR: readonly string[] = ['mfa', 'otp', 'hwk', 'swk', 'sms', 'fpt', 'face', 'iris', 'retina', 'pop'];

/** True when the actor's `amr` (from the IdP) holds one of `mfaAmr`. */
export function actorHasMfa(actor: Actor | undefined, mfaAmr: readonly string[]): boolean {
  return (actor?.amr ?? []).some((a) => mfaAmr.includes(a));
}

/** The identity key of an actor: its subject, qualified by the issuer when there is one. */
export function actorKey(actor: Actor): string {
  return actor.idp ? `${actor.idp} ${actor.sub}` : `${actor.via} ${actor.sub}`;
}

/** Records of the given types, in log order. */
export function ofType(records: readonly LoadedRecord[], ...types: string[]): LoadedRecord[] {
  return records.filter((r) => types.includes(r.record.type));
}

/** "1 session" / "3 sessions". */
export function count(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`;
}

/** The date part of an RFC 3339 timestamp, for result sentences. */
export function day(ts: string | null | undefined): string {
  return ts ? ts.slice(0, 10) : '-';
}

/** Code-unit order for sorting strings (locale-independent, so output bytes never depend on the host). */
export function byText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Sorted, de-duplicated strings joined for one CSV cell. */
export function cellList(xs: Iterable<string>, sep = ' '): string {
  return [...new Set(xs)].sort().join(sep);
}

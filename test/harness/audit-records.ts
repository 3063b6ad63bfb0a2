/** readLog(): every audit record of a data home's log, for tests that look at what pcigate recorded. */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { AuditRecord } from '../../recorder/types.js';

/**
 * Every record of `home`'s log, in seq order: the segments (`log/*.jsonl`, named so that they sort in seq
 * order) one after the other, a record a line.
 */
export function readLog(home: string): AuditRecord[] {
  const dir = path.join(home, 'log');
  const out: AuditRecord[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.jsonl')).sort()) {
    for (const line of readFileSync(path.join(dir, f), 'utf8').split('\n')) if (line) out.push(JSON.parse(line) as AuditRecord);
  }
  return out;
}

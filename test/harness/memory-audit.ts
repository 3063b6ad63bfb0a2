/** An in-memory AuditSink for identity tests: keeps every appended event in order. */
import type { AuditEvent, AuditSink, BlobRef } from '../../recorder/types.js';

export interface MemoryAudit extends AuditSink {
  events: AuditEvent[];
}

export function memoryAudit(): MemoryAudit {
  const events: AuditEvent[] = [];
  return {
    events,
    append: async (e) => { events.push(structuredClone(e)); return { seq: events.length - 1, leaf: '' }; },
    commitBlob: async (): Promise<BlobRef> => { throw new Error('not used by identity tests'); },
  };
}

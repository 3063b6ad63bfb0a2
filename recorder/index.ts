/**
 * The recorder's public API (ARCHITECTURE.md §4): open the audit log and append to it. The broker calls
 * openAuditLog once and hands the AuditLog (an AuditSink) to the sessions it runs.
 */
export { openAuditLog } from './log-writer.js';
export { auditLogOptionsFromConfig } from './audit-log.js';
export type { AuditLog, AuditLogOptions, CheckpointInfo, Durability } from './audit-log.js';
export type { AuditEvent, AuditRecord, AuditSink, BlobRef } from './types.js';

/**
 * The `policy` section of pcigate.yaml (issue 6, owned by the policy area).
 *
 * ```yaml
 * policy:
 *   roles:                          # who is who: identity groups or subjects (sub or email)
 *     support: { groups: [support] }
 *     dba: { groups: [dba], subjects: [alice@example.com] }
 *   connections:
 *     prod-db:                      # or '*' for every connection without its own entry
 *       require_mfa: true           # in addition to the connection's own require_mfa
 *       session: { max_duration: 8h, idle_timeout: 15m, allowed_hours: { from: "07:00", to: "19:00", days: [mon, tue, wed, thu, fri], tz: Europe/Berlin } }
 *       approvals: { groups: [security], min_approvals: 2, expires: 1h, window: 0s, wait: 5m }
 *       roles:
 *         support:
 *           classes: [read, transaction, utility]
 *           tables: { allow: ["public.*"], deny: [public.secrets] }
 *           columns: { deny: [cards.pan, cvv] }
 *           unmask: none
 *           require_approval: [write_without_where, ddl, copy_out, function, unclassifiable]
 *           approval_tables: [public.cards]
 * ```
 *
 * Statement classes follow PCI DSS 7.2.6 (programmatic, role-based access to cardholder data); the idle
 * timeout defaults to and may not exceed 15 minutes (PCI DSS 8.2.8).
 */
import { z } from 'zod';
import { duration } from '../duration.js';

/** Classes a role may be granted. `unknown` is not grantable: unclassifiable SQL is denied or held. */
export const GRANTABLE_CLASSES = ['read', 'write', 'ddl', 'dcl', 'copy_out', 'copy_in', 'function', 'transaction', 'utility'] as const;

/** Conditions under which an otherwise allowed (or refused) statement is held for a human approval. */
export const APPROVAL_CONDITIONS = [
  'write_without_where', 'write', 'ddl', 'dcl', 'copy_out', 'copy_in', 'function', 'unclassifiable',
] as const;

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

const NAME = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'expected a name of letters, digits, . _ -');
const HHMM = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected a time of day as HH:MM (24-hour)');
/** `table`, `schema.table`, with `*` as a wildcard in either part. */
const TABLE_PATTERN = z.string().regex(/^[^.\s]+(\.[^.\s]+)?$/, 'expected table, schema.table or a pattern such as public.*');
/** `column`, `table.column` or `schema.table.column`. */
const COLUMN_PATTERN = z.string().regex(/^[^.\s]+(\.[^.\s]+){0,2}$/, 'expected column, table.column or schema.table.column');

export const roleBinding = z.strictObject({
  description: z.string().optional(),
  /** Identity groups (the `groups` claim) whose members hold this role. */
  groups: z.array(z.string().min(1)).default([]),
  /** Identity subjects (`sub`, or email) who hold this role; `local:NAME` for a local OS account. */
  subjects: z.array(z.string().min(1)).default([]),
});

export const roleGrant = z.strictObject({
  classes: z.array(z.enum(GRANTABLE_CLASSES)).default(['read', 'transaction', 'utility']),
  tables: z
    .strictObject({ allow: z.array(TABLE_PATTERN).default(['*']), deny: z.array(TABLE_PATTERN).default([]) })
    .prefault({}),
  columns: z.strictObject({ deny: z.array(COLUMN_PATTERN).default([]) }).prefault({}),
  /** Functions this role may call without the `function` class (beyond the safe built-ins). */
  functions: z.strictObject({ allow: z.array(z.string().min(1)).default([]) }).prefault({}),
  /** The mask format the masking area applies for this role (`none` keeps full masking). */
  unmask: z.string().min(1).default('none'),
  require_approval: z.array(z.enum(APPROVAL_CONDITIONS)).default([]),
  /** Reading or writing any of these tables needs an approval. */
  approval_tables: z.array(TABLE_PATTERN).default([]),
});

export const connectionPolicy = z.strictObject({
  require_mfa: z.boolean().default(false),
  session: z
    .strictObject({
      max_duration: duration({ min: 1000 }).default(8 * 3_600_000),
      /** PCI DSS 8.2.8: re-authentication after at most 15 minutes idle. */
      idle_timeout: duration({ min: 1000, max: 15 * 60_000 }).default(15 * 60_000),
      allowed_hours: z
        .strictObject({
          from: HHMM,
          to: HHMM,
          days: z.array(z.enum(WEEKDAYS)).default([...WEEKDAYS]),
          /** An IANA time zone name. */
          tz: z.string().min(1).default('UTC'),
        })
        .optional(),
      /** The session itself (`pcigate connect`) needs an approval, time-boxed by max_duration. */
      require_approval: z.boolean().default(false),
    })
    .prefault({}),
  approvals: z
    .strictObject({
      /** Approver groups, in addition to the connection's `approvers`. */
      groups: z.array(z.string().min(1)).default([]),
      subjects: z.array(z.string().min(1)).default([]),
      min_approvals: z.number().int().min(1).max(10).default(1),
      /** A pending request expires after this. */
      expires: duration({ min: 1000 }).default(3_600_000),
      /** 0: an approval lets the statement run once; otherwise as often as needed within this window. */
      window: z.union([z.literal(0), duration()]).default(0),
      /** How long a held statement waits for a decision before it fails. */
      wait: duration({ min: 1000 }).default(5 * 60_000),
    })
    .prefault({}),
  roles: z.record(NAME, roleGrant).default({}),
});

export const policySection = z
  .strictObject({
    roles: z.record(NAME, roleBinding).default({}),
    /** Connection name (or `*`) → its policy. A connection with neither is denied everything. */
    connections: z.record(z.string().min(1), connectionPolicy).default({}),
  })
  .prefault({});

export type PolicyConfig = z.infer<typeof policySection>;
export type ConnectionPolicy = z.infer<typeof connectionPolicy>;
export type RoleGrant = z.infer<typeof roleGrant>;
export type RoleBinding = z.infer<typeof roleBinding>;
export type ApprovalCondition = (typeof APPROVAL_CONDITIONS)[number];

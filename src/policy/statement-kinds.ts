/**
 * Statement classes a policy allows or refuses, and which raw parse-tree node types belong to which class
 * (node names from PostgreSQL's src/include/nodes/parsenodes.h). Anything not listed is `unknown`, which
 * policy treats as unclassifiable: denied, or held for approval, never allowed by default (fail closed).
 */

export const STATEMENT_KINDS = [
  'read',
  'write',
  'ddl',
  'dcl',
  'copy_out',
  'copy_in',
  'function',
  'transaction',
  'utility',
  'unknown',
] as const;

export type StatementKind = (typeof STATEMENT_KINDS)[number];

/** Higher is stricter: the primary kind of a statement is its strictest class. */
export const KIND_STRICTNESS: Record<StatementKind, number> = {
  transaction: 0,
  utility: 1,
  read: 2,
  write: 3,
  copy_in: 4,
  copy_out: 5,
  function: 6,
  ddl: 7,
  dcl: 8,
  unknown: 9,
};

/** Utility statements that change nothing visible to others. */
const UTILITY = new Set([
  'VariableShowStmt', 'DiscardStmt', 'ListenStmt', 'UnlistenStmt', 'NotifyStmt', 'DeallocateStmt',
  'ClosePortalStmt', 'CheckPointStmt', 'VacuumStmt', 'LockStmt', 'ConstraintsSetStmt',
]);

/**
 * Role and privilege management (PCI DSS 7.2: access is assigned, not taken). The classifier adds this class to
 * what else only a superuser could do through pcigate's upstream user: ALTER SYSTEM, and functions or DO blocks
 * in C or an untrusted language (classify.ts trustedLanguage), and making or renaming a language. ALTER DATABASE
 * … SET is here as ALTER ROLE … SET is: a default such as log_statement or session_replication_role for every
 * later session turns the server's own audit trail or triggers off.
 */
const DCL = new Set([
  'GrantStmt', 'GrantRoleStmt', 'CreateRoleStmt', 'AlterRoleStmt', 'AlterRoleSetStmt', 'AlterDatabaseSetStmt', 'DropRoleStmt',
  'CreatePLangStmt',
  'AlterDefaultPrivilegesStmt', 'ReassignOwnedStmt', 'DropOwnedStmt', 'AlterPolicyStmt', 'CreatePolicyStmt',
  'SecLabelStmt', 'AlterOwnerStmt', 'CreateUserMappingStmt', 'AlterUserMappingStmt', 'DropUserMappingStmt',
]);

/** Schema changes. `Create…`, `Alter…`, `Drop…` node types not listed elsewhere also count as DDL. */
const DDL = new Set([
  'CommentStmt', 'RenameStmt', 'DefineStmt', 'IndexStmt', 'ViewStmt', 'RuleStmt', 'ClusterStmt', 'ReindexStmt',
  'RefreshMatViewStmt', 'CompositeTypeStmt', 'ImportForeignSchemaStmt', 'CreateTableAsStmt',
]);

/** Statements that run arbitrary server-side code or load code: DO, CALL, LOAD. */
const FUNCTION = new Set(['DoStmt', 'CallStmt']);

/**
 * The class of a top-level raw statement by node type alone. Statements whose class depends on their
 * content (SELECT … INTO, COPY, EXPLAIN, PREPARE, SET) are refined by the classifier.
 */
export function kindOfNode(type: string): StatementKind {
  switch (type) {
    case 'SelectStmt': case 'FetchStmt': case 'DeclareCursorStmt': case 'ExplainStmt':
      return 'read';
    case 'InsertStmt': case 'UpdateStmt': case 'DeleteStmt': case 'MergeStmt': case 'TruncateStmt':
      return 'write';
    case 'TransactionStmt':
      return 'transaction';
    case 'VariableSetStmt': case 'PrepareStmt': case 'ExecuteStmt':
      return 'utility';
    case 'CopyStmt':
      return 'copy_out';
    default:
      break;
  }
  if (UTILITY.has(type)) return 'utility';
  if (DCL.has(type)) return 'dcl';
  if (FUNCTION.has(type)) return 'function';
  if (DDL.has(type) || /^(Create|Alter|Drop)[A-Za-z]*Stmt$/.test(type)) return 'ddl';
  return 'unknown';
}

/** Sorts kinds strictest first. */
export function strictestFirst(kinds: Iterable<StatementKind>): StatementKind[] {
  return [...new Set(kinds)].sort((a, b) => KIND_STRICTNESS[b] - KIND_STRICTNESS[a]);
}

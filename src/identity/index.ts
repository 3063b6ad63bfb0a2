/** The identity area's public surface (issue 5): login/logout/current session, validation, workload identity, the broker seam. */
export { resolveIdentity, enforceMfa, sessionTimeLeft, sessionDeadline, maxSessionMessage } from './resolve.js';
export type { ConnectionIdentityRules, ResolveIdentityOptions } from './resolve.js';
export { login, logout, currentSession, refresh, loadTokens } from './session.js';
export type { LoginOptions, LoginResult, CurrentSession, LogoutResult } from './session.js';
export { runDeviceFlow, DEVICE_FLOW_SENTENCES } from './device-flow.js';
export type { DevicePrompt, DeviceFlowEvent } from './device-flow.js';
export { createValidator, ACCEPTED_TYP } from './validate.js';
export type { TokenValidator, ValidatorOptions, Validated } from './validate.js';
export { openTokenStore, keychainStore, fileStore, FILE_FALLBACK_WARNING, KEYCHAIN_SERVICE } from './token-store.js';
export type { TokenStore, TokenStoreKind } from './token-store.js';
export { obtainWorkloadToken, verifyWorkloadToken, claimMatches, failedClaims, githubToken } from './workload.js';
export type { WorkloadRule, WorkloadSource } from './workload.js';
export { claimsToIdentity, claimAt, hasMfa } from './claims.js';
export { settingsFrom, requireProvider } from './settings.js';
export type { IdentitySettings } from './settings.js';
export { actorOf, IDENTITY_RECORD_TYPES } from './audit.js';
export type { Identity, StoredTokens } from './types.js';

/**
 * The command registry: names, one-line summaries (sentence case, no period) and lazy imports.
 * Help and the completion generator read it; main() imports only the command that runs.
 */
import type { RegistryEntry } from '../src/cli/command.js';

export const registry: RegistryEntry[] = [
  { name: 'connect', summary: 'Open a local listener in front of a database connection, recording every statement', load: () => import('./connect.js') },
  { name: 'exec', summary: 'Run SQL, a program or a remote command through the broker with a workload identity (CI)', load: () => import('./exec.js') },
  { name: 'keys init', summary: 'Create the root key and the first epoch signing key of a data home', load: () => import('./keys-init.js') },
  { name: 'keys show', summary: 'Show the root public key and the epoch keys', load: () => import('./keys-show.js') },
  { name: 'keys rotate', summary: 'Start a new key epoch and destroy the old epoch private key', load: () => import('./keys-rotate.js') },
  { name: 'verify', summary: 'Verify the audit log: hash chain, Merkle tree, signed checkpoints, recordings', load: () => import('./verify.js') },
  { name: 'config check', summary: 'Validate the configuration and print it with secrets redacted', load: () => import('./config-check.js') },
  { name: 'approvals', summary: 'List statements and sessions waiting for approval', load: () => import('./approvals.js') },
  { name: 'approve', summary: 'Approve a held statement (not your own)', load: () => import('./approve.js') },
  { name: 'deny', summary: 'Deny a held statement, with a reason', load: () => import('./deny.js') },
  { name: 'policy explain', summary: 'Show the decision for a statement (policy and masking) and the rule behind it', load: () => import('./policy-explain.js') },
  { name: 'scan', summary: 'Find unmasked card numbers and sensitive authentication data in files', load: () => import('./scan.js') },
  { name: 'login', summary: 'Log in with your identity provider (device code, works over SSH)', load: () => import('./login.js') },
  { name: 'whoami', summary: 'Show the logged-in identity, its groups and whether it used MFA', load: () => import('./whoami.js') },
  { name: 'logout', summary: 'Revoke your tokens at the provider and delete them locally', load: () => import('./logout.js') },
  { name: 'sessions', summary: 'List the recorded sessions: who, target, when, statements, denials, outcome', load: () => import('./sessions.js') },
  { name: 'replay', summary: 'Replay a recorded session after proving the recording against the audit log', load: () => import('./replay.js') },
  { name: 'demo', summary: 'Try pcigate with nothing set up: a seeded PostgreSQL, policy, masking and the audit log', load: () => import('./demo.js') },
  { name: 'completion', summary: 'Print a bash, zsh or fish completion script (commands, flags, connection names)', load: () => import('./completion.js') },
  { name: 'doctor', summary: 'Check the configuration, keys, data home, clock, connections and identity provider', load: () => import('./doctor.js') },
  { name: 'evidence', summary: 'Build a signed evidence bundle per PCI DSS requirement (3, 7, 8, 10) for an assessor', load: () => import('./evidence.js') },
  { name: 'evidence verify', summary: 'Verify an evidence bundle offline: signature, key chain, SHA256SUMS, inclusion proofs', load: () => import('./evidence-verify.js') },
];

/** The command groups (`keys`, `config`) derived from two-word names. */
export function groups(): Map<string, RegistryEntry[]> {
  const out = new Map<string, RegistryEntry[]>();
  for (const e of registry) {
    const sp = e.name.indexOf(' ');
    if (sp < 0) continue;
    const g = e.name.slice(0, sp);
    out.set(g, [...(out.get(g) ?? []), e]);
  }
  return out;
}

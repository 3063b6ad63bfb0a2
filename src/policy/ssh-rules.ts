/**
 * SSH policy (issue 7 item 1): a connection's `allow` block decides shell, exec commands (deny, then hold,
 * then allow patterns; anything unmatched is refused), port forwarding, agent forwarding, X11 and
 * subsystems. Pure: the broker records and enforces the decision.
 */
import type { SshConnection } from '../config/index.js';
import type { SshRequest } from '../ssh/session-bridge.js';

/** The requests the SSH bridge asks about (src/ssh/session-bridge.ts). */
export type SshPolicyRequest = SshRequest;

export interface SshPolicyDecision {
  action: 'allow' | 'deny' | 'hold';
  /** Stable id of the rule that decided, e.g. `ssh.exec.deny[0]`. */
  rule: string;
  reason: string;
}

/**
 * Glob as in the config: `*` any run of characters, `?` one character; everything else literal. Case
 * sensitive, unlike the masking area's column globs: command names on the remote host are.
 */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (const ch of glob) {
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else re += ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}

/**
 * The longest exec command line pcigate reads for policy, in bytes (UTF-8): 1 MiB. A longer one is refused
 * unread (rule `ssh.exec.unreadable`), whatever the patterns. An SSH client's exec request is far smaller (the
 * listener's ssh2 server takes packets of about 35 kB); `pcigate exec NAME -- CMD` joins its arguments into one
 * line, which Linux lets grow to a few MiB. Reading a line is linear in it, but each word after a program that runs
 * its arguments starts another reading (src/broker/ssh-exec/read-as-shell.ts, MAX_READ_CHARS, bounds those too).
 */
export const MAX_EXEC_COMMAND_BYTES = 1 << 20;

/**
 * Whether `glob` (as globToRegExp reads it) matches all of `text`, in time linear in the text for a given glob:
 * the pattern is the administrator's and the text the client's, and a backtracking RegExp of a glob with several
 * wildcards (`* * * rm`) takes time to the power of their number on text it does not match (8 kB: seconds;
 * an exec request of 35 kB: minutes of the event loop). Each part between wildcards is placed at the first
 * place it fits after the one before: a later place leaves less room for the rest, never more.
 */
export function globMatches(glob: string, text: string): boolean {
  const parts = glob.split('*');
  const fits = (part: string, at: number) => fitsAt(part, text, at);
  const head = parts[0]!;
  if (parts.length === 1) return head.length === text.length && fits(head, 0);
  const tail = parts[parts.length - 1]!;
  const end = text.length - tail.length;
  if (end < head.length || !fits(head, 0) || !fits(tail, end)) return false;
  let at = head.length;
  for (const part of parts.slice(1, -1)) {
    while (at + part.length <= end && !fits(part, at)) at++;
    if (at + part.length > end) return false;
    at += part.length;
  }
  return true;
}

/** Whether a part of a glob between wildcards (`?` one character, the rest literal) fits `text` at `at`. */
function fitsAt(part: string, text: string, at: number): boolean {
  if (at < 0 || at + part.length > text.length) return false;
  for (let k = 0; k < part.length; k++) if (part[k] !== '?' && part[k] !== text[at + k]) return false;
  return true;
}

/**
 * What each wildcard of `glob` matched in `text`, in the glob's order (`[start, end)`; a `?` one character), or
 * undefined when the glob does not match (the answer of globMatches). Of the ways to split the text among the
 * wildcards it gives the one a RegExp with `(.*)` and `(.)` for them gives: each `*` as long as the rest
 * allows, the first first. Without backtracking: each part between wildcards is placed, from the last to the
 * first, at the last place it fits before the one after it (a later place for a part is a longer wildcard before
 * it and leaves the parts before it more room, never less), in time linear in the text for a given glob.
 */
export function globWildcardSpans(glob: string, text: string): Array<[number, number]> | undefined {
  const parts = glob.split('*');
  const head = parts[0]!;
  const last = parts.length - 1;
  const at: number[] = [0];
  if (last === 0) {
    if (head.length !== text.length || !fitsAt(head, text, 0)) return undefined;
  } else {
    const end = text.length - parts[last]!.length;
    if (end < head.length || !fitsAt(head, text, 0) || !fitsAt(parts[last]!, text, end)) return undefined;
    at[last] = end;
    for (let k = last - 1; k >= 1; k--) {
      const part = parts[k]!;
      let p = at[k + 1]! - part.length;
      while (p >= head.length && !fitsAt(part, text, p)) p--;
      if (p < head.length) return undefined;
      at[k] = p;
    }
  }
  const spans: Array<[number, number]> = [];
  for (let k = 0; k <= last; k++) {
    const part = parts[k]!;
    for (let j = 0; j < part.length; j++) if (part[j] === '?') spans.push([at[k]! + j, at[k]! + j + 1]);
    if (k < last) spans.push([at[k]! + part.length, at[k + 1]!]);
  }
  return spans;
}

export function decideSsh(allow: SshConnection['allow'], req: SshPolicyRequest): SshPolicyDecision {
  switch (req.kind) {
    case 'shell':
      return allow.shell
        ? { action: 'allow', rule: 'ssh.shell', reason: 'interactive shell granted' }
        : { action: 'deny', rule: 'ssh.shell', reason: 'interactive shell is not granted on this connection' };
    case 'exec': {
      const bytes = Buffer.byteLength(req.command);
      if (bytes > MAX_EXEC_COMMAND_BYTES) {
        return { action: 'deny', rule: 'ssh.exec.unreadable', reason: `the command line is ${bytes} bytes, longer than the ${MAX_EXEC_COMMAND_BYTES} bytes (1 MiB) pcigate reads for policy; pcigate does not run it (split it into shorter commands)` };
      }
      const cmd = req.command.trim();
      for (const [list, action] of [['deny', 'deny'], ['hold', 'hold'], ['allow', 'allow']] as const) {
        const i = allow.exec[list].findIndex((p) => globMatches(p, cmd));
        if (i >= 0) return { action, rule: `ssh.exec.${list}[${i}]`, reason: `command matches ${list} pattern '${allow.exec[list][i]}'` };
      }
      return { action: 'deny', rule: 'ssh.exec.default', reason: 'command matches no allowed pattern' };
    }
    case 'subsystem':
      return allow.subsystems.includes(req.name)
        ? { action: 'allow', rule: 'ssh.subsystems', reason: `subsystem ${req.name} granted` }
        : { action: 'deny', rule: 'ssh.subsystems', reason: `subsystem ${req.name} is not granted (file transfer is off unless granted)` };
    case 'x11':
      return { action: allow.x11 ? 'allow' : 'deny', rule: 'ssh.x11', reason: allow.x11 ? 'X11 granted' : 'X11 forwarding is not granted' };
    case 'agent-forwarding':
      return { action: allow.agent_forwarding ? 'allow' : 'deny', rule: 'ssh.agent_forwarding', reason: allow.agent_forwarding ? 'agent forwarding granted' : 'agent forwarding is not granted' };
    case 'port-forwarding':
      return allow.port_forwarding
        ? { action: 'allow', rule: 'ssh.port_forwarding', reason: 'port forwarding granted' }
        : { action: 'deny', rule: 'ssh.port_forwarding', reason: `port forwarding (${req.direction} ${req.host}:${req.port}) is not granted` };
  }
}

/**
 * `pcigate demo --script`: the guided tour, end to end and unattended (it runs in CI). Each step runs a real
 * pcigate command as one of the demo people and checks its outcome: masked PANs (PCI DSS 3.4.1), a refused
 * DROP TABLE (7.2), a DELETE held until a second person approves (6.5.4 / 7.2 separation of duties), a log
 * that verifies (10.3.2, 10.5), and a data home in which `pcigate scan` finds no PAN (3.5.1).
 */
import type { Ctx } from '../cli/ctx.js';
import { maskText } from '../mask/pan-masker.js';
import { registry } from '../../commands/index.js';
import { DEMO_CONNECTION, DEMO_PEOPLE } from './demo-setup.js';
import type { DemoEnv } from './demo-env.js';
import type { DemoOidc, DemoOidcPerson } from './demo-oidc.js';
import { runPcigate, startPcigate, type CliResult } from './run-cli.js';

export interface TourStep {
  name: string;
  /** passed, failed, or skipped (with why). */
  outcome: 'passed' | 'failed' | 'skipped';
  note?: string;
}

export interface TourResult {
  ok: boolean;
  steps: TourStep[];
}

/** Test PANs seeded by the demo, digits only: none may appear in a result or in the data home. */
const SEEDED_PAN_DIGITS = ['4111111111111111', '5555555555554444', '378282246310005'];

function digitsLeak(text: string): string | undefined {
  const digits = text.replace(/[ -]/g, '');
  return SEEDED_PAN_DIGITS.find((p) => digits.includes(p));
}

function indent(text: string): string {
  return text.trimEnd().split('\n').map((l) => `    ${l}`).join('\n');
}

/** Runs the tour against a started DemoEnv, narrating to `say`. */
export async function runTour(ctx: Ctx, env: DemoEnv, say: (line: string) => void, signal: AbortSignal, oidc?: DemoOidc): Promise<TourResult> {
  const steps: TourStep[] = [];
  const { engineer, approver } = DEMO_PEOPLE;
  const run = (person: string, args: string[], s: AbortSignal = signal): Promise<CliResult> => runPcigate(ctx, env.env, person, args, s);
  const show = (person: string, args: string[], r: CliResult) => {
    // The command line is masked like everything else pcigate prints (it is masked in the log, too).
    say(maskText(`  $ pcigate ${args.map((a) => (/[\s*"]/.test(a) ? `'${a}'` : a)).join(' ')}      # as ${person}, exit ${r.code}`));
    const text = r.output.trim();
    if (text) say(indent(text));
  };
  const step = (name: string, ok: boolean, note?: string) => {
    steps.push({ name, outcome: ok ? 'passed' : 'failed', ...(note ? { note } : {}) });
    say(`  ${ok ? '✓' : '✗'} ${name}${note ? ` — ${note}` : ''}`);
    say('');
  };
  const skip = (name: string, why: string) => {
    steps.push({ name, outcome: 'skipped', note: why });
    say(`  – skipped: ${name} — ${why}`);
    say('');
  };
  const has = (name: string) => registry.some((e) => e.name === name);

  /** `pcigate login` (RFC 8628 device flow) as `name`; the demo's browser signs in at the printed URL. */
  const login = async (name: string, person: DemoOidcPerson): Promise<boolean> => {
    const args = ['login', '--no-browser'];
    const p = startPcigate(ctx, env.env, name, args, signal);
    let prompt: RegExpExecArray | null = null;
    for (let i = 0; i < 300 && !prompt; i++) {
      prompt = /open (\S+) and enter the code: (\S+)/.exec(p.output().stderr);
      if (!prompt) await Promise.race([p.done, new Promise((r) => setTimeout(r, 100))]);
    }
    let browserError = '';
    if (prompt) {
      say(`  (the demo's browser opens ${prompt[1]} and signs in as ${person.email} with a password and a one-time code)`);
      await oidc!.approveDevice(prompt[1]!, prompt[2]!, person).catch((e: unknown) => { browserError = (e as Error).message; });
    }
    const code = await p.done;
    show(name, args, { ...p.output(), code });
    if (browserError) say(`    browser: ${browserError}`);
    return code === 0;
  };

  if (oidc) {
    say(`1. Who is who. Two demo people at the demo's OpenID provider (${oidc.issuer}): ${engineer} (group engineers:`);
    say('   read and write, no DDL, a DELETE or UPDATE without WHERE waits for approval) and');
    say(`   ${approver} (group approvers). ${engineer} logs in with the device flow, as on any headless host.`);
    step(`${engineer} logged in (device flow)`, await login(engineer, oidc.people.engineer));
  } else {
    say(`1. Who is who. Two demo people: ${engineer} (role engineer: read and write, no DDL, a DELETE or UPDATE`);
    say(`   without WHERE waits for approval) and ${approver} (role approver). The tour uses local identity`);
    say('   (identity.allow_local) for them: --local-identity was given, or oidc-provider (a devDependency)');
    say('   is not installed here.');
    say('   A real deployment logs people in with OIDC (`pcigate login`, the RFC 8628 device flow).');
    say('');
  }

  say(`2. ${engineer} reads the cards table through pcigate. Card numbers come back masked; the cvv is hidden.`);
  const sel = ['exec', DEMO_CONNECTION, '--sql', 'SELECT c.name, k.pan, k.cvv, k.expiry FROM cards k JOIN customers c ON c.id = k.customer_id ORDER BY k.id'];
  const r1 = await run(engineer, sel);
  show(engineer, sel, r1);
  const leak1 = digitsLeak(`${r1.stdout}${r1.stderr}`);
  step('query with PANs masked', r1.code === 0 && !leak1 && /1111|4444|0005/.test(r1.stdout), leak1 ? 'a PAN came back unmasked' : undefined);

  say(`3. ${engineer} tries to drop a table. The role has no DDL: pcigate refuses before PostgreSQL sees it.`);
  const drop = ['exec', DEMO_CONNECTION, '--sql', 'DROP TABLE transactions'];
  const r2 = await run(engineer, drop);
  show(engineer, drop, r2);
  step('DROP TABLE denied', r2.code !== 0);

  if ('connection' in env.ssh) {
    const conn = env.ssh.connection;
    say(`3b. ${engineer} runs commands on an SSH host through pcigate: the host key is pinned, output is masked,`);
    say('    and a command outside the allow-list is refused.');
    const echo = ['exec', conn, '--', 'echo', 'refund for card 4111 1111 1111 1111'];
    const re = await run(engineer, echo);
    show(engineer, echo, re);
    const leak = digitsLeak(`${re.stdout}${re.stderr}`);
    step('an SSH command with its output masked', re.code === 0 && !leak && /1111/.test(re.stdout), leak ? 'a PAN came back unmasked' : undefined);
    const rm = ['exec', conn, '--', 'rm', '-rf', '/tmp/pcigate-demo-nothing'];
    const rr = await run(engineer, rm);
    show(engineer, rm, rr);
    step('an SSH command outside the allow-list refused', rr.code === 5);
  } else {
    skip('an SSH session', env.ssh.skipped);
  }
  say(`4. ${engineer} deletes without WHERE. The statement is held; ${approver} sees it and approves it.`);
  const del = ['exec', DEMO_CONNECTION, '--sql', 'DELETE FROM transactions', '--reason', 'demo: clear test transactions'];
  const held = run(engineer, del);
  if (oidc) {
    // One data home holds one login: while the DELETE waits, the second person logs in on "their" terminal.
    let settled = false;
    void held.then(() => { settled = true; });
    for (let i = 0; i < 300 && !signal.aborted && !settled; i++) {
      if (parsePending((await run(approver, ['approvals', '--json'])).stdout)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    step(`${approver} logged in (device flow)`, await login(approver, oidc.people.approver));
  }
  let approvedId: string | undefined;
  for (let i = 0; i < 300 && !approvedId && !signal.aborted; i++) {
    const q = await run(approver, ['approvals', '--json']);
    const pending = parsePending(q.stdout);
    if (pending) {
      show(approver, ['approvals'], await run(approver, ['approvals']));
      const ap = ['approve', pending, '--reason', 'demo: test data only'];
      const ra = await run(approver, ap);
      show(approver, ap, ra);
      if (ra.code === 0) approvedId = pending;
      else break;
    } else {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const r3 = await held;
  show(engineer, del, r3);
  const deleted = Boolean(approvedId) && r3.code === 0 && /DELETE 4/.test(`${r3.stdout}${r3.stderr}`);
  step('DELETE held and approved by a second person', deleted, deleted ? undefined : failedWhy(approvedId ? `approved ${approvedId}` : 'never approved', r3));

  say('5. The audit log verifies: hash chain, Merkle tree and signed checkpoints.');
  const ver = ['verify'];
  const r4 = await run(engineer, ver);
  show(engineer, ver, r4);
  step('audit log verifies', r4.code === 0);

  say('6. Every session is in the log: who, what, when, and what pcigate decided.');
  let firstSession: string | undefined;
  if (has('sessions')) {
    const ls = ['sessions'];
    const r = await run(engineer, ls);
    show(engineer, ls, r);
    firstSession = sessionIds((await run(engineer, ['sessions', '--json'])).stdout)[0];
    step('the recorded sessions', r.code === 0 && Boolean(firstSession));
  } else skip('the recorded sessions', 'this build has no `pcigate sessions` command yet');

  say('7. Replay the first session: its recording is proven against the log before it is shown.');
  if (!has('replay')) skip('a session replayed', 'this build has no `pcigate replay` command yet');
  else if (!firstSession) skip('a session replayed', 'no session id to replay');
  else {
    const rp = ['replay', firstSession.slice(0, 8)];
    const r = await run(engineer, rp);
    show(engineer, rp, r);
    const leak = digitsLeak(`${r.stdout}${r.stderr}`);
    step('a session replayed', r.code === 0 && !leak, leak ? 'a PAN appeared in the replay' : undefined);
  }

  say('8. An evidence bundle for PCI DSS requirement 10, signed and checked offline like an assessor would.');
  if (has('evidence')) {
    const zip = `${env.dir}/evidence-req10.zip`;
    const ev = ['evidence', '--req', '10', '--out', zip];
    const r = await run(engineer, ev);
    show(engineer, ev, r);
    const vf = ['evidence', 'verify', zip, '--root-key', `${env.home}/keys/root.pub`];
    const rv = r.code === 0 ? await run(engineer, vf) : r;
    if (r.code === 0) show(engineer, vf, rv);
    step('an evidence bundle for requirement 10', r.code === 0 && rv.code === 0, r.code === 0 && rv.code !== 0 ? 'the bundle did not verify' : undefined);
  } else skip('an evidence bundle for requirement 10', 'this build has no `pcigate evidence` command yet');

  say('9. No card number reached the data home: pcigate scan looks through every file in it.');
  const sc = ['scan', env.home];
  const r5 = await run(engineer, sc);
  show(engineer, sc, r5);
  step('no PAN in the data home', r5.code === 0);

  return { ok: steps.every((s) => s.outcome !== 'failed'), steps };
}

/** Why a step failed, for --json output (which has no narration): the command's exit code and its last lines, masked. */
function failedWhy(what: string, r: CliResult): string {
  const tail = r.output.trim().split('\n').slice(-6).join(' | ');
  return maskText(`${what}; exit ${r.code}${tail ? `: ${tail}` : ''}`);
}

/** Session ids from `sessions --json`, oldest first. */
function sessionIds(stdout: string): string[] {
  try {
    const v = JSON.parse(stdout) as { sessions?: Array<{ id?: unknown }> } | Array<{ id?: unknown }>;
    const list = Array.isArray(v) ? v : v.sessions ?? [];
    return list.map((x) => x.id).filter((x): x is string => typeof x === 'string');
  } catch {
    return [];
  }
}

/** The id of the first pending request in `approvals --json` output. */
function parsePending(stdout: string): string | undefined {
  try {
    const v: unknown = JSON.parse(stdout);
    const list = Array.isArray(v) ? v : (v as { requests?: unknown[] } | null)?.requests ?? [];
    for (const x of list as Array<{ id?: unknown; state?: unknown }>) {
      if (typeof x.id === 'string' && (x.state === undefined || x.state === 'pending')) return x.id;
    }
  } catch { /* not yet a JSON document */ }
  return undefined;
}

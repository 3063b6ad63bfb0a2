/**
 * Just-in-time approvals in the embedded data home (`approvals/`, ARCHITECTURE.md §5). One JSON file per
 * request, replaced atomically (temporary file + rename); every state transition happens under an O_EXCL
 * lock file, so concurrent approvers in several processes see one consistent order and exactly one
 * transition wins. An approval binds the exact statement (an HMAC of its text and, in the extended protocol,
 * of its bind parameters' values), the requester and the connection, not the session that asked (a later
 * `pcigate exec` run, a session approval, a reconnect use it: docs/log-format.md "approvals"):
 * it lets that statement run once, or repeatedly within a policy-granted window (PCI DSS 7.2.3).
 * Separation of duties: the approver is logged in, in an approver group (or listed subject) for the
 * connection, and not the requester; one person counts once; `min_approvals` distinct people are needed.
 * Every request, approval, denial, expiry and use is an audit record (fail closed: if the record cannot be
 * written, the transition does not happen); so is a request file refused as put back or renamed
 * (`approval.tamper`, once per finding).
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Actor, AuditSink } from '../../recorder/types.js';
import type { Clock, Fs } from '../cli/ctx.js';
import { ApprovalConflict, ApprovalForbidden, ApprovalNotFound, PolicyError, UsageError } from '../errors.js';
import { PanMasker, maskText } from '../mask/pan-masker.js';
import { renderBinaryValue } from '../pg/protocol/binary-values.js';
import type { BindParam } from '../pg/proxy/hooks.js';
import type { PolicyIdentity } from './evaluate.js';
import { UNCERTAIN_PATH } from './name-match.js';
import { drainOutbox } from './audit-outbox.js';
import { STATE_RANK, loggedState, type LoggedState } from './approval-history.js';
import { samePerson, separationRefusal, type ApprovalPerson, type OsAccount } from './approval-separation.js';
import { redactStatementSecrets, valueSecretsRedacted } from './redact-statement-secrets.js';
import { paramNamesSecret } from './redact-content.js';
import { paramsMayBeSecret } from './redact-by-tokens.js';
import type { TableColumns } from './redact-by-tokens.js';
import { withFileLock, writeFileAtomic } from './file-lock.js';

export type ApprovalState = 'pending' | 'approved' | 'denied' | 'expired' | 'used';

export type { ApprovalPerson, OsAccount };

export interface ApprovalRequest {
  v: 1;
  id: string;
  /** A single statement string, or the session itself (`connect` needs approval). */
  kind: 'statement' | 'session';
  state: ApprovalState;
  connection: string;
  requester: ApprovalPerson;
  /**
   * The OS account of the process that filed the request (the broker the requester's statement went
   * through). A person's request cannot be approved from that same account: it is the requester's own
   * terminal, whichever login (another alias, an approver's token left there) it holds. A workload's cannot be
   * approved by that account as a local identity: it is the CI runner's (approval-separation.ts).
   */
  requester_os?: OsAccount;
  session?: string;
  /** The statement text, PAN masked and passwords redacted: safe to show and to keep on disk. */
  sql: string;
  /**
   * The bind parameters of an extended-protocol statement as the approver sees them ({@link shownParams}:
   * text PAN-masked, binary in its declared type's text form or as a length); absent for a simple Query and
   * an SSH command. The approval binds their exact values too (`hmac`).
   */
  params?: Array<string | null>;
  /**
   * The schemas the session resolved unqualified names in when the statement was held (its search_path as
   * policy read it, `$user` resolved), comma-separated: `SELECT f()` calls another function under another path.
   * Bound by the HMAC too; absent for an SSH command and a session request.
   */
  search_path?: string;
  /**
   * HMAC-SHA-256 (hex) of the exact statement text as sent (and its bind parameters and search_path: statementHmac), under the data home's approval key
   * (`approvals/.key`): what the approval binds to. Keyed, because the text may hold a card number whose
   * masked form shows its last four digits: an unkeyed hash of it could be searched back (PCI DSS 3.5.1).
   */
  hmac: string;
  reason?: string;
  /** The policy rule that held the statement. */
  rule?: string;
  created_ms: number;
  expires_ms: number;
  min_approvals: number;
  approver_groups: string[];
  approver_subjects: string[];
  /** 0: one run; otherwise the statement may run again until approved_ms + window_ms. */
  window_ms: number;
  /** `os`: the OS account the approval was given from (min_approvals counts accounts as well as people). */
  approvals: Array<ApprovalPerson & { at_ms: number; reason?: string; os?: OsAccount }>;
  denial?: ApprovalPerson & { at_ms: number; reason: string };
  approved_ms?: number;
  uses: number;
  /**
   * The seq of the request's `approval.request` record in the audit log (absent when its sink gave none): where
   * {@link loggedState} starts reading the records that say how far the request has gone.
   */
  log_seq?: number;
  /**
   * HMAC-SHA-256 (hex) of the rest of the request as stored, under `approvals/.key` ({@link sealOf}): a
   * request file changed by anything but the store (its state set to approved, an approval or another
   * statement's hmac written in) no longer matches and is never used.
   */
  seal?: string;
}

export interface NewRequest {
  kind?: 'statement' | 'session';
  connection: string;
  requester: PolicyIdentity;
  session?: string;
  /** The exact statement text; only its masked form and hash are stored. */
  sql: string;
  /**
   * What is stored and shown of it instead of the text itself, then masked as the text is: an SSH command line with
   * its credentials redacted as a command line's (pg-exec.ts redactCommandLine). The binding is still the text's.
   */
  shown?: string;
  /** Its bind parameters (extended protocol): bound by the HMAC, stored only as {@link shownParams}. */
  bound?: BoundParams;
  /**
   * The columns of the tables an INSERT without a column list in it writes (the Postgres proxy's catalog): its shown
   * text redacts their password columns' values, or every value of a table not known (redact-by-tokens.ts TableColumns).
   */
  columnsOf?: TableColumns['columnsOf'];
  reason?: string;
  rule?: string;
  settings: { groups: string[]; subjects: string[]; minApprovals: number; expiresMs: number; windowMs: number };
}

/**
 * What an approval binds beyond a statement's text: an extended-protocol statement's bind parameters and the type
 * OIDs its Parse declared for them, and the schemas the session resolves unqualified names in (`searchPath`).
 */
export interface BoundParams {
  params: readonly BindParam[];
  types?: readonly number[];
  searchPath?: readonly string[];
}

/**
 * HMAC-SHA-256 hex of what an approval binds under `key`: the statement text's UTF-8 bytes, or, when it
 * has bind parameters, the text with every parameter's format and exact value and the declared types (an
 * approval of `DELETE FROM t WHERE id = $1` with 7 must not run it with 8), and, when given, the search_path
 * (an approval of `SELECT f()` under `public` must not run it under `scratch, public`, where `scratch.f` may be
 * anything). The bound forms start with a NUL byte, which no Postgres statement text can hold, so they never
 * equal a plain text's HMAC, nor each other (v1: parameters; v2: with the search_path).
 */
export function statementHmac(key: Buffer, sql: string, bound?: BoundParams): string {
  const h = createHmac('sha256', key);
  const params = bound?.params.map((p) => (p === null ? null : p.format === 'text' ? ['t', p.value] : ['b', Buffer.from(p.value).toString('hex')])) ?? [];
  if (bound?.searchPath) return h.update(`\0pcigate-bound-v2\0${JSON.stringify([sql, params, bound.types ?? [], bound.searchPath])}`, 'utf8').digest('hex');
  if (params.length === 0) return h.update(sql, 'utf8').digest('hex');
  return h.update(`\0pcigate-bound-v1\0${JSON.stringify([sql, params, bound?.types ?? []])}`, 'utf8').digest('hex');
}

/**
 * A bound search_path as the approver sees it: the path, or, when pcigate cannot know it for certain (a SET LOCAL,
 * a SET in a transaction block, a RESET, the server's own path: PolicySession.approvalPath), that, and every schema
 * the statement's unqualified names may resolve in.
 */
export function shownPath(path: readonly string[]): string {
  if (path[0] !== UNCERTAIN_PATH) return path.join(', ');
  return `not known for certain (the session's SET LOCAL, a SET in a transaction, a RESET, or the server's own path); names may resolve in: ${path.slice(1).join(', ')}`;
}

/** The seal of a stored request: an HMAC of its JSON without the seal, under the data home's approval key. */
export function sealOf(key: Buffer, req: ApprovalRequest): string {
  const { seal: _seal, ...rest } = req;
  return createHmac('sha256', key).update(`pcigate-approval-seal-v1\0${JSON.stringify(rest)}`, 'utf8').digest('hex');
}

/** At most this many characters of one parameter are shown; the HMAC binds the whole value. */
const MAX_SHOWN_PARAM = 1024;

/**
 * Bind parameters as an approver sees them and the store keeps them: text PAN-masked (cut at 1024
 * characters with the length said); binary in the text form of its declared type when that is a common
 * scalar, else only its length (hex would show an int8 card number in clear); all withheld when they may be a
 * secret, as in the statement's record (paramsMayBeSecret: a password's name, a key's function, an INSERT without a
 * column list, an EXECUTE).
 */
export function shownParams(sql: string, bound: BoundParams, mask: (text: string) => string = maskText): Array<string | null> {
  const withhold = paramsMayBeSecret(sql) || paramNamesSecret(bound.params);
  return bound.params.map((p, i) => {
    if (p === null) return null;
    if (withhold) return '[redacted]';
    const text = p.format === 'text' ? p.value : bound.types?.[i] ? renderBinaryValue(bound.types[i]!, Buffer.from(p.value)) : undefined;
    if (text === undefined) return `[binary, ${p.format === 'binary' ? p.value.length : 0} bytes]`;
    // (read as the record reads it, sql-record.ts textParam: a URL's password, a token or HTTP credential, a private key)
    const masked = mask(valueSecretsRedacted(text).slice(0, MAX_SHOWN_PARAM + 128)).slice(0, MAX_SHOWN_PARAM);
    return text.length > MAX_SHOWN_PARAM ? `${masked}…[${text.length} chars]` : masked;
  });
}

/**
 * Redacts secrets (a PASSWORD clause's literal in any spelling, a connection string's or a URL's password: the
 * same as the statement's `pg.query` record, redact-statement-secrets.ts) and masks PAN (src/mask) before text is
 * stored or shown: the request file, its `approval.*` records, `pcigate approvals` and `policy explain`.
 */
export function safeStatementText(sql: string, mask: (text: string) => string = maskText, tables?: TableColumns): string {
  return mask(redactStatementSecrets(sql, '***', tables));
}

const ID_RE = /^A-[a-z2-7]{10}$/;

/**
 * The kind of request an approval of `sql` on `connection` must be to be used for it: a session approval binds
 * `CONNECT <connection>` (requireSessionApproval in pg-policy-hooks.ts), and the HMAC binds only the text. A held
 * SSH command (or statement) spelled `CONNECT <connection>` is filed, shown and approved as a statement, and must
 * not open a session: so that text asks for a session approval and only a `session` request answers it (the
 * statement-kind request is then never used, fail closed); every other text only a `statement` request.
 */
function kindFor(connection: string, sql: string, bound?: BoundParams): ApprovalRequest['kind'] {
  return !bound?.params.length && sql === `CONNECT ${connection}` ? 'session' : 'statement';
}

/**
 * How long a one-run approval given in the last moments before its request's expiry stays usable: the
 * waiting statement wakes within a second of the decision and uses it at once.
 */
const LATE_APPROVAL_GRACE_MS = 60_000;

/**
 * Until when an approved request may be used: a window's end, or for one run its request's expiry (at least
 * a minute after the approval). An approval nobody used in time expires instead of waiting for ever for the
 * requester to send the statement again.
 */
export function usableUntil(req: ApprovalRequest): number {
  const at = req.approved_ms ?? 0;
  return req.window_ms > 0 ? at + req.window_ms : Math.max(req.expires_ms, at + LATE_APPROVAL_GRACE_MS);
}

function newId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  return `A-${[...randomBytes(10)].map((b) => alphabet[b & 31]).join('')}`;
}

function person(i: PolicyIdentity): ApprovalPerson {
  return i.email ? { sub: i.sub, email: i.email, via: i.via } : { sub: i.sub, via: i.via };
}

function actor(i: ApprovalPerson & { groups?: string[] }): Actor {
  const via = (['oidc', 'workload', 'local', 'system'] as const).find((v) => v === i.via) ?? 'system';
  return { sub: i.sub, ...(i.email ? { email: i.email } : {}), ...(i.groups ? { groups: i.groups } : {}), via };
}

/** pcigate itself, as the actor of what no person did (an expiry, a tampered file found). */
const SYSTEM: ApprovalPerson = { sub: 'pcigate', via: 'system' };

/**
 * The `approval.tamper` findings this process has recorded (by data home, finding and file content): a refused
 * file is met again on every list, poll and held statement, and is recorded once, not at each meeting.
 */
const recordedTamper = new Set<string>();
const RECORDED_TAMPER_MAX = 10_000;

// The listener is removed when the timer fires: a long wait polls many times on one signal, and
// listeners left behind pile up (Node warns about a leak on stderr after 10).
const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve) => {
  const done = () => { clearTimeout(t); signal?.removeEventListener('abort', done); resolve(); };
  const t = setTimeout(done, ms);
  signal?.addEventListener('abort', done, { once: true });
});

/**
 * The store as pcigate's commands and brokers build it: this process's OS account (separation of duties) and
 * the deployment's PAN networks (`masking.networks`), so no caller can forget either.
 */
export function approvalStoreFor(ctx: { fs: Fs; clock: Clock; user: OsAccount }, o: { home: string; sink: AuditSink; drainOutbox: boolean; networks: 'major' | 'any_luhn' }): ApprovalStore {
  return new ApprovalStore({ fs: ctx.fs, clock: ctx.clock, home: o.home, sink: o.sink, drainOutbox: o.drainOutbox, account: ctx.user, anyLuhn: o.networks === 'any_luhn' });
}

export class ApprovalStore {
  readonly dir: string;

  /**
   * `drainOutbox`: this store's sink is the audit log itself (the broker's), so approval records that
   * other processes parked in the outbox (audit-outbox.ts) are moved into it whenever requests are read.
   */
  /**
   * `account`: the OS account this process runs as (ctx.user), for separation of duties across aliases.
   * `anyLuhn`: the deployment masks any Luhn-valid number (`masking.networks: any_luhn`), so the text the store
   * keeps and records (statement, parameters, reasons) is masked that way too, as pg.query records are.
   */
  constructor(private readonly deps: { fs: Fs; clock: Clock; home: string; sink: AuditSink; drainOutbox?: boolean; account?: OsAccount; anyLuhn?: boolean }) {
    this.dir = path.join(deps.home, 'approvals');
    const masker = deps.anyLuhn ? new PanMasker({ anyLuhn: true }) : undefined;
    this.mask = masker ? (text) => masker.maskText(text) : maskText;
  }

  /** PAN masking of the text the store keeps and records, by the deployment's networks. */
  private readonly mask: (text: string) => string;

  private key: Promise<Buffer> | undefined;

  /**
   * The data home's approval key, made on first use (32 random bytes, 0600): every process on the home shares it.
   * A key group or others may read or write is refused (PolicyError), as a `file:` secret is.
   */
  private bindingKey(): Promise<Buffer> {
    this.key ??= (async () => {
      await this.ensureDir();
      const file = path.join(this.dir, '.key');
      try {
        const fh = await this.deps.fs.open(file, 'wx', 0o600);
        try { await fh.writeFile(randomBytes(32)); await fh.sync(); } finally { await fh.close(); }
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      // Checked on the opened file (fstat), so a swap between the check and the read cannot slip through. Whoever
      // can read the key can seal a request file as approved, or write another statement's hmac into one.
      const fh = await this.deps.fs.open(file, 'r');
      try {
        const st = await fh.stat();
        if (!st.isFile()) throw new PolicyError(`${file} is not a regular file; refusing to use it as the approval key`);
        if ((st.mode & 0o077) !== 0) {
          const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
          throw new PolicyError(`the approval key ${file} is readable or writable by group or others (mode ${mode}); refusing to use it: anyone who can read it can forge an approved request`, {
            hint: `Restrict it to its owner (chmod 600 ${file}); if others may have read it, remove it: requests sealed with it are then refused and must be filed again`,
          });
        }
        const key = await fh.readFile();
        if (key.length !== 32) throw new PolicyError(`${file} is not an approval key (${key.length} bytes, expected 32)`);
        return key;
      } finally {
        await fh.close();
      }
    })();
    this.key.catch(() => { this.key = undefined; });
    return this.key;
  }

  /** What an approval of `sql` (with its bind parameters, if any) binds to (ApprovalRequest.hmac). */
  async binding(sql: string, bound?: BoundParams): Promise<string> {
    return statementHmac(await this.bindingKey(), sql, bound);
  }

  private file(id: string): string {
    if (!ID_RE.test(id)) throw new ApprovalNotFound(`no approval request ${JSON.stringify(id)} (ids look like A-abcdefgh23)`);
    return path.join(this.dir, `${id}.json`);
  }

  private async ensureDir(): Promise<void> {
    await this.deps.fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
  }

  private async read(id: string): Promise<ApprovalRequest> {
    let req: ApprovalRequest;
    let text: string;
    try {
      text = await this.deps.fs.readFile(this.file(id), 'utf8');
      req = JSON.parse(text) as ApprovalRequest;
    } catch (e) {
      if (e instanceof ApprovalNotFound) throw e;
      throw new ApprovalNotFound(`no approval request ${id}`, { cause: e });
    }
    // The seal covers the id inside, not the file's name: a sealed file copied or renamed to another id would be
    // a second, unused copy of the same approval (decided and used as that other id).
    if (req?.id !== id) {
      const holds = typeof req?.id === 'string' && ID_RE.test(req.id) ? req.id : undefined;
      const inside = holds ? `request ${holds}` : 'another request';
      // Nothing else of an unchecked file goes into the log: only its name and the id it holds, if it is one.
      await this.recordTamper(`name\0${id}\0${createHash('sha256').update(text).digest('hex')}`, id, undefined, {
        finding: 'name_mismatch', file: `approvals/${id}.json`, ...(holds ? { holds } : {}),
      });
      throw new ApprovalConflict(`approval request file ${id}.json holds ${inside}, not ${id}: it was renamed or copied outside pcigate; it cannot be decided or used`);
    }
    // Fail closed: a file the store did not write as it stands is no request at all, whatever it says.
    if (typeof req.seal !== 'string' || req.seal !== sealOf(await this.bindingKey(), req)) {
      // Nothing of the unchecked content goes into the log (it could say anything, a PAN included).
      await this.recordTamper(`seal\0${id}\0${createHash('sha256').update(text).digest('hex')}`, id, undefined, {
        finding: 'seal_mismatch', file: `approvals/${id}.json`,
      });
      throw new ApprovalConflict(`approval request ${id} was changed outside pcigate (its seal does not match ${path.join(this.dir, '.key')}); it cannot be decided or used`);
    }
    return req;
  }

  /** The request's file content, sealed. */
  private async sealed(req: ApprovalRequest): Promise<string> {
    const { seal: _seal, ...rest } = req;
    return `${JSON.stringify({ ...rest, seal: sealOf(await this.bindingKey(), rest) }, null, 2)}\n`;
  }

  private event(type: string, req: ApprovalRequest, who: ApprovalPerson & { groups?: string[] }, outcome: 'success' | 'failure' | 'denied' | 'pending', extra: Record<string, unknown> = {}, more: { client?: string; session?: string } = {}) {
    const account = this.deps.account;
    return this.deps.sink.append({
      type,
      actor: actor(who),
      ...(account && who.via !== 'system' ? { account: { kind: 'os' as const, name: account.name } } : {}),
      ...(more.client ? { src: { client: more.client } } : {}),
      target: { conn: req.connection },
      outcome,
      ...(more.session ?? req.session ? { session: more.session ?? req.session } : {}),
      detail: { id: req.id, kind: req.kind, hmac: req.hmac, sql: req.sql, ...(req.params ? { params: req.params } : {}), ...(req.search_path !== undefined ? { search_path: req.search_path } : {}), state: req.state, ...(req.reason ? { reason: req.reason } : {}), ...extra },
    });
  }

  /**
   * Records `approval.tamper` (outcome failure, actor pcigate): a request file refused because it was handled
   * outside pcigate — its name is not the id it holds, or its state is behind what the log records for it (an
   * old copy put back). Once per finding in this process (`key`: the finding and the file's content). A record
   * that cannot be written is tried again at the next meeting; the file is refused either way.
   */
  private async recordTamper(key: string, id: string, conn: string | undefined, detail: Record<string, unknown>): Promise<void> {
    const k = `${this.dir}\0${key}`;
    if (recordedTamper.has(k)) return;
    if (recordedTamper.size >= RECORDED_TAMPER_MAX) recordedTamper.clear();
    recordedTamper.add(k); // before the append: a concurrent meeting of the same file does not record it twice
    try {
      // No detail.state: approval-history.ts reads the furthest detail.state of a request's approval.* records.
      await this.deps.sink.append({ type: 'approval.tamper', actor: actor(SYSTEM), ...(conn ? { target: { conn } } : {}), outcome: 'failure', detail: { id, ...detail } });
    } catch {
      recordedTamper.delete(k);
    }
  }

  /** {@link behindLog}, recording a file found behind the log (`approval.tamper`, finding `behind_log`). */
  private async behindLogRecorded(req: ApprovalRequest): Promise<LoggedState | undefined> {
    const logged = await this.behindLog(req);
    if (logged) {
      await this.recordTamper(`behind\0${req.id}\0${req.seal ?? ''}\0${logged.seq}`, req.id, req.connection, {
        finding: 'behind_log', file: `approvals/${req.id}.json`, file_state: req.state, logged_state: logged.state, logged_type: logged.type, logged_seq: logged.seq,
      });
    }
    return logged;
  }

  /**
   * Runs a state transition under the request's lock: `fn` returns the new request and the audit event
   * to write; the event is appended (durably) before the file is replaced. With `drainOutbox`, the outbox
   * is drained after the file is read and before the event: another process's transition put its record in
   * the outbox before it replaced the file, so the record of the state read here (an `approval.approve`)
   * always comes before this one (`approval.use`). A drain in get() alone can run just before that record
   * arrives and the file changes: the use was then logged and the approval left in the outbox.
   * Transitions are forward-only: a file whose state is behind what the log records for it ({@link behindLog})
   * is refused, so a copied-back file cannot re-arm a used, denied or expired approval.
   */
  private async transition(id: string, fn: (req: ApprovalRequest) => { next: ApprovalRequest; record: () => Promise<unknown> }): Promise<ApprovalRequest> {
    const file = this.file(id);
    return withFileLock(this.deps.fs, `${file}.lock`, async () => {
      const req = await this.read(id);
      const { next, record } = fn(req);
      if (this.deps.drainOutbox) await drainOutbox(this.deps.fs, this.deps.home, this.deps.sink);
      const logged = await this.behindLogRecorded(req);
      if (logged) {
        throw new ApprovalConflict(`request ${id} is ${logged.state} in the audit log (${logged.type}, seq ${logged.seq}) but its file says ${req.state}: `
          + 'an older copy of the file was put back (or a transition stopped between its record and its file); it cannot be decided or used');
      }
      await record();
      await writeFileAtomic(this.deps.fs, file, await this.sealed(next));
      return next;
    });
  }

  /** Files a request (state pending) and records `approval.request`. */
  async request(r: NewRequest): Promise<ApprovalRequest> {
    await this.ensureDir();
    const now = this.deps.clock.now();
    const req: ApprovalRequest = {
      v: 1, id: newId(), kind: r.kind ?? 'statement', state: 'pending', connection: r.connection,
      requester: person(r.requester), sql: safeStatementText(r.shown ?? r.sql, this.mask, r.columnsOf ? { columnsOf: r.columnsOf, needed: false } : undefined), hmac: await this.binding(r.sql, r.bound),
      ...(r.bound?.params.length ? { params: shownParams(r.sql, r.bound, this.mask) } : {}),
      ...(r.bound?.searchPath ? { search_path: this.mask(shownPath(r.bound.searchPath)) } : {}),
      created_ms: now, expires_ms: now + r.settings.expiresMs, min_approvals: r.settings.minApprovals,
      approver_groups: r.settings.groups, approver_subjects: r.settings.subjects, window_ms: r.settings.windowMs,
      approvals: [], uses: 0,
      ...(this.deps.account ? { requester_os: { name: this.deps.account.name, uid: this.deps.account.uid } } : {}),
      ...(r.session ? { session: r.session } : {}), ...(r.reason ? { reason: this.mask(r.reason) } : {}), ...(r.rule ? { rule: r.rule } : {}),
    };
    const { seq } = await this.event('approval.request', req, { ...req.requester, groups: r.requester.groups ?? [] }, 'pending', { rule: r.rule, expires_ms: req.expires_ms });
    const filed: ApprovalRequest = seq >= 0 ? { ...req, log_seq: seq } : req;
    const fh = await this.deps.fs.open(this.file(req.id), 'wx', 0o600);
    try { await fh.writeFile(await this.sealed(filed)); await fh.sync(); } finally { await fh.close(); }
    return filed;
  }

  /**
   * The request as stored, with a pending request past its expiry, and an approved one past the time it
   * could be used ({@link usableUntil}), transitioned to expired.
   */
  async get(id: string): Promise<ApprovalRequest> {
    if (this.deps.drainOutbox) await drainOutbox(this.deps.fs, this.deps.home, this.deps.sink);
    const req = await this.read(id);
    // A decision made meanwhile by another process (`approvals deny` while this one held the log) put its record in the
    // outbox before it replaced the file: drained again once the file shows it, so that the decision is in the log
    // before what the caller records of it (a refused command's ssh.exec, and then the log's close, which drains
    // nothing: the deny was left in the outbox when the first drain ran just before it arrived).
    if (this.deps.drainOutbox && req.state !== 'pending') await drainOutbox(this.deps.fs, this.deps.home, this.deps.sink);
    if (this.pastDue(req)) return this.expire(id);
    return req;
  }

  private pastDue(req: ApprovalRequest): boolean {
    const now = this.deps.clock.now();
    return (req.state === 'pending' && now >= req.expires_ms) || (req.state === 'approved' && now >= usableUntil(req));
  }

  /** All requests, newest first; pending ones past expiry are expired (and recorded) on the way. */
  async list(): Promise<ApprovalRequest[]> {
    let names: string[];
    try { names = await this.deps.fs.readdir(this.dir); } catch { return []; }
    const out: ApprovalRequest[] = [];
    for (const n of names) {
      const m = /^(A-[a-z2-7]{10})\.json$/.exec(n);
      if (!m) continue;
      out.push(await this.get(m[1]!).catch(() => undefined as unknown as ApprovalRequest));
    }
    return out.filter(Boolean).sort((a, b) => b.created_ms - a.created_ms);
  }

  private async expire(id: string): Promise<ApprovalRequest> {
    return this.transition(id, (req) => {
      if (!this.pastDue(req)) return { next: req, record: async () => undefined };
      const next: ApprovalRequest = { ...req, state: 'expired' };
      // `was: approved`: an approval that was not used (or whose window closed) in time.
      return { next, record: () => this.event('approval.expire', next, SYSTEM, 'failure', { was: req.state, uses: req.uses }) };
    });
  }

  private eligible(req: ApprovalRequest, approver: PolicyIdentity, verb: 'approve' | 'deny'): void {
    const refusal = separationRefusal(req, approver, this.deps.account, verb);
    if (refusal) throw new ApprovalForbidden(refusal);
    const groups = new Set(approver.groups ?? []);
    const inGroup = req.approver_groups.some((g) => groups.has(g));
    const listed = req.approver_subjects.includes(approver.sub) || (approver.email !== undefined && req.approver_subjects.includes(approver.email));
    if (!inGroup && !listed) {
      throw new ApprovalForbidden(`${approver.sub} is not an approver for ${req.connection} (approver groups: ${req.approver_groups.join(', ') || 'none'})`);
    }
  }

  /**
   * When `approver` may not decide `req` ({@link eligible}): a transition that changes nothing and records
   * the refused attempt (`approval.refuse`, outcome denied: PCI DSS 10.2.1.4), then throws the refusal.
   */
  private refusal(req: ApprovalRequest, approver: PolicyIdentity, verb: 'approve' | 'deny'): { next: ApprovalRequest; record: () => Promise<never> } | undefined {
    try {
      this.eligible(req, approver, verb);
      return undefined;
    } catch (e) {
      if (!(e instanceof ApprovalForbidden)) throw e;
      return {
        next: req,
        record: async () => {
          await this.event('approval.refuse', req, { ...person(approver), groups: approver.groups ?? [] }, 'denied', { verb, refusal: this.mask(e.message) }, { client: `pcigate ${verb}` });
          throw e;
        },
      };
    }
  }

  private pendingOrThrow(req: ApprovalRequest): void {
    if (req.state === 'pending' && this.deps.clock.now() >= req.expires_ms) throw new ApprovalConflict(`request ${req.id} has expired`);
    if (req.state !== 'pending') throw new ApprovalConflict(`request ${req.id} is already ${req.state}`);
  }

  /**
   * Adds `approver`'s approval; the request becomes approved once `min_approvals` distinct people have
   * approved. Throws ApprovalForbidden (separation of duties) or ApprovalConflict (not pending, or this
   * person already approved).
   */
  async approve(id: string, approver: PolicyIdentity, reason?: string): Promise<ApprovalRequest> {
    return this.transition(id, (req) => {
      this.pendingOrThrow(req);
      const refused = this.refusal(req, approver, 'approve');
      if (refused) return refused;
      const me = person(approver);
      if (req.approvals.some((a) => samePerson(a, me))) throw new ApprovalConflict(`${approver.sub} has already approved ${req.id}; one person counts once`);
      const now = this.deps.clock.now();
      const os = this.deps.account ? { os: { name: this.deps.account.name, uid: this.deps.account.uid } } : {};
      const approvals = [...req.approvals, { ...me, at_ms: now, ...(reason ? { reason: this.mask(reason) } : {}), ...os }];
      const done = approvals.length >= req.min_approvals;
      const next: ApprovalRequest = { ...req, approvals, ...(done ? { state: 'approved', approved_ms: now } : {}) };
      return { next, record: () => this.event('approval.approve', next, { ...me, groups: approver.groups ?? [] }, 'success', { approvals: approvals.length, min_approvals: req.min_approvals, ...(reason ? { approver_reason: this.mask(reason) } : {}) }) };
    });
  }

  /** Denies a pending request; one eligible approver's denial is final. A reason is required. */
  async deny(id: string, approver: PolicyIdentity, reason: string): Promise<ApprovalRequest> {
    if (!reason.trim()) throw new UsageError('a denial needs a reason');
    return this.transition(id, (req) => {
      this.pendingOrThrow(req);
      const refused = this.refusal(req, approver, 'deny');
      if (refused) return refused;
      const next: ApprovalRequest = { ...req, state: 'denied', denial: { ...person(approver), at_ms: this.deps.clock.now(), reason: this.mask(reason) } };
      return { next, record: () => this.event('approval.deny', next, { ...person(approver), groups: approver.groups ?? [] }, 'denied', { approver_reason: this.mask(reason) }) };
    });
  }

  /**
   * Uses an approval to run `sql`: the request must be approved, for this requester and connection, and
   * for exactly this statement (same HMAC). Without a window it is used up; with one it stays usable
   * until the window closes. Throws ApprovalConflict otherwise. `session`: the session the statement runs
   * in, which `approval.use` is filed under (the request's own session, where it was held, is then
   * `detail.requested_in` when it differs: a re-run `pcigate exec`, a reconnect, a window's later runs).
   */
  async consume(id: string, requester: PolicyIdentity, connection: string, sql: string, bound?: BoundParams, session?: string): Promise<ApprovalRequest> {
    const sha = await this.binding(sql, bound);
    return this.transition(id, (req) => {
      const now = this.deps.clock.now();
      if (req.state !== 'approved') throw new ApprovalConflict(`request ${id} is ${req.state}, not approved`);
      if (req.hmac !== sha) throw new ApprovalConflict(`request ${id} approved a different statement`);
      const want = kindFor(connection, sql, bound);
      if (req.kind !== want) throw new ApprovalConflict(`request ${id} approved a ${req.kind}, not a ${want}`);
      if (!samePerson(req.requester, person(requester)) || req.connection !== connection) throw new ApprovalConflict(`request ${id} was approved for another requester or connection`);
      if (now >= usableUntil(req)) throw new ApprovalConflict(req.window_ms > 0 ? `the approval window of ${id} has closed` : `approval ${id} was not used in time and has expired`);
      const next: ApprovalRequest = { ...req, uses: req.uses + 1, ...(req.window_ms > 0 ? {} : { state: 'used' }) };
      const elsewhere = session !== undefined && req.session !== undefined && session !== req.session ? { requested_in: req.session } : {};
      return { next, record: () => this.event('approval.use', next, person(requester), 'success', { uses: next.uses, ...elsewhere }, session ? { session } : {}) };
    });
  }

  /** An approved, still usable request covering exactly `sql` for this requester and connection. */
  async findUsable(requester: PolicyIdentity, connection: string, sql: string, bound?: BoundParams): Promise<ApprovalRequest | undefined> {
    const sha = await this.binding(sql, bound);
    const now = this.deps.clock.now();
    const me = person(requester);
    const kind = kindFor(connection, sql, bound);
    const candidates = (await this.list()).filter((r) => r.state === 'approved' && r.hmac === sha && r.kind === kind && r.connection === connection && samePerson(r.requester, me)
      && (r.window_ms > 0 || r.uses === 0) && now < usableUntil(r));
    for (const r of candidates) if (!(await this.behindLogRecorded(r))) return r;
    return undefined;
  }

  /**
   * What the audit log records for `req` when that is further along than its file (approval-history.ts): an
   * old copy of the file put back, say an approved one after its one run. A one-run approval's `approval.use`
   * is always written to the log itself (only the log's owner, the broker, uses approvals). Records another
   * process parked in the outbox count once drained (a transition drains first).
   */
  private async behindLog(req: ApprovalRequest): Promise<LoggedState | undefined> {
    const logged = await loggedState(this.deps.fs, this.deps.home, req.id, req.log_seq ?? 0);
    return logged && STATE_RANK[logged.state] > STATE_RANK[req.state] ? logged : undefined;
  }

  /**
   * Waits until request `id` leaves `pending` (approved, denied or expired), `timeoutMs` passes, or
   * `signal` aborts; returns the request as it then stands (still `pending` on timeout). Wakes on
   * fs.watch events for the approvals directory, with a polling fallback (watchers miss events on some
   * network file systems).
   */
  async waitForDecision(id: string, timeoutMs: number, signal?: AbortSignal, pollMs = 250): Promise<ApprovalRequest> {
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    // An 'abort' listener added after the abort never runs: a session already ended waits for nothing.
    if (signal?.aborted) stop.abort();
    const timer = setTimeout(() => stop.abort(), timeoutMs);
    let wake: (() => void) | undefined;
    const watching = (async () => {
      try {
        for await (const ev of this.deps.fs.watch(this.dir, { signal: stop.signal })) {
          if (ev.filename?.startsWith(id)) wake?.();
        }
      } catch { /* aborted, or watching unsupported: polling covers it */ }
    })();
    try {
      for (;;) {
        const req = await this.get(id);
        if (req.state !== 'pending' || stop.signal.aborted) return req;
        await new Promise<void>((resolve) => {
          wake = resolve;
          void sleep(pollMs, stop.signal).then(resolve);
        });
      }
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      stop.abort();
      await watching;
    }
  }
}

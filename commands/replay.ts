/** `pcigate replay ID`: replay a recorded session, proven against the audit log first (issue 8 items 2–4). */
import path from 'node:path';
import type { CommandSpec } from '../src/cli/command.js';
import { EXIT } from '../src/cli/exit-codes.js';
import { refuseExisting, writeOutput } from '../src/cli/output-file.js';
import { resolveAuditHome } from '../src/config/resolve-home.js';
import { AuditWriteError, UsageError } from '../src/errors.js';
import { auditLogOptionsFromConfig } from '../recorder/index.js';
import { exportFields } from '../src/evidence/exports.js';
import { accessActor, recordAuditAccess } from '../src/sessions/audit-access.js';
import { parseCast } from '../src/replay/asciicast-reader.js';
import { castPage, loadPlayerAssets, transcriptPage } from '../src/replay/html-page.js';
import { parseTranscript, renderStatements, statementViews } from '../src/replay/pg-transcript-view.js';
import { prepareReplay, replayFields } from '../src/replay/prepare-replay.js';
import { describeCheck } from '../src/replay/recording-check.js';
import { printable } from '../src/cli/printable.js';
import { TerminalFilter } from '../src/replay/terminal-filter.js';
import { applyKey, playCast } from '../src/replay/terminal-player.js';
import type { PlayerControl } from '../src/replay/terminal-player.js';

export const spec: CommandSpec = {
  description: [
    'Before anything is shown, each recording of the session is re-hashed and compared with the SHA-256 and',
    'size committed in the audit log: the header says "verified against log record N", or warns loudly that',
    'the recording was changed (--strict: exit 3 instead of playing). Terminal sessions (SSH, exec) play with',
    'their original timing; on a terminal, space pauses, + and - change the speed, q quits. The recording cannot',
    'act on your terminal: only text and display sequences (colours, cursor movement, erasing, the alternate',
    'screen) pass; clipboard writes, title reports, queries the terminal would answer and other control strings',
    'are removed and shown as a marker (docs/log-format.md "Replaying a recording"); --raw writes the recorded',
    'bytes unfiltered, to a file or pipe only. The verdict is repeated after the recording. Postgres sessions',
    'print a transcript: time, statement, decision, outcome, rows and the masked sample rows. --html writes one',
    'self-contained page (player and recording inlined) that opens from disk without a network. Each replay',
    'is recorded in the log as an audit.access record (PCI DSS 10.2.1.3).',
  ].join(' '),
  args: [{ name: 'id', description: 'the session id, or a unique prefix of it (as `pcigate sessions` prints it)', required: true }],
  options: [
    { flags: '--speed <x>', description: 'playback speed factor (default 1)' },
    { flags: '--idle-limit <seconds>', description: 'cap every pause at this many seconds' },
    { flags: '--strict', description: 'exit 3 without playing when a recording does not match the log' },
    { flags: '--html <file>', description: 'write a self-contained HTML page instead of playing; an existing file is not replaced without --force' },
    { flags: '--force', description: 'replace the --html file if it exists' },
    { flags: '--raw', description: 'write the recorded bytes unfiltered, escape sequences and all (not to a terminal)' },
  ],
  examples: [
    ['replay a session at double speed, pauses capped at 2 s', 'pcigate replay 3f2a9c1e --speed 2 --idle-limit 2'],
    ['refuse to show a recording that does not match the log', 'pcigate replay 3f2a9c1e --strict'],
    ['a page to attach to an audit finding', 'pcigate replay 3f2a9c1e --html session.html'],
    ['the exact recorded bytes, for a forensic copy', 'pcigate replay 3f2a9c1e --raw > session.out'],
  ],
  async run(ctx, { args, opts, global, out }) {
    const speed = positive('--speed', opts.speed, 1);
    const idleLimit = positive('--idle-limit', opts.idleLimit, Infinity);
    const htmlFile = typeof opts.html === 'string' ? path.resolve(ctx.cwd, opts.html) : undefined;
    const raw = opts.raw === true;
    if (raw && ctx.stdout.isTTY) throw new UsageError('--raw writes the recording unfiltered and would let it drive this terminal: redirect it to a file or a pipe');
    if (raw && htmlFile) throw new UsageError('--raw and --html cannot be combined');
    const force = opts.force === true;
    if (htmlFile) await refuseExisting(ctx, htmlFile, force);
    const { home, audit, identity } = await resolveAuditHome(ctx, global, out.warn);
    const p = await prepareReplay(ctx.fs, home, args[0]!);
    const s = p.session;
    const refused = !p.verified && opts.strict === true;

    const casts = p.checks.filter((c) => c.kind.startsWith('asciicast') && c.data);
    const transcripts = p.checks.filter((c) => c.kind === 'pg-transcript' && c.data);
    const fields = replayFields(p);
    // The page is built before the access is recorded: the record names the export's path and SHA-256, so a
    // later evidence bundle finds the file and scans it (PCI DSS 3.5.1).
    let page: Buffer | undefined;
    if (htmlFile && !refused) {
      const header = {
        title: `pcigate session ${s.id}`, fields, verified: p.verified,
        verdict: p.checks.map(describeCheck).join('\n'),
      };
      page = Buffer.from(casts.length > 0
        ? castPage(header, casts.map((c) => ({ title: c.path, data: c.data!.toString('utf8') })), await loadPlayerAssets(ctx.fs), { speed, idleLimit })
        : transcriptPage(header, transcripts.flatMap((c) => statementViews(parseTranscript(c.data!.toString('utf8'), printable(c.path)), p.records))), 'utf8');
    }

    const actor = await accessActor(ctx, { identity }, home, out.warn);
    try {
      await recordAuditAccess(ctx, auditLogOptionsFromConfig(home, audit), actor, {
        command: 'replay', ...(htmlFile ? { html: true } : {}), ...(htmlFile && page ? exportFields(htmlFile, page) : {}), shown: !refused,
        recordings: p.checks.map((c) => ({ path: c.path, seq: c.seq, status: c.status })),
      }, s.id);
    } catch (e) {
      // An export that the log does not announce would be invisible to the evidence scan (PCI DSS 3.5.1):
      // the page is not written. Watching on the terminal is only warned about.
      if (page) throw new AuditWriteError(`${htmlFile} was not written: its export could not be recorded in the audit log (${(e as Error).message})`, { cause: e });
      out.warn(`warning: this replay could not be recorded in the audit log (audit.access): ${(e as Error).message}`);
    }

    for (const c of p.checks) if (c.status !== 'verified') out.warn(out.paint('red', describeCheck(c)));
    if (refused) {
      out.warn('not shown: --strict and the recording does not match the audit log');
      return EXIT.verification;
    }

    if (htmlFile && page) {
      await writeOutput(ctx, htmlFile, page, force);
      out.say(`wrote ${htmlFile}`);
      return EXIT.ok;
    }

    // Header values come from the session (a user name, a command line): shown with control characters escaped.
    for (const [k, v0] of fields) {
      const v = printable(v0);
      out.say(`${out.paint('dim', `${k}:`.padEnd(14))}${k === 'verification' && !v.startsWith('verified') ? out.paint('red', v) : v}`);
    }
    out.say('');
    for (const c of transcripts) out.data(renderStatements(statementViews(parseTranscript(c.data!.toString('utf8'), printable(c.path)), p.records)));
    if (casts.length === 0) return EXIT.ok;

    const control: PlayerControl = { speed, paused: false, quit: false };
    const tty = Boolean(ctx.stdout.isTTY);
    const keys = tty && ctx.stdin.isTTY && ctx.stdin.setRawMode ? ctx.stdin : undefined;
    const onKey = (b: Buffer | string) => { for (const ch of b.toString()) applyKey(control, ch); };
    if (keys) { keys.setRawMode!(true); keys.on('data', onKey); keys.resume(); }
    let interrupted = false;
    const onAbort = () => { interrupted = true; applyKey(control, 'q'); };
    ctx.interrupt.addEventListener('abort', onAbort, { once: true });
    try {
      for (const c of casts) {
        // The path is the log's word: a crafted log's may hold escape sequences.
        const shown = printable(c.path);
        const cast = parseCast(c.data!.toString('utf8'), shown);
        const filter = raw ? undefined : new TerminalFilter();
        // Timing is kept on a terminal, or when a speed was asked for; a pipe gets the output at once.
        let r: { quit: boolean };
        try {
          r = await playCast(cast, { write: (d) => ctx.stdout.write(filter ? filter.push(d) : d), control, idleLimit, timed: tty || opts.speed !== undefined });
        } finally {
          // Whatever the recording turned on (alternate screen, hidden cursor, colours) is turned off, also on q.
          if (filter) ctx.stdout.write(filter.reset());
        }
        // After the recording, where its output cannot overwrite it: what was shown, and whether it is proven.
        if (filter && filter.removed.size > 0) {
          out.say(`\n${shown}: removed ${[...filter.removed].map(([k, n]) => `${k}${n > 1 ? ` ×${n}` : ''}`).join(', ')} (sequences that act on the terminal; --raw writes them to a file)`);
        }
        out.say(`${filter && filter.removed.size > 0 ? '' : '\n'}end of ${shown}: ${c.status === 'verified' ? describeCheck(c) : out.paint('red', describeCheck(c))}`);
        if (r.quit) break;
      }
    } finally {
      ctx.interrupt.removeEventListener('abort', onAbort);
      if (keys) { keys.off('data', onKey); keys.setRawMode!(false); keys.pause(); }
    }
    return interrupted ? EXIT.interrupted : EXIT.ok;
  },
};

function positive(flag: string, v: unknown, dflt: number): number {
  if (v === undefined) return dflt;
  const n = typeof v === 'string' ? Number(v) : NaN;
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} expects a positive number, got ${JSON.stringify(v)}`);
  return n;
}

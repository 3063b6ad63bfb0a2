/** `pcigate verify`: prove the audit log offline (docs/log-format.md; issue 2 item 4). */
import path from 'node:path';
import type { CommandSpec } from '../src/cli/command.js';
import type { Ctx } from '../src/cli/ctx.js';
import { EXIT } from '../src/cli/exit-codes.js';
import { resolveAuditHome } from '../src/config/resolve-home.js';
import type { Output } from '../src/cli/output.js';
import { UsageError } from '../src/errors.js';
import { auditLogOptionsFromConfig } from '../recorder/index.js';
import { accessActor, recordAccessEvent } from '../src/sessions/audit-access.js';
import { verifyLog } from '../recorder/verify.js';
import { loadVerifyInput, readVerifyState, writeVerifyState } from '../recorder/verify-load.js';
import { formatVerifyReport } from '../recorder/verify-render.js';
import type { AuditLogOptions } from '../recorder/index.js';
import type { Actor } from '../recorder/types.js';
import type { VerifyReport } from '../recorder/verify-types.js';

export const spec: CommandSpec = {
  description: [
    'Checks, with only the root public key: the hash chain of every record, the RFC 6962 Merkle root of every',
    'signed checkpoint (C2SP signed note, Ed25519), the epoch key certificates back to the root key, and the',
    'SHA-256 and size of committed recordings. With --state it also detects rollback and truncation since an',
    'earlier run. Each problem is named by segment and seq. Exit 0 on PASS or WARN, 3 on FAIL (and on WARN',
    'with --strict). Every run is itself recorded in the log as a verify.run record (PCI DSS 10.2.1.3).',
  ].join(' '),
  options: [
    { flags: '--root-key <file>', description: 'the root public key to trust (default: keys/root.pub of the home)' },
    { flags: '--state <file>', description: 'state of an earlier run: read to detect rollback, updated after a run that does not fail' },
    { flags: '--proof <seq>', description: 'also print the inclusion proof of record SEQ to the newest checkpoint' },
    { flags: '--strict', description: 'treat warnings (unsealed records, time regression) as failure' },
  ],
  examples: [
    ['verify the default data home', 'pcigate verify'],
    ['verify with your own copy of the root key, remembering what was seen', 'pcigate verify --home /var/lib/pcigate --root-key ./root.pub --state ./pcigate-verify.state'],
    ['prove that record 41 is in the log, as JSON', 'pcigate verify --proof 41 --json'],
  ],
  async run(ctx, { opts, global, out }) {
    // Verifying needs no configuration: a broken one only costs the audit settings, with a warning.
    const { home, audit, identity } = await resolveAuditHome(ctx, global, out.warn);
    const proofSeq = parseSeq(opts.proof);
    const rel = (f: unknown) => (typeof f === 'string' ? path.resolve(ctx.cwd, f) : undefined);
    const stateFile = rel(opts.state);
    const rootKeyFile = rel(opts.rootKey);
    const state = stateFile === undefined ? undefined : await readVerifyState(ctx.fs, stateFile);
    const input = await loadVerifyInput(ctx.fs, home, {
      nowMicros: Number(ctx.clock.micros()),
      maxUnsealedMicros: audit.max_unsealed_age * 1000,
      ...(rootKeyFile !== undefined ? { rootKeyFile } : {}),
      ...(state ? { state } : {}),
      ...(proofSeq !== undefined ? { proofSeq } : {}),
    });
    const report = await verifyLog(input);

    let stateSaved = false;
    if (stateFile !== undefined && report.result !== 'fail' && report.state) {
      try {
        await writeVerifyState(ctx.fs, stateFile, report.state);
        stateSaved = true;
      } catch (e) {
        out.warn(`warning: could not write the state file ${stateFile}: ${(e as Error).message}`);
      }
    }
    const actor = await accessActor(ctx, { identity }, home, out.warn);
    const recorded = await recordRun(ctx, auditLogOptionsFromConfig(home, audit), actor, report, stateFile !== undefined, out);

    if (out.json) {
      const { state: _state, ...rest } = report;
      out.printJson({ ...rest, home, recorded, stateSaved });
    } else {
      out.data(formatVerifyReport(report, home).trimEnd());
    }
    if (report.result === 'fail') return EXIT.verification;
    if (report.result === 'warn' && opts.strict === true) return EXIT.verification;
    return EXIT.ok;
  },
};

function parseSeq(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) {
    throw new UsageError(`--proof expects a record seq (a non-negative integer), got ${JSON.stringify(v)}`);
  }
  return Number(v);
}

/**
 * Appends `verify.run` (PCI DSS 10.2.1.3: access to the audit logs is itself logged) after verifying, so the
 * record never influences the result; into the audit outbox while a running broker owns the log. An unwritable
 * home is a warning: the verification result stands.
 */
async function recordRun(ctx: Ctx, options: AuditLogOptions, actor: Actor, report: VerifyReport, withState: boolean, out: Output): Promise<boolean> {
  try {
    await recordAccessEvent(ctx, options, {
      type: 'verify.run',
      actor,
      account: { kind: 'os', name: ctx.user.name },
      target: { kind: 'log' },
      outcome: report.result === 'fail' ? 'failure' : 'success',
      detail: {
        result: report.result, records: report.records, checkpoints: report.checkpoints, epochs: report.epochs,
        problems: report.problemsTotal, root_key: report.rootKeySource, state: withState,
      },
    });
    return true;
  } catch (e) {
    out.warn(`warning: this verification could not be recorded in the audit log (verify.run): ${(e as Error).message}`);
    return false;
  }
}

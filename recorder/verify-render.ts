/**
 * The human summary of a VerifyReport, in the manner of CloudTrail's `validate-logs` and journald's
 * `--verify`: what was checked, one line per problem naming where it is, and a last `RESULT:` line that
 * scripts can grep.
 */
import { printable } from '../src/cli/printable.js';
import type { Problem, VerifyReport } from './verify-types.js';

/** `segment 000000000000.jsonl seq 41: modified — …` and the like. */
export function formatProblem(p: Problem): string {
  const isSegment = p.segment !== null && /^\d{12}\.jsonl$/.test(p.segment);
  const file = p.segment === null ? 'log' : isSegment ? `segment ${p.segment}` : p.segment;
  let where = file;
  if (p.seq !== null) where += ` seq ${p.seq}`;
  else if (p.line !== undefined) where += ` line ${p.line}${p.offset !== undefined ? ` (byte ${p.offset})` : ''}`;
  return `${where}: ${p.kind} — ${p.detail}`;
}

export function formatVerifyReport(r: VerifyReport, home: string): string {
  const out: string[] = [];
  out.push(`Verified the audit log in ${home}`);
  out.push(`  origin:       ${r.origin ?? '(unknown)'}`);
  out.push(`  root key:     ${
    r.rootKeySource === 'user' ? 'from --root-key (independent of the data home)'
      : r.rootKeySource === 'home' ? 'keys/root.pub of the data home (pass your own copy with --root-key for an independent check)'
        : 'none'
  }`);
  out.push(`  segments:     ${r.segments} checked`);
  const range = r.range.lastSeq === null ? '' : `, seq ${r.range.firstSeq} … ${r.range.lastSeq}`;
  const span = r.range.firstTs && r.range.lastTs ? ` (${r.range.firstTs} … ${r.range.lastTs})` : '';
  out.push(`  records:      ${r.records} checked${range}${span}`);
  const nc = r.newestCheckpoint;
  out.push(`  checkpoints:  ${r.checkpoints} checked${nc ? `; the newest valid one covers ${nc.size} records (epoch ${nc.epoch ?? '?'}${nc.time ? `, ${nc.time}` : ''})` : '; none valid'}`);
  const u = r.unsealed;
  out.push(`  unsealed:     ${u
    ? `${u.count} record(s), seq ${u.firstSeq} … ${u.lastSeq}, after the newest valid checkpoint: chained but not signed, so anyone who can write the log could have added, changed or cut them undetected`
    : 'none (every record is covered by a signed checkpoint, apart from checkpoint records themselves)'}`);
  out.push(`  key epochs:   ${r.epochs} certified`);
  out.push(`  problems:     ${r.problemsTotal === 0 ? 'none' : r.problemsTotal}`);
  for (const p of r.problems) out.push(`    ${formatProblem(p)}`);
  if (r.problemsTotal > r.problems.length) out.push(`    … and ${r.problemsTotal - r.problems.length} more (use --json for the first ${r.problems.length})`);
  if (r.proof) {
    if ('error' in r.proof) out.push(`  proof:        seq ${r.proof.seq}: ${r.proof.error}`);
    else {
      out.push(`  proof:        seq ${r.proof.seq} is included in the checkpoint of size ${r.proof.size} (${r.proof.verified ? 'verified' : 'DOES NOT VERIFY'})`);
      out.push(`    leaf  ${r.proof.leaf}`);
      out.push(`    root  ${r.proof.root}`);
      for (const h of r.proof.proof) out.push(`    path  ${h}`);
    }
  }
  out.push(`RESULT: ${r.result.toUpperCase()}`);
  // Every value above may come from the data home an attacker wrote (HOME/origin, a checkpoint's origin, a
  // key name): no control character of theirs reaches the auditor's terminal.
  return `${out.map((l) => printable(l)).join('\n')}\n`;
}

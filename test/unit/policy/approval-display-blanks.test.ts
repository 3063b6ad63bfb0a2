/**
 * What an approver reads is what runs: a long run of blanks is shown as a count, so padding cannot push
 * `; drop table cards` out of sight. Spaces and tabs were counted; a run of other blank characters a
 * terminal shows as nothing (no-break space, the Unicode spaces U+2000…U+200A, ideographic space, the
 * Braille and Hangul fillers) was printed as it came.
 */
import { describe, expect, it } from 'vitest';
import { approvalDetail, displayStatement } from '../../../src/policy/approval-render.js';
import type { ApprovalRequest } from '../../../src/policy/approvals.js';

describe('displayStatement', () => {
  it.each([
    ['no-break space', '\u00a0'],
    ['em space', '\u2003'],
    ['ideographic space', '\u3000'],
    ['braille blank', '\u2800'],
    ['hangul filler', '\u3164'],
  ])('counts a long run of %s', (_name, blank) => {
    const shown = displayStatement(`select 1${blank.repeat(500)}; drop table cards`);
    expect(shown).toBe('select 1 ⟨500 blanks⟩ ; drop table cards');
  });

  it('leaves a short run, and single blanks, as they are', () => {
    expect(displayStatement('select\u00a01,\u3000 2')).toBe('select\u00a01,\u3000 2');
  });
});

describe('approvalDetail', () => {
  it('labels the requester\'s reason as theirs (an approver giving --reason read it as their own)', () => {
    const r = {
      v: 1, id: 'A-aaaaaaaaaa', kind: 'statement', state: 'pending', connection: 'payments', requester: { sub: 'dana', via: 'local' },
      sql: 'DELETE FROM transactions', hmac: 'x', reason: 'clear test transactions', created_ms: 0, expires_ms: 1, min_approvals: 1,
      approvals: [], approvers: { groups: [], subjects: [] }, window_ms: 0,
    } as unknown as ApprovalRequest;
    expect(approvalDetail(r)).toContain("requester's reason: clear test transactions");
  });
});

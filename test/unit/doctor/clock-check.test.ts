/**
 * `pcigate doctor`'s clock check (PCI DSS 10.6) against a data home written by the real recorder: a clock
 * outside the plausible range and a clock behind the newest signed checkpoint (records would go back in
 * time) are ✗ with a fix hint; a clock at or after the newest checkpoint is ✓.
 */
import { describe, expect, it } from 'vitest';
import { openAuditLog } from '../../../recorder/index.js';
import { checkClock } from '../../../src/doctor/local-checks.js';
import { tempDir } from '../../harness/cli.js';
import { fixedClock, testCtx } from '../../harness/test-ctx.js';

const WRITTEN = Date.UTC(2026, 10, 22, 12, 0, 0);

/** A data home whose log (and checkpoints) were written at WRITTEN. */
async function homeWrittenAt(): Promise<string> {
  const home = tempDir('pcigate-doctor-clock-');
  const log = await openAuditLog(testCtx({ clock: fixedClock(WRITTEN) }), { home, createIfMissing: true });
  await log.append({ type: 'verify.run', outcome: 'success', detail: {} });
  await log.close();
  return home;
}

const at = (ms: number) => testCtx({ clock: fixedClock(ms) });

describe('doctor: clock', () => {
  it('is ✓ at or after the newest checkpoint', async () => {
    const home = await homeWrittenAt();
    expect(await checkClock(at(WRITTEN), home)).toMatchObject({ id: 'clock', status: 'ok' });
    expect(await checkClock(at(WRITTEN + 86_400_000), home)).toMatchObject({ status: 'ok' });
  });

  it('is ✗ when the clock is behind the newest signed checkpoint, with a fix hint', async () => {
    const home = await homeWrittenAt();
    const r = await checkClock(at(WRITTEN - 3_600_000), home);
    expect(r).toMatchObject({ id: 'clock', status: 'fail' });
    expect(r.message).toContain('is behind the newest checkpoint (2026-11-22T12:00:00');
    expect(r.hint).toContain('timedatectl');
  });

  it('is ✗ for a clock outside the plausible range, even without a log', async () => {
    const r = await checkClock(at(Date.UTC(2019, 0, 1)), tempDir('pcigate-doctor-clock-'));
    expect(r).toMatchObject({ id: 'clock', status: 'fail' });
    expect(r.message).toContain('system clock says 2019-01-01');
  });
});

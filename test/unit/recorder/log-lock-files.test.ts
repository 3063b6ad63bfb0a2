/**
 * log/.lock is made O_EXCL as a regular file holding the owner's pid. Something else planted at its name (by
 * anyone who can write the data home) must not stop the log's next opener — the broker, or `pcigate verify`
 * recording its verify.run — for good: a FIFO is not waited on, and, holding no pid, is taken over.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, constants as fsConstants, openSync, writeSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openAuditLog } from '../../../recorder/index.js';
import { testCtx } from '../../harness/test-ctx.js';
import { readLog, tmpHome } from './log-helpers.js';

describe('log/.lock that is not a lock file', () => {
  it('a FIFO there is taken over without waiting for a writer, and the log opens and appends', async () => {
    const home = tmpHome();
    const ctx = testCtx();
    const first = await openAuditLog(ctx, { home, createIfMissing: { origin: 'test.example/pcigate' }, idleMs: 60_000 });
    await first.close();
    const lock = path.join(home, 'log', '.lock');
    execFileSync('mkfifo', [lock]);
    // Without the check the open waits in the thread pool for a writer. This one ends the wait by writing a live
    // pid (this process's), which an opener that read the FIFO takes for the lock's owner and refuses: so a
    // regression fails on the open instead of hanging the test run. An opener that never reads it is unaffected.
    const unstick = setTimeout(() => {
      try {
        const fd = openSync(lock, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
        try { writeSync(fd, `${process.pid}\n`); } finally { closeSync(fd); }
      } catch { /* no reader, or no FIFO any more */ }
    }, 1500);
    try {
      const log = await openAuditLog(ctx, { home, idleMs: 60_000 });
      await log.append({ type: 'pg.query', session: 's-1', outcome: 'success', detail: { sql: 'select 1' } });
      await log.close();
    } finally {
      clearTimeout(unstick);
    }
    expect(readLog(home).some((r) => r.rec.type === 'pg.query')).toBe(true);
    await expect(fsp.stat(lock)).rejects.toMatchObject({ code: 'ENOENT' });
    await fsp.rm(home, { recursive: true, force: true });
  }, 10_000);
});

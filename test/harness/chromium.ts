/**
 * Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe: JSON messages
 * separated by NUL on fds 3 and 4), so a test can wait in real time for a condition inside the page before
 * reading its DOM. `--dump-dom` with `--virtual-time-budget` cannot: virtual time races ahead of frame
 * production, so a page that renders in requestAnimationFrame (the asciinema player) is often dumped before
 * it has painted, more often on a loaded machine.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';

/** The Chromium binary, when installed (.ci/run installs it). */
export const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

export interface Rendered {
  /** `document.documentElement.outerHTML` once `until` held (or at the timeout). */
  dom: string;
  /** Whether `until` became true before the timeout. */
  reached: boolean;
}

/**
 * Opens `url` in a fresh headless Chromium (profile in `profileDir`), polls the JavaScript expression
 * `until` every 50 ms for up to `timeoutMs` of real time, waits `settleMs` more, then returns the DOM.
 * `extraArgs` are passed to Chromium (e.g. `--log-net-log=FILE`).
 */
export async function renderInChromium(url: string, opts: { until: string; profileDir: string; timeoutMs?: number; settleMs?: number; extraArgs?: string[] }): Promise<Rendered> {
  const child = spawn(CHROMIUM!, [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run',
    `--user-data-dir=${opts.profileDir}`, '--remote-debugging-pipe', ...(opts.extraArgs ?? []), 'about:blank',
  ], { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'] });
  const toBrowser = child.stdio[3] as Writable;
  const fromBrowser = child.stdio[4] as Readable;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  let buf = Buffer.alloc(0);
  fromBrowser.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    for (let nul = buf.indexOf(0); nul >= 0; nul = buf.indexOf(0)) {
      const msg = JSON.parse(buf.subarray(0, nul).toString('utf8')) as { id?: number; result?: Record<string, unknown>; error?: { message: string } };
      buf = buf.subarray(nul + 1);
      const waiter = msg.id === undefined ? undefined : pending.get(msg.id);
      if (!waiter) continue;
      pending.delete(msg.id!);
      if (msg.error) waiter.reject(new Error(`DevTools: ${msg.error.message}`));
      else waiter.resolve(msg.result ?? {});
    }
  });
  child.once('exit', () => { for (const w of pending.values()) w.reject(new Error('chromium exited')); pending.clear(); });
  const send = (method: string, params: Record<string, unknown> = {}, sessionId?: string) => new Promise<Record<string, unknown>>((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject });
    toBrowser.write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
  });
  const evaluate = async (sessionId: string, expression: string): Promise<unknown> => {
    const r = await send('Runtime.evaluate', { expression, returnByValue: true }, sessionId);
    return (r.result as { value?: unknown } | undefined)?.value;
  };
  try {
    const { targetId } = await send('Target.createTarget', { url }) as { targetId: string };
    const { sessionId } = await send('Target.attachToTarget', { targetId, flatten: true }) as { sessionId: string };
    const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
    let reached = false;
    while (Date.now() < deadline) {
      // A new target starts on an empty about:blank document whose readyState is already "complete"; on a loaded
      // machine the first polls run there, before the page asked for is committed, so the condition waits for it.
      if (await evaluate(sessionId, `location.href !== 'about:blank' && Boolean(${opts.until})`) === true) { reached = true; break; }
      await new Promise((r) => setTimeout(r, 50));
    }
    // Frames already requested when the condition turned true get painted before the DOM is read.
    if (reached && opts.settleMs) await new Promise((r) => setTimeout(r, opts.settleMs));
    const dom = String(await evaluate(sessionId, 'document.documentElement.outerHTML'));
    return { dom, reached };
  } finally {
    // Closed, not killed, so what it writes at exit is whole (a --log-net-log file is flushed then: killed under a
    // loaded CI machine after 5 s, it lacked the control page's request). Killed only if it hangs.
    await send('Browser.close').catch(() => {});
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(killer);
  }
}

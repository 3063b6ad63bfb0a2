import { PerformanceObserver, constants } from 'node:perf_hooks';
import v8 from 'node:v8';

/**
 * The young generation's ceiling a listener keeps to: two semi-spaces of 8 MB. Left alone, V8 (Node 20)
 * doubles them up to 16 MB each under a busy listener and keeps them there, and those pages stay resident:
 * with the old space's garbage that follows them, a `pcigate connect` that had served eight pgbench
 * sessions sat at ~150 MB while a large result streamed, the issue's limit, where with 8 MB semi-spaces it
 * sat ~20 MB lower (docs/pg-proxy.md, Memory). The throughput cost of the smaller young generation is a few
 * percent of GC threads' CPU (ibid.).
 */
export const SEMI_SPACE_CAP_BYTES = 8 * 1024 * 1024;

/**
 * The growth factor V8 should use next, given the new space's size now (both semi-spaces, as
 * `v8.getHeapSpaceStatistics()` reports `new_space`): 2 (V8's default, doubling) below the cap, 1 (no
 * growth) at it. Semi-spaces start at 1 MB and only ever double, so doubling from below never passes the cap.
 */
export function growthFactorFor(newSpaceBytes: number, capBytes = SEMI_SPACE_CAP_BYTES): 1 | 2 {
  return newSpaceBytes >= 2 * capBytes ? 1 : 2;
}

let installed: PerformanceObserver | undefined;

/**
 * Keeps V8's semi-spaces at or under {@link SEMI_SPACE_CAP_BYTES} for the rest of the process, what
 * `node --max-semi-space-size=8` does. That flag only takes effect on node's command line or in NODE_OPTIONS
 * (V8 sizes the heap before any code runs; set later, it does nothing), and pcigate's bin cannot carry it
 * portably (`#!/usr/bin/env -S` is missing from BusyBox; a /bin/sh wrapper breaks npm's Windows shims).
 * What V8 does read at each growth is `--semi-space-growth-factor`, so after every young-generation GC this
 * sets it from the new space's size: 2 below the cap, 1 at it. The observer runs between event-loop turns, so a
 * long synchronous stretch can still double the semi-spaces once or twice before it is heard. V8 may also shrink
 * the new space when allocation slows; below the cap it may then grow again. Idempotent; a NODE_OPTIONS
 * `--max-semi-space-size` below the cap still wins.
 */
export function capYoungGeneration(): void {
  if (installed) return;
  let factor = 2;
  const check = (): void => {
    const space = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    if (!space) return;
    const next = growthFactorFor(space.space_size);
    if (next === factor) return;
    factor = next;
    v8.setFlagsFromString(`--semi-space-growth-factor=${next}`);
  };
  installed = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if (((entry as { detail?: unknown }).detail as { kind?: number } | undefined)?.kind === constants.NODE_PERFORMANCE_GC_MINOR) { check(); return; }
    }
  });
  installed.observe({ entryTypes: ['gc'] });
  check();
}

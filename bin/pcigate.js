#!/usr/bin/env node
// Runs the compiled CLI; main() owns every exit code (src/cli/exit-codes.ts).
import { main } from '../dist/src/cli/main.js';
import { processCtx } from '../dist/src/cli/ctx.js';

const ctx = processCtx();
main(process.argv.slice(2), ctx).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`pcigate: internal error: ${err?.message ?? err}\n`); process.exitCode = 1; },
);
